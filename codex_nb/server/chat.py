"""The streaming chat route: one request, one Server-Sent-Events stream, one worker thread.

The assistant is synchronous; it runs in the extension's thread pool so the
event loop never waits on a provider. Deltas cross back to the loop with
``call_soon_threadsafe`` and are coalesced, so many concurrent chats cost one
write per loop turn each, not one per token. A chat stops when the client
disconnects or when ``POST /codex-nb/chat/<id>/cancel`` sets its cancel event.
"""
from __future__ import annotations

import asyncio
import functools
import os
import threading

import tornado.web
from tornado.web import HTTPError

from . import history
from .base import CodexHandler, SSEMixin, error_json
from .requests import ChatRequest, load_notebook_node

MAX_CONTEXT_FILE_CHARS = 20_000


def _work(req: ChatRequest, extra_context: str | None, on_delta, cancel: threading.Event):
    """Everything a chat does off the event loop, in one worker hop: read, ask, diff.

    One hop matters under load: each extra hand-off costs a loop turn, and a loop that
    competes for the GIL with busy workers pays for every turn.
    """
    from .. import assistant  # imported on first use: the server must start fast

    nb_node = load_notebook_node(req)
    result = assistant.run(
        req.kind,
        req.instruction,
        notebook=str(req.notebook_abs),
        notebook_node=nb_node,
        model=req.model,
        kernel_state=req.kernel_state,
        active_cell=req.active_cell,
        selected_cells=req.selected_cells or None,
        extra_context=extra_context,
        on_delta=on_delta,
        cancel=cancel,
    )
    payload = None
    if result.proposal is not None and result.proposal.edits and not result.cancelled:
        from ..edits.diff import proposal_diffs

        payload = {"proposal": result.proposal.to_json(), "diffs": proposal_diffs(nb_node, result.proposal)}
    return result, payload


def _attachments(req: ChatRequest) -> str | None:
    """@file / @variable attachments, as text the model reads (None when there are none)."""
    parts: list[str] = []
    for item in req.files:
        try:
            text = item["abs"].read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            text = f"(cannot be read: {exc.strerror})"
        if len(text) > MAX_CONTEXT_FILE_CHARS:
            text = text[:MAX_CONTEXT_FILE_CHARS] + "\n… (truncated)"
        parts.append(f"\n\nAttached file `{item['path']}`:\n```\n{text}\n```")
    for var in req.variables:
        summary = var.get("summary") or "(no summary)"
        parts.append(f"\n\nAttached variable `{var['name']}`: {summary}")
    return "".join(parts).strip() or None


class _DeltaRelay:
    """Text from a worker thread to the event loop, one wake-up per loop turn rather than per token.

    Under load the loop falls behind and the worker's deltas pile up in ``parts``; they then
    go out as one event. That keeps the loop's work (and its fight for the GIL with the
    worker threads) proportional to loop turns, not to tokens.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.lock = threading.Lock()
        self.parts: list[str] = []
        self.closed = False
        self.wake_pending = False
        self.ready = asyncio.Event()

    def push(self, text: str) -> None:  # worker thread
        if not text:
            return
        with self.lock:
            self.parts.append(text)
            if self.wake_pending:
                return
            self.wake_pending = True
        self.loop.call_soon_threadsafe(self.ready.set)

    def close(self) -> None:  # loop thread (a done-callback of the worker's future)
        self.closed = True
        self.ready.set()

    async def next(self) -> str | None:
        """The text gathered since the last call; None once the worker is done and all text is out."""
        while True:
            with self.lock:
                text = "".join(self.parts)
                self.parts.clear()
                self.wake_pending = False
                self.ready.clear()
            if text:
                return text
            if self.closed:
                return None
            await self.ready.wait()


class ChatHandler(SSEMixin, CodexHandler):
    @tornado.web.authenticated
    async def post(self):
        req = ChatRequest.parse(self.json_body(), self.resolve)
        state = self.codex
        if req.chat_id in state.chats:
            raise HTTPError(409, f"chat {req.chat_id!r} is already running")
        cancel = threading.Event()
        state.chats[req.chat_id] = cancel
        try:
            await self._stream(req, cancel)
        finally:
            state.chats.pop(req.chat_id, None)
            if self.closed:
                cancel.set()
            if not self._finished:
                self.finish()

    async def _stream(self, req: ChatRequest, cancel: threading.Event):
        state = self.codex
        loop = asyncio.get_running_loop()
        user_msg = {"role": "user", "kind": req.kind, "text": req.instruction, "model": req.model,
                    "context": [{"type": "file", "path": f["path"]} for f in req.files]
                    + [{"type": "variable", "name": v["name"]} for v in req.variables],
                    "selected_cells": req.selected_cells, "active_cell": req.active_cell}
        user_msg["time"] = history.now()
        assistant_id = "m-" + os.urandom(6).hex()
        self._user_msg = user_msg  # written with the answer, in one write, when the chat ends
        relay = _DeltaRelay(loop)
        # The worker starts before the first write: the model call does not wait for a loop turn.
        future = loop.run_in_executor(
            state.executor, functools.partial(_work, req, _attachments(req), relay.push, cancel))
        future.add_done_callback(lambda _f: relay.close())
        self.start_events()
        await self.send_event("start", {"chat_id": req.chat_id, "message_id": assistant_id})

        while True:
            text = await relay.next()
            if text is None:
                break
            if not await self.send_event("delta", {"text": text}):
                cancel.set()  # the client is gone; the worker stops at its next check

        try:
            result, payload = future.result()
        except Exception as exc:  # noqa: BLE001 - every failure becomes an event the panel can show
            if cancel.is_set():
                await self.send_event("cancelled", {"chat_id": req.chat_id})
                await self._remember(req, {"id": assistant_id, "role": "assistant", "kind": req.kind,
                                           "text": "", "status": "cancelled"})
                return
            payload = error_json(exc)
            self.log.warning("codex-nb chat failed: %s", payload["message"])
            await self.send_event("error", payload)
            await self._remember(req, {"id": assistant_id, "role": "assistant", "kind": req.kind,
                                       "text": "", "error": payload})
            return

        if getattr(result, "cancelled", False):
            await self.send_event("cancelled", {"chat_id": req.chat_id})
            await self._remember(req, {"id": assistant_id, "role": "assistant", "kind": req.kind,
                                       "text": result.text or "", "status": "cancelled"})
            return
        usage = result.to_json()["usage"] if hasattr(result, "to_json") else None
        message = {"id": assistant_id, "role": "assistant", "kind": req.kind, "text": getattr(result, "text", "") or "",
                   "model": getattr(result, "model", None), "usage": usage,
                   "proposal": None, "diffs": [], "status": None}
        if payload is not None:
            message.update(payload, status="pending")
            await self.send_event("proposal", {"message_id": assistant_id, **payload})
        await self.send_event("done", {"message_id": assistant_id, "text": message["text"], "model": message["model"],
                                       "usage": message["usage"], "cancelled": cancel.is_set()})
        await self._remember(req, message)  # before the response ends, after the client has its answer

    async def _remember(self, req: ChatRequest, message: dict) -> None:
        await asyncio.get_running_loop().run_in_executor(
            self.codex.executor, history.append, req.notebook_abs, req.path, self._user_msg, message)


class CancelHandler(CodexHandler):
    @tornado.web.authenticated
    def post(self, chat_id: str):
        cancel = self.codex.chats.get(chat_id)
        if cancel is None:
            raise HTTPError(404, f"no running chat {chat_id!r}")
        cancel.set()
        self.write_json({"chat_id": chat_id, "cancelled": True})
