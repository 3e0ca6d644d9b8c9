"""Secrets are redacted before anything leaves the process; credential files are never read."""
from __future__ import annotations

import json

import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from codex_nb.context import build_context
from codex_nb.context import index as index_mod
from codex_nb.context.redact import is_secret_name, never_read, redact_text

AWS_ID = "AKIA" + "IOSFODNN7EXAMPLQ"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYZ"
OPENAI = "sk-proj-" + "Tq3xVb9Lm2Np8Rs4Wu6Yz1Ac5Ef7Gh0Jk"
ANTHROPIC = "sk-ant-api03-" + "Zx9Cv8Bn7Mm6Ll5Kk4Jj3Hh2Gg1Ff0Dd"
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
SLACK = "xoxb-" + "123456789012-abcdefghijkl"
PRIVATE_KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
               "QyNTUxOQAAACBzZWNyZXRrZXltYXRlcmlhbA==\n-----END OPENSSH PRIVATE KEY-----")
URL_PASSWORD = "s3cr3t-pa55"
SECRETS = [AWS_ID, AWS_SECRET, OPENAI, ANTHROPIC, GITHUB, SLACK, "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
           URL_PASSWORD]


@pytest.mark.parametrize("text,secret,kind", [
    (f"key = '{AWS_ID}'", AWS_ID, "aws-access-key-id"),
    (f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET, "aws-secret-key"),
    (f"client = OpenAI(api_key=\"{OPENAI}\")", OPENAI, "openai-key"),
    (f"ANTHROPIC = '{ANTHROPIC}'", ANTHROPIC, "anthropic-key"),
    (f"token: {GITHUB}", GITHUB, "github-token"),
    (f"slack {SLACK}", SLACK, "slack-token"),
    (PRIVATE_KEY, "QyNTUxOQAAACBzZWNyZXRrZXltYXRlcmlhbA", "private-key"),
    (f"engine = create_engine('postgresql://admin:{URL_PASSWORD}@db.internal:5432/sales')", URL_PASSWORD, "url-password"),
    ("db_password = 'correct horse battery'", "correct horse battery", "secret-assignment"),
    ('{"client_secret": "abc123def456"}', "abc123def456", "secret-assignment"),
    ("export STRIPE_API_KEY=plainvalue42", "plainvalue42", "secret-assignment"),
])
def test_seeded_secrets_are_redacted(text, secret, kind):
    out, kinds = redact_text(text)
    assert secret not in out and "[REDACTED]" in out
    assert kind in kinds


def test_redaction_keeps_ordinary_code_intact():
    code = ("max_tokens = 512\ntokens = tokenize(text)\nsort_key = 'name'\n"
            "url = 'https://example.com/a:b'\nkey = row['id']\n")
    assert redact_text(code) == (code, [])
    assert redact_text("postgres://admin:" + URL_PASSWORD + "@h/db")[0] == "postgres://admin:[REDACTED]@h/db"


def test_secret_names():
    for name in ("api_key", "OPENAI_API_KEY", "githubToken", "db_password", "client_secret", "AWS_SECRET_ACCESS_KEY"):
        assert is_secret_name(name), name
    for name in ("max_tokens", "tokenizer", "sort_key", "key", "n_tokens", "token_count", "password_path"):
        assert not is_secret_name(name), name


def test_credential_files_are_never_read():
    for path in (".env", ".env.local", "config/prod.env", "certs/server.pem", "id_rsa", "home/.ssh/config",
                 "deploy/id_ed25519.pub", ".netrc", "tls.key"):
        assert never_read(path), path
    assert not never_read("env.py") and not never_read("src/keys.py")


def secret_repo(tmp_path):
    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname='app'\n")
    (root / "app" / "settings.py").write_text(
        f'"""Database connection settings."""\nAWS_ACCESS_KEY_ID = "{AWS_ID}"\n'
        f'aws_secret_access_key = "{AWS_SECRET}"\nGITHUB = "{GITHUB}"\n'
        f'DATABASE_URL = "postgresql://admin:{URL_PASSWORD}@db.internal/sales"\n'
        f'DEPLOY_KEY = """{PRIVATE_KEY}"""\n\ndef database_connection():\n    return DATABASE_URL\n')
    (root / ".env").write_text(f"OPENAI_API_KEY={OPENAI}\nENV_ONLY_MARKER=database_connection_env\n")
    (root / "server.pem").write_text(PRIVATE_KEY)
    (root / ".env.py").write_text("ENV_PY_MARKER = 'database connection'\n")
    nb = new_notebook(cells=[
        new_code_cell(f"import openai\nclient = openai.OpenAI(api_key='{OPENAI}')\nfrom app.settings import database_connection",
                      execution_count=1),
        new_code_cell("print(headers)", execution_count=2, outputs=[
            new_output("stream", name="stdout", text=f"Authorization: token {GITHUB}\nslack={SLACK}\n")]),
        new_code_cell("anthropic_key", execution_count=3, outputs=[
            new_output("execute_result", data={"text/plain": repr(ANTHROPIC)}, execution_count=3)]),
    ])
    (root / "analysis.ipynb").write_text(json.dumps(nb))
    return root


def test_build_context_never_contains_seeded_secrets_and_never_reads_credential_files(tmp_path, monkeypatch):
    root = secret_repo(tmp_path)
    opened = []
    real_open = open
    monkeypatch.setattr(index_mod, "open", lambda p, *a, **k: opened.append(str(p)) or real_open(p, *a, **k),
                        raising=False)
    ctx = build_context(notebook=root / "analysis.ipynb", query="how is the database connection configured?",
                        use_cache=False)
    text = ctx.render()
    dumped = json.dumps(ctx.to_json())
    for secret in SECRETS:
        assert secret not in text and secret not in dumped, secret
    assert "app/settings.py" in text  # the file itself is used, only its secrets are hidden
    assert "ENV_ONLY_MARKER" not in dumped and "ENV_PY_MARKER" not in dumped
    assert not any(p.endswith((".env", ".pem", ".env.py")) for p in opened)
    kinds = {r["kind"] for r in ctx.redactions}
    assert {"aws-access-key-id", "github-token", "url-password", "private-key", "openai-key"} <= kinds
    assert all(set(r) == {"section", "kind"} for r in ctx.redactions)
