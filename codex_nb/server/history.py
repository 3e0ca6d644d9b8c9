"""Per-notebook conversation history, stored as readable JSON beside the audit log.

``<repo>/.codex_nb/history/<notebook file name>-<hash of its path>.json``::

    {"version": 1, "notebook": "analysis/clean.ipynb",
     "messages": [{"id": "m-…", "role": "user" | "assistant" | "event", "time": "…",
                   "kind": "propose", "text": "…", "model": "…", "proposal": {…} | null,
                   "status": "accepted" | "rejected" | "rolled_back" | null, …}]}

Writes are atomic (temporary file + rename) and serialised per file by a lock,
so concurrent chats on the same notebook never lose a message.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import threading
from pathlib import Path

from ..notebook_io import atomic_write_text, find_repo_root

HISTORY_VERSION = 1
MAX_MESSAGES = 500  # a conversation longer than this keeps its tail; the audit log keeps everything

_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path, threading.Lock())


def history_path(notebook_abs: Path) -> Path:
    override = os.environ.get("CODEX_NB_HISTORY_DIR")
    base = Path(override) if override else find_repo_root(notebook_abs.parent) / ".codex_nb" / "history"
    digest = hashlib.sha256(str(notebook_abs.resolve()).encode("utf-8")).hexdigest()[:12]
    return base / f"{notebook_abs.stem}-{digest}.json"


def load(notebook_abs: Path, rel: str) -> dict:
    path = history_path(notebook_abs)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("messages"), list):
            return data
    except (OSError, ValueError):
        pass
    return {"version": HISTORY_VERSION, "notebook": rel, "messages": []}


def append(notebook_abs: Path, rel: str, message: dict) -> dict:
    """Append one message (an ``id`` and ``time`` are added when missing) and return it."""
    message = dict(message)
    message.setdefault("id", "m-" + os.urandom(6).hex())
    message.setdefault("time", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"))
    path = history_path(notebook_abs)
    with _lock_for(path):
        data = load(notebook_abs, rel)
        data["messages"] = (data["messages"] + [message])[-MAX_MESSAGES:]
        _write(path, data)
    return message


def update(notebook_abs: Path, rel: str, message_id: str, fields: dict) -> dict | None:
    """Merge ``fields`` into the message with ``message_id`` (a decision on a proposal)."""
    path = history_path(notebook_abs)
    with _lock_for(path):
        data = load(notebook_abs, rel)
        for msg in data["messages"]:
            if msg.get("id") == message_id:
                msg.update(fields)
                _write(path, data)
                return msg
    return None


def clear(notebook_abs: Path) -> None:
    path = history_path(notebook_abs)
    with _lock_for(path):
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.touch(mode=0o600)
    atomic_write_text(path, json.dumps(data, indent=1, ensure_ascii=False, default=str) + "\n")
