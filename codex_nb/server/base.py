"""Shared handler plumbing: JSON bodies, path checks, error mapping, Server-Sent Events."""
from __future__ import annotations

import asyncio
import codecs
import json
import time
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
from .sliced_json import SlicedResult, parse_sliced

# Bodies up to this many characters are parsed by json.loads at once (at most ~3 ms even for the
# slowest shapes); larger ones in slices that let the loop run every _SLICE_SECONDS.
_PARSE_AT_ONCE_CHARS = 16 * 1024
_SLICE_SECONDS = 0.002
_DECODE_PIECE_BYTES = 1024 * 1024


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


def _not_utf8(exc: UnicodeDecodeError, offset: int = 0) -> HTTPError:
    return HTTPError(400, f"the request body is not UTF-8 (invalid byte at offset {offset + exc.start}); "
                          "send JSON encoded as UTF-8")


def _checked(body) -> dict:
    if not isinstance(body, dict):
        raise HTTPError(400, "the request body must be a JSON object")
    return body


def parse_body(raw: bytes) -> dict:
    """A request body as a JSON object, or HTTPError 400 that says what is wrong with it (at once: small bodies)."""
    try:
        text = (raw or b"{}").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(exc) from None
    try:
        body = json.loads(text)
    except RecursionError:
        raise HTTPError(400, TooDeep("the request body", MAX_JSON_DEPTH).message) from None
    except ValueError as exc:
        raise HTTPError(400, f"the request body is not JSON: {exc}") from None
    try:
        check_depth(body, "the request body")
    except TooDeep as exc:
        raise HTTPError(400, exc.message) from None
    return _checked(body)


async def parse_body_async(raw: bytes) -> dict:
    """``parse_body`` for a body of any size without holding the event loop more than a few ms at a time.

    Decoding is done a megabyte at a time and parsing in slices (``sliced_json``): json.loads of
    a 16 MB body in a thread would still hold the GIL, and with it the loop, for its whole length.
    """
    if len(raw or b"") <= _PARSE_AT_ONCE_CHARS:
        return parse_body(raw)
    decoder, pieces = codecs.getincrementaldecoder("utf-8")(), []
    for start in range(0, len(raw), _DECODE_PIECE_BYTES):
        try:
            pieces.append(decoder.decode(raw[start:start + _DECODE_PIECE_BYTES], final=start + _DECODE_PIECE_BYTES >= len(raw)))
        except UnicodeDecodeError as exc:
            raise _not_utf8(exc, start) from None
        await asyncio.sleep(0)
    text = "".join(pieces)
    result = SlicedResult()
    slice_ends = time.perf_counter() + _SLICE_SECONDS
    try:
        for _ in parse_sliced(text, "the request body", result):
            if time.perf_counter() >= slice_ends:
                await asyncio.sleep(0)
                slice_ends = time.perf_counter() + _SLICE_SECONDS
    except TooDeep as exc:
        raise HTTPError(400, exc.message) from None
    except ValueError as exc:
        raise HTTPError(400, f"the request body is not JSON: {exc}") from None
    return _checked(result.value)


class CodexHandler(APIHandler):
    _parsed_body: dict | None = None

    @property
    def codex(self) -> ServerState:
        return self.settings["codex_nb"]

    async def prepare(self) -> None:
        """Check the body's size as it arrives, and parse a large one in slices between other requests."""
        await super().prepare()
        if self._finished or self.request.method not in ("POST", "PUT", "PATCH"):
            return
        declared = self.request.headers.get("Content-Length")
        size = int(declared) if declared and declared.isdigit() else len(self.request.body or b"")
        if max(size, len(self.request.body or b"")) > MAX_BODY_BYTES:
            raise HTTPError(413, f"the request body is too large ({size:,} bytes; the limit is {MAX_BODY_BYTES:,})")
        if self.current_user is None or len(self.request.body or b"") <= _PARSE_AT_ONCE_CHARS:
            return  # small bodies are parsed where they are used; strangers get their 403 first
        self._parsed_body = await parse_body_async(self.request.body)

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
