"""Append-only audit log: one JSON object per line in `.codex_nb/audit.jsonl`.

The log lives beside the repository root of the notebook it is about, so it
travels with the project. Lines are appended with a single write() of a
complete line, which keeps concurrent writers (kernel, server, CLI) from
interleaving inside a line. Instructions are stored as a hash, and the whole
record goes through redaction: the log never holds a key.
"""
from __future__ import annotations

import datetime as _dt
import getpass
import hashlib
import json
import os
from pathlib import Path

from .limits import bound_fields
from .notebook_io import find_repo_root

AUDIT_DIR = ".codex_nb"
AUDIT_FILE = "audit.jsonl"


def audit_path(anchor: str | os.PathLike) -> Path:
    """Where the audit log for a notebook (or directory) lives."""
    override = os.environ.get("CODEX_NB_AUDIT_LOG")
    if override:
        return Path(override)
    return find_repo_root(anchor) / AUDIT_DIR / AUDIT_FILE


def instruction_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def record(event: str, anchor: str | os.PathLike, **fields) -> dict:
    """Append one event (propose, accept, reject, apply, validate, rollback, …) and return it."""
    entry = {
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"),
        "event": event,
        "user": _user(),
        **bound_fields(fields),
    }
    line = _redacted(json.dumps(entry, ensure_ascii=False, default=str))
    path = audit_path(anchor)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
    finally:
        os.close(fd)
    return json.loads(line)


def read(anchor: str | os.PathLike, notebook: str | None = None, limit: int | None = None) -> list[dict]:
    """Entries of the log, oldest first; optionally only those about one notebook."""
    path = audit_path(anchor)
    if not path.exists():
        return []
    entries = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a crash must not hide the rest
            if notebook is None or entry.get("notebook") == notebook:
                entries.append(entry)
    return entries[-limit:] if limit else entries


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def _redacted(text: str) -> str:
    try:
        from .context.redact import redact_text
    except ImportError:
        return text
    return redact_text(text)[0]
