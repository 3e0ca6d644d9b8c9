"""Bounded retries with exponential backoff, shared by the network providers."""
from __future__ import annotations

import random
import threading
import time
from typing import Callable, Iterator

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


def retrying(open_stream: Callable[[], Iterator[StreamEvent]], *, attempts: int,
             retryable: Callable[[Exception], bool], translate: Callable[..., Exception],
             cancel: threading.Event | None, model_id: str) -> Iterator[StreamEvent]:
    """Run ``open_stream()`` until it completes, retrying what ``retryable`` allows.

    A stream that dropped after showing text is retried too; the front end is told
    to discard what it showed (``TextDelta(restart=True)``). Errors leave through
    ``translate(error, exhausted=bool)`` so they say what happened and what to do.
    """
    delays = backoff_delays(attempts)
    while True:
        try:
            yield from open_stream()
            return
        except Exception as exc:  # classified below
            partial = isinstance(exc, PartialStream)
            error = exc.cause if partial else exc
        if not retryable(error):
            raise translate(error) from error
        delay = next(delays, None)
        if delay is None:
            raise translate(error, exhausted=True) from error
        if partial:
            yield TextDelta("", restart=True)
        if sleep_unless_cancelled(delay, cancel):
            yield Completion(text="", model=model_id, finish_reason="cancelled")
            return
