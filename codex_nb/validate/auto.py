"""``mode="auto"``: run only the affected cells where skipping the rest is worth it, else everything.

A full run proves the most: it does not rely on the def-use analysis, and it
compares every cell's output. A targeted run is worth choosing only when the
cells it skips cost real time. Each code cell's time comes from, in order:

1. what the notebook recorded: papermill's ``metadata.papermill.duration``, or
   JupyterLab's ``metadata.execution`` timestamps (Settings → Notebook →
   "Record cell timing");
2. what earlier validations on this machine measured for a cell with the same
   source (kept in the user's cache directory, ``codex-nb/validate``);
3. otherwise ``UNKNOWN_CELL_SECONDS``, an estimate.

Targeted runs when it skips at least ``MIN_SAVED_SECONDS`` and at least
``MIN_SAVED_FRACTION`` of the full run's estimated cell time.
"""
from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path

MIN_SAVED_SECONDS = 0.3
MIN_SAVED_FRACTION = 0.2
UNKNOWN_CELL_SECONDS = 0.05  # a trivial cell; a notebook of them is not worth skipping
_CACHE_ENTRIES = 5000


def _cache_file() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "codex-nb" / "validate" / "cell-times.json"


def _key(source: str) -> str:
    return hashlib.sha1(source.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def _recorded(cell) -> float | None:
    meta = cell.get("metadata", {})
    duration = (meta.get("papermill") or {}).get("duration")
    if isinstance(duration, (int, float)) and duration >= 0:
        return float(duration)
    execution = meta.get("execution") or {}
    start, end = execution.get("iopub.execute_input"), execution.get("shell.execute_reply")
    if isinstance(start, str) and isinstance(end, str):
        try:
            seconds = (datetime.fromisoformat(end.replace("Z", "+00:00"))
                       - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
        except ValueError:
            return None
        return seconds if seconds >= 0 else None
    return None


def _load_cache() -> dict[str, float]:
    try:
        data = json.loads(_cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))} if isinstance(data, dict) else {}


def cell_times(nb, cell_ids) -> tuple[dict[str, float], dict[str, int]]:
    """Seconds per cell id, and how many came from each source (recorded / measured / estimated)."""
    cells = {c.get("id"): c for c in nb.cells}
    cache = None
    times, sources = {}, {"recorded": 0, "measured": 0, "estimated": 0}
    for cid in cell_ids:
        cell = cells[cid]
        seconds = _recorded(cell)
        if seconds is not None:
            sources["recorded"] += 1
        else:
            cache = _load_cache() if cache is None else cache
            seconds = cache.get(_key(cell.get("source", "")))
            if seconds is not None:
                sources["measured"] += 1
            else:
                seconds = UNKNOWN_CELL_SECONDS
                sources["estimated"] += 1
        times[cid] = seconds
    return times, sources


def remember(nb, seconds: dict[str, float]) -> None:
    """Keep the measured time of every cell that ran, keyed by its source, for later estimates."""
    if not seconds:
        return
    sources = {c.get("id"): c.get("source", "") for c in nb.cells}
    cache = _load_cache()
    for cid, value in seconds.items():
        if cid in sources:
            cache.pop(_key(sources[cid]), None)
            cache[_key(sources[cid])] = round(value, 4)  # newest last, so trimming drops the oldest
    items = list(cache.items())[-_CACHE_ENTRIES:]
    path = _cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(dict(items)), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: estimates stay estimates


def choose(nb, full_ids: list[str], targeted_ids: list[str]) -> tuple[str, str, dict]:
    """("targeted" | "full", why, estimate) for an auto validation."""
    times, sources = cell_times(nb, full_ids)
    total = sum(times.values())
    kept = set(targeted_ids)
    saved = sum(t for cid, t in times.items() if cid not in kept)
    origin = ", ".join(f"{n} {k}" for k, n in sources.items() if n)
    estimate = {"full_seconds": round(total, 3), "targeted_seconds": round(total - saved, 3),
                "cells_full": len(full_ids), "cells_targeted": len(targeted_ids), "times_from": sources}
    skipped = len(full_ids) - len(kept & set(full_ids))
    if saved >= MIN_SAVED_SECONDS and saved >= MIN_SAVED_FRACTION * total:
        return "targeted", (f"auto: targeted skips {skipped} of {len(full_ids)} cells, about {saved:.1f} s of "
                            f"{total:.1f} s (cell times: {origin})"), estimate
    return "full", (f"auto: full, since targeted would skip only about {saved:.1f} s of {total:.1f} s "
                    f"(cell times: {origin})"), estimate
