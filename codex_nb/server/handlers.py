"""The non-chat routes: models, context preview, audit log, history, files (accepting lives in accept.py)."""
from __future__ import annotations

import asyncio
import functools
import os

import tornado.web
from tornado.web import HTTPError

from .. import audit
from ..errors import CodexError
from . import history
from .base import CodexHandler
from .requests import _str, notebook_json
from .schema import SCHEMA

def _node(nb_json: dict | None, path):
    from .requests import node_from_json
    from ..notebook_io import read_notebook

    return node_from_json(nb_json) if nb_json is not None else read_notebook(path)


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
        from ..engine.settings import resolve_model

        # The same resolver as the magics and the CLI: flag > c.CodexNB.model > CODEX_NB_MODEL > first with credentials.
        self.write_json({"models": models, "default": await _in_pool(self, resolve_model)})


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
    body_route = "context"  # carries the live notebook: c.CodexNB.max_request_mb

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


class AuditHandler(CodexHandler):
    @tornado.web.authenticated
    async def get(self):
        rel = self.get_argument("path")
        path = self.resolve(rel)
        limit = self.get_argument("limit", None)
        entries = await _in_pool(self, audit.read, path, notebook=str(path), limit=int(limit) if limit else None)
        self.write_json({"path": rel, "entries": entries})


class HistoryHandler(CodexHandler):
    body_route = "history"  # body_caps.ROUTE_LIMITS_KB

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
