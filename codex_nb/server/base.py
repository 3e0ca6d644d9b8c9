"""Shared handler plumbing: JSON bodies, path checks, error mapping, Server-Sent Events."""
from __future__ import annotations

import asyncio
import codecs
import functools
import inspect
import json
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_server.base.handlers import APIHandler
from tornado.iostream import StreamClosedError
from tornado.web import HTTPError, stream_request_body

from ..errors import CodexError, ConfigurationError, ProviderError
from ..limits import MAX_JSON_DEPTH, TooDeep, TooManyValues, check_depth
from . import heap
from .body_caps import BodyCap, body_cap
from .paths import relative_to_root, resolve_in_root
from .sliced_json import SlicedResult, parse_sliced

# Bodies up to this many characters are parsed by json.loads at once (at most ~3 ms even for the
# slowest shapes); larger ones in slices that let the loop run every _SLICE_SECONDS.
_PARSE_AT_ONCE_CHARS = 16 * 1024
_SLICE_SECONDS = 0.002
# Decoded a piece at a time (about 0.3 ms each at worst, 4-byte characters), and the pieces are
# never joined: the parser reads across them (joining 8 MB of non-ASCII text took 10-20 ms).
_DECODE_PIECE_BYTES = 64 * 1024
# A refused body that is still arriving is read and dropped up to this much more, so that the
# client, which is still sending, reads the 413 instead of a reset connection; beyond it the
# connection is closed.
_DRAIN_BYTES = 32 * 1024 * 1024


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


def parse_body(raw: bytes, max_values: int | None = None) -> dict:
    """A request body as a JSON object, or HTTPError 400 that says what is wrong with it (at once: small bodies)."""
    try:
        text = bytes(raw or b"{}").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(exc) from None
    try:
        body = json.loads(text)
    except RecursionError:
        raise HTTPError(400, TooDeep("the request body", MAX_JSON_DEPTH).message) from None
    except ValueError as exc:
        raise HTTPError(400, f"the request body is not JSON: {exc}") from None
    try:
        values = check_depth(body, "the request body")
        if max_values is not None and values > max_values:
            raise TooManyValues("the request body", values, max_values)
    except (TooDeep, TooManyValues) as exc:
        raise HTTPError(400, exc.message) from None
    return _checked(body)


async def parse_body_async(raw: bytes | bytearray, max_values: int | None = None) -> dict:
    """``parse_body`` for a body of any size without holding the event loop more than a few ms at a time.

    Decoding is done a piece at a time and parsing in slices (``sliced_json``) over those pieces:
    json.loads of a 16 MB body in a thread would still hold the GIL, and with it the loop, for its
    whole length. More than ``max_values`` JSON values: 400, as soon as they have been read.
    """
    if len(raw or b"") <= _PARSE_AT_ONCE_CHARS:
        return parse_body(raw, max_values)
    decoder, pieces = codecs.getincrementaldecoder("utf-8")(), []
    slice_ends = time.perf_counter() + _SLICE_SECONDS
    with memoryview(raw) as view:
        for start in range(0, len(raw), _DECODE_PIECE_BYTES):
            try:
                pieces.append(decoder.decode(view[start:start + _DECODE_PIECE_BYTES],
                                             final=start + _DECODE_PIECE_BYTES >= len(raw)))
            except UnicodeDecodeError as exc:
                raise _not_utf8(exc, start) from None
            if time.perf_counter() >= slice_ends:
                await asyncio.sleep(0)
                slice_ends = time.perf_counter() + _SLICE_SECONDS
    result = SlicedResult()
    try:
        for _ in parse_sliced(pieces, "the request body", result, max_values=max_values):
            if time.perf_counter() >= slice_ends:
                await asyncio.sleep(0)
                slice_ends = time.perf_counter() + _SLICE_SECONDS
    except (TooDeep, TooManyValues) as exc:
        refusal = exc.message
    except ValueError as exc:
        refusal = f"the request body is not JSON: {exc}"
    else:
        return _checked(result.value)
    # what was read before the error (up to the value limit: hundreds of thousands of objects) is
    # freed in slices too; the exception and its frames are gone here, so the stack holds the only references
    read_so_far = [container for container, _key in result.open or ()]
    if result.open:
        result.open.clear()
    free_later(read_so_far)
    del read_so_far
    raise HTTPError(400, refusal)


_freeing: set = set()  # the tasks below (the loop keeps only weak references to tasks)


async def free_in_slices(tree, then=None) -> None:
    """Let go of a big parsed body a slice at a time (see ``heap.dismantle``), then call ``then()``.

    The caller must drop its own references first: a part still referenced elsewhere is left whole.
    """
    steps = heap.dismantle(tree, budget=500)
    del tree
    slice_ends = time.perf_counter() + _SLICE_SECONDS
    try:
        for _ in steps:
            if time.perf_counter() >= slice_ends:
                await asyncio.sleep(0)
                slice_ends = time.perf_counter() + _SLICE_SECONDS
    finally:
        if then is not None:
            then()


def free_later(tree, then=None) -> None:
    task = asyncio.ensure_future(free_in_slices(tree, then))
    _freeing.add(task)
    task.add_done_callback(_freeing.discard)


def _after_body(method):
    """``method`` run once the whole body has arrived and, when large, been parsed in slices (see CodexHandler)."""
    @functools.wraps(method)  # keeps tornado's and Jupyter's markers (authenticated, allow-unauthenticated)
    async def run(self, *args, **kwargs):
        await self._body_arrived()
        result = method(self, *args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    run._codex_after_body = True
    return run


@stream_request_body
class CodexHandler(APIHandler):
    """Every codex-nb route. The body is received here chunk by chunk (``data_received``) so that its
    route's limit (``body_route``, see body_caps.py) is checked as it arrives: a declared
    Content-Length over the limit is refused before a byte of the body is read, a chunked body as
    soon as it passes it. A large body is then parsed in slices before the route's method runs."""

    body_route = "other"  # the name of this route's limit in body_caps.ROUTE_LIMITS_KB (absent: a notebook route)
    _parsed_body: dict | None = None
    _body_buffer: bytearray | None = None
    _cap: BodyCap | None = None
    _release_gc = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # tornado runs a streaming handler's method as soon as the body has arrived, with no step
        # between: each method is wrapped so that the body is ready (and parsed in slices) first
        for name in ("post", "put", "patch", "delete"):
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "_codex_after_body", False):
                setattr(cls, name, _after_body(method))

    @property
    def codex(self) -> ServerState:
        return self.settings["codex_nb"]

    async def prepare(self) -> None:
        """Refuse a body whose declared size is over this route's limit before reading it."""
        await super().prepare()  # strangers get their 403 here, before any of the body is read
        if self._finished:
            return
        self._cap = cap = body_cap(self.body_route)
        declared = self.request.headers.get("Content-Length", "")
        size = int(declared) if declared.isdigit() else None
        connection = self.request.connection
        if size is not None and size > cap.limit:
            if size > cap.limit + _DRAIN_BYTES and hasattr(connection, "set_max_body_size"):
                connection.set_max_body_size(cap.limit)  # too much to drain: tornado closes the connection
            return self._refuse(size, complete=True)
        if hasattr(connection, "set_max_body_size"):
            # the server-wide maximum (Jupyter's is 512 MB) would let a chunked body run far past the limit
            # before tornado stops it; data_received refuses it at the limit, the drain allowance lets the 413 arrive
            connection.set_max_body_size(cap.limit + _DRAIN_BYTES)
        self._body_buffer = bytearray()

    def data_received(self, chunk: bytes) -> None:
        buffer = self._body_buffer
        if buffer is None:
            return  # refused already: tornado drops the rest of the body after the response
        if len(buffer) + len(chunk) > self._cap.limit:
            self._body_buffer = None
            return self._refuse(len(buffer) + len(chunk), complete=False)
        buffer += chunk

    def _refuse(self, sent: int, complete: bool) -> None:
        refusal = self._cap.refusal(sent, complete)
        self.log.warning("codex-nb: %s", refusal.message)
        self.write_json(refusal.to_json(), status=413)

    async def _body_arrived(self) -> None:
        buffer, self._body_buffer = self._body_buffer, None
        if buffer is None:
            return
        if len(buffer) <= _PARSE_AT_ONCE_CHARS:
            self.request.body = bytes(buffer)  # parsed where it is used, at once (json_body)
            return
        # a big body becomes many objects: no full collection walks them while this request lives
        self._release_gc = heap.hold_full_collections()
        asyncio.get_running_loop().call_later(heap.HOLD_SECONDS, self._release_gc)
        self._parsed_body = await parse_body_async(buffer, max_values=self._cap.values)

    def on_finish(self) -> None:
        super().on_finish()
        body, self._parsed_body = self._parsed_body, None
        release, self._release_gc = self._release_gc, None
        if body is not None:
            free_later(body, then=release)  # full collections stay held until it is gone: none walks its rest
            del body
        elif release is not None:
            release()

    def json_body(self) -> dict:
        if self._parsed_body is not None:
            return self._parsed_body
        return parse_body(self.request.body, self._cap.values if self._cap is not None else None)

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
