"""SDK clients shared across requests: one per endpoint and key (and, for async ones, per event loop).

Creating an SDK client loads the CA bundle and builds a connection pool, about 20 ms of
CPU; a server making one per chat spends its time there. Blocking clients are
thread-safe and live for the process. Async clients own connections that belong to the
event loop they were made on, so each loop gets its own; ``close_async_clients`` closes
the running loop's before that loop ends (a server's loop runs for its whole life).
"""
from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Callable, TypeVar

T = TypeVar("T")

_clients: dict[tuple, object] = {}
_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def shared_client(key: tuple, make: Callable[[], T]) -> T:
    """The client for ``key``, made by ``make()`` the first time."""
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = make()
    return client


def shared_async_client(key: tuple, make: Callable[[], T]) -> T:
    """The running event loop's client for ``key``, made by ``make()`` the first time."""
    loop = asyncio.get_running_loop()
    with _lock:
        per_loop = _async_clients.setdefault(loop, {})
        client = per_loop.get(key)
        if client is None:
            client = per_loop[key] = make()
    return client


def aiohttp_transport(sdk):
    """The SDK's aiohttp-backed async HTTP client when aiohttp is installed, else None (the SDK's default).

    Both official SDKs document aiohttp as their choice for high concurrency; reading a
    streamed answer through it costs about a third less CPU than through the default
    transport, which is what a server with many concurrent chats runs out of first.
    """
    factory = getattr(sdk, "DefaultAioHttpClient", None)
    if factory is None:
        return None
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return None
    return factory()


async def close_async_clients() -> None:
    """Close the running event loop's clients (call before the loop ends)."""
    with _lock:
        clients = list(_async_clients.pop(asyncio.get_running_loop(), {}).values())
    for client in clients:
        await client.close()
