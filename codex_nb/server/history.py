"""Per-notebook conversation history: an append-only JSON-lines file beside the audit log.

``<repo>/.codex_nb/history/<notebook stem>-<hash of its absolute path>.jsonl``, one JSON
object per line, oldest first::

    {"id": "m-…", "role": "user" | "assistant", "time": "…", "kind": "propose", "text": "…",
     "model": "…", "proposal": {…} | null, "diffs": […], "status": "pending" | null, …}
    {"update": "m-…", "time": "…", "fields": {"status": "accepted", "edit_indexes": [0]}}

A chat appends its two messages in one write; a decision appends an ``update`` line that
``load`` merges into its message. Appending never rewrites the file, so a long conversation
costs a chat no more than a short one, and concurrent writers cannot lose each other's
lines (one ``os.write`` of complete lines on an O_APPEND descriptor).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from pathlib import Path

from ..notebook_io import find_repo_root

HISTORY_VERSION = 1
MAX_MESSAGES = 500  # what the panel shows; the file and the audit log keep everything


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def history_path(notebook_abs: Path) -> Path:
    override = os.environ.get("CODEX_NB_HISTORY_DIR")
    base = Path(override) if override else find_repo_root(notebook_abs.parent) / ".codex_nb" / "history"
    digest = hashlib.sha256(str(notebook_abs.resolve()).encode("utf-8")).hexdigest()[:12]
    return base / f"{notebook_abs.stem}-{digest}.jsonl"


def load(notebook_abs: Path, rel: str) -> dict:
    """``{"version", "notebook", "messages"}`` with every update merged into its message."""
    messages: list[dict] = []
    by_id: dict[str, dict] = {}
    try:
        with open(history_path(notebook_abs), encoding="utf-8") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a torn last line after a crash must not hide the rest
                if not isinstance(entry, dict):
                    continue
                if "update" in entry:
                    target = by_id.get(entry["update"])
                    if target is not None and isinstance(entry.get("fields"), dict):
                        target.update(entry["fields"])
                    continue
                messages.append(entry)
                if "id" in entry:
                    by_id[entry["id"]] = entry
    except OSError:
        pass
    return {"version": HISTORY_VERSION, "notebook": rel, "messages": messages[-MAX_MESSAGES:]}


def append(notebook_abs: Path, *messages: dict) -> None:
    """Append messages (``id`` and ``time`` added when missing) in one write."""
    stamp = now()
    stamped = []
    for message in messages:
        message = dict(message)
        message.setdefault("id", "m-" + os.urandom(6).hex())
        message.setdefault("time", stamp)
        stamped.append(message)
    _append_lines(history_path(notebook_abs), stamped)


def update(notebook_abs: Path, message_id: str, fields: dict) -> None:
    """Record new fields (a decision: status, edit indexes) for message ``message_id``."""
    _append_lines(history_path(notebook_abs), [{"update": message_id, "time": now(), "fields": fields}])


def clear(notebook_abs: Path) -> None:
    try:
        history_path(notebook_abs).unlink()
    except FileNotFoundError:
        pass


def _append_lines(path: Path, entries: list[dict]) -> None:
    """Append entries redacted (the history is local, but a key must not rest in it either) and as valid UTF-8."""
    from ..context.redact import redact_data
    from ..limits import clean_text

    data = "".join(clean_text(json.dumps(redact_data(e), ensure_ascii=False, default=str)) + "\n"
                   for e in entries).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
