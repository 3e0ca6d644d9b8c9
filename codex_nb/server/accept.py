"""The panel's door into the engine: accept / reject / repair routes, with the page as the applier.

``POST /codex-nb/accept`` runs ``Engine.accept`` on the server's event loop and
streams its events. When the engine needs the notebook read or changed, it
sends an ``apply_request`` event; the page applies the ops to its notebook model
and answers on ``POST /codex-nb/accept/<run_id>/reply`` with the notebook as it
then is. Repository files are written by the engine on the server. Nothing here
applies, validates or rolls back by itself.
"""
from __future__ import annotations

import asyncio
import os
import tornado.web
from tornado.web import HTTPError

from ..errors import CodexError
from . import history
from .base import CodexHandler, SSEMixin, error_json
from .requests import _str

REPLY_TIMEOUT = 30.0  # seconds the page has to answer an apply request (it applies in milliseconds)
KEPT_OUTCOMES = 200  # outcomes remembered for the Fix button


class PageBridge:
    """Requests from the engine to one page, matched to the page's replies by request id."""

    def __init__(self, send):
        self.send = send
        self.pending: dict[str, asyncio.Future] = {}

    async def request(self, message: dict) -> dict:
        """The engine's read / apply of the page's notebook."""
        from ..engine import events as ev

        action = "read" if message["type"] == "snapshot" else "apply"
        return await self._ask(lambda rid: ev.ApplyRequest(rid, action, message.get("ops") or []), REPLY_TIMEOUT)

    async def run(self, action: str, *, cell_ids=(), reset: bool = False, names=(), timeout: float) -> dict:
        """The agent's cells run (or interrupted, or read) in the notebook's kernel by the page."""
        from ..engine import events as ev

        return await self._ask(lambda rid: ev.RunRequest(rid, action, list(cell_ids), reset, list(names)), timeout)

    async def _ask(self, make, timeout: float) -> dict:
        from ..engine import events as ev

        rid = "r-" + os.urandom(6).hex()
        future = asyncio.get_running_loop().create_future()
        self.pending[rid] = future
        try:
            if not await self.send(ev.to_json(make(rid))):
                return {"ok": False, "no_frontend": True, "reason": "the page closed the connection"}
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            return {"ok": False, "no_frontend": True, "timeout": True,
                    "reason": f"the page did not answer within {timeout:.0f} s", "hint": "reload the page and try again"}
        finally:
            self.pending.pop(rid, None)

    def reply(self, rid: str, data: dict) -> bool:
        future = self.pending.get(rid)
        if future is None or future.done():
            return False
        future.set_result(data)
        return True


def panel_engine(handler: CodexHandler, path, body: dict, history: list | None = None):
    """The engine with the server's settings, per-request panel settings and the Jupyter user's identity."""
    from ..engine import build_engine

    overrides = body.get("settings") or {}
    if not isinstance(overrides, dict):
        raise HTTPError(400, "'settings' must be an object")
    allowed = {k: overrides.get(k) for k in ("validate", "validate_mode", "cell_timeout", "total_timeout")}
    return build_engine(source="server", anchor=path, user=user_name(handler), validator=handler.codex.validator,
                        model=_str(body, "model"), history=history, **allowed)


def user_name(handler: CodexHandler) -> str | None:
    """The identity provider's name for the person making the request (never a field of the request)."""
    user = handler.current_user
    return getattr(user, "username", None) or getattr(user, "name", None) or (user if isinstance(user, str) else None)


def _proposal(body: dict):
    from ..edits.model import Proposal

    raw = body.get("proposal")
    if not isinstance(raw, dict):
        raise HTTPError(400, "'proposal' must be a proposal object")
    return Proposal.from_json(raw)


def _indexes(body: dict, proposal) -> list[int]:
    indexes = body.get("edit_indexes")
    if indexes is None:
        return list(range(len(proposal.edits)))
    if not isinstance(indexes, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in indexes):
        raise HTTPError(400, "'edit_indexes' must be a list of integers")
    if any(i < 0 or i >= len(proposal.edits) for i in indexes):
        raise HTTPError(400, "'edit_indexes' names an edit the proposal does not have")
    return sorted(set(indexes))


def about_proposal(handler: CodexHandler, body: dict):
    """(notebook path, proposal, chosen edit indexes) of an accept / reject request; 4xx for bad input."""
    path = handler.resolve(_str(body, "path", required=True))
    try:
        proposal = _proposal(body)
    except CodexError as exc:
        raise HTTPError(400, f"{exc.message} — {exc.hint}" if exc.hint else exc.message) from None
    return path, proposal, _indexes(body, proposal)


def remember(state, outcome) -> None:
    outcomes = state.outcomes
    outcomes[outcome.id] = outcome
    while len(outcomes) > KEPT_OUTCOMES:
        outcomes.popitem(last=False)


class AcceptHandler(SSEMixin, CodexHandler):
    body_route = "accept"  # body_caps.ROUTE_LIMITS_KB

    @tornado.web.authenticated
    async def post(self):
        from ..engine import RemoteApplier

        body = self.json_body()
        path, proposal, indexes = about_proposal(self, body)
        message_id = _str(body, "message_id")
        engine = panel_engine(self, path, body, history=self.codex.undo.setdefault(str(path), []))
        run_id = "run-" + os.urandom(6).hex()
        bridge = PageBridge(lambda data: self.send_event(data["type"], data))
        self.codex.accepts[run_id] = bridge
        self.start_events()
        await self.send_event("accept", {"run_id": run_id})
        applier = RemoteApplier("panel", bridge.request, notebook_path=path)
        try:
            outcome = await engine.accept(proposal, applier, indexes, emit=lambda e: self.queue_event(e["type"], e))
        except Exception as exc:  # noqa: BLE001 - reported to the panel as an event
            await self.send_event("error", error_json(exc))
            return self.finish()
        finally:
            self.codex.accepts.pop(run_id, None)
        remember(self.codex, outcome)
        if message_id:
            status = {"kept": "accepted", "rolled_back": "rolled_back", "refused": None}[outcome.status]
            if status:
                await asyncio.get_running_loop().run_in_executor(
                    self.codex.executor, history.update, path, message_id,
                    {"status": status, "outcome": outcome.id, "edit_indexes": indexes})
        self.finish()


class AcceptReplyHandler(CodexHandler):
    body_route = "accept/reply"  # carries the live notebook: c.CodexNB.max_request_mb

    @tornado.web.authenticated
    def post(self, run_id: str):
        body = self.json_body()
        bridge = self.codex.accepts.get(run_id)
        if bridge is None:
            raise HTTPError(404, f"no acceptance {run_id} is waiting for the page")
        rid = _str(body, "request_id", required=True)
        notebook = body.get("notebook")
        if notebook is not None and not (isinstance(notebook, dict) and isinstance(notebook.get("cells"), list)):
            raise HTTPError(400, "'notebook' must be nbformat JSON")
        reply = {"ok": bool(body.get("ok")), "reason": _str(body, "reason"), "notebook": notebook}
        if not bridge.reply(rid, reply):
            raise HTTPError(409, f"request {rid} is not waiting for an answer")
        self.write_json({"ok": True})


class RejectHandler(CodexHandler):
    body_route = "reject"  # body_caps.ROUTE_LIMITS_KB

    @tornado.web.authenticated
    async def post(self):
        body = self.json_body()
        path, proposal, indexes = about_proposal(self, body)
        engine = panel_engine(self, path, body)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.codex.executor, lambda: engine.reject(proposal, indexes, notebook=path))
        message_id = _str(body, "message_id")
        status = _str(body, "status")
        if message_id and status in ("rejected", "partial"):
            await loop.run_in_executor(self.codex.executor, history.update, path, message_id, {"status": status})
        self.write_json({"rejected": indexes})


class UndoHandler(SSEMixin, CodexHandler):
    """The panel's Undo: the engine takes one kept change back (newest first), with the page as the applier."""
    body_route = "undo"  # body_caps.ROUTE_LIMITS_KB

    @tornado.web.authenticated
    async def post(self):
        from ..engine import RemoteApplier

        body = self.json_body()
        path = self.resolve(_str(body, "path", required=True))
        outcome_id = _str(body, "outcome_id", required=True)
        entries = self.codex.undo.get(str(path)) or []
        entry = next((e for e in entries if e.outcome_id == outcome_id), None)
        if entry is None:
            raise HTTPError(404, "this change is not in the server's undo history (was the server restarted?); "
                                 "use Edit → Undo in the notebook")
        if entry is not entries[-1]:
            raise HTTPError(409, "a later change to this notebook was kept after this one: undo that first")
        engine = panel_engine(self, path, body, history=entries)
        run_id = "run-" + os.urandom(6).hex()
        bridge = PageBridge(lambda data: self.send_event(data["type"], data))
        self.codex.accepts[run_id] = bridge
        self.start_events()
        await self.send_event("accept", {"run_id": run_id})
        applier = RemoteApplier("panel", bridge.request, notebook_path=path)
        emit = lambda e: self.queue_event(e["type"], e)  # noqa: E731
        try:
            await engine.undo(applier, entry, emit=emit)
        except CodexError as exc:
            await self.send_event("refused", {"type": "refused", "reason": exc.message, "hint": exc.hint,
                                              "no_frontend": bool(exc.fields.get("no_frontend"))})
            return self.finish()
        except Exception as exc:  # noqa: BLE001 - reported to the panel as an event
            await self.send_event("error", error_json(exc))
            return self.finish()
        finally:
            self.codex.accepts.pop(run_id, None)
        message_id = _str(body, "message_id")
        if message_id:
            await asyncio.get_running_loop().run_in_executor(
                self.codex.executor, history.update, path, message_id, {"status": "undone"})
        self.finish()


class CommitHandler(CodexHandler):
    """The panel's Commit (commit = "ask"): the engine makes the commit a kept change offered.

    Only an outcome this server kept can be committed, and only as offered: the files, the
    message and the hashes come from the engine's outcome, never from the request.
    """

    @tornado.web.authenticated
    async def post(self):
        from ..engine import Engine
        from ..engine.settings import resolve_settings

        body = self.json_body()
        path = self.resolve(_str(body, "path", required=True))
        outcome = self.codex.outcomes.get(_str(body, "outcome_id", required=True))
        entries = self.codex.undo.get(str(path)) or []
        if outcome is None or outcome.status != "kept":
            raise HTTPError(404, "no kept change with that id on this server (was it restarted?); "
                                 "commit by hand with git add and git commit")
        others = [p for p, kept in self.codex.undo.items() if p != str(path) and any(e.outcome_id == outcome.id for e in kept)]
        if others:
            raise HTTPError(409, "that change was kept in another notebook")
        loop = asyncio.get_running_loop()
        settings = await loop.run_in_executor(self.codex.executor, lambda: resolve_settings(with_model=False))
        # no gates and no spare validation kernel: a commit runs nothing
        engine = Engine(settings, source="server", anchor=path, user=user_name(self), gates=[], history=entries)
        files = list(outcome.commit_offer.files) if outcome.commit_offer else []
        try:
            sha = await engine.commit_offered(outcome)
        except CodexError as exc:
            return self.write_json(error_json(exc), status=409)
        message_id = _str(body, "message_id")
        if message_id:
            await loop.run_in_executor(self.codex.executor, history.update, path, message_id, {"commit": sha})
        self.write_json({"commit": sha, "files": files, "proposal_id": outcome.proposal_id})


class RepairHandler(SSEMixin, CodexHandler):
    """The panel's Fix: the engine sends a rolled-back change's failure back to the model (same prompt as
    every door); the fixed proposal streams like a chat answer and joins the conversation."""
    body_route = "repair"  # body_caps.ROUTE_LIMITS_KB

    @tornado.web.authenticated
    async def post(self):
        from ..edits.diff import proposal_diffs
        from ..engine import RemoteApplier

        body = self.json_body()
        rel = _str(body, "path", required=True)
        path = self.resolve(rel)
        outcome = self.codex.outcomes.get(_str(body, "outcome_id", required=True))
        if outcome is None or outcome.status != "rolled_back":
            raise HTTPError(404, "no rolled-back change with that id; accept the proposal again, then Fix")
        engine = panel_engine(self, path, body)
        bridge = PageBridge(lambda data: self.send_event(data["type"], data))
        run_id = "run-" + os.urandom(6).hex()
        self.codex.accepts[run_id] = bridge
        message_id = "m-" + os.urandom(6).hex()
        self.start_events()
        await self.send_event("accept", {"run_id": run_id})
        await self.send_event("start", {"message_id": message_id})

        def emit(event: dict) -> None:
            if event["type"] == "repair_delta":
                self.queue_event("delta", {"text": event["text"]})
            elif event["type"] == "repair_failed":
                self.queue_event("error", {"error": "RepairFailed", "message": event["error"], "hint": ""})

        applier = RemoteApplier("panel", bridge.request, notebook_path=path)
        try:
            fixed = await engine.repair(outcome, applier, emit=emit)
            nb = await applier.read() if fixed is not None else None
        finally:
            self.codex.accepts.pop(run_id, None)
        if fixed is not None:
            diffs = proposal_diffs(nb, fixed)
            message = {"id": message_id, "role": "assistant", "kind": "fix", "text": fixed.explanation,
                       "model": fixed.model, "proposal": fixed.to_json(), "diffs": diffs, "status": "pending",
                       "time": history.now()}
            await asyncio.get_running_loop().run_in_executor(self.codex.executor, history.append, path, message)
            await self.send_event("proposal", {"message_id": message_id, "proposal": fixed.to_json(), "diffs": diffs})
            await self.send_event("done", {"message_id": message_id, "text": fixed.explanation, "model": fixed.model})
        self.finish()


