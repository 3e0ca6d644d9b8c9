"""Applying a proposal to files on disk: all or nothing, with an exact undo.

Everything is computed in memory first (new notebook, new file contents);
only then are files written, each atomically. If a write fails half-way,
the files already written are put back. ``AppliedChange.rollback()``
restores every touched file byte-for-byte, which is what validation uses
when an accepted edit breaks the notebook.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..notebook_io import atomic_write_bytes, find_repo_root, notebook_text, parse_notebook
from .files import plan_file_edits
from .live_ops import apply_ops, inverse_ops, proposal_ops, touched_cell_ids
from .model import Proposal


@dataclass
class AppliedChange:
    notebook_path: Path
    proposal: Proposal
    notebook: nbformat.NotebookNode  # the notebook after the change
    before: nbformat.NotebookNode
    undo_ops: list[dict]
    originals: dict[Path, bytes | None] = field(default_factory=dict)  # None: the file did not exist

    @property
    def changed_cell_ids(self) -> list[str]:
        """Inserted and replaced cells, plus the neighbours of deleted ones (what a re-run must cover)."""
        return touched_cell_ids(self.before, self.proposal)

    @property
    def changed_files(self) -> list[Path]:
        return [p for p in self.originals if p != self.notebook_path]

    def rollback(self) -> None:
        """Put every touched file back exactly as it was."""
        _restore(self.originals)


def apply_to_disk(notebook_path: str | os.PathLike, proposal: Proposal, repo_root: str | os.PathLike | None = None,
                  dry_run: bool = False) -> AppliedChange:
    nb_path = Path(notebook_path)
    original = nb_path.read_bytes()
    before = parse_notebook(original.decode("utf-8"), origin=str(nb_path))
    ops = proposal_ops(before, proposal)
    after = apply_ops(before, ops)
    root = Path(repo_root) if repo_root else find_repo_root(nb_path)
    plan = plan_file_edits(root, proposal.file_edits)
    change = AppliedChange(nb_path, proposal, after, before, inverse_ops(before, ops))
    if dry_run:
        return change
    writes: dict[Path, bytes] = {}
    if proposal.cell_edits:
        writes[nb_path] = notebook_text(after).encode("utf-8")
        change.originals[nb_path] = original
    for path, (old, new) in plan.items():
        writes[path] = new
        change.originals[path] = old
    done: dict[Path, bytes | None] = {}
    try:
        for path, data in writes.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            done[path] = change.originals[path]
            atomic_write_bytes(path, data)
    except BaseException:
        _restore(done)
        raise
    return change


def _restore(originals: dict[Path, bytes | None]) -> None:
    for path, data in originals.items():
        if data is None:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        else:
            atomic_write_bytes(path, data)
