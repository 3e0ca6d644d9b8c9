"""Plain-text review for a terminal IPython, and the no-extension fallback shared with the widgets.

A terminal has no live notebook to change. With ``--notebook PATH`` accepted
edits go through the engine into that file, exactly as ``codex-nb apply`` does;
without one, the new code goes to the next input prompt.
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


def review_in_terminal(proposal, nb, *, engine, notebook_path: str | None, ask: Callable[[str], str] | None = None,
                       out: Callable[[str], None] = print, set_next_input: Callable[[str], None] | None = None,
                       color: bool = True) -> list[int]:
    """Ask y/n per edit; accept the chosen ones through the engine (into the file); return their indexes."""
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
    rejected = [d["edit_index"] for d in diffs if d["edit_index"] not in accepted]
    if rejected:
        engine.reject(proposal, rejected, notebook=notebook_path)
    if not accepted:
        out("Nothing applied.")
        return []
    if notebook_path is None:
        subset = dataclasses.replace(proposal, edits=tuple(proposal.edits[i] for i in accepted))
        code, missed = fallback_cell(subset, [d for d in diffs if d["edit_index"] in accepted])
        if code and set_next_input is not None:
            set_next_input(code)
        out(("The proposed code is at the next prompt: review it, then press Enter. " if code else "")
            + (f"Not applied, do it by hand: {'; '.join(missed)}." if missed else ""))
        audit.record("fallback", ".", source="kernel", notebook=None, proposal_id=proposal.id, inserted=bool(code),
                     missed=missed)
        return accepted
    return accepted if _accept_into_file(engine, notebook_path, proposal, accepted, out, color, ask) else []


def _accept_into_file(engine, path, proposal, accepted, out, color, ask=None) -> bool:
    """The engine, with the file applier; True when the change was kept."""
    from ..cli.engine_events import TerminalEvents
    from ..engine import FileApplier, run_sync
    from ..errors import EditRefused
    from ..open_sessions import refuse_if_open

    try:
        refuse_if_open(path)
    except EditRefused as exc:
        out(f"Not applied: {exc}")
        return False
    view = TerminalEvents(path, color=color)
    view.out = _Printer(out)
    outcome = run_sync(engine.accept(proposal, FileApplier(path), accepted, emit=view))
    out(view.closing_line(outcome, len(accepted)))
    if outcome.commit_offer is not None:  # commit = "ask": the same question as codex-nb apply on a terminal
        from ..cli.commit_prompt import offer_commit

        offer_commit(outcome, ask=ask, say=out, commit=lambda: run_sync(engine.commit_offered(outcome)))
    return outcome.kept


class _Printer:
    """A file-like object over the door's ``out`` function (tests pass their own)."""

    def __init__(self, out):
        self.out = out

    def write(self, text: str) -> None:
        if text.strip():
            self.out(text.rstrip("\n"))

    def flush(self) -> None:
        pass
