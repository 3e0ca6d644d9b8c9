"""Redaction of secrets and the list of paths that are never read.

Everything that leaves the process (the model request, the audit log) passes
through :func:`redact_text`. Patterns favour recall over precision: a redacted
harmless string costs a little context, a leaked key costs much more.
"""
from __future__ import annotations

import fnmatch
import re

REDACTED = "[REDACTED]"

# (kind, pattern, group holding the secret or 0 for the whole match, trigger substrings).
# Patterns begin with a literal so the regex engine can skip ahead to it (a leading \b or
# alternation would make it try every position); the word boundary is a lookbehind after
# the literal instead. A pattern only runs when one of its triggers occurs in the text.
_PATTERNS: list[tuple[str, re.Pattern, int, tuple[str, ...]]] = [
    ("private-key", re.compile(
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----.*?(-----END[A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\Z)",
        re.S), 0, ("PRIVATE KEY",)),
    ("anthropic-key", re.compile(r"sk-ant-(?<![A-Za-z0-9_]sk-ant-)[A-Za-z0-9_\-]{20,}"), 0, ("sk-ant-",)),
    ("openai-key", re.compile(r"sk-(?<![A-Za-z0-9_]sk-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"), 0, ("sk-",)),
    ("aws-access-key-id", re.compile(r"A(?<![A-Za-z0-9]A)(?:KIA|SIA|BIA|CCA|GPA|IDA|ROA)[0-9A-Z]{16}(?![0-9A-Za-z])"),
     0, ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA")),
    ("aws-secret-key", re.compile(
        r"(?i)(aws_?secret_?access_?key\s*[\"']?\s*[:=]\s*[\"']?)([A-Za-z0-9/+=]{40})"), 2, ()),
    ("github-token", re.compile(r"gh(?<![A-Za-z0-9_]gh)[pousr]_[A-Za-z0-9]{30,}"), 0,
     ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    ("github-token", re.compile(r"github_pat_(?<![A-Za-z0-9_]github_pat_)[A-Za-z0-9_]{22,}"), 0, ("github_pat_",)),
    ("gitlab-token", re.compile(r"glpat-[A-Za-z0-9_\-]{20,}"), 0, ("glpat-",)),
    ("slack-token", re.compile(r"xox(?<![A-Za-z0-9_]xox)[abprse]-[A-Za-z0-9\-]{10,}"), 0, ("xox",)),
    ("google-api-key", re.compile(r"AIza[0-9A-Za-z_\-]{35}"), 0, ("AIza",)),
    ("stripe-key", re.compile(r"[spr]k_(?<![A-Za-z0-9][spr]k_)(?:live|test)_[0-9A-Za-z]{16,}"), 0, ("_live_", "_test_")),
    ("huggingface-token", re.compile(r"hf_(?<![A-Za-z0-9_]hf_)[A-Za-z0-9]{30,}"), 0, ("hf_",)),
    ("jwt", re.compile(r"eyJ(?<![A-Za-z0-9_\-]eyJ)[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"), 0,
     ("eyJ",)),
    # scheme://user:password@host — keep the user and host so the URL still reads
    ("url-password", re.compile(r"(://[^/\s:@\"']*:)([^@\s/\"']+)(@)"), 2, ("://",)),
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
    r"(?<![A-Za-z0-9_\-])(?P<name>" + _NAME + r")(?P<q0>[\"']?)(?P<sep>\s*(?:=|:|=>)\s*)(?P<q>[\"'])(?P<val>[^\"'\n]{3,})(?P=q)")
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


def redact_text(text: str) -> tuple[str, list[str]]:
    """Replace secrets with [REDACTED]; return the new text and the kinds found (never the values)."""
    if not text:
        return text, []
    kinds: list[str] = []
    lowered = None
    for kind, pattern, group, triggers in _PATTERNS:
        if not triggers:
            lowered = lowered if lowered is not None else text.lower()
            hit = "ecret" in lowered
        else:
            hit = any(t in text for t in triggers)
        if not hit:
            continue
        if group == 0:
            text, n = pattern.subn(REDACTED, text)
        else:
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
