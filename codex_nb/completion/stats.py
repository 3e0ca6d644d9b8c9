"""Were the suggestions any good? Counts kept on this machine only, never sent anywhere.

The lab extension reports what happened to each suggestion it showed: accepted
(Tab), dismissed (typed over, Esc, moved away), and — a few seconds after an
acceptance — how many of the accepted characters are still in the cell. The
totals live in ``.codex_nb/completion_stats.json`` under the server's root, one
small JSON object rewritten atomically.
"""
from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

EVENTS = ("shown", "accepted", "dismissed", "retained")
FILE_NAME = "completion_stats.json"
_lock = threading.Lock()


def stats_path(root: Path) -> Path:
    override = os.environ.get("CODEX_NB_COMPLETION_STATS")
    return Path(override) if override else Path(root) / ".codex_nb" / FILE_NAME


def empty() -> dict:
    return {"shown": 0, "accepted": 0, "dismissed": 0, "accepted_chars": 0, "retained_chars": 0, "by_model": {}}


def read_stats(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return empty()
    return {**empty(), **data} if isinstance(data, dict) else empty()


def record(path: Path, event: str, *, chars: int = 0, model: str = "") -> dict:
    """Add one event to the totals and return them."""
    if event not in EVENTS:
        raise ValueError(event)
    chars = max(0, int(chars))
    with _lock:
        data = read_stats(path)
        per = data["by_model"].setdefault(model or "?", {"shown": 0, "accepted": 0, "dismissed": 0,
                                                         "accepted_chars": 0, "retained_chars": 0})
        for bucket in (data, per):
            if event == "retained":
                bucket["retained_chars"] += chars
            else:
                bucket[event] += 1
                if event == "accepted":
                    bucket["accepted_chars"] += chars
        path.parent.mkdir(parents=True, exist_ok=True)
        ignore = path.parent / ".gitignore"
        if path.parent.name == ".codex_nb" and not ignore.exists():
            ignore.write_text("*\n")  # local state, never something to commit
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, path)
    return data


def summary(data: dict) -> dict:
    """The totals plus the two rates people ask about."""
    shown = data.get("shown") or 0
    accepted_chars = data.get("accepted_chars") or 0
    return {**data, "acceptance_rate": round(data.get("accepted", 0) / shown, 3) if shown else None,
            "retention_rate": round(data.get("retained_chars", 0) / accepted_chars, 3) if accepted_chars else None}
