"""Sync doors over the async engine, jupyter_client's ``run_sync`` way: one implementation, two call styles.

Inside a running event loop (a kernel executing a cell, a notebook-based
test) the coroutine runs on a private loop in a worker thread; otherwise on a
fresh loop in this thread. ``BackgroundLoop`` is the kernel's engine loop: a
long-lived loop in a daemon thread, so widget callbacks return at once and
comm replies (which the kernel only handles when idle) can reach the engine.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading


def run_sync(coro):
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="codex-nb-sync") as pool:
        return pool.submit(asyncio.run, coro).result()


class BackgroundLoop:
    def __init__(self, name: str = "codex-nb-engine"):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def submit(self, coro) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
