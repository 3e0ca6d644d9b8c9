"""The documented request/response schema of the ``/codex-nb/`` routes (served at ``GET /codex-nb/schema``).

Every route needs the Jupyter token (or a logged-in browser session); every
``path`` is relative to the server root, and a path outside it is refused with
403 before anything is read. Errors are JSON ``{"message": …, "reason": …}``
from Jupyter for 4xx, or ``{"error", "message", "hint"}`` for codex-nb errors. A body over its route's
limit (body_caps.py) is a 413 ``{"error": "BodyTooLarge", "message", "hint", "route", "limit", "sent",
"setting"}``, sent before the rest of the body is read.
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
        "POST /codex-nb/accept": {
            "request": {"path": "str", "proposal": "Proposal.to_json()", "edit_indexes": "[int] | null (null: every edit)",
                        "message_id": "history message to mark | null", "model": "model for repairs | null",
                        "settings": "{validate, validate_mode, cell_timeout, total_timeout} overrides | null"},
            "stream": {"accept": {"run_id": "str: where the page answers apply requests"},
                       "apply_request": {"request_id": "str", "action": "read | apply", "ops": "[live op]"},
                       "<engine event>": "decided | status | refused | applied | progress | validated | kept | rolled_back | finished "
                                         "(codex_nb/engine/events.py)",
                       "error": {"message": "str", "hint": "str"}},
        },
        "POST /codex-nb/accept/<run_id>/reply": {
            "request": {"request_id": "str", "ok": "bool", "reason": "str | null", "notebook": "nbformat JSON after the request"},
            "response": {"ok": True}, "errors": {"404": "no such acceptance", "409": "no such request"},
        },
        "POST /codex-nb/reject": {
            "request": {"path": "str", "proposal": "Proposal.to_json()", "edit_indexes": "[int]",
                        "message_id": "str | null", "status": "rejected | partial | null"},
            "response": {"rejected": "[int]"},
        },
        "POST /codex-nb/repair": {
            "request": {"path": "str", "outcome_id": "the rolled-back outcome's id (from the finished event)"},
            "stream": {"accept": {"run_id": "str"}, "apply_request": "as for accept (the page is read)",
                       "start": {"message_id": "str"}, "delta": {"text": "str"},
                       "proposal": {"message_id": "str", "proposal": "Proposal.to_json()", "diffs": "[diff]"},
                       "done": {"message_id": "str", "text": "str"}, "error": {"message": "str"}},
        },
        "POST /codex-nb/commit": {
            "request": {"path": "str", "outcome_id": "a kept outcome with a commit_offer (commit = 'ask')",
                        "message_id": "history message to mark | null"},
            "response": {"commit": "sha", "files": "[str]", "proposal_id": "str"},
            "errors": {"404": "no kept change with that id on this server",
                       "409": "{message, hint}: a file changed since it was kept, already committed, or git refused"},
        },
        "GET /codex-nb/audit?path=&limit=": {"response": {"path": "str", "entries": "[audit entry]"}},
        "GET /codex-nb/history?path=": {"response": {"version": 1, "notebook": "str", "messages": "[message]"}},
        "DELETE /codex-nb/history?path=": {"response": "204"},
        "GET /codex-nb/files?prefix=": {"response": {"prefix": "str", "files": "[{path, dir}]"}},
        "GET /codex-nb/map?path=&query=&budget=": {"response": "as POST /codex-nb/map, for the saved notebook"},
        "POST /codex-nb/map": {
            "request": {"path": "notebook path | null (null: the server root's repository)", "notebook": NOTEBOOK,
                        "query": "str (highlights the files its context sends)", "active_cell": "cell id | null",
                        "budget": "int tokens (default 8000)"},
            "response": {"version": 1, "root": "repository path relative to the server root | null",
                         "files": "int", "collapsed": "bool (true: nodes are packages)",
                         "groups": "[{id, label, files, sent, package}]",
                         "nodes": "[{id, kind: module | notebook | package, label, group, rank?, score?, tokens?, why?}]",
                         "edges": "[{source, target, kind: import | uses, count?}]",
                         "sent": "[{path, rank, score, why, tokens, code_sent}]", "budget": "int | null",
                         "context_tokens": "int | null",
                         "notebook": "{path, cells: [{id, position, label, kind, defines, uses, rerun, opaque}], "
                                     "edges: [{source, target, names}], widened: why every edit re-runs everything | null} | null"},
        },
        **COMPLETION_ROUTES,
    },
}
