"""The inline-completion routes, all authenticated.

- ``POST /codex-nb/complete``: a Server-Sent-Events stream — ``start``, ``delta``
  (text as it arrives), then ``done`` (the whole text; ``cached`` when no model
  ran), ``cancelled`` (a newer request from the same editor, or the client left)
  or ``error``.
- ``GET /codex-nb/complete/settings``: the model, backend and defaults in force.
- ``GET|POST /codex-nb/complete/stats``: the local accept / dismiss counts.
"""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path

import tornado.web
from jupyter_server.utils import url_path_join
from tornado.web import HTTPError

from ..server.base import CodexHandler, SSEMixin, error_json
from . import stats
from .context import DEFAULT_BUDGET, NeighbourCell, build_context
from .service import CompletionService, Job

_EDITOR_ID = re.compile(r"^[A-Za-z0-9_.:/@-]{1,200}$")
MAX_CELL_CHARS = 50_000
MAX_CELLS = 200
MAX_LINES_LIMIT = 20
MAX_SUGGESTIONS = 3
TOKENS_PER_LINE = 24


def _text(body: dict, key: str, *, required: bool = False, limit: int = MAX_CELL_CHARS) -> str:
    value = body.get(key)
    if value is None:
        if required:
            raise HTTPError(400, f"'{key}' is required (the cell's text before the cursor)")
        return ""
    if not isinstance(value, str):
        raise HTTPError(400, f"'{key}' must be a string")
    if len(value) > limit:
        raise HTTPError(400, f"'{key}' is longer than {limit} characters; inline completion is for cells, not files")
    return value


def _cells(body: dict, key: str) -> list[NeighbourCell]:
    value = body.get(key) or []
    if not isinstance(value, list):
        raise HTTPError(400, f"'{key}' must be a list of cells ({{'cell_type', 'source', 'outputs'}})")
    cells = []
    for item in value[-MAX_CELLS:] if key == "cells_above" else value[:MAX_CELLS]:
        if not isinstance(item, dict) or not isinstance(item.get("source", ""), (str, list)):
            raise HTTPError(400, f"each of '{key}' is an object with 'cell_type' and a string 'source'")
        source = item.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        outputs = item.get("outputs") or []
        if not isinstance(outputs, list):
            raise HTTPError(400, f"'outputs' in '{key}' must be a list of nbformat outputs")
        cells.append(NeighbourCell(str(item.get("cell_type", "code")), source[:MAX_CELL_CHARS], outputs[:10]))
    return cells


@dataclass
class CompleteRequest:
    editor_id: str
    prefix: str
    suffix: str = ""
    path: str = ""
    above: list[NeighbourCell] = field(default_factory=list)
    below: list[NeighbourCell] = field(default_factory=list)
    kernel_state: dict | None = None
    model: str | None = None
    max_lines: int | None = None
    use_context: bool = True
    suggestions: int = 1

    @classmethod
    def parse(cls, body: dict) -> "CompleteRequest":
        editor_id = _text(body, "editor_id", limit=200)
        if not _EDITOR_ID.match(editor_id):
            raise HTTPError(400, "'editor_id' is required: letters, digits and _ . : / @ - (at most 200), "
                                 "the same for every request from one editor")
        suggestions = body.get("suggestions", 1)
        if (not isinstance(suggestions, int) or isinstance(suggestions, bool)
                or not 1 <= suggestions <= MAX_SUGGESTIONS):
            raise HTTPError(400, f"'suggestions' must be an integer from 1 to {MAX_SUGGESTIONS} "
                                 "(how many distinct suggestions to cycle through)")
        max_lines = body.get("max_lines")
        if max_lines is not None and (not isinstance(max_lines, int) or isinstance(max_lines, bool)
                                      or not 1 <= max_lines <= MAX_LINES_LIMIT):
            raise HTTPError(400, f"'max_lines' must be an integer from 1 to {MAX_LINES_LIMIT}")
        kernel_state = body.get("kernel_state")
        if kernel_state is not None and not isinstance(kernel_state, dict):
            raise HTTPError(400, "'kernel_state' must be an object (as collected by codex_nb.context.kernel) or null")
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise HTTPError(400, "'model' must be a model id string such as ollama:qwen2.5-coder:1.5b")
        use_context = body.get("context", True)
        if not isinstance(use_context, bool):
            raise HTTPError(400, "'context' must be true or false")
        return cls(editor_id=editor_id, prefix=_text(body, "prefix", required=True), suffix=_text(body, "suffix"),
                   path=_text(body, "path", limit=4096), above=_cells(body, "cells_above"),
                   below=_cells(body, "cells_below"), kernel_state=kernel_state, model=model or None,
                   max_lines=max_lines, use_context=use_context, suggestions=suggestions)


def _service(handler) -> CompletionService:
    return handler.settings["codex_nb_completion"]


def _build_job(req: CompleteRequest, root_dir: Path, resolve, *, quick: bool = False) -> tuple[Job, dict] | None:
    """Settings, backend and context for one request.

    ``quick``: only if nothing but a few ``stat`` calls is needed (the repository signatures are
    known from a request moments ago); None otherwise, and the caller runs it in a worker.
    """
    from ..config import load_config
    from ..notebook_io import find_repo_root
    from .models import backend_for, settings
    from .repo_symbols import repo_signatures

    config = load_config()
    chosen = settings(config, req.model)
    if not chosen.model_id:
        raise HTTPError(400, "no model is configured for inline completion: set c.CodexNB.completion_model "
                             "(or CODEX_NB_MODEL), e.g. ollama:qwen2.5-coder:1.5b or local:smollm2")
    max_lines = req.max_lines or chosen.max_lines
    name, signatures = "", ""
    if req.use_context:
        where = resolve(req.path) if req.path else root_dir
        repo_root = find_repo_root(where if Path(where).exists() else root_dir)
        code = "\n".join([c.source for c in req.above if c.cell_type == "code"] + [req.prefix, req.suffix])
        signatures = repo_signatures(code, repo_root, cached_only=quick)
        if signatures is None:
            return None
        name = Path(req.path).name if req.path else ""
    ctx = build_context(req.prefix, req.suffix, above=req.above if req.use_context else [],
                        below=req.below if req.use_context else [],
                        kernel_state=req.kernel_state if req.use_context else None,
                        repo_signatures=signatures, notebook_name=name, budget=DEFAULT_BUDGET)
    job = Job(editor_id=req.editor_id, backend=backend_for(chosen.model_id), ctx=ctx, raw_prefix=req.prefix,
              max_lines=max_lines, max_tokens=min(256, TOKENS_PER_LINE * max_lines + 8), suggestions=req.suggestions)
    return job, chosen.to_json()


class CompleteHandler(SSEMixin, CodexHandler):
    body_route = "complete"  # body_caps.ROUTE_LIMITS_KB
    job: Job | None = None

    @tornado.web.authenticated
    async def post(self):
        req = CompleteRequest.parse(self.json_body())
        loop = asyncio.get_running_loop()
        service = _service(self)
        seq = service.arrive(req.editor_id)
        service.cancel_editor(req.editor_id, speculation=False)  # the older request stops at once, before this one's context is built
        try:
            # On the loop when it is only a few stat calls (most keystrokes: a thread hop costs more
            # than the work on a busy machine); in a worker when the repository must be walked.
            built = _build_job(req, self.codex.root_dir, self.resolve, quick=True)
            if built is None:
                built = await loop.run_in_executor(self.codex.executor, _build_job, req, self.codex.root_dir,
                                                   self.resolve)
            job, chosen = built
        except HTTPError:
            raise
        except Exception as exc:  # noqa: BLE001 - a configuration problem is the client's to fix
            self.write_json(error_json(exc), status=400)
            return
        if self.closed:
            return  # the client left while the context was built: no model call
        job.seq = seq
        self.job = job
        self.start_events()
        # queued, not awaited: it goes out with the first text, and the model call starts now
        # "alternatives": how many more suggestions this answer may carry in `done` (none from a backend
        # that cannot give them, or a server that turned out to ignore `n`); the editor offers that many
        # places to cycle to before they arrive
        promised = min(req.suggestions - 1, job.backend.alternatives)
        self.queue_event("start", {"editor_id": req.editor_id, "model": chosen["model"], "backend": chosen["backend"],
                                   "alternatives": promised})
        try:
            outcome = await service.complete(self.job, lambda text: self.queue_event("delta", {"text": text}))
        except Exception as exc:  # noqa: BLE001 - every failure becomes an event the editor can ignore
            error = error_json(exc)
            self.log.warning("codex-nb completion failed: %s", error["message"])
            await self.send_event("error", error)
            self.finish()
            return
        if outcome.cancelled:
            await self.send_event("cancelled", {"editor_id": req.editor_id})
        else:
            await self.send_event("done", {"text": outcome.text, "cached": outcome.cached,
                                           "speculated": outcome.speculated, "model": chosen["model"],
                                           "alternatives": outcome.alternatives})
        if not self._finished:
            self.finish()

    def on_client_gone(self) -> None:
        if self.job is not None:
            _service(self).cancel_job(self.job)


class SettingsHandler(CodexHandler):
    @tornado.web.authenticated
    async def get(self):
        from ..config import load_config
        from .models import settings

        chosen = await asyncio.get_running_loop().run_in_executor(self.codex.executor, lambda: settings(load_config()))
        self.write_json(chosen.to_json())


class StatsHandler(CodexHandler):
    body_route = "complete/stats"  # body_caps.ROUTE_LIMITS_KB

    @tornado.web.authenticated
    def get(self):
        data = stats.summary(stats.read_stats(stats.stats_path(self.codex.root_dir)))
        self.write_json({**data, "server": dict(_service(self).counts)})

    @tornado.web.authenticated
    def post(self):
        body = self.json_body()
        event = body.get("event")
        if event not in stats.EVENTS:
            raise HTTPError(400, f"'event' must be one of {', '.join(stats.EVENTS)}")
        chars = body.get("chars", 0)
        if not isinstance(chars, int) or isinstance(chars, bool) or not 0 <= chars <= 1_000_000:
            raise HTTPError(400, "'chars' must be a non-negative integer")
        model = body.get("model") or ""
        if not isinstance(model, str) or len(model) > 200:
            raise HTTPError(400, "'model' must be a model id string")
        data = stats.record(stats.stats_path(self.codex.root_dir), event, chars=chars, model=model)
        self.write_json(stats.summary(data))


def completion_handlers(web_app, base: str) -> list[tuple]:
    """The routes under ``base`` (``{base_url}/codex-nb``), with the service they share put in the settings."""
    web_app.settings.setdefault("codex_nb_completion", CompletionService())
    return [
        (url_path_join(base, "complete"), CompleteHandler),
        (url_path_join(base, "complete", "settings"), SettingsHandler),
        (url_path_join(base, "complete", "stats"), StatsHandler),
    ]
