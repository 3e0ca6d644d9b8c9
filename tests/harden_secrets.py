"""Every secret form the redactor must know, as (text that holds it, the value that must never leave).

Shared by the redaction unit tests and the end-to-end tests that seed a repository, a kernel and
the panel's attachments with them.
"""
from __future__ import annotations

# built by concatenation so that this file itself does not look like it holds keys
NPM = "npm_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
SENDGRID = "SG." + "ngeVfQFYQlKU0ufo8x5d1A" + "." + "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr"
DIGITALOCEAN = "dop_v1_" + "b7f3c2a1d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d"
SHOPIFY = "shpat_" + "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
PYPI = "pypi-" + "AgEIcHlwaS5vcmcCJDkxZjM4ZTQ0LWE2ODgtNGJmNy1iYWQ3LTk1YjE2YzA5NGFmNgACKlszLCJ"
SLACK_APP = "xapp-" + "1-A0123456789-1234567890123-0a1b2c3d4e5f6a7b8c9d"
AZURE = "Zm9vYmFyYmF6cXV4" + "Kz9Ym5hcGxlc2F1Y2U0MjQy" + "TWFyY2hpbmdCYW5kcw=="
BEARER = "eWdhX2hlYWRlcl90b2tlbl92YWx1ZV8x" + "Mjk4NzY"
HIGH_ENTROPY = "8fK2pQ9xLm4R" + "tZ7vB1nW3cY6"

# (text as it appears somewhere, the secret value inside it)
FORMS = [
    ("psycopg2.OperationalError: connection failed: password=Tr0ub4dor-and-3 host=db", "Tr0ub4dor-and-3"),
    ("ValueError: bad config {'user': 'app', 'password': 'Kiwi-Mango-Salsa-77'}", "Kiwi-Mango-Salsa-77"),
    ("connect to the db, my password: Plum-Velvet-Orbit-41 please", "Plum-Velvet-Orbit-41"),
    ("database:\n  user: app\n  password: Yaml-Secret-Pass-93\n", "Yaml-Secret-Pass-93"),
    ("[db]\nuser = app\npassword = Ini-Secret-Pass-28\n", "Ini-Secret-Pass-28"),
    ("GET /login?user=app&password=Query-Secret-Pass-19&next=/", "Query-Secret-Pass-19"),
    (f"curl -H 'Authorization: Bearer {BEARER}' https://api.example.com", BEARER),
    (f"headers = {{'Authorization': 'Bearer {BEARER}'}}", BEARER),
    (f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={AZURE};EndpointSuffix=core.windows.net", AZURE),
    ("DB_PASS=Env-Db-Pass-Value-55", "Env-Db-Pass-Value-55"),
    ("smtp_password=lower-case-pass-66", "lower-case-pass-66"),
    ("API_KEY = plain-api-key-value-77", "plain-api-key-value-77"),
    ("engine = create_engine('postgresql://admin:pa/ss/with/slash9@db.internal:5432/sales')", "pa/ss/with/slash9"),
    (f"//registry.npmjs.org/:_authToken={NPM}", NPM),
    (f"SENDGRID = '{SENDGRID}'", SENDGRID),
    (f"token for do: {DIGITALOCEAN}", DIGITALOCEAN),
    (f"shop = '{SHOPIFY}'", SHOPIFY),
    (f"[pypi]\n  username = __token__\n  pw = {PYPI}\n", PYPI),
    (f"socket mode uses {SLACK_APP}", SLACK_APP),
    (f"DEPLOY_KEY={HIGH_ENTROPY}", HIGH_ENTROPY),
    ("mysql --user=root --password Cli-Flag-Pass-31 shop", "Cli-Flag-Pass-31"),
]
VALUES = [value for _text, value in FORMS]
