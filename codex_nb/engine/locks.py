"""Locks that serialise applies of the same notebook (and patched files) across threads and processes.

An advisory ``flock`` on a lock file per resolved path, kept outside the
project (so no stray files appear beside the notebook) and released by the
kernel when the process dies, so a killed apply never leaves a lock behind.
Paths are locked in sorted order so two applies that touch the same files
cannot deadlock.
"""
from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import tempfile
import time
from pathlib import Path

from ..errors import EditRefused


def _lock_dir() -> Path:
    d = Path(tempfile.gettempdir()) / f"codex-nb-locks-{os.getuid()}"
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def _lock_file(path: Path) -> Path:
    key = hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return _lock_dir() / f"{key}.lock"


class PathLocks:
    """``with PathLocks(paths, timeout):`` or ``async with``; raises EditRefused when another apply holds on."""

    def __init__(self, paths, timeout: float = 60.0):
        self.paths = sorted({Path(p).resolve() for p in paths if p is not None})
        self.timeout = timeout
        self._fds: list[int] = []

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        try:
            for path in self.paths:
                fd = os.open(_lock_file(path), os.O_RDWR | os.O_CREAT, 0o600)
                self._fds.append(fd)
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            raise EditRefused(
                                f"another change to {path.name} is still being applied or validated",
                                hint="wait for it to finish, then try again", path=str(path)) from None
                        time.sleep(0.02)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        for fd in reversed(self._fds):
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        self._fds.clear()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    async def __aenter__(self):
        await asyncio.get_running_loop().run_in_executor(None, self.acquire)
        return self

    async def __aexit__(self, *exc):
        self.release()
