"""What a validator ("gate") sees and answers: the one interface every check behind the engine implements.

The engine applies a proposal, then runs each gate that applies to the change
(the notebook re-run, the project's tests, declared checks). A gate never
applies or rolls anything back itself: it only judges the change in front of
it and says why, in a form that the widget, the panel, the CLI, the audit log
and the repair prompt can each use.
"""
from __future__ import annotations

import threading
import time
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
    cancel: Any = None  # a Cancel (or threading.Event): once set, a gate stops what it runs and fails as cancelled

    @property
    def cwd(self) -> Path:
        return self.notebook_path.parent if self.notebook_path is not None else self.repo_root


class Cancel:
    """Stop for one acceptance: set by the engine when its task is cancelled, or through the door's own token.

    Gates run in worker threads, where an asyncio cancellation never reaches; they read
    ``is_set()`` instead (it looks like a ``threading.Event`` to them and to the providers).
    The door's token is only read, never set: it may be shared (an agent run's Stop).
    """

    def __init__(self, door=None):
        self._own = threading.Event()
        self._door = door

    def set(self) -> None:
        self._own.set()

    def is_set(self) -> bool:
        return self._own.is_set() or (self._door is not None and self._door.is_set())

    def wait(self, timeout: float | None = None) -> bool:
        """As ``threading.Event.wait`` (a provider's back-off sleeps on it); the door's token is read every 50 ms."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self._own.wait(0.05 if left is None else min(0.05, left))
        return True


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
