"""Apply a proposal, keep it only if the notebook still runs; otherwise restore and repair.

``apply_validated`` is the loop behind ``codex-nb apply --validate --repair N``,
the magics and the side panel:

    apply → validate → keep
                     ↘ roll back (byte-for-byte) → ask the model for a fix → apply → validate …

Every validation and every rollback goes to the audit log. The files are put
back exactly on any failure, including an interrupt in the middle of a run.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from .. import audit
from ..errors import CodexError
from ..notebook_io import atomic_write_bytes
from .api import ValidationReport, _emit, validate_notebook


def _snapshot(paths) -> dict[Path, bytes | None]:
    return {Path(p): (Path(p).read_bytes() if Path(p).exists() else None) for p in paths}


def _restore_exactly(change, snapshot: dict[Path, bytes | None]) -> list[str]:
    """Roll back, then check every file against the snapshot and rewrite any that differs.

    Returns the paths that needed the second pass (expected: none). The
    snapshot is taken by this module before the apply, independently of the
    transaction's own record, so a bug or a failure in one is caught by the other.
    """
    try:
        change.rollback()
    except Exception:  # the snapshot below still restores every file, or raises
        pass
    repaired = []
    for path, data in snapshot.items():
        now = path.read_bytes() if path.exists() else None
        if now != data:
            repaired.append(str(path))
            if data is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write_bytes(path, data)
    return repaired


def _failure_for_model(report: ValidationReport, nb) -> dict:
    """The failure as the repair prompt reads it: plain traceback, plus the failing cell's source."""
    failed = dict(report.failed or {})
    failed["traceback"] = report.failure_text().splitlines()
    cells = {c["id"]: c for c in nb.cells} if nb is not None else {}
    if failed.get("cell_id") in cells:
        failed["source"] = cells[failed["cell_id"]].get("source", "")
    return failed


def apply_validated(
    notebook_path,
    proposal,
    *,
    mode: str = "targeted",
    repair: int = 0,
    model: str | None = None,
    on_event: Callable[[dict], None] | None = None,
    repo_root=None,
    kernel_name: str | None = None,
    cell_timeout: float | None = 120,
    total_timeout: float | None = 600,
    drift_fails: bool = False,
    skip_tags=("codex-skip",),
    repairer: Callable | None = None,
    validator: Callable[..., ValidationReport] | None = None,
) -> dict:
    """Apply ``proposal``; keep it if validation passes, else restore the files exactly.

    With ``repair > 0`` a failure is sent to the model (``assistant.repair``, or
    ``repairer`` with the same signature) and the fixed proposal is applied and
    validated again, at most ``repair`` times. ``validator`` replaces
    ``validate_notebook`` (same signature), e.g. to add checks of one's own.

    Events passed to ``on_event`` (dicts with a ``type``): applied, progress
    (the validation's own event under ``"event"``), validated, rolled_back,
    repair_start, repair_delta (streamed model text), repair, repair_failed.

    Returns ``{"kept", "report", "attempts", "proposal"}``.
    """
    from ..edits.transaction import apply_to_disk

    path = Path(notebook_path)

    def emit(event: dict) -> None:
        # A listener that raises must not interrupt the loop between an apply and its rollback.
        _emit(on_event, event)

    current = proposal
    attempts: list[dict] = []
    report = None
    for attempt in range(repair + 1):
        touched = [path, *(_patched_paths(current, path, repo_root))]
        snapshot = _snapshot(touched)
        try:
            change = apply_to_disk(path, current, repo_root=repo_root)
        except CodexError as exc:
            if attempt == 0:
                raise
            # A repaired proposal that cannot be applied ends the loop; the notebook is untouched.
            attempts.append({"proposal_id": current.id, "report": None, "kept": False, "apply_error": str(exc)})
            emit({"type": "repair_failed", "attempt": attempt, "error": str(exc)})
            break
        audit.record("apply", path, notebook=str(path), proposal_id=current.id, decision="accepted",
                     edits=[e.op for e in current.edits], attempt=attempt)
        emit({"type": "applied", "attempt": attempt, "proposal_id": current.id,
              "changed_cells": change.changed_cell_ids})
        try:
            report = _validate(validator or validate_notebook, path, change, current, mode, emit,
                               kernel_name=kernel_name,
                               cell_timeout=cell_timeout, total_timeout=total_timeout,
                               drift_fails=drift_fails, skip_tags=skip_tags)
        except BaseException:
            # An interrupt or a usage error mid-validation must not leave an unvalidated edit behind.
            _restore_exactly(change, snapshot)
            audit.record("rollback", path, notebook=str(path), proposal_id=current.id, ok=None,
                         reason="validation did not finish")
            raise
        audit.record("validate", path, notebook=str(path), proposal_id=current.id, ok=report.ok,
                     mode=report.mode, cells_run=report.cells_run, failed=report.failed,
                     seconds=report.seconds, drift=len(report.drift), attempt=attempt)
        emit({"type": "validated", "attempt": attempt, "report": report.to_json()})
        entry = {"proposal_id": current.id, "report": report.to_json(), "kept": report.ok}
        attempts.append(entry)
        if report.ok:
            return {"kept": True, "report": report.to_json(), "attempts": attempts, "proposal": current.to_json()}

        second_pass = _restore_exactly(change, snapshot)
        audit.record("rollback", path, notebook=str(path), proposal_id=current.id, ok=report.ok,
                     mode=report.mode, cells_run=report.cells_run, failed=report.failed,
                     seconds=report.seconds, files=[str(p) for p in snapshot], rewritten=second_pass)
        entry["rolled_back"] = True
        emit({"type": "rolled_back", "attempt": attempt, "proposal_id": current.id, "failed": report.failed})
        if attempt == repair:
            break
        emit({"type": "repair_start", "attempt": attempt + 1})
        try:
            fixer = repairer or _assistant_repair
            failure = _failure_for_model(report, change.notebook)
            current = fixer(path, current, failure, model=model,
                            on_delta=lambda text: emit({"type": "repair_delta", "text": text}))
        except CodexError as exc:
            entry["repair_error"] = str(exc)
            emit({"type": "repair_failed", "attempt": attempt + 1, "error": str(exc)})
            break
        emit({"type": "repair", "attempt": attempt + 1, "proposal": current.to_json()})
    return {"kept": False, "report": report.to_json() if report else None, "attempts": attempts,
            "proposal": current.to_json()}


def _assistant_repair(path, proposal, failure, **kw):
    from ..assistant import repair

    return repair(path, proposal, failure, **kw)


def _patched_paths(proposal, notebook_path: Path, repo_root) -> list[Path]:
    from ..notebook_io import find_repo_root

    root = Path(repo_root) if repo_root else find_repo_root(notebook_path)
    return [root / e.path for e in proposal.file_edits]


def _validate(validator, path, change, proposal, mode, emit, **options) -> ValidationReport:
    changed = change.changed_cell_ids
    widened = None
    if mode == "targeted" and proposal.file_edits:
        widened = "the proposal patches repository files that any cell may import"
    elif mode == "targeted" and not changed:
        widened = "no edited cell is left to target"
    report = validator(
        path, changed=changed, mode="full" if widened else mode, previous=change.before,
        progress=lambda event: emit({"type": "progress", "event": event}), **options,
    )
    if widened:
        report.widened = widened
        report.requested_mode = mode
    return report


def run_apply_cli(args, proposal=None) -> int:
    """``codex-nb apply NB PROPOSAL --validate [--repair N] [--mode M]``: 0 kept, 1 rolled back."""
    import json

    from ..edits.diff import proposal_diffs, render_text
    from ..notebook_io import read_notebook
    from .progress import print_progress

    if proposal is None:
        from ..cli.apply import load_proposal

        proposal = load_proposal(args.proposal)
    color = sys.stdout.isatty() and not getattr(args, "json", False)
    out = sys.stderr if getattr(args, "json", False) else sys.stdout

    def show(prop, title):
        diffs = proposal_diffs(read_notebook(args.notebook), prop, getattr(args, "repo", None))
        print(title, file=out)
        print(render_text(diffs, color=color), file=out)

    def on_event(event):
        kind = event["type"]
        if kind == "progress":
            print_progress(event["event"], sys.stderr)
        elif kind == "rolled_back":
            failed = event["failed"] or {}
            print(f"Validation failed ({failed.get('kind')}) in cell {failed.get('cell_id')}: "
                  f"{failed.get('message')}", file=sys.stderr)
            print(f"Rolled back: {args.notebook} is exactly as before.", file=sys.stderr)
        elif kind == "repair_start":
            print(f"Asking the model for a fix (attempt {event['attempt']} of {args.repair})…", file=sys.stderr)
        elif kind == "repair":
            from ..edits.model import Proposal

            show(Proposal.from_json(event["proposal"]), f"Proposed fix (attempt {event['attempt']}):")
        elif kind == "repair_failed":
            print(f"The repair failed: {event['error']}", file=sys.stderr)

    show(proposal, "Applying:")
    result = apply_validated(
        args.notebook, proposal, mode=getattr(args, "mode", None) or "targeted",
        repair=max(0, getattr(args, "repair", 0) or 0), model=getattr(args, "model", None),
        on_event=on_event, repo_root=getattr(args, "repo", None),
        kernel_name=getattr(args, "kernel", None),
        cell_timeout=getattr(args, "cell_timeout", None) or 120,
        total_timeout=getattr(args, "timeout", None) or 600,
        drift_fails=getattr(args, "drift_fails", False),
    )
    report = ValidationReport.from_json(result["report"]) if result["report"] else None
    if getattr(args, "json", False):
        print(json.dumps(result, default=str))
    elif result["kept"]:
        print(f"Kept: {report.summary()}")
    else:
        print(f"Not applied: {report.summary() if report else 'no validation ran'}")
        if report and report.failed:
            print(report.failure_text(), file=sys.stderr)
    return 0 if result["kept"] else 1
