"""Plain-text review for a terminal IPython, and the no-extension fallback shared with the widgets.

A terminal has no live notebook to change. With ``--notebook PATH`` accepted
edits are applied to that file (all or nothing), validated, and rolled back
on failure, as ``codex-nb apply`` does; without one, the new code goes to the
next input prompt.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from .. import audit
from ..edits.diff import proposal_diffs, render_text


def fallback_cell(proposal, diffs: list[dict]) -> tuple[str, list[str]]:
    """(code for one new cell, what could not be applied) when edits cannot reach the notebook."""
    parts, missed = [], []
    for d in diffs:
        edit = proposal.edits[d["edit_index"]]
        code = d["op"] in ("insert", "replace") and (getattr(edit, "cell_type", None) or "code") == "code"
        if code:
            parts.append(f"# codex-nb edit {d['edit_index'] + 1}: {d['title']}\n{d['new'].rstrip()}")
        if d["op"] != "insert" or not code:
            missed.append(f"edit {d['edit_index'] + 1} ({d['title']})")
    return "\n\n".join(parts), missed


def fallback_note(missed: list[str], inserted: bool) -> str:
    head = ("The codex-nb JupyterLab extension is not active here, so the notebook cannot be edited in place. "
            + ("The proposed code was sent to a new cell below (where the front end supports that); "
               "review and run it. " if inserted else ""))
    return head + (f"Not applied, do it by hand: {'; '.join(missed)}." if missed else "")


def review_in_terminal(proposal, nb, *, notebook_path: str | None, ask: Callable[[str], str] | None = None,
                       out: Callable[[str], None] = print, set_next_input: Callable[[str], None] | None = None,
                       validate: bool = True, mode: str = "targeted", validator: Callable | None = None,
                       history: list | None = None, color: bool = True) -> list[int]:
    """Ask y/n per edit; apply the accepted ones; return their indexes."""
    ask = ask or input  # looked up now, so a patched or replaced input() is the one asked
    diffs = proposal_diffs(nb, proposal)
    out(proposal.explanation.strip())
    if not diffs:
        return []
    out(render_text(diffs, color=color))
    accepted: list[int] = []
    for d in diffs:
        answer = (ask(f"Accept edit {d['edit_index'] + 1}? [y]es/[n]o/[a]ll/[q]uit ") or "n").strip().lower()[:1]
        if answer == "a":
            accepted.extend(x["edit_index"] for x in diffs if x["edit_index"] >= d["edit_index"])
            break
        if answer == "q":
            break
        if answer == "y":
            accepted.append(d["edit_index"])
    anchor = notebook_path or "."
    rejected = [d["edit_index"] for d in diffs if d["edit_index"] not in accepted]
    if rejected:
        audit.record("reject", anchor, notebook=notebook_path, proposal_id=proposal.id, edits=rejected, decision="rejected")
    if not accepted:
        out("Nothing applied.")
        return []
    subset = dataclasses.replace(proposal, edits=tuple(proposal.edits[i] for i in accepted))
    if notebook_path is None:
        code, missed = fallback_cell(subset, [d for d in diffs if d["edit_index"] in accepted])
        if code and set_next_input is not None:
            set_next_input(code)
        out(("The proposed code is at the next prompt: review it, then press Enter. " if code else "")
            + (f"Not applied, do it by hand: {'; '.join(missed)}." if missed else ""))
        audit.record("accept", anchor, notebook=None, proposal_id=proposal.id, edits=accepted, decision="accepted", live=False)
        return accepted
    if not _apply_to_file(notebook_path, proposal, subset, accepted, out, validate, mode, validator, history):
        return []
    return accepted


def _apply_to_file(path, proposal, subset, accepted, out, validate, mode, validator, history) -> bool:
    """Write the accepted edits (then validate if asked); False if the file could not be written."""
    from ..assistant import apply_proposal
    from ..errors import EditRefused
    from ..open_sessions import refuse_if_open

    try:
        refuse_if_open(path)
    except EditRefused as exc:
        out(f"Not applied: {exc}")
        return False
    change = apply_proposal(path, subset)
    audit.record("accept", path, notebook=path, proposal_id=proposal.id, edits=accepted, decision="accepted", live=False)
    if history is not None:
        history.append({"notebook": path, "proposal_id": proposal.id, "edits": accepted, "change": change})
    out(f"Applied {len(accepted)} edit(s) to {path}.")
    if not validate:
        return True
    if validator is None:
        from ..validate import validate_notebook as validator
    report = validator(path, changed=change.changed_cell_ids, mode=mode, previous=change.before,
                       progress=lambda e: out(f"  {e['type']} {e.get('cell_id') or ''}".rstrip())
                       if e["type"] in ("cell_done", "cell_error") else None)
    audit.record("validate", path, notebook=path, proposal_id=proposal.id, ok=report.ok, failed=report.failed)
    out(report.summary())
    if not report.ok:
        change.rollback()
        if history is not None and history and history[-1].get("change") is change:
            history.pop()
        audit.record("rollback", path, notebook=path, proposal_id=proposal.id, edits=accepted, ok=True)
        out(f"Rolled back {path}: it is exactly as before.\n{report.failure_text()}")
    return True
