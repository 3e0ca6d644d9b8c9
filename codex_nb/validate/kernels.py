"""Fresh kernels for validation, started ahead of time so start-up is off the critical path.

A validation needs a kernel that has run none of the user's code. Starting one
(the interpreter, ipykernel, the guard) takes about a second, which on a short
notebook is as long as the cells themselves. So a process that validates more
than once (the Jupyter server, a kernel running the magics) keeps one *spare*:
a kernel for the notebook's kernelspec, started in its working directory (the
scratch copy, or the notebook's own directory in place), with the guard
installed and the imports that open the notebook's first cell already run,
silently and in a namespace of their own (so that cell's ``import numpy``
finds the module loaded; no name, no input and no execution count is left
behind, and a kernel whose warm-up printed or raised anything is not used).
A validation takes the spare if one matches, uses it once and shuts it down;
it is never handed out again, whatever happened. A spare nobody takes is shut down after ``SPARE_IDLE_SECONDS``, and
every kernel this module started is killed when the process exits.

Kernels run in a process group of their own; shutting one down kills the group,
so processes a cell started die with it.
"""
from __future__ import annotations

import atexit
import os
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path

from .guard import guard_code, kernel_environment
from .scratch import Scratch, make_scratch

SPARE_IDLE_SECONDS = 900.0
# A server that validates notebooks in many folders would otherwise keep an idle kernel (~60 MB) per folder
# for SPARE_IDLE_SECONDS; the folders a person works in right now are the last few.
MAX_SPARES = 2
HISTORY_IN_MEMORY = "--HistoryManager.hist_file=:memory:"  # what nbclient gives a kernel it starts itself


@dataclass(frozen=True)
class KernelKey:
    """What makes two validation kernels interchangeable."""

    kernel_name: str
    directory: str  # the notebook's directory (resolved)
    in_place: bool
    network: bool
    scratch_limit_mb: float
    warm: str = ""  # imports that open the notebook's first cell, run silently ahead of time
    gateway_url: str = ""  # a Kernel Gateway to start the kernel on (see ``gateway``); "" is this machine

@dataclass(eq=False)  # identity: each is one process
class StartedKernel:
    """A running kernel that has executed nothing of the user's; ``used`` once given to a validation."""

    key: KernelKey
    km: object
    cwd: Path
    scratch: Scratch | None
    log_path: Path
    log_file: object
    started: float = field(default_factory=time.monotonic)
    ready_seconds: float = 0.0
    used: bool = False
    spare: bool = False  # started ahead of time
    warm_clean: bool = True  # the warm-up imports ran without printing or raising anything
    closed: bool = False
    gateway: dict | None = None  # on a gateway: where the kernel really runs (``gateway.move_to_workdir``)
    _closing: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def pid(self) -> int | None:
        return getattr(getattr(self.km, "provisioner", None), "pid", None)

    def shutdown_soon(self) -> None:
        """Shut down in the background: the caller's report need not wait (the exit handler still does)."""
        threading.Thread(target=self.shutdown, name="codex-nb-kernel-shutdown", daemon=True).start()

    def shutdown(self) -> None:
        """Kill the kernel and its process group, close the log, remove the scratch copy."""
        with self._closing:
            if self.closed:
                return
            self._shutdown()
            self.closed = True
            _live.discard(self)

    def _shutdown(self) -> None:
        pid, pgid = self.pid, getattr(getattr(self.km, "provisioner", None), "pgid", None)
        try:
            self.km.shutdown_kernel(now=True)
        except Exception:  # already dead, or a half-started kernel: the signals below still clean up
            pass
        for target in filter(None, (pgid,)):
            try:
                os.killpg(target, getattr(signal, "SIGKILL", signal.SIGTERM))
            except (ProcessLookupError, PermissionError, OSError):
                pass
        if pid:
            try:
                os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
            except (ProcessLookupError, PermissionError, OSError):
                pass
        try:
            self.km.cleanup_resources()
        except Exception:
            pass
        try:
            self.log_file.close()
        except Exception:
            pass
        if self.scratch is not None:
            self.scratch.cleanup()
        else:
            import shutil

            shutil.rmtree(self.log_path.parent, ignore_errors=True)


_live: set = set()  # every StartedKernel not yet shut down, for the exit handler
_lock = threading.Lock()
_spares: dict[KernelKey, tuple[Future, threading.Timer | None]] = {}


def start_kernel(key: KernelKey, *, start_timeout: float = 60, spare: bool = False) -> StartedKernel:
    """Start a kernel for ``key`` now (blocking) and install its guard."""
    from jupyter_client import KernelManager

    directory = Path(key.directory)
    scratch = None if key.in_place else make_scratch(directory, key.scratch_limit_mb)
    log_dir = scratch.path.parent if scratch else Path(tempfile.mkdtemp(prefix="codex-nb-kernel-"))
    log_path = log_dir / "kernel.log"
    if key.gateway_url:
        from .gateway import GatewayKernelManager

        km = GatewayKernelManager(key.gateway_url, key.kernel_name)
    else:
        km = KernelManager(kernel_name=key.kernel_name)
        # nbclient drives the kernel asynchronously; the manager hands it an asynchronous client.
        km.client_class = "jupyter_client.asynchronous.AsyncKernelClient"
    kernel = StartedKernel(key=key, km=km, cwd=scratch.path if scratch else directory, scratch=scratch,
                           log_path=log_path, log_file=open(log_path, "wb"), spare=spare)
    _live.add(kernel)
    begun = time.monotonic()
    try:
        if key.gateway_url:
            from .gateway import move_to_workdir

            km.start_kernel(cwd=str(kernel.cwd), timeout=start_timeout)
            move_to_workdir(kernel, start_timeout)
        else:
            # The kernel's own stdout/stderr (crash messages, C-level prints) go to the log, not the terminal.
            km.start_kernel(cwd=str(kernel.cwd), extra_arguments=[HISTORY_IN_MEMORY], stdout=kernel.log_file,
                            stderr=kernel.log_file, env=kernel_environment(os.environ, key.network))
        _install_guard(kernel, start_timeout)
        if key.warm:
            kernel.warm_clean = _warm(kernel, key.warm, start_timeout)
    except BaseException:
        kernel.shutdown()
        raise
    kernel.ready_seconds = round(time.monotonic() - begun, 3)
    return kernel


def _install_guard(kernel: StartedKernel, timeout: float) -> None:
    protected = [] if kernel.key.in_place else [kernel.key.directory]
    # Libraries keep caches and settings under the home directory (matplotlib's font cache, IPython's
    # profile): a notebook kept in the home directory must not turn those writes into failures.
    home = Path.home()
    allowed = ([str(kernel.cwd)] if kernel.scratch else []) + [
        str(home / name) for name in (".cache", ".config", ".ipython", ".jupyter", ".local", ".matplotlib")]
    code = guard_code(protected, allowed, kernel.key.network)
    client = kernel.km.blocking_client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=timeout)
        if code is None:
            return
        msg_id = client.execute(code, silent=True, store_history=False)
        deadline = time.monotonic() + timeout
        while True:
            reply = client.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.1))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        if reply["content"].get("status") != "ok":
            raise RuntimeError(f"the validation guard could not be installed: {reply['content'].get('evalue')}")
    finally:
        client.stop_channels()


def _warm(kernel: StartedKernel, imports: str, timeout: float) -> bool:
    """Run the notebook's opening imports silently, in a namespace of their own; True if nothing showed.

    Anything they print (a warning at import time) or raise would be missing from the first cell's
    own outputs, so such a kernel is not used for the notebook (see ``take_kernel``).
    """
    code = f"exec({imports!r}, {{'get_ipython': get_ipython}})"
    client = kernel.km.blocking_client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=timeout)
        msg_id = client.execute(code, silent=True, store_history=False)
        deadline = time.monotonic() + timeout
        clean = True
        while True:
            msg = client.get_iopub_msg(timeout=max(deadline - time.monotonic(), 0.1))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind in ("stream", "error", "display_data", "execute_result"):
                clean = False
            if kind == "status" and msg["content"].get("execution_state") == "idle":
                return clean
    finally:
        client.stop_channels()


def take_kernel(key: KernelKey, *, start_timeout: float = 60) -> StartedKernel:
    """The spare for ``key`` if there is one (waiting for it to finish starting), else a new kernel.

    The kernel returned is marked used: it must be shut down after this one validation.
    """
    with _lock:
        entry = _spares.pop(key, None)
    kernel = None
    if entry is not None:
        future, timer = entry
        if timer is not None:
            timer.cancel()
        try:
            kernel = future.result(timeout=start_timeout)
        except Exception:
            kernel = None  # a spare that failed to start: start one now, and report that failure if it recurs
        if kernel is not None and not _still_fresh(kernel):
            kernel.shutdown()
            kernel = None
        if kernel is not None and kernel.scratch is not None:
            kernel.scratch.refresh_notebooks()  # the edit being validated was saved after the copy
    if kernel is None:
        kernel = start_kernel(key, start_timeout=start_timeout)
        if not kernel.warm_clean:
            kernel.shutdown()
            kernel = start_kernel(replace(key, warm=""), start_timeout=start_timeout)
    kernel.used = True
    return kernel


def _still_fresh(kernel: StartedKernel) -> bool:
    """A spare is usable if its process lives and its scratch copy still matches the original directory."""
    try:
        alive = kernel.km.is_alive()
    except Exception:
        alive = False
    return alive and not kernel.used and kernel.warm_clean and (
        kernel.scratch is None or kernel.scratch.is_current())


def prepare_spare(key: KernelKey, *, start_timeout: float = 60) -> None:
    """Start a spare kernel for ``key`` in the background, unless one is already there or starting."""
    with _lock:
        if key in _spares:
            return
        future: Future = Future()
        timer = threading.Timer(SPARE_IDLE_SECONDS, _expire, args=(key, future))
        timer.daemon = True
        _spares[key] = (future, timer)
        evicted = list(_spares)[:-MAX_SPARES]  # insertion order: the least recently prepared first
    for old in evicted:
        _evict(old)

    def start():
        try:
            future.set_result(start_kernel(key, start_timeout=start_timeout, spare=True))
        except BaseException as exc:  # reported when the spare is taken
            future.set_exception(exc)

    threading.Thread(target=start, name="codex-nb-spare-kernel", daemon=True).start()
    timer.start()


def _evict(key: KernelKey) -> None:
    """Shut down the spare for ``key`` (in the background: it may still be starting)."""
    with _lock:
        entry = _spares.pop(key, None)
    if entry is None:
        return
    future, timer = entry
    if timer is not None:
        timer.cancel()
    threading.Thread(target=_shutdown_when_started, args=(future,), name="codex-nb-spare-evict", daemon=True).start()


def _shutdown_when_started(future: Future) -> None:
    try:
        future.result(timeout=120).shutdown()
    except Exception:
        pass


def _expire(key: KernelKey, future: Future) -> None:
    with _lock:
        entry = _spares.get(key)
        if entry is None or entry[0] is not future:
            return
        del _spares[key]
    _shutdown_when_started(future)


def spare_keys() -> list[KernelKey]:
    with _lock:
        return list(_spares)


def shutdown_all() -> None:
    """Shut down every spare and every kernel still running (the process is exiting, or a test ends)."""
    with _lock:
        entries = list(_spares.values())
        _spares.clear()
    for future, timer in entries:
        if timer is not None:
            timer.cancel()
        try:
            future.result(timeout=120)
        except Exception:
            pass
    for kernel in list(_live):
        kernel.shutdown()


def long_lived_process() -> bool:
    """Whether this process will probably validate again: a Jupyter server or an IPython kernel."""
    if "jupyter_server.serverapp" in sys.modules:
        return True
    shell = sys.modules.get("IPython")
    try:
        return bool(shell and shell.get_ipython() is not None)
    except Exception:
        return False


atexit.register(shutdown_all)
