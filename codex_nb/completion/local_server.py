"""The llama.cpp server that inline completion uses for a local GGUF.

It is a second instance, apart from the one the chat uses, so that a long
proposal streaming in the panel neither evicts the completion's prompt cache nor
makes the typist wait behind it. One slot, the prompt cache on and
``n_cache_reuse`` set: consecutive requests share most of their prefix (the cell
above the cursor changes by a few characters), and llama.cpp then processes only
the new tokens. Its HTTP port (for ``/infill``) is bound to loopback and
protected by a random key that never leaves this process.
"""
from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigurationError

N_CTX = 4096
CACHE_REUSE_TOKENS = 32  # shortest run of matching tokens llama.cpp shifts into place instead of recomputing


@dataclass(frozen=True)
class LocalServer:
    server: object  # xllamacpp.Server
    url: str  # http://127.0.0.1:PORT
    key: str
    path: Path


def completion_threads() -> int:
    """Threads for llama.cpp: CODEX_NB_COMPLETION_THREADS, else one per idle core (at least one).

    llama.cpp's threads wait for each other at every layer; on a machine whose cores are
    all busy, two threads were measured several times slower than one (each waits for a
    core the other has lost), so a busy machine gets one.
    """
    env = os.environ.get("CODEX_NB_COMPLETION_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    cpus = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):
        busy = 0.0
    return max(1, min(4, int(cpus - busy)))


_servers: dict[str, LocalServer] = {}
_lock = threading.Lock()


def completion_server(path: Path) -> LocalServer:
    """The completion server for this GGUF file, loaded once per process."""
    with _lock:
        found = _servers.get(str(path))
        if found is not None:
            return found
        try:
            import xllamacpp as xl
        except ImportError:
            raise ConfigurationError("xllamacpp is not installed", hint='pip install "codex-nb[local]"') from None
        key = secrets.token_urlsafe(32)
        params = xl.CommonParams()
        params.model.path = str(path)
        params.n_ctx = N_CTX
        params.n_parallel = 1
        params.n_cache_reuse = CACHE_REUSE_TOKENS
        params.cache_prompt = True
        threads = completion_threads()
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.hostnames = ["127.0.0.1"]
        params.port = 0
        params.api_keys = [key]
        params.verbosity = -1
        try:
            server = xl.Server(params)
        except Exception as exc:
            raise ConfigurationError(f"cannot load {path}: {exc}", hint="is it a valid GGUF file?") from exc
        found = _servers[str(path)] = LocalServer(server, server.listening_address.rstrip("/"), key, path)
        return found
