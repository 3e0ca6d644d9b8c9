"""Redaction of secrets and the list of paths that are never read.

Everything that leaves the process (the model request, the audit log, the local
history and caches) passes through :func:`redact_text` — before any trimming or
cutting, so that a key is never shortened below the length its pattern needs.
Patterns favour recall over precision: a redacted harmless string costs a little
context, a leaked key costs much more.

Linear time: every quantifier that can meet a long run of characters is bounded,
patterns begin with a literal (or a look-behind that fails inside a word) so the
engine does not try every position with unbounded work, and long texts are
redacted in line-aligned chunks so that no single regex call holds the GIL for
long (the server's event loop keeps answering while a big attachment is redacted).
"""
from __future__ import annotations

import fnmatch
import math
import re
import time
from collections import Counter

REDACTED = "[REDACTED]"
CHUNK_CHARS = 64 * 1024  # one regex call works on at most this much text

# (kind, pattern, group holding the secret or 0 for the whole match, trigger substrings).
# A pattern only runs when one of its triggers occurs in the text (an empty tuple: always).
_PATTERNS: list[tuple[str, re.Pattern, int, tuple[str, ...]]] = [
    ("anthropic-key", re.compile(r"sk-ant-(?<![A-Za-z0-9_]sk-ant-)[A-Za-z0-9_\-]{20,}"), 0, ("sk-ant-",)),
    ("openai-key", re.compile(r"sk-(?<![A-Za-z0-9_]sk-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"), 0, ("sk-",)),
    ("aws-access-key-id", re.compile(r"A(?<![A-Za-z0-9]A)(?:KIA|SIA|BIA|CCA|GPA|IDA|ROA)[0-9A-Z]{16}(?![0-9A-Za-z])"),
     0, ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA")),
    ("aws-secret-key", re.compile(
        r"(?i)(aws_?secret_?access_?key[\"']?[ \t]{0,8}[:=][ \t]{0,8}[\"']?)([A-Za-z0-9/+=]{40})"), 2,
     ("ecret", "ECRET")),
    ("github-token", re.compile(r"gh(?<![A-Za-z0-9_]gh)[pousr]_[A-Za-z0-9]{30,}"), 0,
     ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    ("github-token", re.compile(r"github_pat_(?<![A-Za-z0-9_]github_pat_)[A-Za-z0-9_]{22,}"), 0, ("github_pat_",)),
    ("gitlab-token", re.compile(r"glpat-[A-Za-z0-9_\-]{20,}"), 0, ("glpat-",)),
    ("slack-token", re.compile(r"xox(?<![A-Za-z0-9_]xox)[abprse]-[A-Za-z0-9\-]{10,}"), 0, ("xox",)),
    ("slack-app-token", re.compile(r"xapp-(?<![A-Za-z0-9_]xapp-)[A-Za-z0-9\-]{10,}"), 0, ("xapp-",)),
    ("slack-webhook", re.compile(r"hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_\-]{10,}"), 0,
     ("hooks.slack.com",)),
    ("google-api-key", re.compile(r"AIza[0-9A-Za-z_\-]{35}"), 0, ("AIza",)),
    ("stripe-key", re.compile(r"[spr]k_(?<![A-Za-z0-9][spr]k_)(?:live|test)_[0-9A-Za-z]{16,}"), 0, ("_live_", "_test_")),
    ("huggingface-token", re.compile(r"hf_(?<![A-Za-z0-9_]hf_)[A-Za-z0-9]{30,}"), 0, ("hf_",)),
    ("npm-token", re.compile(r"npm_(?<![A-Za-z0-9_]npm_)[A-Za-z0-9]{36}"), 0, ("npm_",)),
    ("sendgrid-key", re.compile(r"SG\.(?<![A-Za-z0-9_]SG\.)[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{30,64}"), 0, ("SG.",)),
    ("digitalocean-token", re.compile(r"do(?<![A-Za-z0-9_]do)[opr]_v1_[a-f0-9]{64}"), 0, ("_v1_",)),
    ("shopify-token", re.compile(r"shp(?<![A-Za-z0-9_]shp)(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"), 0, ("shp",)),
    ("pypi-token", re.compile(r"pypi-(?<![A-Za-z0-9_]pypi-)[A-Za-z0-9_\-]{50,}"), 0, ("pypi-",)),
    ("jwt", re.compile(r"eyJ(?<![A-Za-z0-9_\-]eyJ)[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"), 0,
     ("eyJ",)),
    ("azure-key", re.compile(r"(?i)((?:AccountKey|SharedAccessKey|SharedAccessSignature)[ \t]{0,4}=[ \t]{0,4})"
                             r"([^;\s\"']{8,})"), 2, ("ccountkey", "haredaccess")),
    ("azure-sas", re.compile(r"([?&]sig=)([A-Za-z0-9%+/=]{16,})"), 2, ("sig=",)),
    # Authorization: Bearer …, Basic …, token … (HTTP headers, curl lines, logs)
    ("authorization", re.compile(r"(?i)(authorization[\"']?[ \t]{0,8}[:=][ \t]{0,8}[\"']?"
                                 r"(?:(?:bearer|basic|token|digest|bot)[ \t]{1,8})?)([^\s\"',;]{6,})"), 2,
     ("uthorization", "UTHORIZATION")),
    ("bearer-token", re.compile(r"(?i)(bearer[ \t]{1,8})([A-Za-z0-9\-._~+/]{12,}=*)"), 2, ("earer", "EARER")),
    # scheme://user:password@host — keep the user and host so the URL still reads; passwords may hold '/'
    ("url-password", re.compile(r"(://[^/\s:@\"']{0,128}:)([^@\s\"']{1,128})(@[A-Za-z0-9\[])"), 2, ("://",)),
    # --password VALUE / --api-key=VALUE on a command line
    ("secret-flag", re.compile(r"(?i)(--?(?:password|passwd|pass|token|api[-_]?key|secret|client-secret)(?:=|[ \t]{1,4}))"
                               r"([^\s\"'-][^\s\"']{2,})"), 2, ("-",)),
]

# Name parts that make a variable or key a secret, after camel/snake splitting.
_SECRET_WORDS = {"token", "secret", "password", "passwd", "pwd", "passphrase", "apikey", "credential",
                 "credentials", "pat", "bearer", "pass", "passcode", "pin", "privatekey", "accountkey"}
_KEY_QUALIFIERS = {"api", "access", "secret", "private", "auth", "client", "signing", "encryption",
                   "master", "session", "license", "service", "account", "deploy", "app", "admin"}
_NOT_SECRET = {"tokens", "tokenizer", "tokenize", "tokenized", "max", "count", "num", "n", "path", "file",
               "len", "length", "type", "limit", "budget", "usage", "field", "name", "env", "var", "dir", "url",
               "id", "ids", "prompt", "policy", "hint", "label", "expiry", "expires", "required", "regex", "pattern"}
# Weaker hints: the value must also look random for the name to count (DEPLOY_KEY=8f3k…, webhook_sig=…).
_WEAK_WORDS = {"key", "keys", "auth", "sig", "signature", "cred", "creds", "cookie", "salt", "hmac", "private",
               "webhook", "dsn", "conn", "session", "hash", "nonce", "cert"}

_NAME = r"[A-Za-z_][A-Za-z0-9_\-.]{0,63}"
# a name starts after a character that cannot be part of it, or after an escape written in a string
# ('…\npassword = x…' in a repr or a JSON text: the "n" belongs to the escape, not to the name)
_NAME_START = r"(?:(?<![A-Za-z0-9_\-.\\])|(?<=\\[nrt]))"
# name = "value" / "name": "value" / name: 'value' (code, JSON, YAML). Only the name and separator are
# consumed, the value is read in a look-ahead: a non-secret name cannot swallow the secret one after it
# ("failed: password=…").
_QUOTED_ASSIGN = re.compile(
    _NAME_START + r"(?P<name>" + _NAME + r")\\?[\"']?[ \t]{0,16}(?:=|:|=>)[ \t]{0,16}"
    r"(?=(?P<q>\\?[\"'])(?P<val>[^\"'\n]{3,512})(?P=q))")  # \" : quotes escaped inside a string
# name=value / name: value / name = value, unquoted (.env, shell, INI, YAML, query strings, tracebacks)
_BARE_ASSIGN = re.compile(
    _NAME_START + r"(?P<name>" + _NAME + r")[ \t]{0,16}(?:=|:)[ \t]{0,16}"
    r"(?=(?P<val>[^\s\"'#&;,<>(){}\[\]`][^\s\"'&;,<>`]{2,255}))")
# A substring every secret-like name holds (see _SECRET_WORDS and _WEAK_WORDS): lines without one are skipped.
# Matched on the lower-cased text: a case-insensitive alternation is ten times slower.
_HINT = re.compile(r"pass|pwd|secret|token|key|cred|pin|pat|bearer|auth|sig|cookie|salt|hmac|private|"
                   r"webhook|dsn|conn|session|hash|nonce|cert")
# values of a secret-named key that are code, not a secret: a call, a subscript, an attribute, a keyword
_CODE_VALUE = re.compile(r"(?:[A-Za-z_][\w.]*[(\[].*|True|False|None|null|true|false|yes|no|on|off|"
                         r"\$\{?[A-Za-z_]\w*\}?|%\([A-Za-z_]\w*\)s|<[^>]*>|\*+|\.\.\.|…)")
_HEX_PLACEHOLDER = re.compile(r"(.)\1{5,}")  # xxxxxxxx, ******** — already hidden


def _split_name(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name[:64])
    return [p for p in re.split(r"[_\-\s.]+", spaced.lower()) if p]


_strength_memo: dict[str, int] = {}


def _name_strength(name: str) -> int:
    """2: the name says it holds a credential; 1: it may (only a random value counts); 0: no."""
    got = _strength_memo.get(name)
    if got is None:
        got = _name_strength_uncached(name)
        if len(_strength_memo) < 100_000:
            _strength_memo[name] = got
    return got


def _name_strength_uncached(name: str) -> int:
    parts = _split_name(name)
    if not parts or parts[-1] in _NOT_SECRET:
        return 0
    if any(p in _SECRET_WORDS for p in parts):
        return 0 if any(p in {"tokens", "tokenizer", "max", "count", "num"} for p in parts) else 2
    for i, p in enumerate(parts):
        if p in {"key", "keys"} and i > 0 and parts[i - 1] in _KEY_QUALIFIERS:
            return 2
    return 1 if any(p in _WEAK_WORDS for p in parts) else 0


def is_secret_name(name: str) -> bool:
    """True when a variable or key name says it holds a credential (api_key, GITHUB_TOKEN, dbPassword)."""
    return _name_strength(name) == 2


def looks_random(value: str) -> bool:
    """A long value mixing letters and digits with high character entropy (a key, not a word or a path)."""
    if len(value) < 16 or " " in value:
        return False
    value = value[:64]  # a key's first characters say as much as all of them
    if not (any(c.isdigit() for c in value) and any(c.isalpha() for c in value)):
        return False
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return entropy >= 3.5


def _custom_patterns() -> list[tuple[str, re.Pattern, int, tuple[str, ...]]]:
    """Patterns added with ``c.CodexNB.redact_patterns`` (each a regex; the whole match is replaced).

    Reading the configuration costs far more than redacting a short string, and redaction runs
    for every value and file: the patterns are read again at most every few seconds.
    """
    global _custom_cache
    now = time.monotonic()
    cached = _custom_cache
    if cached is not None and now - cached[0] < _CUSTOM_TTL:
        return cached[1]
    try:
        from ..config import load_config

        sources = list(getattr(load_config(), "redact_patterns", []) or [])
    except Exception:  # no configuration can be read here: the built-in patterns still apply
        sources = []
    patterns = []
    for source in sources:
        try:
            patterns.append(("custom", re.compile(source), 0, ()))
        except re.error:
            continue  # a broken pattern must not stop redaction; `codex-nb context` shows what is sent
    _custom_cache = (now, patterns)  # one tuple, replaced whole: threads see the old or the new
    return patterns


_CUSTOM_TTL = 5.0
_custom_cache: tuple[float, list] | None = None


def redact_text(text: str) -> tuple[str, list[str]]:
    """Replace secrets with [REDACTED]; return the new text and the kinds found (never the values)."""
    if not text:
        return text, []
    if not isinstance(text, str):
        text = str(text)
    kinds: list[str] = []
    text = _redact_private_keys(text, kinds)
    custom = _custom_patterns()
    if len(text) <= CHUNK_CHARS:
        return _redact_chunk(text, kinds, custom), kinds
    return "".join(_redact_chunk(chunk, kinds, custom) for chunk in _chunks(text)), kinds


def _chunks(text: str):
    """Pieces of at most about CHUNK_CHARS, cut after a newline (the patterns never span lines), else at a space."""
    start, n = 0, len(text)
    while start < n:
        end = min(start + CHUNK_CHARS, n)
        if end < n:
            cut = text.rfind("\n", start + CHUNK_CHARS // 2, end)
            if cut < 0:
                cut = text.rfind(" ", start + CHUNK_CHARS // 2, end)
            end = cut + 1 if cut >= 0 else end
        yield text[start:end]
        start = end


_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY( BLOCK)?-----")
_END = re.compile(r"-----END[A-Z0-9 ]{0,40}PRIVATE KEY( BLOCK)?-----")


def _redact_private_keys(text: str, kinds: list[str]) -> str:
    """PEM / OpenSSH private keys, header to footer (or to the end when the footer is missing)."""
    if "PRIVATE KEY" not in text:
        return text
    out, pos = [], 0
    while (begin := text.find("-----BEGIN", pos)) >= 0:
        head = _BEGIN.match(text, begin)
        if head is None:
            out.append(text[pos: begin + 10])
            pos = begin + 10
            continue
        footer = _END.search(text, head.end())
        end = footer.end() if footer is not None else len(text)
        # the key's line breaks stay: line numbers of the text (snippets, tracebacks) must not move
        out.append(text[pos:begin] + REDACTED + "\n" * text.count("\n", begin, end))
        kinds.append("private-key")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _redact_chunk(text: str, kinds: list[str], custom: list) -> str:
    for kind, pattern, group, triggers in (*_PATTERNS, *custom):
        if triggers and not any(t in text for t in triggers):
            continue
        if group == 0:
            text, n = pattern.subn(REDACTED, text)
        else:
            text, n = pattern.subn(lambda m, g=group: _replace_group(m, g), text)
        kinds.extend([kind] * n)
    if "=" not in text and ":" not in text:
        return text
    # Only lines that name something secret-like can hold a secret assignment: look at those alone.
    spans, last_end = [], -1
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters lower-case to two: keep the offsets right
        lowered = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    for m in _HINT.finditer(lowered):
        if m.start() < last_end:
            continue
        start = text.rfind("\n", 0, m.start()) + 1
        end = text.find("\n", m.end())
        end = len(text) if end < 0 else end
        spans.append((start, end))
        last_end = end
    if not spans:
        return text
    out, pos = [], 0
    for start, end in spans:
        line = _replace_values(_QUOTED_ASSIGN, text[start:end], kinds, quoted=True)
        out.append(text[pos:start])
        out.append(_replace_values(_BARE_ASSIGN, line, kinds, quoted=False))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _replace_values(pattern: re.Pattern, text: str, kinds: list[str], *, quoted: bool) -> str:
    """Hide the value after every secret-named ``name = value`` (one pass, left to right)."""
    out, pos = [], 0
    for m in pattern.finditer(text):
        if m.start() < pos:
            continue  # inside a value already hidden
        val = m.group("val")
        if REDACTED in val or not _secret_value(m.group("name"), val, quoted=quoted):
            continue
        out.append(text[pos: m.start("val")])
        out.append(REDACTED)
        pos = m.end("val")
        kinds.append("secret-assignment")
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _secret_value(name: str, value: str, *, quoted: bool) -> bool:
    strength = _name_strength(name)
    if strength == 0:
        return False
    if not quoted and (_CODE_VALUE.fullmatch(value) or _HEX_PLACEHOLDER.fullmatch(value)):
        return False
    return strength == 2 or looks_random(value)


def _replace_group(m: re.Match, group: int) -> str:
    whole = m.group(0)
    start, end = m.start(group) - m.start(), m.end(group) - m.start()
    return whole[:start] + REDACTED + whole[end:]


def redact_data(obj, _depth: int = 0):
    """A copy of JSON-like data with every string redacted and the values of secret-named keys hidden."""
    if isinstance(obj, str):
        return redact_text(obj)[0]
    if _depth > 64:
        return obj
    if isinstance(obj, dict):
        return {k: REDACTED if isinstance(k, str) and is_secret_name(k) and isinstance(v, str) and v
                else redact_data(v, _depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_data(v, _depth + 1) for v in obj]
    return obj


# Files whose contents are never read, whatever the ignore files say.
NEVER_READ = (
    ".env", ".env.*", "*.env", ".envrc", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", "*.ppk", ".netrc", "_netrc", ".pypirc", ".npmrc",
    ".git-credentials", "credentials", "credentials.json", "*.kdbx", "secrets.*", "*.secret", ".codexignore",
    ".htpasswd", "*.gpg", "*.asc", "*.tfstate", "*.tfvars",
)
NEVER_READ_DIRS = (".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker")


_NEVER_READ_RE = re.compile("|".join(fnmatch.translate(p) for p in NEVER_READ))


def never_read(rel_path: str) -> bool:
    """True for credential files (.env*, *.pem, SSH keys...) and anything under a credential directory."""
    parts = rel_path.replace("\\", "/").split("/")
    if len(parts) > 1 and any(p in NEVER_READ_DIRS for p in parts[:-1]):
        return True
    return _NEVER_READ_RE.match(parts[-1]) is not None


def never_read_path(path, root=None) -> bool:
    """``never_read`` for a file on disk, checked on the name as given and on what its symlinks point at.

    ``root`` (the repository or server root) also makes its ``.codexignore`` entries never read.
    """
    import os

    given = os.fspath(path)
    real = os.path.realpath(given)
    for candidate in (given, real):
        if never_read(candidate):
            return True
    if root is not None:
        from .walk import codexignored

        for candidate in (given, real):
            if codexignored(os.fspath(root), candidate):
                return True
    return False
