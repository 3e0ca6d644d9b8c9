"""``%codex notebook PATH "description"``: generate a new notebook, write it, validate it.

A new file has no editor open on it, so it is written directly (atomically).
If the fresh-kernel run fails, the file is removed again — the same "keep
only what runs" rule as for edits — and the failure and the proposed cells are shown.
"""
from __future__ import annotations

from pathlib import Path

from .. import audit
from ..errors import UsageProblem


def new_notebook(session, req):
    import nbformat

    from ..config import load_config
    from ..edits.live_ops import apply_proposal
    from ..notebook_io import write_notebook
    from .run import call_model

    if len(req.words) < 2:
        raise UsageProblem("%codex notebook needs a path and a description",
                           hint='%codex notebook analysis/orders.ipynb "load orders.csv and plot monthly revenue"')
    target = Path(req.words[0]).expanduser()
    description = " ".join(req.words[1:])
    if target.suffix != ".ipynb":
        raise UsageProblem(f"{target} is not a .ipynb path", hint="give the new notebook a name ending in .ipynb")
    if target.exists():
        raise UsageProblem(f"{target} already exists", hint="choose a new path, or delete the file first")
    if not target.parent.is_dir():
        raise UsageProblem(f"the directory {target.parent} does not exist", hint="create it first, or choose another path")
    empty = nbformat.v4.new_notebook()
    empty.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    result, stream = call_model(session, "notebook", description, req, None, empty, None, None, None)
    proposal = result.proposal
    made, _undo = apply_proposal(empty, proposal)
    write_notebook(target, made)
    audit.record("apply", target, notebook=str(target.resolve()), proposal_id=proposal.id, decision="accepted",
                 edits=[e.op for e in proposal.edits], new_notebook=True)
    config = load_config()
    validate = config.validate if req.validate is None else req.validate
    report = _validate(session, target, validate, stream)
    if report is not None and not report.ok:
        target.unlink()
        audit.record("rollback", target, notebook=str(target.resolve()), proposal_id=proposal.id, ok=True)
    _show(session, stream, target, proposal, empty, report, len(made.cells))
    return None


def _validate(session, target: Path, validate: bool, stream):
    if not validate:
        return None
    validator = session.validator
    if validator is None:
        from ..validate import validate_notebook as validator
    progress = _Progress(session)
    report = validator(str(target), mode="full", progress=progress)
    audit.record("validate", target, notebook=str(target.resolve()), ok=report.ok, failed=report.failed, mode="full")
    return report


class _Progress:
    """Per-cell progress while the new notebook runs (the cell is still executing, so a display updates)."""

    def __init__(self, session):
        self.terminal = session.frontend() == "terminal"
        self.marks: dict[str, str] = {}
        self.order: list[str] = []
        self.handle = None

    def __call__(self, event: dict) -> None:
        from ..widgets.render import progress_html

        kind = event["type"]
        if kind == "start":
            self.order = list(event.get("cells") or [])
            self.marks = {c: "queued" for c in self.order}
        elif kind in ("cell_start", "cell_done", "cell_error"):
            self.marks[event.get("cell_id")] = {"cell_start": "running", "cell_done": "done", "cell_error": "error"}[kind]
        else:
            return
        if self.terminal:
            if kind != "cell_start" and kind != "start":
                print(f"  {kind} {event.get('cell_id')}")
            return
        from IPython.display import HTML, display

        html = HTML(progress_html(self.marks, self.order))
        if self.handle is None:
            self.handle = display(html, display_id=True)
        else:
            self.handle.update(html)


def _show(session, stream, target: Path, proposal, empty, report, n_cells: int) -> None:
    from ..edits.diff import proposal_diffs, render_text
    from ..widgets.render import escape, proposal_html, report_html

    if report is None:
        head = f"Wrote {target} ({n_cells} cells); not validated."
    elif report.ok:
        head = f"Wrote {target} ({n_cells} cells); it runs top to bottom in a fresh kernel."
    else:
        head = f"The generated notebook failed in a fresh kernel, so {target} was not kept."
    if session.frontend() == "terminal":
        stream.finish()
        print(head)
        if report is not None and not report.ok:
            print(report.failure_text())
            print(render_text(proposal_diffs(empty, proposal)))
        return
    from IPython.display import HTML

    body = f"<div class='codex-notebook-result'><b>{escape(head)}</b></div>"
    if report is not None:
        body += report_html(report, report.failure_text())
    if report is not None and not report.ok:
        body += proposal_html(proposal.explanation, proposal_diffs(empty, proposal))
    stream.finish(HTML(body))
