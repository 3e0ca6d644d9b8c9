"""The streaming chat route: one request, one Server-Sent-Events stream.

The model is read on the event loop (``assistant.arun`` and the providers'
``astream``): fifty concurrent chats are fifty coroutines, not fifty threads
fighting the loop for the GIL. Blocking work — reading the notebook and the
attachments, building context, diffing a proposal, writing history and the audit
log — goes to the extension's thread pool. Deltas are written as they come and flushed once per
loop turn. A chat stops when the client disconnects or when
``POST /codex-nb/chat/<id>/cancel`` cancels it.
"""
from __future__ import annotations

import asyncio
import os
import threading

import tornado.web
from tornado.web import HTTPError

from ..limits import MAX_ATTACHMENT_CHARS, MAX_ATTACHMENTS_TOTAL_CHARS, cut
from . import heap, history
from .base import CodexHandler, SSEMixin, error_json
from .requests import ChatRequest, load_notebook_node


def _prepare(req: ChatRequest):
    """Read the notebook and the attachments and build the model's context: one worker hop."""
    from .. import assistant  # imported on first use: the server must start fast

    nb_node = load_notebook_node(req)
    return assistant.prepare(req.kind, req.instruction, notebook=str(req.notebook_abs), notebook_node=nb_node,
                             model=req.model, kernel_state=req.kernel_state, active_cell=req.active_cell,
                             selected_cells=req.selected_cells or None, extra_context=_attachments(req))


def _proposal_payload(result, nb_node) -> dict:
    from ..edits.diff import proposal_diffs

    return {"proposal": result.proposal.to_json(), "diffs": proposal_diffs(nb_node, result.proposal)}


def _prepare_review(req: ChatRequest, validator) -> None:
    from ..engine.api import prepare_review

    try:
        prepare_review(req.notebook_abs, validator=validator, model=req.model)
    except Exception:  # a spare kernel only saves time; Accept starts its own and reports any problem
        pass


class ChatControl:
    """A running chat, as the cancel route and a vanished client see it."""

    def __init__(self):
        self.cancel = threading.Event()  # read by the provider between chunks
        self.task: asyncio.Task | None = None

    def stop(self) -> None:
        self.cancel.set()
        if self.task is not None and not self.task.done():
            self.task.cancel()  # also when the model is silent: no need to wait for its next chunk


def _attachments(req: ChatRequest) -> str | None:
    """@file / @variable attachments, as text the model reads (None when there are none).

    Each is redacted before it is cut to its bound: a key cut in half would pass unrecognised.
    """
    from ..context.redact import redact_text

    parts: list[str] = []
    for item in req.files:
        try:
            with open(item["abs"], "rb") as fh:  # a bounded read: the file may be huge
                text = fh.read(4 * MAX_ATTACHMENT_CHARS).decode("utf-8", errors="replace")
        except OSError as exc:
            text = f"(cannot be read: {exc.strerror})"
        text = cut(redact_text(text)[0], MAX_ATTACHMENT_CHARS)
        parts.append(f"\n\nAttached file `{item['path']}`:\n```\n{text}\n```")
    for var in req.variables:
        summary = cut(redact_text(var.get("summary") or "(no summary)")[0], MAX_ATTACHMENT_CHARS)
        parts.append(f"\n\nAttached variable `{var['name']}`: {summary}")
    return cut("".join(parts).strip(), MAX_ATTACHMENTS_TOTAL_CHARS) or None


class ChatHandler(SSEMixin, CodexHandler):
    body_route = "chat"  # carries the live notebook: c.CodexNB.max_request_mb
    control: ChatControl | None = None

    @tornado.web.authenticated
    async def post(self):
        state = self.codex
        # checking attachments touches the disk and sizes the kernel state: not on the event loop
        req = await asyncio.get_running_loop().run_in_executor(state.executor, ChatRequest.parse, self.json_body(),
                                                               self.resolve)
        if req.chat_id in state.chats:
            raise HTTPError(409, f"chat {req.chat_id!r} is already running")
        self.control = state.chats[req.chat_id] = ChatControl()
        try:
            await self._stream(req)
        finally:
            state.chats.pop(req.chat_id, None)
            if not self._finished:
                self.finish()

    def on_client_gone(self) -> None:
        if self.control is not None:
            self.control.stop()

    async def _stream(self, req: ChatRequest):
        from .. import assistant  # imported on first use: the server must start fast

        state, control = self.codex, self.control
        loop = asyncio.get_running_loop()
        self._user_msg = {"role": "user", "kind": req.kind, "text": req.instruction, "model": req.model,
                          "context": [{"type": "file", "path": f["path"]} for f in req.files]
                          + [{"type": "variable", "name": v["name"]} for v in req.variables],
                          "selected_cells": req.selected_cells, "active_cell": req.active_cell, "time": history.now()}
        assistant_id = "m-" + os.urandom(6).hex()
        self.start_events()
        await self.send_event("start", {"chat_id": req.chat_id, "message_id": assistant_id})
        shown: list[str] = []  # what the user has seen, kept if the chat is cancelled

        def on_delta(text: str) -> None:
            shown.append(text)
            self.queue_event("delta", {"text": text})

        async def work():
            turn = await loop.run_in_executor(state.executor, _prepare, req)
            result = await assistant.answer(turn, on_delta=on_delta, cancel=control.cancel)
            payload = None
            if result.proposal is not None and result.proposal.edits and not result.cancelled:
                payload = await loop.run_in_executor(state.executor, _proposal_payload, result, turn.nb)
                # The card is about to be read: its validation kernel starts now, not at Accept.
                loop.run_in_executor(state.executor, _prepare_review, req, state.validator)
            return turn, payload

        control.task = asyncio.ensure_future(work())
        try:
            turn, payload = await control.task
        except asyncio.CancelledError:
            if not control.task.cancelled():
                raise  # the handler itself is being cancelled (server shutdown)
            await self._cancelled(req, assistant_id, "".join(shown))
            return
        except Exception as exc:  # noqa: BLE001 - every failure becomes an event the panel can show
            if control.cancel.is_set():
                await self._cancelled(req, assistant_id, "".join(shown))
                return
            error = error_json(exc)
            self.log.warning("codex-nb chat failed: %s", error["message"])
            await self.send_event("error", error)
            await self._remember(req, {"id": assistant_id, "role": "assistant", "kind": req.kind,
                                       "text": "", "error": error})
            return

        result = turn.result
        if result.cancelled:
            await self._cancelled(req, assistant_id, result.text or "".join(shown))
            return
        usage = result.to_json()["usage"]
        message = {"id": assistant_id, "role": "assistant", "kind": req.kind, "text": result.text or "",
                   "model": result.model, "usage": usage, "proposal": None, "diffs": [], "status": None}
        if payload is not None:
            message.update(payload, status="pending")
            await self.send_event("proposal", {"message_id": assistant_id, **payload})
        await self.send_event("done", {"message_id": assistant_id, "text": message["text"], "model": message["model"],
                                       "usage": message["usage"], "cancelled": False})
        await self._remember(req, message, turn)  # before the response ends, after the client has its answer

    async def _cancelled(self, req: ChatRequest, assistant_id: str, text: str) -> None:
        await self.send_event("cancelled", {"chat_id": req.chat_id})
        await self._remember(req, {"id": assistant_id, "role": "assistant", "kind": req.kind,
                                   "text": text, "status": "cancelled"})

    async def _remember(self, req: ChatRequest, message: dict, turn=None) -> None:
        """Append the exchange to the notebook's history and, for a finished turn, the audit log: one worker hop."""
        from .accept import user_name

        user = user_name(self)  # the identity provider's user, read on the loop

        def write():
            history.append(req.notebook_abs, self._user_msg, message)
            if message.get("error"):
                from .. import audit

                # a failed chat is still on the record: what was asked, and why it failed
                audit.record("failed", req.notebook_abs, user=user, source="server", notebook=str(req.notebook_abs),
                             kind=req.kind, instruction_hash=audit.instruction_hash(req.instruction),
                             error=message["error"])
            if turn is not None:
                from .. import assistant

                assistant.record(turn, user=user)
                heap.freeze_once()  # a chat has finished: everything it imports is loaded by now

        await asyncio.get_running_loop().run_in_executor(self.codex.executor, write)


class CancelHandler(CodexHandler):
    body_route = "chat/cancel"  # body_caps.ROUTE_LIMITS_KB

    @tornado.web.authenticated
    def post(self, chat_id: str):
        control = self.codex.chats.get(chat_id)
        if control is None:
            raise HTTPError(404, f"no running chat {chat_id!r}")
        control.stop()
        self.write_json({"chat_id": chat_id, "cancelled": True})
