"""Human-readable progress lines for validation events (the CLI prints them to stderr)."""
from __future__ import annotations

import sys


def format_progress(event: dict) -> str | None:
    """One line per event, or None for events that need no line."""
    kind = event.get("type")
    if kind == "start":
        line = f"validate: {event['mode']} run of {event['total']} cell(s)"
        if event.get("reason"):
            return line + f" ({event['reason']})"
        return line + (f" (widened: {event['widened']})" if event.get("widened") else "")
    if kind == "cell_start":
        return f"  [{event['n']}/{event['total']}] {_cell(event)} …"
    if kind == "cell_done":
        return f"  [{event['n']}/{event['total']}] {_cell(event)} ok ({event.get('seconds', 0):.2f} s)"
    if kind == "cell_error":
        return (f"  [{event['n']}/{event['total']}] {_cell(event)} FAILED: "
                f"{event.get('ename')}: {event.get('evalue')}")
    if kind == "finish":
        return f"validate: {'ok' if event['ok'] else 'failed'} in {event['seconds']:.1f} s"
    return None


def _cell(event: dict) -> str:
    """How people see the cell: position, execution count, first line (ids are for programs)."""
    if event.get("cell"):
        return event["cell"]
    return f"cell {event['index'] + 1}" if event.get("index") is not None else "a cell"


def print_progress(event: dict, stream=None) -> None:
    line = format_progress(event)
    if line is not None:
        print(line, file=stream or sys.stderr, flush=True)
