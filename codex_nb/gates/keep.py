"""The last step of a kept change to repository files: a commit, or a saved before-state, and what to record.

The engine calls :func:`keep_fields` once every gate has passed and puts what it
returns into the audit log's "kept" event; :mod:`codex_nb.gates.undo` reads exactly
those fields back. Before applying, with commits on, it calls
:func:`codex_nb.gates.commit.check_clean` on the files it is about to write.
"""
from __future__ import annotations

import os

from ..engine.gates import GateResult
from . import before
from .commit import commit_kept
from .summary import commit_trailers, report_text, validation_line


def keep_fields(repo_root: str | os.PathLike, proposal_id: str, explanation: str, files: list[str],
                results: list[GateResult], *, commit: bool,
                contents: dict[str, tuple[bytes | None, bytes | None]] | None = None) -> dict:
    """Commit ``files`` (``commit``), or save their before-state from ``contents`` ({path: (before, after)}).

    Returns the fields of the "kept" audit event: ``repo_root``, ``files``, ``validation``
    (the Codex-Validation line), ``report`` (what ran), and ``commit`` (the sha) or
    ``before`` (the saved state). GitProblem propagates: the change stays applied, uncommitted.
    """
    fields: dict = {"repo_root": os.fspath(repo_root), "files": list(files), "validation": validation_line(results),
                    "report": report_text(results)}
    if commit and files:
        fields["commit"] = commit_kept(repo_root, files, explanation, commit_trailers(proposal_id, results))
    elif contents:
        fields["before"] = before.snapshot(repo_root, proposal_id, contents)
    return fields
