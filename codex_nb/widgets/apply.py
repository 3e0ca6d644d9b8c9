"""Accepting edits in the live notebook: snapshot → apply → validate → keep or roll back.

Each step answers through a comm reply that the kernel only handles when it
is idle, so an ``Acceptance`` is a chain of callbacks, and validation runs in a
thread so the notebook stays usable meanwhile. The view only receives events
(dicts), which keeps this logic free of widgets and testable on its own:

    {"type": "status", "text"}                          what is happening now
    {"type": "refused", "reason", "no_frontend"}        nothing was changed
    {"type": "applied", "indexes"}                      the live notebook changed
    {"type": "start"|"cell_start"|"cell_done"|"cell_error"|"finish", ...}   validation progress
    {"type": "validated", "report"}                     validation passed (or was skipped: report None)
    {"type": "rolled_back", "ok", "reason", "report"}  validation failed; the notebook was restored (ok)
"""
from __future__ import annotations

import dataclasses
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .. import audit
from ..errors import CodexError


@dataclass
class ApplyContext:
    """What an acceptance needs from the kernel session; shared by every proposal widget of a kernel."""

    channel: object  # widgets.live.LiveChannel
    notebook_path: str | None = None
    repo: str | None = None  # the repository root file patches are relative to (None: found from the notebook)
    validate: bool = True
    mode: str = "targeted"
    validator: Callable | None = None  # validate_notebook-compatible; None: the real one
    history: list = field(default_factory=list)  # undo entries, newest last (shared with %codex undo)
    run_code: Callable[[str], None] | None = None  # Accept & Run executes accepted code with this
    cell_timeout: float = 120.0
    total_timeout: float = 900.0
    skip_tags: tuple = ("codex-skip",)

    @property
    def anchor(self) -> str:
        return self.notebook_path or os.getcwd()

    @property
    def cwd(self) -> str:
        return str(Path(self.notebook_path).resolve().parent) if self.notebook_path else os.getcwd()


def notebook_from_reply(reply: dict):
    """The front end's notebook JSON as a NotebookNode with cell ids."""
    import nbformat

    from ..notebook_io import ensure_cell_ids

    nb = nbformat.from_dict(reply["notebook"])
    for cell in nb.get("cells", []):
        if isinstance(cell.get("source"), list):  # nbformat allows a list of lines; hashes are over the text
            cell["source"] = "".join(cell["source"])
    return ensure_cell_ids(nb)


def _guarded(step):
    """Callbacks run in the comm handler, where an exception only reaches the kernel's log:
    show it in the widget instead, so that it never stays "applying…" forever."""

    def run(self, *args):
        try:
            return step(self, *args)
        except Exception as exc:
            self.emit({"type": "refused", "reason": f"internal error in {step.__name__}: {type(exc).__name__}: {exc}",
                       "no_frontend": False})

    run.__name__ = step.__name__
    return run


class Acceptance:
    """One accept action over some edits of a proposal."""

    def __init__(self, ctx: ApplyContext, proposal, indexes: list[int], emit: Callable[[dict], None],
                 run: bool | Callable[[str], None] = False):
        self.ctx = ctx
        self.proposal = proposal
        self.indexes = list(indexes)
        self.subset = dataclasses.replace(proposal, edits=tuple(proposal.edits[i] for i in self.indexes))
        self.emit = emit
        self.run = run
        self.before = None
        self.after = None
        self.undo_ops: list[dict] = []
        self.entry: dict | None = None
        self.report = None
        self.thread: threading.Thread | None = None
        self.file_change = None  # repository files patched by this acceptance (transaction.AppliedChange)

    def start(self) -> None:
        self.emit({"type": "status", "text": "Reading the live notebook…"})
        self.ctx.channel.request({"type": "snapshot"}, self._on_snapshot)

    @_guarded
    def _on_snapshot(self, reply: dict) -> None:
        if not reply.get("ok") or not reply.get("notebook"):
            return self._refuse(reply.get("reason") or "the front end sent no notebook", reply.get("no_frontend", False))
        from ..edits.live_ops import inverse_ops, proposal_ops

        self.before = notebook_from_reply(reply)
        try:
            ops = proposal_ops(self.before, self.subset)
        except CodexError as exc:  # stale or dangling: the notebook changed since the proposal
            return self._refuse(f"{exc.message} — {exc.hint}" if exc.hint else exc.message)
        self.undo_ops = inverse_ops(self.before, ops)
        if self.subset.file_edits:
            # Repository files have no editor session to respect: they are written directly, first,
            # so that a refused file patch leaves the notebook untouched.
            from ..edits.transaction import apply_to_disk

            if not self.ctx.notebook_path:
                return self._refuse("file patches need the notebook's location; pass --notebook PATH")
            try:
                self.file_change = apply_to_disk(self.ctx.notebook_path, dataclasses.replace(
                    self.subset, edits=self.subset.file_edits), repo_root=self.ctx.repo)
            except CodexError as exc:
                return self._refuse(exc.message)
        self.emit({"type": "status", "text": "Applying to the notebook…"})
        self.ctx.channel.apply(ops, self.proposal.id, self._on_applied)

    @_guarded
    def _on_applied(self, reply: dict) -> None:
        if not reply.get("ok"):
            if self.file_change is not None:
                self.file_change.rollback()
            return self._refuse(reply.get("reason") or "the front end refused the edit", reply.get("no_frontend", False))
        self.after = notebook_from_reply(reply) if reply.get("notebook") else None
        self.entry = {"notebook": self.ctx.notebook_path, "proposal_id": self.proposal.id, "edits": self.indexes,
                      "undo_ops": self.undo_ops, "files": self.file_change, "time": time.time()}
        self.ctx.history.append(self.entry)
        audit.record("accept", self.ctx.anchor, notebook=self.ctx.notebook_path, proposal_id=self.proposal.id,
                     edits=self.indexes, decision="accepted", live=True)
        self.emit({"type": "applied", "indexes": self.indexes})
        if not self.ctx.validate or self.after is None:
            self.emit({"type": "validated", "report": None})
            self._run_accepted()
            return
        self.thread = threading.Thread(target=self._validate, name="codex-nb-validate", daemon=True)
        self.thread.start()

    def _code_edits(self) -> list:
        return [e for e in self.subset.cell_edits
                if e.op in ("insert", "replace") and (getattr(e, "cell_type", None) or "code") == "code"]

    def _run_accepted(self) -> None:
        """Accept & Run: the notebook runs the accepted cells itself, so their outputs land in the cells."""
        if not self.run:
            return
        ids = [getattr(e, "new_id", None) or e.cell_id for e in self._code_edits()]
        if ids:
            self.ctx.channel.request({"type": "run", "cell_ids": ids}, self._on_ran)

    @_guarded
    def _on_ran(self, reply: dict) -> None:
        if reply.get("ok"):
            self.emit({"type": "status", "text": "Running the accepted cells in the notebook."})
            return
        # A front end that cannot run cells (an older extension): run the code here, output in the widget.
        if callable(self.run):
            for edit in self._code_edits():
                self.run(edit.source)

    def changed_ids(self) -> list[str]:
        from ..edits.live_ops import touched_cell_ids

        return touched_cell_ids(self.before, self.subset)

    def _validate(self) -> None:
        validator = self.ctx.validator
        if validator is None:
            from ..validate import validate_notebook as validator
        try:
            report = validator(self.after, changed=self.changed_ids(), mode=self.ctx.mode,
                               cwd=self.ctx.cwd, progress=self.emit, previous=self.before,
                               cell_timeout=self.ctx.cell_timeout, total_timeout=self.ctx.total_timeout,
                               skip_tags=self.ctx.skip_tags)
        except Exception as exc:  # a validator crash must not leave an unchecked edit looking checked
            from ..validate.engine import failure

            report = _CrashReport(failure("engine_error", ename=type(exc).__name__, evalue=str(exc)))
        self.report = report
        audit.record("validate", self.ctx.anchor, notebook=self.ctx.notebook_path, proposal_id=self.proposal.id,
                     ok=report.ok, failed=report.failed, mode=getattr(report, "mode", self.ctx.mode))
        if report.ok:
            self.emit({"type": "validated", "report": report})
            self._run_accepted()
            return
        self.emit({"type": "status", "text": "Validation failed — rolling back…"})
        self.ctx.channel.apply(self.undo_ops, self.proposal.id, self._on_rolled_back)

    @_guarded
    def _on_rolled_back(self, reply: dict) -> None:
        ok = bool(reply.get("ok"))
        if self.file_change is not None:
            self.file_change.rollback()
        if ok and self.entry in self.ctx.history:
            self.ctx.history.remove(self.entry)
        audit.record("rollback", self.ctx.anchor, notebook=self.ctx.notebook_path, proposal_id=self.proposal.id,
                     edits=self.indexes, ok=ok, reason=reply.get("reason"))
        self.emit({"type": "rolled_back", "ok": ok, "reason": reply.get("reason"), "report": self.report})

    def _refuse(self, reason: str, no_frontend: bool = False) -> None:
        self.emit({"type": "refused", "reason": reason, "no_frontend": bool(no_frontend)})


class _CrashReport:
    """Stands in for a ValidationReport when the validator itself raised."""

    ok = False
    mode = "none"
    drift: list = []

    def __init__(self, failed: dict):
        self.failed = failed

    def summary(self) -> str:
        return f"FAILED: validation could not run: {self.failed['message']}"

    def failure_text(self) -> str:
        return self.failed["message"]


def undo_last(ctx: ApplyContext, on_reply: Callable[[dict], None]) -> dict | None:
    """Revert the newest accepted change of this kernel; ``None`` when there is nothing to undo."""
    if not ctx.history:
        return None
    entry = ctx.history[-1]

    def done(reply: dict) -> None:
        if reply.get("ok") and entry in ctx.history:
            ctx.history.remove(entry)
            if entry.get("files") is not None:
                entry["files"].rollback()
            audit.record("undo", ctx.anchor, notebook=entry["notebook"], proposal_id=entry["proposal_id"],
                         edits=entry["edits"])
        on_reply(reply)

    ctx.channel.apply(entry["undo_ops"], entry["proposal_id"], done)
    return entry
