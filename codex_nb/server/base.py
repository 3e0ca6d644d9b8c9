"""Shared handler plumbing: JSON bodies, path checks, error mapping, Server-Sent Events."""
from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_server.base.handlers import APIHandler
from tornado.iostream import StreamClosedError
from tornado.web import HTTPError

from ..errors import CodexError, ConfigurationError, ProviderError
from ..limits import MAX_BODY_BYTES, MAX_JSON_DEPTH, TooDeep, check_depth
from .paths import relative_to_root, resolve_in_root

# bodies above this are parsed in the thread pool: json.loads of megabytes would stall the event loop
_PARSE_INLINE_BYTES = 64 * 1024


@dataclass
class ServerState:
    """What the handlers share; one per server, kept in the tornado settings (no module globals)."""

    root_dir: Path
    executor: ThreadPoolExecutor
    chats: dict = field(default_factory=dict)  # chat_id -> chat.ChatControl
    accepts: dict = field(default_factory=dict)  # run_id -> accept.PageBridge (an acceptance waiting on its page)
    outcomes: OrderedDict = field(default_factory=OrderedDict)  # outcome id -> engine Outcome (for Fix), newest last
    undo: dict = field(default_factory=dict)  # notebook path -> the engine's UndoEntry list (the panel's Undo), newest last
    validator: object = None  # validate_notebook-compatible; None: the real one (tests swap in another)


def error_status(exc: CodexError) -> int:
    if isinstance(exc, ProviderError):
        return 502
    if isinstance(exc, ConfigurationError):
        return 400
    return 400


def error_json(exc: BaseException) -> dict:
    if isinstance(exc, CodexError):
        return {"error": type(exc).__name__, "message": exc.message, "hint": exc.hint}
    return {"error": type(exc).__name__, "message": str(exc) or type(exc).__name__, "hint": ""}


def parse_body(raw: bytes) -> dict:
    """A request body as a JSON object, or HTTPError 400 that says what is wrong with it."""
    try:
        text = (raw or b"{}").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPError(400, f"the request body is not UTF-8 (invalid byte at offset {exc.start}); "
                             "send JSON encoded as UTF-8") from None
    try:
        body = json.loads(text)
    except RecursionError:
        raise HTTPError(400, f"the request body is nested too deeply (limit {MAX_JSON_DEPTH} levels)") from None
    except ValueError as exc:
        raise HTTPError(400, f"the request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise HTTPError(400, "the request body must be a JSON object")
    try:
        check_depth(body, "the request body")
    except TooDeep as exc:
        raise HTTPError(400, exc.message) from None
    return body


class CodexHandler(APIHandler):
    _parsed_body: dict | None = None

    @property
    def codex(self) -> ServerState:
        return self.settings["codex_nb"]

    async def prepare(self) -> None:
        """Check the body's size as it arrives, and parse a large one off the event loop."""
        await super().prepare()
        if self._finished or self.request.method not in ("POST", "PUT", "PATCH"):
            return
        declared = self.request.headers.get("Content-Length")
        size = int(declared) if declared and declared.isdigit() else len(self.request.body or b"")
        if max(size, len(self.request.body or b"")) > MAX_BODY_BYTES:
            raise HTTPError(413, f"the request body is too large ({size:,} bytes; the limit is {MAX_BODY_BYTES:,})")
        if self.current_user is None or len(self.request.body or b"") <= _PARSE_INLINE_BYTES:
            return  # small bodies are parsed where they are used; strangers get their 403 first
        loop = asyncio.get_running_loop()
        self._parsed_body = await loop.run_in_executor(self.codex.executor, parse_body, self.request.body)

    def json_body(self) -> dict:
        if self._parsed_body is not None:
            return self._parsed_body
        return parse_body(self.request.body)

    def resolve(self, rel: object, *, must_exist: bool = False) -> Path:
        return resolve_in_root(self.codex.root_dir, rel, must_exist=must_exist)

    def rel(self, path: Path) -> str:
        return relative_to_root(self.codex.root_dir, path)

    def write_json(self, obj, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(obj, default=str))

    def fail(self, exc: CodexError) -> None:
        """A CodexError as a 4xx/5xx JSON answer carrying its message and hint."""
        self.write_json(error_json(exc), status=error_status(exc))


class SSEMixin:
    """Server-Sent Events over a POST response: ``event: <name>\\ndata: <json>\\n\\n``.

    ``closed`` turns true when the client goes away, and ``on_client_gone`` is called,
    so a stream can stop its work.
    """

    closed = False
    _flush_scheduled = False

    def start_events(self) -> None:
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # proxies must not buffer a stream

    def _write_event(self, event: str, data: dict) -> None:
        self.write(f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n")

    async def send_event(self, event: str, data: dict) -> bool:
        """Write an event and wait until it is on the socket; False once the client has gone."""
        if self.closed:
            return False
        self._write_event(event, data)
        try:
            await self.flush()
        except StreamClosedError:
            self._gone()
            return False
        return True

    def queue_event(self, event: str, data: dict) -> None:
        """Write an event now and flush it at the end of this loop turn, with whatever else was written meanwhile.

        For streams of many small events (deltas): one socket write per loop turn, not one per event.
        """
        if self.closed:
            return
        self._write_event(event, data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_queued)

    def _flush_queued(self) -> None:
        self._flush_scheduled = False
        if self.closed or self._finished:
            return
        self.flush().add_done_callback(self._check_flushed)

    def _check_flushed(self, flushed) -> None:
        if flushed.cancelled() or flushed.exception() is not None:
            self._gone()

    def _gone(self) -> None:
        if not self.closed:
            self.closed = True
            self.on_client_gone()

    def on_client_gone(self) -> None:
        """Called once when the client disconnects mid-stream."""

    def on_connection_close(self) -> None:
        self._gone()
        super().on_connection_close()
