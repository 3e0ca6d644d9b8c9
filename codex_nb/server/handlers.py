"""The non-chat routes: models, context preview, ops for applying, validation, audit, history, files."""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import os

import tornado.web
from tornado.web import HTTPError

from .. import audit
from ..errors import CodexError
from . import history
from .base import CodexHandler, SSEMixin, error_json
from .requests import _str, _str_list, notebook_json
from .schema import SCHEMA

DECISIONS = ("accept", "reject", "apply", "rollback", "validate", "fix", "cancel")


def _node(nb_json: dict | None, path):
    from .requests import node_from_json
    from ..notebook_io import read_notebook

    return node_from_json(nb_json) if nb_json is not None else read_notebook(path)


def _user(handler: CodexHandler) -> str | None:
    """The identity provider's name for the requesting user: the audit log's ``user``, never a client field."""
    user = handler.current_user
    return getattr(user, "username", None) or (user if isinstance(user, str) else None)


async def _in_pool(handler: CodexHandler, fn, *args, **kwargs):
    return await asyncio.get_running_loop().run_in_executor(handler.codex.executor, functools.partial(fn, *args, **kwargs))


class SchemaHandler(CodexHandler):
    @tornado.web.authenticated
    def get(self):
        self.write_json(SCHEMA)


class ModelsHandler(CodexHandler):
    @tornado.web.authenticated
    async def get(self):
        from ..providers.registry import list_models

        try:
            models = await _in_pool(self, list_models)
        except CodexError as exc:
            return self.fail(exc)
        default = os.environ.get("CODEX_NB_MODEL") or next((m["id"] for m in models if m.get("configured")), None)
        self.write_json({"models": models, "default": default})


def _target_notebook(handler: CodexHandler, body: dict, live_required: bool = False):
    """(path as sent, resolved path, live notebook JSON or None) for a request about one notebook.

    The live content from the front end wins over the file; without it the file must exist.
    """
    rel = _str(body, "path", required=True)
    path = handler.resolve(rel)
    nb_json = notebook_json(body)
    if nb_json is None and live_required:
        raise HTTPError(400, "'notebook' (the live notebook content) is required")
    if nb_json is None and not path.exists():
        raise HTTPError(404, f"{rel!r} does not exist")
    return rel, path, nb_json


class ContextHandler(CodexHandler):
    @tornado.web.authenticated
    async def post(self):
        body = self.json_body()
        rel, path, nb_json = _target_notebook(self, body)
        query = _str(body, "query", default="") or ""

        def preview():
            from ..context import build_context

            from ..notebook_io import find_repo_root

            return build_context(notebook=_node(nb_json, path), query=query, repo=find_repo_root(path.parent)).to_json()

        try:
            self.write_json({"path": rel, "context": await _in_pool(self, preview)})
        except CodexError as exc:
            self.fail(exc)


class OpsHandler(CodexHandler):
    """The comm-protocol ops that apply a proposal (or some of its edits) to the live notebook, and their inverse."""

    @tornado.web.authenticated
    async def post(self):
        body = self.json_body()
        rel, path, nb_json = _target_notebook(self, body, live_required=True)
        raw = body.get("proposal")
        if not isinstance(raw, dict):
            raise HTTPError(400, "'proposal' must be a proposal object")
        indexes = body.get("edit_indexes")
        if indexes is not None and (not isinstance(indexes, list) or not all(isinstance(i, int) for i in indexes)):
            raise HTTPError(400, "'edit_indexes' must be a list of integers")

        def plan():
            from ..edits.live_ops import inverse_ops, proposal_ops, touched_cell_ids
            from ..edits.model import Proposal

            proposal = Proposal.from_json(raw)
            if indexes is not None:
                if any(i < 0 or i >= len(proposal.edits) for i in indexes):
                    raise HTTPError(400, "'edit_indexes' names an edit the proposal does not have")
                proposal = dataclasses.replace(proposal, edits=tuple(proposal.edits[i] for i in sorted(set(indexes))))
            nb = _node(nb_json, path)
            return {"proposal_id": proposal.id, "ops": proposal_ops(nb, proposal), "inverse": inverse_ops(nb, proposal),
                    "changed": touched_cell_ids(nb, proposal)}

        try:
            self.write_json(await _in_pool(self, plan))
        except CodexError as exc:
            self.fail(exc)


class ValidateHandler(SSEMixin, CodexHandler):
    """Re-run the (live, edited) notebook with papermill; progress events stream, then the result."""

    @tornado.web.authenticated
    async def post(self):
        body = self.json_body()
        rel, path, nb_json = _target_notebook(self, body)
        changed = _str_list(body, "changed")
        mode = _str(body, "mode", default="targeted")
        if mode not in ("targeted", "full"):
            raise HTTPError(400, "'mode' must be 'targeted' or 'full'")
        proposal_id = _str(body, "proposal_id")
        previous = body.get("previous")
        if previous is not None and not (isinstance(previous, dict) and isinstance(previous.get("cells"), list)):
            raise HTTPError(400, "'previous' must be nbformat JSON of the notebook before the edit")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def progress(event: dict) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, ("progress", event))

        def run():
            from ..validate import validate_notebook

            return validate_notebook(_node(nb_json, path), changed=changed or None, mode=mode,
                                     cwd=str(path.parent), progress=progress,
                                     previous=_node(previous, path) if previous else None).to_json()

        self.start_events()
        await self.send_event("start", {"path": rel, "mode": mode})
        future = loop.run_in_executor(self.codex.executor, run)
        future.add_done_callback(lambda _f: queue.put_nowait(("end", None)))
        while True:
            kind, event = await queue.get()
            if kind == "end":
                break
            await self.send_event("progress", event)
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - reported to the panel as an event
            await self.send_event("error", error_json(exc))
            return self.finish()
        await _in_pool(self, audit.record, "validate", path, user=_user(self), notebook=str(path), path=rel,
                       source="panel", proposal_id=proposal_id,
                       ok=result.get("ok"), mode=mode, changed=changed)
        await self.send_event("result", result)
        self.finish()


class AuditHandler(CodexHandler):
    @tornado.web.authenticated
    async def get(self):
        rel = self.get_argument("path")
        path = self.resolve(rel)
        limit = self.get_argument("limit", None)
        entries = await _in_pool(self, audit.read, path, notebook=str(path), limit=int(limit) if limit else None)
        self.write_json({"path": rel, "entries": entries})

    @tornado.web.authenticated
    async def post(self):
        """Record a panel decision (accept / reject / apply / rollback …), and mark it in the history."""
        body = self.json_body()
        rel = _str(body, "path", required=True)
        path = self.resolve(rel)
        event = _str(body, "event", required=True)
        if event not in DECISIONS:
            raise HTTPError(400, f"'event' must be one of {', '.join(DECISIONS)}")
        fields = body.get("fields") or {}
        if not isinstance(fields, dict):
            raise HTTPError(400, "'fields' must be an object")
        proposal_id = _str(body, "proposal_id")
        # Same "notebook" key as the assistant's own records (the absolute path), so one read finds both.
        entry = await _in_pool(self, audit.record, event, path, user=_user(self), notebook=str(path), path=rel,
                               source="panel", proposal_id=proposal_id,
                               **{k: v for k, v in fields.items() if k not in ("event", "notebook", "path", "source", "user")})
        message_id = _str(body, "message_id")
        status = _str(body, "status")
        if message_id and status:
            await _in_pool(self, history.update, path, message_id, {"status": status, **fields})
        self.write_json(entry, status=201)


class HistoryHandler(CodexHandler):
    @tornado.web.authenticated
    async def get(self):
        rel = self.get_argument("path")
        path = self.resolve(rel)
        self.write_json(await _in_pool(self, history.load, path, rel))

    @tornado.web.authenticated
    async def delete(self):
        rel = self.get_argument("path")
        path = self.resolve(rel)
        await _in_pool(self, history.clear, path)
        self.set_status(204)
        self.finish()


class FilesHandler(CodexHandler):
    """Completion for @file: files under the server root whose path starts with ``prefix``."""

    @tornado.web.authenticated
    async def get(self):
        prefix = self.get_argument("prefix", "")
        folder, _, stem = prefix.rpartition("/")
        base = self.resolve(folder or ".", must_exist=True) if folder else self.codex.root_dir.resolve()

        def listing():
            out = []
            try:
                entries = sorted(os.scandir(base), key=lambda e: e.name)
            except OSError:
                return out
            for entry in entries:
                if entry.name.startswith(".") or entry.name in ("node_modules", "__pycache__"):
                    continue
                if entry.name.lower().startswith(stem.lower()):
                    name = f"{folder}/{entry.name}" if folder else entry.name
                    out.append({"path": name + ("/" if entry.is_dir() else ""), "dir": entry.is_dir()})
                if len(out) >= 50:
                    break
            return out

        self.write_json({"prefix": prefix, "files": await _in_pool(self, listing)})
