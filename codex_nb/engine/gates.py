"""What a validator ("gate") sees and answers: the one interface every check behind the engine implements.

The engine applies a proposal, then runs each gate that applies to the change
(the notebook re-run, the project's tests, declared checks). A gate never
applies or rolls anything back itself: it only judges the change in front of
it and says why, in a form that the widget, the panel, the CLI, the audit log
and the repair prompt can each use.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

Progress = Callable[[dict], None]


@dataclass
class ChangeUnderTest:
    """An applied change, as the gates judge it (the engine builds it after apply, before keep)."""

    repo_root: Path
    notebook_path: Path | None  # None for a notebook that only lives in a front end
    before: Any  # nbformat.NotebookNode before the change
    after: Any  # nbformat.NotebookNode after the change
    changed_cells: list[str] = field(default_factory=list)  # ids of inserted / replaced cells (+ neighbours of deleted)
    changed_files: list[str] = field(default_factory=list)  # repository-relative POSIX paths the proposal patched
    settings: Any = None  # engine.settings.Settings: timeouts, modes, declared checks
    # a codex_nb.cancel.Cancel (or threading.Event): once set, a gate stops what it runs and fails as cancelled.
    # Gates run in worker threads, where an asyncio cancellation never reaches; they read ``is_set()``.
    cancel: Any = None

    @property
    def cwd(self) -> Path:
        return self.notebook_path.parent if self.notebook_path is not None else self.repo_root


@dataclass
class GateResult:
    gate: str  # "notebook", "tests", "checks", …
    ok: bool
    summary: str  # one line a person reads
    seconds: float = 0.0
    detail: dict = field(default_factory=dict)  # JSON-serialisable: what ran, what failed (reports, audit)
    repair_text: str = ""  # on failure: what the model reads to fix it (trimmed, redacted by the caller)

    def to_json(self) -> dict:
        return {"gate": self.gate, "ok": self.ok, "summary": self.summary, "seconds": round(self.seconds, 3),
                "detail": self.detail, "repair_text": self.repair_text}


class Gate(Protocol):
    name: str

    def applies(self, change: ChangeUnderTest) -> bool:
        """Whether this gate has anything to judge in ``change`` (e.g. the test gate needs patched files)."""

    def run(self, change: ChangeUnderTest, progress: Progress) -> GateResult:
        """Judge the change; blocking (the engine runs it in a worker thread). Never raises for a failing
        change — a crash of the gate itself may raise and is reported as a failure by the engine. A gate
        that runs for long watches ``change.cancel`` and, once it is set, ends what it started and fails."""
