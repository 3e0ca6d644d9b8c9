"""Keep the server's long-lived objects out of garbage-collection passes.

A full (generation-2) collection walks every object the process tracks. In a Jupyter
server that has loaded codex-nb's chat path (nbformat, the SDKs, aiohttp) that is about
250,000 objects, and each full collection stopped every running stream for 100–150 ms
on a 2-core machine (measured by ``benchmarks/bench_server_load.py``). The objects alive
once the first chat has finished are modules, classes and caches that live as long as
the server, so they are frozen (``gc.freeze``) once: later full collections walk only
what was created since, and everything created since is collected as before.
"""
from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_frozen = False


def freeze_once() -> bool:
    """Freeze the objects alive now, the first time only; True if this call froze them."""
    global _frozen
    with _lock:
        if _frozen:
            return False
        _frozen = True
    gc.freeze()
    return True
