"""The documented request/response schema of the inline-completion routes (part of ``GET /codex-nb/schema``)."""
from __future__ import annotations

CELL = "{cell_type, source, outputs (nbformat, trimmed)}"

ROUTES = {
    "POST /codex-nb/complete": {
        "request": {
            "editor_id": "str, the same for every request from one editor (required); a newer request cancels the older",
            "prefix": "the cell's text before the cursor (required)", "suffix": "the cell's text after the cursor",
            "path": "notebook path relative to the server root (for the repository context)",
            "cells_above": f"[{CELL}]", "cells_below": f"[{CELL}]",
            "kernel_state": "codex_nb.context.kernel.collect_kernel_state(...) | null",
            "model": "provider:model | null (null: completion_model, then the general model)",
            "max_lines": "1-20 | null", "context": "bool (default true; false sends the cell alone)",
            "suggestions": "1-3 (default 1): distinct suggestions wanted; the first streams, the others come in done",
        },
        "stream": {
            "start": {"editor_id": "str", "model": "str", "backend": "embedded | infill | completions | chat",
                      "alternatives": "int, how many other suggestions done will carry (0 when not known)"},
            "delta": {"text": "more of the suggestion"},
            "done": {"text": "the whole suggestion", "cached": "bool", "speculated": "bool", "model": "str",
                     "alternatives": "[str], the other distinct suggestions (Alt-] / Alt-[)"},
            "cancelled": {"editor_id": "str"},
            "error": {"error": "type", "message": "str", "hint": "how to fix it"},
        },
    },
    "GET /codex-nb/complete/settings": {
        "response": {"model": "str", "enabled": "bool", "debounce_ms": "int", "max_lines": "int",
                     "backend": "str", "demonstration": "bool", "note": "str"},
    },
    "GET /codex-nb/complete/stats": {
        "response": {"shown": "int", "accepted": "int", "dismissed": "int", "accepted_chars": "int",
                     "retained_chars": "int", "acceptance_rate": "float | null", "retention_rate": "float | null",
                     "by_model": "object", "server": "counts of this server's cache, cancellations, speculations"},
    },
    "POST /codex-nb/complete/stats": {
        "request": {"event": "shown | accepted | dismissed | retained", "chars": "int", "model": "str"},
        "response": "the totals, kept in .codex_nb/completion_stats.json on this machine only",
    },
}
