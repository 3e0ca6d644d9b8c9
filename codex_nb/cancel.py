"""One stop signal that its owner sets, or that an outer token sets for it.

Used wherever a piece of work can be stopped for its own reason as well as by the person: an
acceptance (the engine, or the door's Stop), one attempt at a model stream (the guard's deadline or
size cap, or the caller's cancel), a free-text answer (the repetition stop, or the caller's cancel).
It reads like a ``threading.Event`` to the code that polls it (providers, gates, back-off sleeps);
the outer token is only read, never set: it may be shared (an agent run's Stop).
"""
from __future__ import annotations

import threading
import time


class Cancel:
    def __init__(self, outer=None):
        self.own = threading.Event()  # set by the owner only
        self.outer = outer

    def set(self) -> None:
        self.own.set()

    def is_set(self) -> bool:
        return self.own.is_set() or (self.outer is not None and self.outer.is_set())

    def wait(self, timeout: float | None = None) -> bool:
        """As ``threading.Event.wait`` (a provider's back-off sleeps on it); the outer token is read every 50 ms."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self.own.wait(0.05 if left is None else min(0.05, left))
        return True
