"""Bounded retries with exponential backoff, shared by the network providers.

The policy (what is retried, how long to wait, what the user is told) lives in
``_RetryPolicy``; ``retrying`` drives it for blocking streams and ``aretrying`` for
streams on an event loop, so both kinds of caller behave the same.
"""
from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import AsyncIterator, Callable, Iterator

from .base import Completion, StreamEvent, TextDelta


class PartialStream(Exception):
    """A stream that failed after it had already produced text."""

    def __init__(self, cause: Exception):
        super().__init__(str(cause))
        self.cause = cause


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


class _RetryPolicy:
    """One stream's retry budget: decides, for each failure, whether and how long to wait."""

    def __init__(self, attempts: int, retryable: Callable[[Exception], bool], translate: Callable[..., Exception]):
        self.delays = backoff_delays(attempts)
        self.retryable = retryable
        self.translate = translate

    def after(self, exc: Exception) -> tuple[float, bool]:
        """``(delay, partial)`` before the next attempt, or raise the error the user should see."""
        partial = isinstance(exc, PartialStream)
        error = exc.cause if partial else exc
        if not self.retryable(error):
            raise self.translate(error) from error
        delay = next(self.delays, None)
        if delay is None:
            raise self.translate(error, exhausted=True) from error
        return delay, partial


def retrying(open_stream: Callable[[], Iterator[StreamEvent]], *, attempts: int,
             retryable: Callable[[Exception], bool], translate: Callable[..., Exception],
             cancel: threading.Event | None, model_id: str) -> Iterator[StreamEvent]:
    """Run ``open_stream()`` until it completes, retrying what ``retryable`` allows.

    A stream that dropped after showing text is retried too; the front end is told
    to discard what it showed (``TextDelta(restart=True)``). Errors leave through
    ``translate(error, exhausted=bool)`` so they say what happened and what to do.
    """
    policy = _RetryPolicy(attempts, retryable, translate)
    while True:
        try:
            yield from open_stream()
            return
        except Exception as exc:  # classified by the policy
            delay, partial = policy.after(exc)
        if partial:
            yield TextDelta("", restart=True)
        if sleep_unless_cancelled(delay, cancel):
            yield Completion(text="", model=model_id, finish_reason="cancelled")
            return


async def aretrying(open_stream: Callable[[], AsyncIterator[StreamEvent]], *, attempts: int,
                    retryable: Callable[[Exception], bool], translate: Callable[..., Exception],
                    cancel: threading.Event | None, model_id: str) -> AsyncIterator[StreamEvent]:
    """``retrying`` for streams read on an event loop."""
    policy = _RetryPolicy(attempts, retryable, translate)
    while True:
        try:
            async for event in open_stream():
                yield event
            return
        except Exception as exc:  # classified by the policy
            delay, partial = policy.after(exc)
        if partial:
            yield TextDelta("", restart=True)
        if await asleep_unless_cancelled(delay, cancel):
            yield Completion(text="", model=model_id, finish_reason="cancelled")
            return
