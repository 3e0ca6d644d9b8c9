"""Redaction of secrets and the list of paths that are never read.

Everything that leaves the process (the model request, the audit log) passes
through :func:`redact_text`. Patterns favour recall over precision: a redacted
harmless string costs a little context, a leaked key costs much more.
"""
from __future__ import annotations

import fnmatch
import re

REDACTED = "[REDACTED]"

# (kind, pattern, group holding the secret or 0 for the whole match)
_PATTERNS: list[tuple[str, re.Pattern, int]] = [
    ("private-key", re.compile(
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----.*?(-----END[A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\Z)",
        re.S), 0),
    ("anthropic-key", re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{20,}"), 0),
    ("openai-key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"), 0),
    ("aws-access-key-id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"), 0),
    ("aws-secret-key", re.compile(
        r"(?i)(aws_?secret_?access_?key\s*[\"']?\s*[:=]\s*[\"']?)([A-Za-z0-9/+=]{40})"), 2),
    ("github-token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"), 0),
    ("gitlab-token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"), 0),
    ("slack-token", re.compile(r"\bxox[abprse]-[A-Za-z0-9\-]{10,}"), 0),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"), 0),
    ("stripe-key", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}"), 0),
    ("huggingface-token", re.compile(r"\bhf_[A-Za-z0-9]{30,}"), 0),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"), 0),
    # scheme://user:password@host — keep the user and host so the URL still reads
    ("url-password", re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@\"']*:)([^@\s/\"']+)(@)"), 2),
]

# Name parts that make a variable or key a secret, after camel/snake splitting.
_SECRET_WORDS = {"token", "secret", "password", "passwd", "pwd", "passphrase", "apikey", "credential",
                 "credentials", "pat", "bearer"}
_KEY_QUALIFIERS = {"api", "access", "secret", "private", "auth", "client", "signing", "encryption",
                   "master", "session", "license", "service", "account"}
_NOT_SECRET = {"tokens", "tokenizer", "tokenize", "tokenized", "max", "count", "num", "n", "path", "file",
               "len", "length", "type", "limit", "budget", "usage", "field", "name", "env", "var"}

_NAME = r"[A-Za-z_][A-Za-z0-9_\-]*"
# name = "value" / "name": "value" / name: 'value' (code, JSON, YAML)
_QUOTED_ASSIGN = re.compile(
    r"(?P<name>" + _NAME + r")(?P<q0>[\"']?)(?P<sep>\s*(?:=|:|=>)\s*)(?P<q>[\"'])(?P<val>[^\"'\n]{3,})(?P=q)")
# NAME=value lines (.env files, shell, config) — only upper-case names, where unquoted values are normal
_ENV_ASSIGN = re.compile(r"(?m)^(?P<lead>\s*(?:export\s+)?)(?P<name>[A-Z][A-Z0-9_]*)=(?P<val>[^\s\"'#][^\s#]*)")


def _split_name(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return [p for p in re.split(r"[_\-\s.]+", spaced.lower()) if p]


def is_secret_name(name: str) -> bool:
    """True when a variable or key name says it holds a credential (api_key, GITHUB_TOKEN, dbPassword)."""
    parts = _split_name(name)
    if not parts or parts[-1] in _NOT_SECRET:
        return False
    if any(p in _SECRET_WORDS for p in parts):
        return not any(p in {"tokens", "tokenizer", "max", "count", "num"} for p in parts)
    for i, p in enumerate(parts):
        if p in {"key", "keys"} and i > 0 and parts[i - 1] in _KEY_QUALIFIERS:
            return True
    return False


_WHOLE = [(kind, p) for kind, p, g in _PATTERNS if g == 0 and kind != "private-key"]
# one pass for every whole-token pattern: the text can be tens of kilobytes
_COMBINED = re.compile("|".join(f"(?P<{kind.replace('-', '_')}>{p.pattern})" for kind, p in _WHOLE))
_PRIVATE_KEY = next(p for kind, p, _g in _PATTERNS if kind == "private-key")
_GROUPED = [(kind, p, g) for kind, p, g in _PATTERNS if g != 0]


def redact_text(text: str) -> tuple[str, list[str]]:
    """Replace secrets with [REDACTED]; return the new text and the kinds found (never the values)."""
    if not text:
        return text, []
    kinds: list[str] = []
    if "PRIVATE KEY" in text:
        text, n = _PRIVATE_KEY.subn(REDACTED, text)
        kinds.extend(["private-key"] * n)

    def whole(m: re.Match) -> str:
        kinds.append(m.lastgroup.replace("_", "-"))
        return REDACTED

    text = _COMBINED.sub(whole, text)
    for kind, pattern, group in _GROUPED:
        text, n = pattern.subn(lambda m, g=group: _replace_group(m, g), text)
        kinds.extend([kind] * n)

    def quoted(m: re.Match) -> str:
        if not is_secret_name(m.group("name")) or m.group("val") == REDACTED:
            return m.group(0)
        kinds.append("secret-assignment")
        return m.group(0)[: m.start("val") - m.start()] + REDACTED + m.group("q")

    def env(m: re.Match) -> str:
        if not is_secret_name(m.group("name")) or m.group("val") == REDACTED:
            return m.group(0)
        kinds.append("secret-assignment")
        return f"{m.group('lead')}{m.group('name')}={REDACTED}"

    text = _QUOTED_ASSIGN.sub(quoted, text)
    text = _ENV_ASSIGN.sub(env, text)
    return text, kinds


def _replace_group(m: re.Match, group: int) -> str:
    whole = m.group(0)
    start, end = m.start(group) - m.start(), m.end(group) - m.start()
    return whole[:start] + REDACTED + whole[end:]


# Files whose contents are never read, whatever the ignore files say.
NEVER_READ = (
    ".env", ".env.*", "*.env", ".envrc", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", "*.ppk", ".netrc", "_netrc", ".pypirc", ".npmrc",
    ".git-credentials", "credentials", "credentials.json", "*.kdbx", "secrets.*", "*.secret",
)
NEVER_READ_DIRS = (".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker")


_NEVER_READ_RE = re.compile("|".join(fnmatch.translate(p) for p in NEVER_READ))


def never_read(rel_path: str) -> bool:
    """True for credential files (.env*, *.pem, SSH keys...) and anything under a credential directory."""
    parts = rel_path.replace("\\", "/").split("/")
    if len(parts) > 1 and any(p in NEVER_READ_DIRS for p in parts[:-1]):
        return True
    return _NEVER_READ_RE.match(parts[-1]) is not None
