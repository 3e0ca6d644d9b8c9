"""Undo of the last kept change of a notebook, from what the audit log recorded when it was kept.

The engine records a "kept" event per kept change (see README, "Project gates"):
``proposal_id``, ``notebook``, ``repo_root``, ``files`` and, when it was committed,
``commit``; when it was not, ``before`` (the record of :func:`before.snapshot`), and
``changed_cells`` / ``live`` for the notebook. A change kept with ``commit = "ask"`` and
committed later has a "committed" event with the same ``proposal_id`` and its ``commit``,
which counts as the kept change's commit. A committed change is undone with a
revert commit; an uncommitted one by putting the recorded before-state back; cells
changed in a notebook file are undone only when that file is part of the commit or
the before-state. Either way an "undone" event is recorded, and a change that
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
    committed = {e.get("proposal_id"): e.get("commit") for e in entries if e.get("event") == "committed" and e.get("commit")}
    kept = []
    for e in entries:
        if e.get("event") != "kept" or e.get("proposal_id") in undone:
            continue
        bases = [Path(e["repo_root"])] if e.get("repo_root") else []
        if _same_file(e.get("notebook"), target, bases + [Path.cwd()]):
            if not e.get("commit") and committed.get(e.get("proposal_id")):
                e = {**e, "commit": committed[e.get("proposal_id")]}  # committed later, from its offer
            kept.append(e)
    return kept[::-1]


def revert_kept(repo_root: str | os.PathLike, proposal_id: str, commit: str) -> str:
    """The revert commit of a kept change's commit (every undo door uses this one); its sha."""
    return revert_commit(repo_root, commit,
                         trailers=[("Codex-Proposal", str(proposal_id)), ("Codex-Undo", "revert of a kept change")])


def _applied_edits(notebook, proposal_id) -> list[int]:
    """The edit indexes the kept change applied (its "applied" entry), which the "undone" entry names."""
    applied = [e for e in audit.read(Path(notebook).resolve())
               if e.get("event") == "applied" and e.get("proposal_id") == proposal_id]
    return list(applied[-1].get("edits") or []) if applied else []


def undo_last(notebook: str | os.PathLike, source: str = "cli") -> dict:
    """Undo the newest kept change of ``notebook`` that is not undone yet; return the "undone" audit entry."""
    kept = pending_kept(notebook)
    if not kept:
        raise UsageProblem(f"nothing to undo for {notebook}: the audit log has no kept change of it that is not undone",
                           hint="see what happened with %codex history, or codex-nb undo on another notebook")
    entry = kept[0]
    target = Path(notebook).resolve()
    repo_root = Path(entry.get("repo_root") or target.parent)
    proposal_id = entry.get("proposal_id")
    if entry.get("changed_cells"):
        if entry.get("live"):
            raise UsageProblem(f"proposal {proposal_id} changed the notebook live in JupyterLab; its cells are undone there",
                               hint="use %codex undo in the notebook, or Edit → Undo")
        if not _covers(entry, repo_root, target):
            # undo is all or nothing, like apply: files back but cells still changed would be neither state
            raise UsageProblem(f"proposal {proposal_id} changed cells of {notebook}, and the audit log has no saved "
                               "copy of the notebook to put back", hint="undo the cells by hand (the proposal's diff is in "
                               "codex-nb audit), then the files with git")
    fields: dict = {"proposal_id": proposal_id, "source": source, "files": entry.get("files") or [],
                    "edits": _applied_edits(notebook, proposal_id)}
    if entry.get("commit"):
        fields["reverted_commit"] = entry["commit"]
        fields["commit"] = revert_kept(repo_root, proposal_id, entry["commit"])
    elif entry.get("before"):
        fields["restored"] = before_state.restore(repo_root, entry["before"])
    else:
        raise UsageProblem(f"proposal {proposal_id} was kept without a commit or a saved before-state, so it cannot be undone here",
                           hint="set c.CodexNB.commit = 'on' so that kept changes can be reverted")
    return audit.record("undone", target, notebook=entry.get("notebook"), **fields)


def _covers(entry: dict, repo_root: Path, target: Path) -> bool:
    """Whether the kept change's commit or saved before-state includes the notebook file itself."""
    if entry.get("commit"):
        from .commit import commit_files

        paths = commit_files(repo_root, entry["commit"])
    else:
        paths = list((entry.get("before") or {}).get("files", {}))
    return any(_same_file(p, target, [repo_root]) for p in paths)
