"""``validate_notebook``: re-run a notebook (or the part an edit affects) in a fresh kernel.

The user's notebook file is only ever read. By default the kernel runs in a
scratch copy of the notebook's directory (see ``scratch``), with a guard that
refuses writes to the original; ``in_place=True`` runs it in the notebook's own
directory, where cells really create, overwrite and delete the user's files and
a rollback of the notebook does not undo that. ``network=False`` turns off the
kernel's network access (see ``guard`` for what that covers).

Settings not passed as arguments come from the environment:
``CODEX_NB_VALIDATE_IN_PLACE=1``, ``CODEX_NB_VALIDATE_NETWORK=off``,
``CODEX_NB_VALIDATE_SCRATCH_MB=200``. The engine's doors pass all three,
resolved from ``c.CodexNB.validate_in_place`` / ``validate_network`` /
``validate_scratch_mb`` with these variables laid over them (``engine.settings``).
``CODEX_NB_VALIDATION_GATEWAY_URL=http://host:port`` runs the kernel on that Jupyter
Kernel Gateway (see ``gateway``).
"""
from __future__ import annotations

import copy
import os
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Callable

from ..cellnames import cell_labels
from ..errors import NotebookError, UsageProblem
from . import auto, gateway, kernels
from .drift import output_drift
from .engine import CANCEL_POLL, cancelled_failure, failure, is_cancelled, kernel_problem, run_copy
from .figures import quiet_cells
from .report import ValidationReport, labels_of
from .scratch import DEFAULT_LIMIT_MB
from .select import Selection, leading_imports, select_full, select_targeted

__all__ = ["MODES", "ValidationReport", "ValidationUsageError", "environment_settings", "validate_notebook", "prepare"]

MODES = ("auto", "full", "targeted")
_OFF = ("0", "off", "no", "false", "block", "blocked")


class ValidationUsageError(UsageProblem):
    """validate_notebook was called with arguments that cannot work."""


def _load(notebook, cwd):
    """(notebook node, working directory, label, problem) for a path or a NotebookNode."""
    from ..notebook_io import ensure_cell_ids, parse_notebook

    if isinstance(notebook, (str, os.PathLike)):
        path = Path(notebook)
        if not path.is_file():
            raise ValidationUsageError(f"{path} does not exist", hint="check the path of the notebook")
        workdir = Path(cwd) if cwd is not None else path.resolve().parent
        try:
            nb = parse_notebook(path.read_bytes().decode("utf-8"), origin=str(path))
        except (NotebookError, UnicodeDecodeError) as exc:
            problem = failure("invalid_notebook", ename=type(exc).__name__,
                              evalue=getattr(exc, "message", str(exc)),
                              message=f"{path} is not a valid notebook: {getattr(exc, 'message', exc)}")
            return None, workdir, str(path), problem
        return nb, workdir, str(path), None
    if cwd is None:
        raise ValidationUsageError(
            "a notebook given as an object needs cwd=",
            hint="pass cwd= (the directory the notebook's relative paths are relative to)",
        )
    return ensure_cell_ids(copy.deepcopy(notebook)), Path(cwd), None, None


def environment_settings() -> dict:
    """The validation settings the environment sets, as ``validate_notebook`` arguments (unset ones left out).

    The engine lays these over ``c.CodexNB.validate_in_place`` / ``validate_network`` /
    ``validate_scratch_mb``, so the environment beats the config files as everywhere in codex-nb.
    """
    found: dict = {}
    raw = os.environ.get("CODEX_NB_VALIDATE_IN_PLACE", "").strip().lower()
    if raw:
        found["in_place"] = raw not in _OFF
    raw = os.environ.get("CODEX_NB_VALIDATE_NETWORK", "").strip().lower()
    if raw:
        found["network"] = raw not in _OFF
    raw = os.environ.get("CODEX_NB_VALIDATE_SCRATCH_MB", "").strip()
    if raw:
        try:
            found["scratch_limit_mb"] = float(raw)
        except ValueError:
            raise ValidationUsageError("CODEX_NB_VALIDATE_SCRATCH_MB is not a number",
                                       hint="set it to a size in megabytes, e.g. 200") from None
    return found


def _settings(in_place, network, scratch_limit_mb) -> tuple[bool, bool, float]:
    env = environment_settings()
    if in_place is None:
        in_place = env.get("in_place", False)
    if network is None:
        network = env.get("network", True)
    if scratch_limit_mb is None:
        scratch_limit_mb = env.get("scratch_limit_mb", DEFAULT_LIMIT_MB)
    return bool(in_place), bool(network), float(scratch_limit_mb)


def _previous_of(notebook, previous):
    """The notebook before the edit: as given, or the Jupyter checkpoint of a notebook file when older."""
    from ..notebook_io import read_notebook

    if isinstance(previous, (str, os.PathLike)):
        path = Path(previous)
        if not path.is_file():
            raise ValidationUsageError(f"{path} does not exist",
                                       hint="give the notebook as it was before the edit (a .ipynb file)")
        return read_notebook(path)
    if previous is not None or not isinstance(notebook, (str, os.PathLike)):
        return previous
    path = Path(notebook)
    checkpoint = path.parent / ".ipynb_checkpoints" / f"{path.stem}-checkpoint{path.suffix}"
    try:
        if checkpoint.is_file() and checkpoint.stat().st_mtime < path.stat().st_mtime:
            return read_notebook(checkpoint)
    except (OSError, NotebookError):
        return None
    return None


def prepare(notebook, *, cwd=None, kernel_name: str | None = None, in_place: bool | None = None,
            network: bool | None = None, scratch_limit_mb: float | None = None,
            skip_tags=("codex-skip",), gateway_url: str | None = None) -> bool:
    """Start a spare kernel for validating ``notebook`` in the background; False if it names no usable kernel.

    Call it when a validation is coming (a proposal is on its way): the next
    ``validate_notebook`` of that notebook with the same settings then does not
    wait for a kernel to start.
    """
    nb, workdir, _, problem = _load(notebook, cwd)
    if problem:
        return False
    url = gateway.url_from(gateway_url)
    name, missing = gateway.kernel_problem(url, nb, kernel_name) if url else kernel_problem(nb, kernel_name)
    if missing:
        return False
    kernels.prepare_spare(_key(name, workdir, *_settings(in_place, network, scratch_limit_mb),
                               warm=leading_imports(nb, tuple(skip_tags or ()))[1], gateway_url=url or ""))
    return True


def _key(name, workdir, in_place, network, limit, warm="", gateway_url="") -> kernels.KernelKey:
    return kernels.KernelKey(kernel_name=name, directory=str(Path(workdir).resolve()), in_place=in_place,
                             network=network, scratch_limit_mb=limit, warm=warm, gateway_url=gateway_url)


def validate_notebook(
    notebook,
    *,
    changed=None,
    mode: str = "auto",
    kernel_name: str | None = None,
    cwd=None,
    cell_timeout: float | None = 120,
    total_timeout: float | None = 600,
    progress: Callable[[dict], None] | None = None,
    drift_fails: bool = False,
    skip_tags=("codex-skip",),
    parameters: dict | None = None,
    previous=None,
    audit_log: bool = False,
    in_place: bool | None = None,
    network: bool | None = None,
    scratch_limit_mb: float | None = None,
    keep_spare: bool | None = None,
    warm_imports: bool = True,
    quiet_figures: bool = True,
    gateway_url: str | None = None,
    cancel=None,
) -> "ValidationReport":
    """Run the notebook (or the cells ``changed`` can affect) in a fresh kernel and report.

    ``mode``: "full" runs every cell; "targeted" the edited cells, what they
    depend on and what depends on them; "auto" (the default) targeted where the
    cells it skips are worth skipping, else full. ``previous`` (path or
    NotebookNode) is the notebook before the edit; without it the checkpoint of
    a notebook file is used when older, and otherwise a targeted run re-runs
    every later reader of a name the edited cells could have bound. With
    ``audit_log`` the run is recorded in the audit log; callers that validate a
    proposal record it themselves, with the proposal it belongs to.
    ``keep_spare`` starts the next kernel ahead of time after this run (default:
    in a Jupyter server or IPython kernel, which validate again). ``warm_imports``
    lets the kernel run the imports that open the first cell before the run
    starts (see ``kernels``); off, the first cell pays for them as in a plain run.
    ``quiet_figures`` lays out without rendering the figures of cells whose outputs
    are not compared (edited cells, cells never run before; see ``figures``).
    ``gateway_url`` runs the kernel on that Jupyter Kernel Gateway (default:
    ``CODEX_NB_VALIDATION_GATEWAY_URL``; "" forces this machine); the report's
    ``gateway`` says where on it the kernel ran (see ``gateway``). ``cancel`` (a
    ``threading.Event``, or anything with ``is_set()``) stops the validation when set:
    the kernel is killed within a fraction of a second and the report fails with kind
    ``cancelled``; the kernel is gone when this returns (one still starting is shut
    down as soon as it is up), and no kernel that ran anything goes back to the spares.
    """
    if mode not in MODES:
        raise ValidationUsageError(f"unknown mode {mode!r}", hint=f"use one of {', '.join(MODES)}")
    started = time.monotonic()
    changed = list(changed or ())
    nb, workdir, label, problem = _load(notebook, cwd)
    in_place, network, limit = _settings(in_place, network, scratch_limit_mb)
    url = gateway.url_from(gateway_url)
    base = dict(requested_mode=mode, notebook=label, in_place=in_place, network=network)
    if url:
        base["gateway"] = {"url": url}
    if problem or is_cancelled(cancel):
        return _finish(ValidationReport(ok=False, mode=mode, cells_run=[], seconds=_since(started),
                                        failed=problem or cancelled_failure(), **base), workdir, audit_log, progress)
    base["labels"] = labels_of(nb)
    name, missing = gateway.kernel_problem(url, nb, kernel_name) if url else kernel_problem(nb, kernel_name)
    if missing:
        return _finish(ValidationReport(ok=False, mode=mode, cells_run=[], seconds=_since(started),
                                        failed=missing, kernel=name, **base), workdir, audit_log, progress)
    first_cell, warm = leading_imports(nb, tuple(skip_tags or ())) if warm_imports else (None, "")
    key = _key(name, workdir, in_place, network, limit, warm=warm, gateway_url=url or "")
    # The kernel starts (or the spare is taken) while the cells are analysed.
    pending = _in_background(kernels.take_kernel, key)
    try:
        selection, reason, estimate = _select(nb, mode, changed, _previous_of(notebook, previous),
                                              tuple(skip_tags or ()), parameters)
    except BaseException:
        _discard(pending)
        raise
    base.update(mode_reason=reason, estimate=estimate, kernel=name)
    _emit(progress, {"type": "start", "mode": selection.mode, "total": len(selection.cell_ids),
                     "cells": list(selection.cell_ids), "widened": selection.widened, "reason": reason})
    if not selection.cell_ids:
        _discard(pending)
        return _finish(_report(selection, None, None, [], started, base), workdir, audit_log, progress)
    left = (lambda: max(total_timeout - (time.monotonic() - started), 0.1)) if total_timeout else (lambda: None)
    waited_from = time.monotonic()
    if warm and selection.cell_ids[0] != first_cell:
        # The warm-up ran the imports of a cell this run does not start with: it needs a plain kernel.
        _discard(pending)
        key = kernels.replace(key, warm="")
        pending = _in_background(kernels.take_kernel, key)
    try:
        kernel = _started(pending, left(), cancel)
    except Exception as exc:
        _discard(pending)
        failed = _start_failure(exc, name, total_timeout)
        return _finish(_report(selection, None, failed, [], started, base), workdir, audit_log, progress)
    if kernel is None:  # cancelled while the kernel was starting
        _discard(pending)
        return _finish(_report(selection, None, cancelled_failure(), [], started, base), workdir, audit_log, progress)
    base.update(workdir=str(kernel.cwd), linked=list(kernel.scratch.linked) if kernel.scratch else [],
                kernel_start={"spare": kernel.spare, "waited": round(time.monotonic() - waited_from, 3),
                              "start": kernel.ready_seconds, "warm": bool(kernel.key.warm)})
    quiet = quiet_cells(nb, selection.cell_ids, set(changed)) if quiet_figures else []
    base["quiet_figures"] = quiet
    if kernel.gateway:
        base["gateway"] = dict(kernel.gateway)
    try:
        outcome = run_copy(nb, selection.cell_ids, kernel=kernel, cell_timeout=cell_timeout,
                           total_timeout=left(), parameters=parameters, progress=progress,
                           labels=base["labels"], quiet_figures=quiet, cancel=cancel)
    finally:
        if is_cancelled(cancel):
            kernel.shutdown()  # now, not soon: after Stop no validation kernel may be left running
        else:
            kernel.shutdown_soon()  # used once, whatever happened
        if keep_spare if keep_spare is not None else kernels.long_lived_process():
            kernels.prepare_spare(key)  # a fresh one: the used kernel is never handed out again
    stopped = bool(outcome.failure) and outcome.failure["kind"] == "cancelled"
    if not stopped:  # a run cut short says nothing about how long the cells take or what they print
        auto.remember(nb, outcome.seconds)
    drift = output_drift(nb, outcome.outputs, edited=set(changed)) if outcome.outputs and not stopped else []
    names = cell_labels(nb) if drift else {}  # "cell [5] (In [3]) “first line”": how drift warnings name cells
    drift = [dict(d, name=names.get(d["cell_id"])) for d in drift]
    failed = outcome.failure
    if failed is None and drift_fails and drift:
        first = drift[0]
        failed = failure("drift", cell_id=first["cell_id"], index=first["index"], ename="OutputDrift",
                         evalue=first["detail"],
                         message=f"outputs of {len({d['cell_id'] for d in drift})} unedited cell(s) changed "
                                 f"(first: {base['labels'].get(first['cell_id'], first['cell_id'])}, "
                                 f"{first['detail']})")
    return _finish(_report(selection, outcome, failed, drift, started, base), workdir, audit_log, progress)


def _select(nb, mode, changed, previous, skip_tags, parameters) -> tuple[Selection, str | None, dict]:
    if mode == "full":
        return select_full(nb, skip_tags), None, {}
    if mode == "auto" and not changed and previous is None:
        return select_full(nb, skip_tags), "auto: full, since no edited cell was named", {}
    selection = select_targeted(nb, changed, skip_tags, previous=previous, predefined=tuple(parameters or ()))
    if mode == "targeted":
        return selection, (f"widened: {selection.widened}" if selection.widened else None), {}
    if selection.widened:
        return selection, f"auto: full, since {selection.widened}", {}
    full = select_full(nb, skip_tags)
    chosen, reason, estimate = auto.choose(nb, full.cell_ids, selection.cell_ids)
    return (selection if chosen == "targeted" else full), reason, estimate


def _in_background(function, *args) -> Future:
    future: Future = Future()

    def run():
        try:
            future.set_result(function(*args))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name="codex-nb-validation-kernel", daemon=True).start()
    return future


def _started(pending: Future, timeout: float | None, cancel):
    """The kernel ``pending`` starts, or None if ``cancel`` is set first (TimeoutError past ``timeout``)."""
    from concurrent.futures import TimeoutError as FutureTimeout

    if cancel is None:
        return pending.result(timeout=timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if cancel.is_set():
            return None
        wait = CANCEL_POLL if deadline is None else min(CANCEL_POLL, deadline - time.monotonic())
        if wait <= 0:
            raise FutureTimeout()
        try:
            return pending.result(timeout=wait)
        except FutureTimeout:
            continue


def _discard(pending: Future) -> None:
    """Shut down a kernel being started for a validation that will not run, once it is up."""
    def shut(done: Future) -> None:
        if done.exception() is None:
            done.result().shutdown()

    pending.add_done_callback(shut)


def _start_failure(exc: Exception, name: str, total_timeout) -> dict:
    from concurrent.futures import TimeoutError as FutureTimeout

    from jupyter_client.kernelspec import NoSuchKernel

    kind = type(exc).__name__
    if isinstance(exc, gateway.GatewayError):
        return exc.failure
    if isinstance(exc, FutureTimeout):
        return failure("total_timeout", ename="TimeoutError", evalue="the kernel did not start in time",
                       message=f"validation stopped after {total_timeout:.1f} s (total timeout) while the "
                               "kernel was starting", limit=total_timeout)
    if isinstance(exc, NoSuchKernel):
        return failure("missing_kernel", ename=kind, evalue=str(exc), message=str(exc), kernel=name)
    if isinstance(exc, OSError) and not isinstance(exc, TimeoutError):
        # The kernelspec exists but its command does not (a deleted environment).
        return failure("missing_kernel", ename=kind, evalue=str(exc), kernel=name,
                       message=f"the kernel {name!r} could not be started: {exc}")
    if isinstance(exc, (RuntimeError, TimeoutError)):
        return failure("kernel_died", ename=kind, evalue=str(exc), message=f"the kernel did not start: {exc}")
    return failure("engine_error", ename=kind, evalue=str(exc),
                   message=f"validation could not start a kernel: {kind}: {exc}")


def _report(selection: Selection, outcome, failed, drift, started, base) -> ValidationReport:
    return ValidationReport(
        ok=failed is None,
        mode=selection.mode,
        cells_run=list(outcome.ran) if outcome else [],
        seconds=_since(started),
        failed=_labelled(failed, base.get("labels", {})),
        drift=[dict(d, cell=base["labels"].get(d["cell_id"])) for d in drift],
        reasons=dict(selection.reasons),
        widened=selection.widened,
        skipped=dict(selection.skipped),
        cells_selected=list(selection.cell_ids),
        cell_seconds=dict(outcome.seconds) if outcome else {},
        **base,
    )


def _labelled(failed: dict | None, labels: dict) -> dict | None:
    if failed and failed.get("cell_id") in labels:
        return dict(failed, cell=labels[failed["cell_id"]])
    return failed


def _finish(report: ValidationReport, workdir, audit_log: bool, progress) -> ValidationReport:
    if audit_log:
        from .. import audit

        audit.record("validation_run", report.notebook or workdir, notebook=report.notebook, proposal_id=None,
                     ok=report.ok, mode=report.mode, cells_run=report.cells_run, failed=report.failed,
                     seconds=report.seconds, drift=len(report.drift), workdir=report.workdir,
                     in_place=report.in_place)
    _emit(progress, {"type": "finish", "ok": report.ok, "seconds": report.seconds, "failed": report.failed})
    return report


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


def _emit(progress, event: dict) -> None:
    if progress is None:
        return
    try:
        progress(event)
    except Exception:  # a listener's bug must not turn into a validation result
        pass
