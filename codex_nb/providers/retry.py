"""Bounded retries with backoff, and the guard every network stream runs under.

The policy (what is retried, how long to wait, what the user is told) lives in
``_RetryPolicy``; ``retrying`` drives it for blocking streams and ``aretrying`` for
streams on an event loop, so both kinds of caller behave the same. Both also
enforce :class:`StreamLimits`: a total deadline over all attempts (a read timeout
alone lets an endless or keepalive-only stream run forever), a cap on the answer's
size (reading stops there; an oversize answer is not retried), a notice when the
model has been silent for a while, and ``Retry-After`` honoured up to a bound.
"""
from __future__ import annotations

import asyncio
import email.utils
import queue
import random
import sys
import threading
import time
from dataclasses import dataclass
from typing import AsyncIterator, Callable, Iterator

from ..cancel import Cancel
from ..errors import ProviderError
from ..limits import MAX_ANSWER_CHARS, AnswerTooLarge
from .base import Completion, StreamEvent, TextDelta


class PartialStream(Exception):
    """A stream that failed after it had already produced text."""

    def __init__(self, cause: Exception):
        super().__init__(str(cause))
        self.cause = cause


class StreamDeadline(ProviderError):
    """The whole answer, retries included, took longer than ``deadline`` seconds; reading was stopped."""

    def __init__(self, where: str, deadline: float):
        super().__init__(f"{where} did not finish its answer within {deadline:g} s; reading was stopped",
                         hint="try again, use a faster or smaller model, or raise c.CodexNB.stream_deadline",
                         where=where, deadline=deadline)


@dataclass(frozen=True)
class StreamLimits:
    deadline: float = 600.0  # seconds for the whole answer, every attempt included
    max_chars: int = MAX_ANSWER_CHARS
    silent_notice: float = 15.0  # tell the person when the model has sent nothing for this long
    max_retry_after: float = 30.0  # a longer Retry-After is reported instead of waited for

    @classmethod
    def from_config(cls) -> "StreamLimits":
        try:
            from ..config import load_config

            config = load_config()
            return cls(deadline=float(config.stream_deadline), silent_notice=float(config.silent_notice_after))
        except Exception:  # no readable configuration: the defaults
            return cls()


def backoff_delays(attempts: int, base: float = 0.5, cap: float = 8.0):
    """Delays before retry 1..attempts-1: exponential with full jitter, capped."""
    for n in range(attempts - 1):
        yield random.uniform(0, min(cap, base * 2**n))


def sleep_unless_cancelled(seconds: float, cancel: threading.Event | None) -> bool:
    """Sleep; return True if cancelled meanwhile."""
    if cancel is None:
        time.sleep(seconds)
        return False
    return cancel.wait(seconds)


async def asleep_unless_cancelled(seconds: float, cancel: threading.Event | None) -> bool:
    """Sleep without holding the event loop; return True if cancelled meanwhile."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if cancel is not None and cancel.is_set():
            return True
        await asyncio.sleep(min(left, 0.05))
    return cancel is not None and cancel.is_set()


def is_connection_failure(exc: BaseException) -> bool:
    """A dropped or reset connection, whichever HTTP stack the installed SDK uses (httpx, its renamed copies, aiohttp)."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    for name in ("httpx", "httpx2", "httpcore", "httpcore2"):
        module = sys.modules.get(name)
        for cls_name in ("TransportError", "NetworkError", "RemoteProtocolError", "ReadError", "TimeoutException"):
            cls = getattr(module, cls_name, None) if module is not None else None
            if isinstance(cls, type) and isinstance(exc, cls):
                return True
    aiohttp = sys.modules.get("aiohttp")
    return aiohttp is not None and isinstance(exc, aiohttp.ClientError)


def retry_after_seconds(exc: BaseException) -> float | None:
    """The server's ``Retry-After`` (seconds or an HTTP date) on an error response, if it sent one."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, when.timestamp() - time.time()) if when is not None else None


class _RetryPolicy:
    """One stream's retry budget: decides, for each failure, whether and how long to wait."""

    def __init__(self, attempts: int, retryable: Callable[[Exception], bool], translate: Callable[..., Exception],
                 limits: StreamLimits, where: str):
        self.delays = backoff_delays(attempts)
        self.retryable = retryable
        self.translate = translate
        self.limits = limits
        self.where = where
        self.started = time.monotonic()
        self.retries = 0

    @property
    def deadline(self) -> float:
        return self.started + self.limits.deadline

    def after(self, exc: Exception) -> tuple[float, bool, str]:
        """``(delay, partial, notice)`` before the next attempt, or raise the error the user should see."""
        partial = isinstance(exc, PartialStream)
        error = exc.cause if partial else exc
        if isinstance(error, (AnswerTooLarge, StreamDeadline)):
            raise error  # retrying would cost the same again
        if not self.retryable(error):
            raise self.translate(error) from error
        delay = next(self.delays, None)
        if delay is None:
            raise self.translate(error, exhausted=True) from error
        notice = ""
        asked = retry_after_seconds(error)
        if asked is not None:
            if asked > self.limits.max_retry_after:
                raise ProviderError(f"{self.where} is rate-limiting requests and asks to wait {asked:g} s",
                                    hint="try again later", where=self.where, retry_after=asked) from error
            delay = asked
            notice = f"\n[{self.where} asks to wait {asked:g} s before retrying — waiting]\n"
        if time.monotonic() + delay > self.deadline:
            raise StreamDeadline(self.where, self.limits.deadline) from error
        self.retries += 1
        return delay, partial, notice


def _silent_notice(where: str, seconds: float, limits: StreamLimits) -> TextDelta:
    return TextDelta(f"\n[{where} has sent nothing for {seconds:g} s — the model may be loading or busy; "
                     f"still waiting, for at most {limits.deadline:g} s in all. Cancel to stop.]\n", notice=True)


class _SilenceWatch:
    """One attempt's clock: how long the next read may wait, the deadline, and the one silence notice."""

    def __init__(self, policy: _RetryPolicy, where: str):
        self.policy, self.where = policy, where
        self.last, self.noticed = time.monotonic(), False

    def wait(self) -> float:
        """Seconds the next read may block: until the deadline, or until the notice is due (StreamDeadline past it)."""
        now, limits = time.monotonic(), self.policy.limits
        if now >= self.policy.deadline:
            raise StreamDeadline(self.where, limits.deadline)
        wait = self.policy.deadline - now
        if not self.noticed:
            wait = min(wait, max(0.0, self.last + limits.silent_notice - now))
        return max(wait, 0.01)

    def notice_due(self) -> TextDelta | None:
        """The silence notice, once, when the model has said nothing for ``silent_notice`` seconds."""
        limits = self.policy.limits
        if self.noticed or time.monotonic() - self.last < limits.silent_notice:
            return None
        self.noticed = True
        return _silent_notice(self.where, limits.silent_notice, limits)

    def heard(self) -> None:
        self.last = time.monotonic()


EVENTS_AFTER_CANCEL = 32  # how long a provider may take to end its own stream once the caller cancelled


def _pumped(make_stream: Callable[[], Iterator[StreamEvent]], stop: Cancel, policy: _RetryPolicy,
            where: str) -> Iterator[StreamEvent]:
    """One attempt read in a helper thread, so that silence can be reported and the deadline kept
    while the SDK is blocked in a read."""
    events: queue.Queue = queue.Queue()

    def pump() -> None:
        after_cancel = 0
        try:
            for event in make_stream():
                events.put(("event", event))
                if stop.own.is_set():
                    break  # the guard gave up, or the consumer left: stop reading
                if stop.is_set():
                    # A caller's cancel is left to the provider, which ends its stream itself with what the
                    # answer cost — within a few events; one that does not notice is cut off.
                    after_cancel += 1
                    if after_cancel > EVENTS_AFTER_CANCEL:
                        break
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            events.put(("error", exc))
        finally:
            events.put(("end", None))

    threading.Thread(target=pump, name="codex-nb-stream", daemon=True).start()
    watch = _SilenceWatch(policy, where)
    try:
        while True:
            try:
                kind, item = events.get(timeout=watch.wait())
            except queue.Empty:
                if notice := watch.notice_due():
                    yield notice
                continue
            if kind == "end":
                return
            if kind == "error":
                raise item
            watch.heard()
            yield item
    finally:
        stop.set()  # however this attempt ends (done, failed, or the consumer left), the reader stops


def _capped(event: StreamEvent, state: dict, limits: StreamLimits, where: str, stop: Cancel) -> None:
    if isinstance(event, TextDelta) and not event.notice:
        state["chars"] += len(event.text)
        if state["chars"] > limits.max_chars:
            stop.set()
            raise AnswerTooLarge(where, limits.max_chars)


def retrying(open_stream: Callable[..., Iterator[StreamEvent]], *, attempts: int,
             retryable: Callable[[Exception], bool], translate: Callable[..., Exception],
             cancel: threading.Event | None, model_id: str, where: str = "the model",
             limits: StreamLimits | None = None) -> Iterator[StreamEvent]:
    """Run ``open_stream(stop)`` until it completes, retrying what ``retryable`` allows.

    ``stop`` reads as set once the caller cancels or the guard gives up; the reader polls
    it between lines. A stream that dropped after showing text is retried too; the front
    end is told to discard what it showed (``TextDelta(restart=True)``). Errors leave
    through ``translate(error, exhausted=bool)`` so they say what happened and what to do.
    """
    limits = limits or StreamLimits.from_config()
    policy = _RetryPolicy(attempts, retryable, translate, limits, where)
    while True:
        stop, state = Cancel(cancel), {"chars": 0}
        try:
            for event in _pumped(lambda s=stop: open_stream(s), stop, policy, where):
                _capped(event, state, limits, where, stop)
                yield event
            return
        except Exception as exc:  # classified by the policy
            stop.set()
            delay, partial, notice = policy.after(exc)
        if partial:
            yield TextDelta("", restart=True)
        if notice:
            yield TextDelta(notice, notice=True)
        if sleep_unless_cancelled(delay, cancel):
            yield Completion(text="", model=model_id, finish_reason="cancelled")
            return


async def aretrying(open_stream: Callable[..., AsyncIterator[StreamEvent]], *, attempts: int,
                    retryable: Callable[[Exception], bool], translate: Callable[..., Exception],
                    cancel: threading.Event | None, model_id: str, where: str = "the model",
                    limits: StreamLimits | None = None) -> AsyncIterator[StreamEvent]:
    """``retrying`` for streams read on an event loop."""
    limits = limits or StreamLimits.from_config()
    policy = _RetryPolicy(attempts, retryable, translate, limits, where)
    while True:
        stop, state = Cancel(cancel), {"chars": 0}
        try:
            async for event in _awatched(open_stream(stop), stop, policy, where):
                _capped(event, state, limits, where, stop)
                yield event
            return
        except Exception as exc:  # classified by the policy
            stop.set()
            delay, partial, notice = policy.after(exc)
        if partial:
            yield TextDelta("", restart=True)
        if notice:
            yield TextDelta(notice, notice=True)
        if await asleep_unless_cancelled(delay, cancel):
            yield Completion(text="", model=model_id, finish_reason="cancelled")
            return


async def _awatched(stream: AsyncIterator[StreamEvent], stop: Cancel, policy: _RetryPolicy,
                    where: str) -> AsyncIterator[StreamEvent]:
    """One attempt on the loop: each read waits at most until the silence notice or the deadline."""
    watch = _SilenceWatch(policy, where)
    pending: asyncio.Future | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(stream.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=watch.wait())
            if not done:
                if notice := watch.notice_due():
                    yield notice
                continue
            future, pending = pending, None
            try:
                event = future.result()
            except StopAsyncIteration:
                return
            watch.heard()
            yield event
    finally:
        stop.set()
        if pending is not None and not pending.done():
            pending.cancel()
            try:
                await pending
            except BaseException:  # noqa: BLE001 - the read we abandoned ends however it ends
                pass
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except BaseException:  # noqa: BLE001 - closing an abandoned stream must not hide why it was abandoned
                pass
