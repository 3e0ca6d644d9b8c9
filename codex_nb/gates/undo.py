"""Undo of the last kept change of a notebook, from what the audit log recorded when it was kept.

The engine records a "kept" event per kept change (see README, "Project gates"):
``proposal_id``, ``notebook``, ``repo_root``, ``files`` and, when it was committed,
``commit``; when it was not, ``before`` (the record of :func:`before.snapshot`). A
committed change is undone with a revert commit; an uncommitted one by putting the
recorded before-state back. Either way an "undo" event is recorded, and a change that
was undone is not undone twice: the next undo takes the kept change before it.
"""
from __future__ import annotations

import os
from pathlib import Path

from .. import audit
from ..errors import UsageProblem
from . import before as before_state
from .commit import revert_commit


def _same_file(recorded: str | None, target: Path, bases: list[Path]) -> bool:
    if not recorded:
        return False
    p = Path(recorded)
    candidates = [p] if p.is_absolute() else [b / p for b in bases]
    return any(c.resolve() == target for c in candidates)


def pending_kept(notebook: str | os.PathLike) -> list[dict]:
    """The notebook's kept changes that have not been undone, newest first."""
    target = Path(notebook).resolve()
    entries = audit.read(target)
    undone = {e.get("proposal_id") for e in entries if e.get("event") == "undone"}
    kept = []
    for e in entries:
        if e.get("event") != "kept" or e.get("proposal_id") in undone:
            continue
        bases = [Path(e["repo_root"])] if e.get("repo_root") else []
        if _same_file(e.get("notebook"), target, bases + [Path.cwd()]):
            kept.append(e)
    return kept[::-1]


def undo_last(notebook: str | os.PathLike, source: str = "cli") -> dict:
    """Undo the newest kept change of ``notebook`` that is not undone yet; return the "undo" audit entry."""
    kept = pending_kept(notebook)
    if not kept:
        raise UsageProblem(f"nothing to undo for {notebook}: the audit log has no kept change of it that is not undone",
                           hint="see what happened with %codex history, or codex-nb undo on another notebook")
    entry = kept[0]
    repo_root = Path(entry.get("repo_root") or Path(notebook).resolve().parent)
    proposal_id = entry.get("proposal_id")
    if entry.get("live") and entry.get("changed_cells"):
        raise UsageProblem(f"proposal {proposal_id} changed the notebook live in JupyterLab; its cells are undone there",
                           hint="use %codex undo in the notebook, or Edit → Undo")
    fields: dict = {"proposal_id": proposal_id, "source": source, "files": entry.get("files", [])}
    if entry.get("commit"):
        fields["reverted_commit"] = entry["commit"]
        fields["commit"] = revert_commit(repo_root, entry["commit"],
                                         trailers=[("Codex-Proposal", str(proposal_id)), ("Codex-Undo", "revert of a kept change")])
    elif entry.get("before"):
        fields["restored"] = before_state.restore(repo_root, entry["before"])
    else:
        raise UsageProblem(f"proposal {proposal_id} was kept without a commit or a saved before-state, so it cannot be undone here",
                           hint="set c.CodexNB.commit = 'on' so that kept changes can be reverted")
    return audit.record("undone", Path(notebook).resolve(), notebook=entry.get("notebook"), **fields)
