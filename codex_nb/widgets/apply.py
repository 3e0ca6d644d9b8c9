"""The ``%%codex`` widget's door into the engine: the live notebook, reached through the kernel comm.

The widget chooses the applier (``RemoteApplier`` over ``LiveChannel``) and draws
the engine's events; applying, validating, rolling back and auditing are the
engine's. The engine runs on a background event loop of its own, because comm
replies are only handled when the kernel is idle: a button callback returns at
once, and the reply reaches the waiting engine through the loop.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

_loop_lock = threading.Lock()
_loop = None


def kernel_loop():
    """The process's engine loop (created on first use, a daemon thread: it dies with the kernel)."""
    global _loop
    with _loop_lock:
        if _loop is None:
            from ..engine import BackgroundLoop

            _loop = BackgroundLoop()
        return _loop


@dataclass
class ApplyContext:
    """What an acceptance needs from the kernel session; shared by every proposal widget of a kernel."""

    channel: object  # widgets.live.LiveChannel
    engine: object  # engine.Engine, with the session's settings and undo history
    notebook_path: str | None = None
    repo: str | None = None
    run_code: Callable[[str], None] | None = None  # Accept & Run without a cell runner in the page
    history: list = field(default_factory=list)

    @property
    def validate(self) -> bool:
        return self.engine.settings.validate

    @property
    def anchor(self) -> str:
        return self.notebook_path or os.getcwd()

    @property
    def cwd(self) -> str:
        return str(Path(self.notebook_path).resolve().parent) if self.notebook_path else os.getcwd()

    def applier(self):
        from ..engine import RemoteApplier, comm_request

        return RemoteApplier("kernel", comm_request(self.channel, kernel_loop().loop), notebook_path=self.notebook_path)


def notebook_from_reply(reply: dict):
    """The front end's notebook JSON as a NotebookNode with cell ids."""
    from ..engine.appliers import notebook_from_json

    return notebook_from_json(reply["notebook"])


class Acceptance:
    """One accept action over some edits of a proposal, carried out by the engine."""

    def __init__(self, ctx: ApplyContext, proposal, indexes: list[int], emit: Callable[[dict], None],
                 run: bool | Callable[[str], None] = False):
        self.ctx = ctx
        self.proposal = proposal
        self.indexes = list(indexes)
        self.emit = emit
        self.run = run
        self.outcome = None
        self.future = None

    def start(self) -> None:
        self.future = kernel_loop().submit(self._accept())

    def wait(self, timeout: float | None = None):
        return self.future.result(timeout)

    async def _accept(self):
        try:
            self.outcome = await self.ctx.engine.accept(self.proposal, self.ctx.applier(), self.indexes, emit=self.emit)
        except Exception as exc:  # never leave the card spinning: say what broke
            self.emit({"type": "refused", "reason": f"internal error: {type(exc).__name__}: {exc}", "hint": "",
                       "no_frontend": False})
            return None
        if self.outcome.kept and self.run:
            self._run_accepted()
        return self.outcome

    def _code_edits(self) -> list:
        edits = [self.proposal.edits[i] for i in self.indexes]
        return [e for e in edits if e.op in ("insert", "replace") and (getattr(e, "cell_type", None) or "code") == "code"]

    def _run_accepted(self) -> None:
        """Accept & Run: the page runs the accepted cells itself, so their outputs land in the cells."""
        ids = [getattr(e, "new_id", None) or e.cell_id for e in self._code_edits()]
        if ids:
            self.ctx.channel.request({"type": "run", "cell_ids": ids}, self._on_ran)

    def _on_ran(self, reply: dict) -> None:
        if reply.get("ok"):
            self.emit({"type": "status", "text": "Running the accepted cells in the notebook."})
        elif callable(self.run):  # a page that cannot run cells (an older extension): run the code here
            for edit in self._code_edits():
                self.run(edit.source)


def undo_last(ctx: ApplyContext, emit: Callable[[dict], None]):
    """Take back the newest kept change of this kernel through the engine; None when there is none."""
    if not ctx.engine.history:
        return None
    entry = ctx.engine.history[-1]
    if entry.applier_kind == "file":
        from ..engine import FileApplier

        applier = FileApplier(entry.notebook)
    else:
        applier = ctx.applier()

    async def undo():
        try:
            return await ctx.engine.undo(applier, entry, emit=emit)
        except Exception as exc:
            emit({"type": "refused", "reason": str(getattr(exc, "message", exc)), "hint": getattr(exc, "hint", ""),
                  "no_frontend": False})
            return None

    return kernel_loop().submit(undo())


def commit_offered(ctx: ApplyContext, outcome, on_committed: Callable[[str, list], None],
                   on_refused: Callable[[str, str], None]):
    """Make the commit a kept change offered (commit = "ask") through the engine, on the kernel's engine loop."""
    files = list(outcome.commit_offer.files) if outcome.commit_offer else []

    async def commit():
        try:
            sha = await ctx.engine.commit_offered(outcome)
        except Exception as exc:  # a refusal (CodexError) or a crash: the card says which, never spins
            on_refused(str(getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"), getattr(exc, "hint", ""))
            return None
        on_committed(sha, files)
        return sha

    return kernel_loop().submit(commit())
