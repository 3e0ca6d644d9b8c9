"""Execute a copy of a notebook in a fresh kernel through papermill.

papermill owns the run: it loads the copy, injects parameters, drives nbclient
and turns a cell error into ``PapermillExecutionError`` (cell index, ename,
evalue, traceback). This module adds what validation needs on top, through a
papermill engine of its own:

* the kernel is one started for this validation by ``kernels`` (ahead of time,
  in the scratch copy of the notebook's directory or in place, with its guard
  installed); papermill runs the notebook on it and never starts one itself;
* cells that are not selected carry a private tag that nbclient skips, so the
  executed copy keeps every cell and papermill's cell indices stay meaningful;
* per-cell progress comes from nbclient's hooks;
* papermill reads the notebook from memory and writes no output file;
* the total timeout is enforced twice: each cell's timeout is cut to the time
  left, and a watchdog kills the kernel process if the run still overruns
  (a kernel stuck in start-up, a wedged channel);
* a ``cancel`` token (a ``threading.Event`` or anything with ``is_set()``: the
  person pressed Stop) kills the kernel's process group at once, and the run
  ends as a failure of kind ``cancelled``.

Failures of every kind come back as one dict (see ``failure``), never as text to parse.
"""
from __future__ import annotations

import copy
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

NOT_SELECTED_TAG = "codex-nb-not-selected"
ENGINE_NAME = "codex-nb-validate"
WATCHDOG_GRACE = 3.0  # seconds past the total timeout before the kernel is killed outright
CANCEL_POLL = 0.05  # how often a run looks at its cancel token (Stop must end a run within a second)


def failure(kind: str, *, cell_id=None, index=None, ename="", evalue="", traceback=(), message="",
            **fields) -> dict:
    """The one shape every failure takes (the issue's fields plus ``kind`` and ``message``).

    kind: error | timeout | total_timeout | kernel_died | missing_kernel |
    invalid_notebook | drift | engine_error | cancelled. Extra fields (``kernel``,
    ``installed``, ``limit``) let each door add its own advice (a flag, a setting).
    """
    return {
        "kind": kind,
        "cell_id": cell_id,
        "index": index,
        "ename": ename,
        "evalue": evalue,
        "traceback": list(traceback),
        "message": message or (f"{ename}: {evalue}" if ename else kind),
        **fields,
    }


@dataclass
class RunOutcome:
    """What happened to the executed copy."""

    ran: list[str] = field(default_factory=list)  # original cell ids that started, in order
    outputs: dict[str, list] = field(default_factory=dict)  # cell id -> outputs of the run
    failure: dict | None = None
    kernel_name: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # cell id -> seconds it ran


class _Watch:
    """State shared by nbclient's hooks, the timeout function and the watchdog."""

    def __init__(self, selected: list[str], original_index: dict[str, int], progress,
                 cell_timeout: float | None, total_timeout: float | None):
        self.selected = set(selected)
        self.total = len(selected)
        self.original_index = original_index
        self.progress = progress
        self.cell_timeout = cell_timeout
        self.deadline = time.monotonic() + total_timeout if total_timeout else None
        self.index_to_id: dict[int, str] = {}
        self.current: tuple[str, int | None] | None = None
        self.limited_by_total = False
        self.expired = False
        self.cancelled = False  # the cancel token was set and the kernel killed for it
        self.km = None
        self.started_at = 0.0
        self.ran: list[str] = []
        self.cells: dict[str, dict] = {}  # live cells of the run; nbclient fills their outputs in place
        self.seconds: dict[str, float] = {}  # cell id -> seconds it ran
        self.labels: dict[str, str] = {}  # cell id -> how people name it, for progress events
        self._lock = threading.Lock()

    def _emit(self, event: dict) -> None:
        if self.progress is None or event.get("cell_id") not in self.selected:
            return  # papermill's injected-parameters cell is not one of the user's cells
        if event.get("cell_id") in self.labels:
            event["cell"] = self.labels[event["cell_id"]]
        try:
            self.progress(event)
        except Exception:
            # A broken listener (a closed browser tab) must not turn into a failed validation.
            self.progress = None

    # nbclient hooks (called with keyword arguments)
    def on_cell_start(self, cell=None, cell_index=None, **_):
        self.index_to_id[cell_index] = cell.get("id")

    def on_cell_execute(self, cell=None, cell_index=None, **_):
        cid = cell.get("id")
        index = self.original_index.get(cid)
        self.current = (cid, index)
        self.started_at = time.monotonic()
        if cid in self.selected:
            self.ran.append(cid)
            self.cells[cid] = cell
        self._emit({"type": "cell_start", "cell_id": cid, "index": index,
                    "n": len(self.ran), "total": self.total})

    def on_cell_executed(self, cell=None, cell_index=None, execute_reply=None, **_):
        cid = cell.get("id")
        content = (execute_reply or {}).get("content", {})
        if cid in self.selected:
            self.seconds[cid] = round(time.monotonic() - self.started_at, 4)
        event = {"type": "cell_done", "cell_id": cid, "index": self.original_index.get(cid),
                 "n": len(self.ran), "total": self.total,
                 "seconds": round(time.monotonic() - self.started_at, 3)}
        if content.get("status") == "error":
            event.update(type="cell_error", ename=content.get("ename"), evalue=content.get("evalue"))
        self._emit(event)

    def timeout_for(self, cell) -> float | None:
        limit = self.cell_timeout if self.cell_timeout and self.cell_timeout > 0 else None
        self.limited_by_total = False
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if limit is None or left < limit:
                limit = left
                self.limited_by_total = True
        # nbclient treats 0 and negatives as "no timeout", so an overdue run gets a token one.
        return None if limit is None else max(limit, 0.05)

    def kernel_started(self, km) -> None:
        with self._lock:
            self.km = km
            if self.expired:
                _kill(km)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            if self.km is not None:
                _kill(self.km)


def cancelled_failure(cell_id=None, index=None) -> dict:
    """The failure of a validation that was stopped on purpose (Stop), not one the change caused."""
    return failure("cancelled", cell_id=cell_id, index=index, ename="Cancelled", evalue="the validation was stopped",
                   message="validation was stopped before it finished (Stop was pressed)")


def is_cancelled(cancel) -> bool:
    return cancel is not None and cancel.is_set()


class _CancelWatch:
    """While a run lasts: when ``cancel`` is set, kill the kernel and everything it started.

    A thread of its own, because the run's thread is blocked in nbclient; it only signals
    the processes (as the watchdog does), and nbclient then finds the kernel dead.
    """

    def __init__(self, cancel, kernel, watch: "_Watch"):
        self.cancel, self.kernel, self.watch = cancel, kernel, watch
        self.done = threading.Event()
        self.thread = None
        if cancel is not None:
            self.thread = threading.Thread(target=self._run, name="codex-nb-validation-cancel", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(CANCEL_POLL):
            if self.cancel.is_set():
                self.watch.cancelled = True
                _kill_group(self.kernel)
                return

    def stop(self) -> None:
        self.done.set()
        if self.thread is not None:
            self.thread.join(timeout=1)


def _kill_group(kernel) -> None:
    """Kill a validation kernel's process group (the cells' own subprocesses too), then the kernel itself."""
    pgid = getattr(getattr(kernel.km, "provisioner", None), "pgid", None)
    if pgid and hasattr(os, "killpg"):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            pass
    _kill(kernel.km)


def _kill(km) -> None:
    """Kill the kernel process from another thread: the run's own loop may be blocked."""
    pid = getattr(getattr(km, "provisioner", None), "pid", None)
    if pid is None and hasattr(km, "kill"):  # a kernel on a gateway (see gateway.py): no local process
        km.kill()
        return
    if pid:
        try:
            os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))  # Windows has no SIGKILL
        except ProcessLookupError:
            pass


def _register_engine() -> None:
    import logging

    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.utils import merge_kwargs, remove_args

    if ENGINE_NAME in papermill_engines._engines:
        return
    # nbclient logs kernel deaths and timeouts as errors; the report carries them, so the
    # log would only print them twice on the user's terminal.
    logger = logging.getLogger("codex_nb.validate.kernel")
    logger.propagate = False
    logger.addHandler(logging.NullHandler())

    class ValidationEngine(NBClientEngine):
        """NBClientEngine that starts the kernel in a given directory and reports to a _Watch."""

        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None,
                                     watch=None, km=None, **kwargs):
            kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
            final = merge_kwargs(
                kwargs, timeout=execution_timeout, startup_timeout=start_timeout,
                kernel_name=kernel_name, log=logger, log_output=log_output,
                stdout_file=stdout_file, stderr_file=stderr_file,
            )
            # The kernel is started (and shut down) by the caller: nbclient only attaches a client to it.
            client = PapermillNotebookClient(nb_man, km=km, **final)
            if watch is not None:
                client.timeout_func = watch.timeout_for
                client.on_cell_start = watch.on_cell_start
                client.on_cell_execute = watch.on_cell_execute
                client.on_cell_executed = watch.on_cell_executed
                client.on_notebook_start = lambda **_: watch.kernel_started(client.km)
            try:
                return client.execute()
            finally:
                if client.kc is not None:
                    client.kc.stop_channels()

    papermill_engines.register(ENGINE_NAME, ValidationEngine)


def prepare_copy(nb, selected: list[str]):
    """A copy of the notebook in which only the selected code cells will execute."""
    nb_copy = copy.deepcopy(nb)
    chosen = set(selected)
    for cell in nb_copy.cells:
        if cell.get("cell_type") == "code" and cell.get("id") not in chosen:
            tags = list(cell.setdefault("metadata", {}).get("tags", []) or [])
            cell["metadata"]["tags"] = [*tags, NOT_SELECTED_TAG]
    return nb_copy


def kernel_problem(nb, kernel_name: str | None) -> tuple[str | None, dict | None]:
    """The kernel to use, or a ``missing_kernel`` failure with the installed kernels as a field."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    name = kernel_name or (nb.metadata.get("kernelspec") or {}).get("name")
    ksm = KernelSpecManager()
    installed = sorted(ksm.find_kernel_specs())
    listed = ", ".join(installed) or "none"
    if not name:
        return None, failure(
            "missing_kernel", ename="NoSuchKernel", evalue="the notebook names no kernel", kernel=None,
            installed=installed, message=f"the notebook's metadata names no kernel (installed: {listed})")
    try:
        ksm.get_kernel_spec(name)
    except NoSuchKernel:
        return name, failure(
            "missing_kernel", ename="NoSuchKernel", evalue=f"no kernel named {name!r}", kernel=name,
            installed=installed, message=f"no kernel named {name!r} is installed (installed: {listed})")
    return name, None


def run_copy(nb, selected: list[str], *, kernel, cell_timeout: float | None = 120,
             total_timeout: float | None = 600, start_timeout: float = 60, parameters: dict | None = None,
             progress: Callable[[dict], None] | None = None, labels: dict | None = None,
             quiet_figures: list[str] = (), cancel=None) -> RunOutcome:
    """Execute the selected cells of a copy of ``nb`` on ``kernel`` (a ``kernels.StartedKernel``).

    Figures of the cells in ``quiet_figures`` are laid out, not rendered (see ``figures``).
    The kernel is not shut down here: the caller owns it and must not use it again. When
    ``cancel`` is set the kernel is killed and the outcome's failure is of kind ``cancelled``.
    """
    outcome = RunOutcome(kernel_name=kernel.key.kernel_name)
    if not selected:
        return outcome
    if is_cancelled(cancel):
        outcome.failure = cancelled_failure()
        return outcome

    _register_engine()
    import papermill

    original_index = {c.get("id"): i for i, c in enumerate(nb.cells)}
    watch = _Watch(selected, original_index, progress, cell_timeout, total_timeout)
    watch.labels = dict(labels or {})
    timer = None
    if total_timeout:
        timer = threading.Timer(total_timeout + WATCHDOG_GRACE, watch.expire)
        timer.daemon = True
        timer.start()
    stopper = _CancelWatch(cancel, kernel, watch)
    executed = None
    try:
        if quiet_figures:
            from .figures import install

            install(kernel, nb, list(quiet_figures), timeout=min(30.0, total_timeout or 30.0))
        executed = papermill.execute_notebook(
            prepare_copy(nb, selected), None, parameters=parameters or None, engine_name=ENGINE_NAME,
            request_save_on_cell_execute=False, kernel_name=kernel.key.kernel_name, progress_bar=False,
            log_output=False, start_timeout=math.ceil(min(start_timeout, total_timeout or start_timeout)),
            # nbclient's `timeout` trait is an int; the per-cell limit itself comes from timeout_func.
            execution_timeout=math.ceil(cell_timeout) if cell_timeout else None, autosave_cell_every=0,
            skip_cells_with_tag=NOT_SELECTED_TAG, watch=watch, km=kernel.km,
        )
    except Exception as exc:
        if not watch.cancelled:
            outcome.failure = _classify(exc, watch, original_index, cell_timeout, total_timeout)
    finally:
        stopper.stop()
        if timer is not None:
            timer.cancel()
    if watch.cancelled:  # whatever nbclient made of the killed kernel, the person stopped the run
        cid, index = watch.current or (None, None)
        outcome.failure = cancelled_failure(cid, index)
    if outcome.failure and outcome.failure["kind"] == "kernel_died":
        kernel.log_file.flush()
        tail = _log_tail(kernel.log_path)
        if tail:
            outcome.failure["message"] += f"; the kernel's last words: {tail}"
    outcome.ran = list(watch.ran)
    outcome.seconds = dict(watch.seconds)
    for cell in (executed.cells if executed is not None else ()):
        duration = (cell.get("metadata", {}).get("papermill") or {}).get("duration")
        if cell.get("id") in outcome.seconds and isinstance(duration, (int, float)):
            outcome.seconds[cell["id"]] = round(duration, 4)  # papermill's own record of the cell's time
    outcome.outputs = {cid: list(cell.get("outputs", [])) for cid, cell in watch.cells.items()}
    if outcome.failure and outcome.failure["kind"] != "error":
        # Timeouts and deaths end a cell without nbclient's "executed" hook; report them here.
        cid, index = watch.current or (None, None)
        watch._emit({"type": "cell_error", "cell_id": cid, "index": index, "n": len(watch.ran),
                     "total": watch.total, "ename": outcome.failure["ename"],
                     "evalue": outcome.failure["evalue"]})
    return outcome


def _classify(exc: Exception, watch: _Watch, original_index: dict, cell_timeout, total_timeout) -> dict:
    """The failure dict for what papermill / nbclient raised."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        cid = watch.index_to_id.get(exc.cell_index)
        return failure("error", cell_id=cid, index=original_index.get(cid), ename=exc.ename,
                       evalue=exc.evalue, traceback=exc.traceback)
    if isinstance(exc, CellTimeoutError):
        return _timeout_failure(watch, exc, cell_timeout, total_timeout)
    if isinstance(exc, DeadKernelError):
        return _death_failure(watch, exc, total_timeout)
    return _startup_failure(watch, exc, total_timeout)  # kernel start-up and engine failures come in many types


def _log_tail(path: Path, limit: int = 600) -> str:
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""
    # ipykernel warns about TCP transport on every start; that is noise here.
    lines = [ln for ln in text.splitlines() if ln.strip() and "running over TCP" not in ln]
    return " | ".join(lines)[-limit:]


def _timeout_failure(watch: _Watch, exc, cell_timeout, total_timeout) -> dict:
    cid, index = watch.current or (None, None)
    if watch.limited_by_total or watch.expired:
        return failure("total_timeout", cell_id=cid, index=index, ename="CellTimeoutError",
                       evalue=f"the validation ran past its total timeout of {total_timeout:.1f} s",
                       message=f"validation stopped after {total_timeout:.1f} s (total timeout)",
                       limit=total_timeout)
    return failure("timeout", cell_id=cid, index=index, ename="CellTimeoutError",
                   evalue=f"the cell ran longer than {cell_timeout} s",
                   message=f"the cell ran longer than {cell_timeout} s", limit=cell_timeout)


def _death_failure(watch: _Watch, exc, total_timeout) -> dict:
    cid, index = watch.current or (None, None)
    if watch.expired:
        return failure("total_timeout", cell_id=cid, index=index, ename="DeadKernelError",
                       evalue=f"the kernel was killed after the total timeout of {total_timeout:.1f} s",
                       message=f"validation killed the kernel after {total_timeout:.1f} s (total timeout)")
    return failure("kernel_died", cell_id=cid, index=index, ename="DeadKernelError", evalue=str(exc),
                   message="the kernel died while running the cell (os._exit, a crash in native "
                           "code, or the out-of-memory killer)")


def _startup_failure(watch: _Watch, exc: Exception, total_timeout) -> dict:
    from jupyter_client.kernelspec import NoSuchKernel

    cid, index = watch.current or (None, None)
    name = type(exc).__name__
    if isinstance(exc, NoSuchKernel):
        return failure("missing_kernel", ename=name, evalue=str(exc), message=str(exc))
    if watch.expired:
        return failure("total_timeout", cell_id=cid, index=index, ename=name, evalue=str(exc),
                       message=f"validation stopped after {total_timeout:.1f} s (total timeout)")
    if cid is None and isinstance(exc, OSError) and not isinstance(exc, TimeoutError):
        # The kernelspec exists but its command does not (a deleted environment).
        return failure("missing_kernel", ename=name, evalue=str(exc),
                       message=f"the kernel could not be started: {exc}")
    if cid is None and isinstance(exc, (RuntimeError, TimeoutError)):
        return failure("kernel_died", ename=name, evalue=str(exc),
                       message=f"the kernel did not start: {exc}")
    return failure("engine_error", cell_id=cid, index=index, ename=name, evalue=str(exc),
                   message=f"validation could not run the notebook: {name}: {exc}")
