"""``/codex-nb/map``: the map of the repository and notebook, for the panel's Map view.

``GET ?path=NB&query=Q`` maps the saved notebook; ``POST {"path", "notebook", "query",
"active_cell", "budget"}`` maps the live one (unsaved edits included). The answer is
:func:`codex_nb.repomap.build_map`'s JSON plus ``root``: the repository's path relative
to the server root, so that the front end can open the files it names.
"""
from __future__ import annotations

import asyncio
import functools

import tornado.web
from tornado.web import HTTPError

from ..errors import CodexError
from .base import CodexHandler
from .requests import _str, notebook_json


class MapHandler(CodexHandler):
    body_route = "map"  # carries the live notebook: c.CodexNB.max_request_mb

    @tornado.web.authenticated
    async def get(self):
        body = {k: self.get_argument(k) for k in ("path", "query", "active_cell") if self.get_argument(k, None)}
        if self.get_argument("budget", None):
            body["budget"] = self.get_argument("budget")
        await self._answer(body)

    @tornado.web.authenticated
    async def post(self):
        await self._answer(self.json_body())

    async def _answer(self, body: dict) -> None:
        rel = _str(body, "path")
        query = _str(body, "query", default="") or ""
        active = _str(body, "active_cell")
        budget = body.get("budget")
        if budget is not None:
            try:
                budget = int(budget)
            except (TypeError, ValueError):
                raise HTTPError(400, "'budget' must be a whole number of tokens") from None
            if budget < 100:
                raise HTTPError(400, f"a budget of {budget} tokens is too small; use at least a few thousand")
        nb_json = notebook_json(body)
        path = self.resolve(rel) if rel else None
        if path is not None and nb_json is None and not path.exists():
            raise HTTPError(404, f"{rel!r} does not exist")

        def build():
            from ..notebook_io import find_repo_root
            from ..repomap import build_map

            notebook = None
            if nb_json is not None:
                from .requests import node_from_json

                notebook = node_from_json(nb_json)
            elif path is not None and path.suffix == ".ipynb":
                notebook = path
            repo = find_repo_root(path.parent) if path is not None else self.codex.root_dir
            return build_map(repo=repo, notebook=notebook, query=query, budget=budget, active_cell=active,
                             notebook_path=path)

        try:
            data = await asyncio.get_running_loop().run_in_executor(self.codex.executor, functools.partial(build))
        except CodexError as exc:
            return self.fail(exc)
        try:
            data["root"] = self.rel(data["repo"])
        except ValueError:
            data["root"] = None  # the repository reaches above the server root: files cannot be opened from here
        data.pop("repo")  # an absolute path on the server is nothing the browser needs
        self.write_json(data)
