"""Bounded retries with exponential backoff for failures that are worth retrying."""
from __future__ import annotations

import random
import threading
import time


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
