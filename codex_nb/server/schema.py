"""The documented request/response schema of the ``/codex-nb/`` routes (served at ``GET /codex-nb/schema``).

Every route needs the Jupyter token (or a logged-in browser session); every
``path`` is relative to the server root, and a path outside it is refused with
403 before anything is read. Errors are JSON ``{"message": …, "reason": …}``
from Jupyter for 4xx, or ``{"error", "message", "hint"}`` for codex-nb errors.
Streams are Server-Sent Events (``event: <name>`` / ``data: <json>``).
"""
from __future__ import annotations

from ..completion.schema import ROUTES as COMPLETION_ROUTES

NOTEBOOK = "nbformat 4 JSON of the live notebook (model.toJSON() in the front end); optional, else the file is read"

SCHEMA = {
    "version": 1,
    "routes": {
        "GET /codex-nb/models": {
            "response": {"models": "[{id, provider, configured, reachable, detail}]", "default": "model id | null"},
        },
        "POST /codex-nb/chat": {
            "request": {
                "kind": "propose | ask | fix | explain | review (default propose)",
                "instruction": "string (required for propose/ask)",
                "path": "notebook path, relative to the server root (required)",
                "notebook": NOTEBOOK,
                "model": "provider:model | null (null: the configured default)",
                "active_cell": "cell id | null", "selected_cells": "[cell id]",
                "context": "[{type: 'file', path} | {type: 'variable', name, summary}]",
                "kernel_state": "object | null", "chat_id": "client-chosen id for cancelling (optional)",
            },
            "stream": {
                "start": {"chat_id": "str", "message_id": "str"},
                "delta": {"text": "streamed answer text (for a proposal: its explanation as it is written)"},
                "proposal": {"message_id": "str", "proposal": "Proposal.to_json()",
                             "diffs": "[{edit_index, op, cell_id, title, old, new, unified}]"},
                "done": {"message_id": "str", "text": "final markdown", "model": "str", "usage": "object", "cancelled": "bool"},
                "error": {"error": "type", "message": "str", "hint": "how to fix it"},
                "cancelled": {"chat_id": "str"},
            },
        },
        "POST /codex-nb/chat/<chat_id>/cancel": {"response": {"chat_id": "str", "cancelled": True}, "errors": {"404": "no such running chat"}},
        "POST /codex-nb/context": {"request": {"path": "str", "notebook": NOTEBOOK, "query": "str"},
                                   "response": {"path": "str", "context": "build_context(...).to_json()"}},
        "POST /codex-nb/ops": {
            "request": {"path": "str", "notebook": NOTEBOOK + " (required)", "proposal": "Proposal.to_json()",
                        "edit_indexes": "[int] | null (null: every edit)"},
            "response": {"proposal_id": "str", "ops": "[live-apply op]", "inverse": "[live-apply op] that undo ops",
                         "changed": "[cell id] to validate"},
        },
        "POST /codex-nb/validate": {
            "request": {"path": "str", "notebook": NOTEBOOK, "changed": "[cell id]", "mode": "targeted | full",
                        "proposal_id": "str | null", "previous": "nbformat JSON before the edit (optional; widens targeted runs)"},
            "stream": {"start": {"path": "str", "mode": "str"},
                       "progress": {"type": "start | cell_start | cell_done | cell_error | finish", "cell_id": "str", "index": "int", "total": "int"},
                       "result": "ValidationReport.to_json(): {ok, mode, cells_run, seconds, failed: {cell_id, ename, evalue, message, traceback} | null, drift, …}", "error": {"message": "str", "hint": "str"}},
        },
        "GET /codex-nb/audit?path=&limit=": {"response": {"path": "str", "entries": "[audit entry]"}},
        "POST /codex-nb/audit": {
            "request": {"path": "str", "event": "accept | reject | apply | rollback | validate | fix | cancel",
                        "proposal_id": "str | null", "message_id": "history message to mark | null",
                        "status": "accepted | rejected | rolled_back | … | null", "fields": "object"},
            "response": "the recorded audit entry (201)",
        },
        "GET /codex-nb/history?path=": {"response": {"version": 1, "notebook": "str", "messages": "[message]"}},
        "DELETE /codex-nb/history?path=": {"response": "204"},
        "GET /codex-nb/files?prefix=": {"response": {"prefix": "str", "files": "[{path, dir}]"}},
        **COMPLETION_ROUTES,
    },
}
