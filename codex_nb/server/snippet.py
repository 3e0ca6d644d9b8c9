"""A code block from a chat answer as a proposal: the panel's "Insert below" and "Replace cell".

``POST /codex-nb/snippet`` answers with an ordinary proposal (one insert after the active
cell, or one replace of it) and its diffs. Nothing is written here: the panel shows the
proposal as the usual card, and Accept goes through the engine (``/codex-nb/accept``),
validated and audited like any other change.
"""
from __future__ import annotations

import tornado.web
from tornado.web import HTTPError

from .base import CodexHandler
from .requests import _str, node_from_json, notebook_json

ACTIONS = ("insert", "replace")
MAX_CODE_CHARS = 200_000  # a code block of an answer; larger is not something a person reviews in a card


def snippet_proposal(nb, action: str, code: str, cell_id: str | None, notebook: str | None):
    """The proposal for ``code`` placed after (insert) or into (replace) the cell ``cell_id`` of ``nb``."""
    from ..edits.model import InsertCell, Proposal, ReplaceCell
    from ..notebook_io import source_hash

    cells = {c["id"]: c for c in nb.cells}
    if action == "replace":
        if cell_id not in cells:
            raise HTTPError(400, "select the cell to replace in the notebook first (no active cell was given)")
        edit = ReplaceCell(cell_id=cell_id, source=code, base_hash=source_hash(cells[cell_id]["source"]),
                           cell_type="code" if cells[cell_id]["cell_type"] != "code" else None)
        why = "Replace the active cell with the code block from the answer."
    else:
        if cell_id is not None and cell_id not in cells:
            raise HTTPError(400, f"the active cell {cell_id!r} is not in the notebook; select a cell and try again")
        edit = InsertCell(source=code, after=cell_id)
        why = "Insert the code block from the answer below the active cell." if cell_id else (
            "Insert the code block from the answer at the end of the notebook.")
    return Proposal(why, (edit,), model="", notebook=notebook)


class SnippetHandler(CodexHandler):
    body_route = "snippet"  # carries the live notebook: c.CodexNB.max_request_mb

    @tornado.web.authenticated
    def post(self):
        from ..edits.diff import proposal_diffs

        body = self.json_body()
        rel = _str(body, "path", required=True)
        self.resolve(rel)  # inside the server's root, or a 4xx
        action = _str(body, "action", required=True)
        if action not in ACTIONS:
            raise HTTPError(400, f"'action' must be one of {', '.join(ACTIONS)}")
        code = body.get("code")
        if not isinstance(code, str) or not code.strip():
            raise HTTPError(400, "'code' must be the code block's text")
        if len(code) > MAX_CODE_CHARS:
            raise HTTPError(400, f"the code block has {len(code):,} characters; at most {MAX_CODE_CHARS:,} go in a card")
        raw = notebook_json(body)
        if raw is None:
            raise HTTPError(400, "'notebook' is required: the live notebook the code goes into")
        nb = node_from_json(raw)
        proposal = snippet_proposal(nb, action, code, _str(body, "cell_id"), rel)
        self.write_json({"proposal": proposal.to_json(), "diffs": proposal_diffs(nb, proposal)})
