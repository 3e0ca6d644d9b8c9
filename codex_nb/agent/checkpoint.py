"""Checkpoints: the notebook (sources, outputs, ids, order) and the patched files before each step.

Rewinding puts them back exactly through the applier (``remove`` the cells added
since, ``restore`` every checkpoint cell whole, in order) and the files byte for
byte, then reads the notebook back: a rewind is reported done only once the
notebook read back equals the checkpoint.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EditRefused
from ..notebook_io import atomic_write_bytes


@dataclass
class Checkpoint:
    step: int
    cells: list  # deep copies of the nbformat cells
    files: dict[str, bytes | None] = field(default_factory=dict)  # absolute path -> bytes before this step (None: absent)

    @classmethod
    def of(cls, step: int, nb) -> "Checkpoint":
        return cls(step=step, cells=copy.deepcopy(list(nb.cells)))

    def note_files(self, paths) -> None:
        """Remember the bytes of files a step is about to patch (only the first time: they are the "before")."""
        for path in paths:
            key = str(path)
            if key not in self.files:
                p = Path(path)
                self.files[key] = p.read_bytes() if p.exists() else None


def same_cells(a: list, b: list) -> bool:
    return [_plain(c) for c in a] == [_plain(c) for c in b]


def _plain(cell) -> dict:
    return copy.deepcopy(dict(cell))


def rewind_ops(current, target: Checkpoint) -> list[dict]:
    keep = {c["id"] for c in target.cells}
    ops = [{"op": "remove", "cell_id": c["id"]} for c in current.cells if c["id"] not in keep]
    ops += [{"op": "restore", "index": i, "cell": copy.deepcopy(dict(c))} for i, c in enumerate(target.cells)]
    return ops


def files_to_restore(checkpoints: list[Checkpoint], step: int) -> dict[str, bytes | None]:
    """For every file patched at or after ``step``: its bytes before the earliest such patch."""
    out: dict[str, bytes | None] = {}
    for cp in checkpoints:
        if cp.step < step:
            continue
        for path, data in cp.files.items():
            out.setdefault(path, data)
    return out


def restore_files(files: dict[str, bytes | None]) -> None:
    for path, data in files.items():
        p = Path(path)
        if data is None:
            p.unlink(missing_ok=True)
        else:
            atomic_write_bytes(p, data)
            if p.read_bytes() != data:
                raise EditRefused(f"{p} could not be restored exactly", hint="restore it from version control")
