"""Checkpoints: the notebook (sources, outputs, ids, order) before each step, and the file changes it kept.

Rewinding puts the cells back exactly through the applier (``remove`` the cells
added since, ``restore`` every checkpoint cell whole, in order), and the files
through the engine's own record of what each kept step wrote (its undo entry's
``FileChange``: the bytes before the step, or the file's absence), restored
newest first so every file ends as it was before the earliest rewound step. A
rewind is reported done only once the notebook read back equals the checkpoint.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field


@dataclass
class Checkpoint:
    step: int
    cells: list  # deep copies of the nbformat cells
    kept: list = field(default_factory=list)  # engine UndoEntry of each change this step kept (its .files: a FileChange)

    @classmethod
    def of(cls, step: int, nb) -> "Checkpoint":
        return cls(step=step, cells=copy.deepcopy(list(nb.cells)))

    def note_kept(self, entry) -> None:
        """Remember a change the engine kept during this step (what a rewind past it must take back)."""
        self.kept.append(entry)


def same_cells(a: list, b: list) -> bool:
    return [_plain(c) for c in a] == [_plain(c) for c in b]


def _plain(cell) -> dict:
    return copy.deepcopy(dict(cell))


def rewind_ops(current, target: Checkpoint) -> list[dict]:
    keep = {c["id"] for c in target.cells}
    ops = [{"op": "remove", "cell_id": c["id"]} for c in current.cells if c["id"] not in keep]
    ops += [{"op": "restore", "index": i, "cell": copy.deepcopy(dict(c))} for i, c in enumerate(target.cells)]
    return ops


def kept_since(checkpoints: list[Checkpoint], step: int) -> list:
    """The undo entries of changes kept at or after ``step``, newest first (the order to take them back in)."""
    return [entry for cp in reversed(checkpoints) if cp.step >= step for entry in reversed(cp.kept)]
