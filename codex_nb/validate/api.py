"""``validate_notebook``: re-run a notebook (or the part an edit affects) in a fresh kernel.

The user's notebook file is only ever read: papermill executes a copy in a
temporary directory, while the kernel's working directory is the notebook's
own, so relative paths behave as they do for the user.
"""
from __future__ import annotations

import copy
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import NotebookError, UsageProblem
from .drift import output_drift
from .engine import failure, run_copy
from .select import Selection, select_full, select_targeted

MODES = ("full", "targeted")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class ValidationUsageError(UsageProblem):
    """validate_notebook was called with arguments that cannot work."""


@dataclass
class ValidationReport:
    """The outcome of one validation; ``to_json()`` is the documented report format."""

    ok: bool
    mode: str  # what ran: "full" or "targeted" (a widened targeted request is "full")
    cells_run: list[str]
    seconds: float
    failed: dict | None = None
    drift: list[dict] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # cell id -> why it was selected
    widened: str | None = None  # why a targeted request ran in full
    skipped: dict[str, str] = field(default_factory=dict)  # code cells never executed, and why
    cells_selected: list[str] = field(default_factory=list)
    requested_mode: str = "full"
    kernel: str | None = None
    notebook: str | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "ValidationReport":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def summary(self) -> str:
        """One line for people: what ran, how long, what broke."""
        ran = f"{len(self.cells_run)} cell{'s' if len(self.cells_run) != 1 else ''}"
        head = f"{self.mode} validation, {ran} in {self.seconds:.1f} s"
        if self.widened:
            head += f" (widened: {self.widened})"
        if self.ok:
            tail = f"; {len(self.drift)} output drift warning(s)" if self.drift else ""
            return f"ok: {head}{tail}"
        where = f" in cell {self.failed['cell_id']}" if self.failed.get("cell_id") else ""
        return f"FAILED{where}: {self.failed['message']} ({head})"

    def failure_text(self) -> str:
        """The failing cell's traceback without terminal colours, for people and for the model."""
        if not self.failed:
            return ""
        lines = [_ANSI.sub("", line) for line in self.failed.get("traceback") or []]
        return "\n".join(lines) or self.failed.get("message", "")


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


def validate_notebook(
    notebook,
    *,
    changed=None,
    mode: str = "full",
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
    gateway_url: str | None = None,
) -> "ValidationReport":
    """Run the notebook (or, in targeted mode, the cells ``changed`` can affect) in a fresh kernel.

    ``previous`` (path or NotebookNode) is the notebook before the edit; with it a
    targeted run also re-runs cells that read names the edit removed. With
    ``audit_log`` the run is recorded in the audit log; callers that validate a
    proposal (the apply workflow, magics, server) record it themselves, with the
    proposal it belongs to, so the default is not to.
    """
    if mode not in MODES:
        raise ValidationUsageError(f"unknown mode {mode!r}", hint="use 'full' or 'targeted'")
    started = time.monotonic()
    changed = list(changed or ())
    nb, workdir, label, problem = _load(notebook, cwd)
    if problem:
        report = ValidationReport(ok=False, mode=mode, cells_run=[], seconds=_since(started),
                                  failed=problem, requested_mode=mode, notebook=label)
        return _recorded(report, workdir) if audit_log else report
    if isinstance(previous, (str, os.PathLike)):
        from ..notebook_io import read_notebook

        previous = read_notebook(previous)
    skip_tags = tuple(skip_tags or ())
    if mode == "targeted":
        selection = select_targeted(nb, changed, skip_tags, previous=previous,
                                    predefined=tuple(parameters or ()))
    else:
        selection = select_full(nb, skip_tags)
    _emit(progress, {"type": "start", "mode": selection.mode, "total": len(selection.cell_ids),
                     "cells": list(selection.cell_ids), "widened": selection.widened})
    with tempfile.TemporaryDirectory(prefix="codex-nb-validate-") as tmp:
        outcome = run_copy(
            nb, selection.cell_ids, workdir=Path(tmp), cwd=workdir, kernel_name=kernel_name,
            cell_timeout=cell_timeout, parameters=parameters,
            # The total covers loading and selection too, not only the kernel's time.
            total_timeout=max(total_timeout - (time.monotonic() - started), 0.1) if total_timeout else None,
            progress=progress, gateway_url=gateway_url,
        )
    drift = output_drift(nb, outcome.outputs, edited=set(changed)) if outcome.outputs else []
    failed = outcome.failure
    if failed is None and drift_fails and drift:
        first = drift[0]
        failed = failure("drift", cell_id=first["cell_id"], index=first["index"], ename="OutputDrift",
                         evalue=first["detail"],
                         message=f"outputs of {len(drift)} unedited cell(s) changed "
                                 f"(first: cell {first['cell_id']}, {first['detail']})")
    report = _report(selection, outcome, failed, drift, mode, started, label)
    if audit_log:
        _recorded(report, workdir)
    _emit(progress, {"type": "finish", "ok": report.ok, "seconds": report.seconds,
                     "failed": report.failed})
    return report


def _report(selection: Selection, outcome, failed, drift, mode, started, label) -> ValidationReport:
    return ValidationReport(
        ok=failed is None,
        mode=selection.mode,
        cells_run=list(outcome.ran),
        seconds=_since(started),
        failed=failed,
        drift=drift,
        reasons=dict(selection.reasons),
        widened=selection.widened,
        skipped=dict(selection.skipped),
        cells_selected=list(selection.cell_ids),
        requested_mode=mode,
        kernel=outcome.kernel_name,
        notebook=label,
    )


def _recorded(report: ValidationReport, workdir) -> ValidationReport:
    from .. import audit

    audit.record("validation_run", report.notebook or workdir, notebook=report.notebook, proposal_id=None,
                 ok=report.ok, mode=report.mode, cells_run=report.cells_run, failed=report.failed,
                 seconds=report.seconds, drift=len(report.drift))
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
