"""``%codex notebook PATH "description"``: generate a new notebook, write it, validate it.

The engine writes the new file (atomically), validates it with a full run, and
removes it again if that fails; the failure and the proposed cells are shown.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import UsageProblem


def new_notebook(session, req):
    from ..engine import FileApplier, build_engine, run_sync
    from ..engine.appliers import empty_notebook
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
    empty = empty_notebook()
    result, stream = call_model(session, "notebook", description, req, None, empty, None, None, None)
    proposal = result.proposal
    # A new file has no editor open on it: the engine writes it (file applier, creating it), re-runs it
    # top to bottom, and removes it again if it fails — the same "keep only what runs" rule as for edits.
    engine = build_engine(source="kernel", anchor=target.resolve(), repo_root=req.repo, validator=session.validator,
                          history=session.history, validate=req.validate, validate_mode="full", model=req.model)
    progress = _Progress(session)

    def on_event(event: dict) -> None:
        if event["type"] == "progress":
            progress(event["event"])

    outcome = run_sync(engine.accept(proposal, FileApplier(target.resolve(), create=True), emit=on_event))
    report = _notebook_report(outcome)
    made = len(proposal.cell_edits)
    _show(session, stream, target, proposal, empty, report, made, outcome)
    return None


def _notebook_report(outcome):
    from ..validate.api import ValidationReport

    detail = next((g["detail"] for g in outcome.gates if g["gate"] == "notebook"), None)
    return ValidationReport.from_json(detail) if detail else None


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


def _show(session, stream, target: Path, proposal, empty, report, n_cells: int, outcome) -> None:
    from ..edits.diff import proposal_diffs, render_text
    from ..widgets.render import escape, proposal_html, report_html

    if outcome.status == "refused":
        head = f"Could not write {target}: {outcome.reason}"
    elif report is None:
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
