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
import sys
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


# -- big request bodies -------------------------------------------------------
#
# A request body of megabytes becomes up to hundreds of thousands of containers. While it is
# parsed and used, automatic full collections would walk all of them (80 ms for a 16 MB
# notebook, 170 ms for 4 MB of empty arrays, measured by benchmarks/bench_body.py), stopping
# every other request. So while such a body is alive, automatic full (generation-2) collections
# are held off: young collections still run and still free short-lived cycles, and each walks
# at most a few thousand objects. Holds are counted (concurrent requests share one), every hold
# ends when its request finishes or after HOLD_SECONDS at the latest, and when the last ends the
# threshold is restored: the next full collection then runs as it would have, so nothing is kept
# for good. The body itself is acyclic, so it is freed by reference counting, in slices
# (``free_in_slices``) rather than at once (a 16 MB notebook takes 35-40 ms to free).

HOLD_SECONDS = 300.0
_HELD_THRESHOLD = 1 << 30  # generation 2 is collected after this many generation-1 collections: never, in practice
_holds = 0
_saved_threshold: int | None = None


def hold_full_collections():
    """Hold off automatic full collections until the returned ``release()`` is called (calling it again does nothing)."""
    global _holds, _saved_threshold
    with _lock:
        if _holds == 0:
            t0, t1, t2 = gc.get_threshold()
            _saved_threshold = t2
            gc.set_threshold(t0, t1, _HELD_THRESHOLD)
        _holds += 1
    released = False

    def release() -> None:
        nonlocal released
        global _holds
        with _lock:
            if released:
                return
            released = True
            _holds -= 1
            if _holds == 0:
                t0, t1, t2 = gc.get_threshold()
                if t2 == _HELD_THRESHOLD:  # unless someone else set thresholds meanwhile: theirs stand
                    gc.set_threshold(t0, t1, _saved_threshold)

    return release


def holds() -> int:
    """How many holds are active (tests and the benchmark check that they all end)."""
    return _holds


def dismantle(root, budget: int = 2000):
    """Free ``root`` (a JSON tree this caller alone holds) a few thousand values at a time: a generator to step.

    A container that something else still references is left whole (only our reference is dropped),
    so a part of the body kept by a handler (a proposal, an outcome) is never touched.
    """
    stack, steps = [root], 0
    del root
    while stack:
        node = stack.pop()
        steps += 1
        if steps >= budget:
            steps = 0
            yield
        if sys.getrefcount(node) > 2:  # this local and getrefcount's argument: anything more is another owner
            continue
        is_dict = isinstance(node, dict)
        take = node.popitem if is_dict else node.pop
        while node:
            child = take()[1] if is_dict else take()
            if isinstance(child, (dict, list)) and child:
                stack.append(child)  # (an empty one is freed here and now, in constant time)
            child = None  # so that the stack holds the only reference when it is popped
            steps += 1
            if steps >= budget:
                steps = 0
                yield
        node = take = None
