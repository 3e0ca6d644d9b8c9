"""Choosing and describing audit entries: filters by notebook, proposal, decision, event and date."""
from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path, PurePosixPath


def parse_when(text: str, *, end_of_day: bool = False) -> _dt.datetime:
    """A date (``2026-12-02``) or date-time (``2026-12-02T14:00``, optionally with a zone), as UTC.

    A bare date given as an upper bound means the end of that day, so ``--until`` includes it.
    """
    raw = text.strip()
    try:
        if len(raw) == 10:
            day = _dt.date.fromisoformat(raw)
            moment = _dt.datetime.combine(day, _dt.time.max if end_of_day else _dt.time.min)
        else:
            moment = _dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise ValueError(f"{text!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.astimezone(_dt.timezone.utc)


def entry_time(entry: dict) -> _dt.datetime | None:
    try:
        moment = _dt.datetime.fromisoformat(str(entry.get("time", "")).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc)


def select(entries: list[dict], *, notebook: str | None = None, proposal: str | None = None,
           decision: str | None = None, events: list[str] | None = None,
           since: _dt.datetime | None = None, until: _dt.datetime | None = None) -> list[dict]:
    """The entries that pass every given filter, in log order.

    ``notebook`` matches the absolute path, or a path the entry's ends with (logs are
    committed, so a clone elsewhere sees other absolute paths); ``proposal`` an id or its
    beginning.
    """
    wanted_nb = _notebook_matcher(notebook) if notebook else None
    chosen = []
    for entry in entries:
        if wanted_nb and not wanted_nb(entry.get("notebook")):
            continue
        if proposal and not str(entry.get("proposal_id") or "").startswith(proposal):
            continue
        if decision and entry.get("decision") != decision:
            continue
        if events and entry.get("event") not in events:
            continue
        if since or until:
            moment = entry_time(entry)
            if moment is None or (since and moment < since) or (until and moment > until):
                continue
        chosen.append(entry)
    return chosen


def _notebook_matcher(given: str):
    absolute = os.path.abspath(os.path.expanduser(given))
    tail = PurePosixPath(Path(given).as_posix().lstrip("./")).parts if not os.path.isabs(given) else None

    def matches(recorded) -> bool:
        if not recorded:
            return False
        if os.path.abspath(recorded) == absolute:
            return True
        return bool(tail) and PurePosixPath(Path(recorded).as_posix()).parts[-len(tail):] == tail

    return matches


def short_notebook(path) -> str:
    return Path(path).name if path else ""


def summary(entry: dict) -> str:
    """One line about what happened, for tables."""
    e = entry
    event = e.get("event")
    if event in ("asked", "proposed"):
        ops = e.get("edits") or []
        text = f"model {e.get('model') or '?'}"
        return f"{text}, {len(ops)} edit(s): {', '.join(map(str, ops))}" if event == "proposed" else text
    if event == "decided":
        return f"{e.get('decision', '?')} edits {_list(e.get('edits'))}"
    if event == "refused":
        return str(e.get("reason", ""))
    if event == "applied":
        parts = [f"by {e.get('applier', '?')}"]
        if e.get("cells"):
            parts.append(f"cells {_list(e.get('cells'))}")
        if e.get("files"):
            parts.append(f"files {_list(e.get('files'))}")
        return ", ".join(parts)
    if event in ("validated", "validation_run"):
        text = f"{'ok' if e.get('ok') else 'FAILED'} ({e.get('mode', '?')}"
        text += f", {e['seconds']}s)" if isinstance(e.get("seconds"), (int, float)) else ")"
        failed = [g.get("gate") for g in e.get("gates") or [] if isinstance(g, dict) and not g.get("ok")]
        return text + (f", failed: {', '.join(map(str, failed))}" if failed else "")
    if event == "kept":
        return f"commit {e['commit']}" if e.get("commit") else "kept"
    if event == "rolled_back":
        return f"{'exact' if e.get('exact') else 'NOT exact'}: {e.get('reason', '')}"
    if event == "repair":
        return f"attempt {e.get('attempt', '?')} -> {e.get('new_proposal_id') or 'no proposal'}"
    if event == "undone":
        return (f"edits {_list(e.get('edits'))}" + (f", files {_list(e.get('files'))}" if e.get("files") else "")
                + (f", revert commit {e['commit']}" if e.get("commit") else ""))
    if event == "committed":
        return f"commit {e.get('commit')}, files {_list(e.get('files'))}"
    if event == "fallback":
        return ("inserted" if e.get("inserted") else "not inserted") + (
            f", missed {_list(e.get('missed'))}" if e.get("missed") else "")
    if str(event).startswith("agent_"):
        detail = e.get("detail")
        return f"run {e.get('run_id', '?')} step {e.get('step', '?')}" + (f": {detail}" if isinstance(detail, str) else "")
    return ""


def _list(value) -> str:
    if not isinstance(value, list):
        return str(value) if value is not None else "-"
    return ",".join(map(str, value)) if value else "-"
