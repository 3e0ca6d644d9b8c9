"""Running one gate command: its own process group, a timeout that ends all of it, output kept small."""
from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

POLL_SECONDS = 0.25
HEAD_CHARS = 1500
TAIL_CHARS = 3500


@dataclass
class Finished:
    exit_code: int | None  # None when the command was stopped at its timeout
    output: str  # stdout and stderr interleaved as written, trimmed
    seconds: float
    timed_out: bool = False
    cancelled: bool = False  # stopped because the cancel token was set (Stop), not by its timeout


def trim(text: str, head: int = HEAD_CHARS, tail: int = TAIL_CHARS) -> str:
    """Keep the start (what ran) and the end (where it failed) of long output."""
    if len(text) <= head + tail + 80:
        return text
    cut = len(text) - head - tail
    return f"{text[:head]}\n… [{cut} characters left out] …\n{text[-tail:]}"


def run_command(argv: list[str], cwd: str | os.PathLike, timeout: float, env: dict | None = None,
                on_tick: Callable[[], None] | None = None, cancel=None) -> Finished:
    """Run ``argv`` to the end, to ``timeout`` seconds or until ``cancel`` (an Event-like token) is set;
    raises FileNotFoundError for a missing program."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as out:
        # a file, not a pipe: a chatty command can never block on a full pipe while we wait
        proc = subprocess.Popen(argv, cwd=os.fspath(cwd), env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        timed_out = cancelled = False
        try:
            while True:
                try:
                    proc.wait(timeout=POLL_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    if on_tick is not None:
                        on_tick()
                    if cancel is not None and cancel.is_set():
                        cancelled = True
                        _stop_group(proc)
                        break
                    if time.monotonic() - started > timeout:
                        timed_out = True
                        _stop_group(proc)
                        break
        except BaseException:
            _stop_group(proc)  # an interrupted gate leaves nothing running
            raise
        seconds = time.monotonic() - started
        text = _read_trimmed(out)
    return Finished(None if timed_out or cancelled else proc.returncode, text, seconds, timed_out, cancelled)


def _read_trimmed(out) -> str:
    """The command's output, trimmed without reading all of a huge log into memory."""
    size = out.seek(0, os.SEEK_END)
    limit = (HEAD_CHARS + TAIL_CHARS) * 4  # bytes: up to 4 per character
    out.seek(0)
    if size <= limit:
        return trim(out.read().decode("utf-8", errors="replace"))
    head = out.read(HEAD_CHARS * 4).decode("utf-8", errors="replace")[:HEAD_CHARS]
    out.seek(size - TAIL_CHARS * 4)
    tail = out.read().decode("utf-8", errors="replace")[-TAIL_CHARS:]
    return f"{head}\n… [about {size - len(head) - len(tail)} bytes left out] …\n{tail}"


def _stop_group(proc: subprocess.Popen) -> None:
    """End the command and everything it started (a test runner's workers, a shell's children)."""
    if os.name != "posix":
        proc.kill()
        proc.wait()
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=3)
            if sig == signal.SIGTERM:
                try:
                    os.killpg(proc.pid, 0)  # children may outlive the leader
                except ProcessLookupError:
                    return
        except subprocess.TimeoutExpired:
            continue
