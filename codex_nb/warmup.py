"""Importing what the first request needs, in a background thread, before it comes.

The pipeline's imports are slow the first time: nbformat (about a second where
jsonschema's optional format checkers are installed), the model SDKs and their
pydantic models, aiohttp, the TLS certificates. Paid inside the first `%codex`
they make it wait; paid on a Jupyter server's event loop they stall every other
request for seconds. So `%load_ext` and the server extension start this thread
and stay instant; a request that comes sooner waits only for what is left.
"""
from __future__ import annotations

import threading

_started = False


def warm_in_background(*, sdks: bool = False) -> None:
    """Start the warm-up once per process; ``sdks`` also imports the installed model SDKs."""
    global _started
    if _started:
        return
    _started = True
    threading.Thread(target=_warm, args=(sdks,), name="codex-nb-warm-imports", daemon=True).start()


def _warm(sdks: bool) -> None:
    try:
        from . import assistant  # noqa: F401 - nbformat, configuration, providers
        from .context import engine  # noqa: F401
        from .edits import diff  # noqa: F401 - the proposal's diffs
    except Exception:  # noqa: BLE001 - the first request imports again and reports any real problem
        return
    if not sdks:
        return
    for name in ("openai", "anthropic", "aiohttp", "certifi"):
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - an SDK that is not installed is simply not warmed
            continue
    try:
        import ssl

        import certifi

        ssl.create_default_context(cafile=certifi.where())  # reads the CA bundle into the OS page cache
    except Exception:  # noqa: BLE001
        pass
