"""How a terminal draws the engine's events (the CLI's apply, the terminal review): one line per event."""
from __future__ import annotations

import sys

from ..validate.progress import format_progress


def drift_lines(validated: dict) -> str | None:
    """The notebook gate's output drift (cell by cell, with a small old/new diff), or None when there is none."""
    from ..validate.report import ValidationReport

    detail = next((g.get("detail") for g in validated.get("gates", []) if g.get("gate") == "notebook"), None)
    report = ValidationReport.from_json(detail) if detail else None
    if report is None or not report.drift:
        return None
    return "Outputs changed in cells the edit did not touch:\n" + report.drift_text()


class TerminalEvents:
    def __init__(self, notebook, out=None, repair: int | None = None, repo=None, color: bool = False):
        self.notebook = notebook
        self.out = out or sys.stderr
        self.repair = repair
        self.repo = repo
        self.color = color
        self.events: list[dict] = []

    def __call__(self, event: dict) -> None:
        self.events.append(event)
        line = self.line(event)
        if line:
            print(line, file=self.out, flush=True)

    def line(self, event: dict) -> str | None:
        kind = event["type"]
        if kind == "progress":
            return format_progress(event["event"])
        if kind == "status" and event.get("notice"):
            return event["text"]
        if kind == "refused":
            return f"Not applied: {event['reason']}" + (f"\n  → {event['hint']}" if event.get("hint") else "")
        if kind == "validated" and event["ok"]:
            return drift_lines(event)
        if kind == "validated" and not event["ok"]:
            failed = next((g for g in event["gates"] if not g["ok"]), None)
            return f"Validation failed: {failed['summary'] if failed else event['summary']}"
        if kind == "rolled_back":
            failure = event["failure"] or {}
            text = "\n".join(failure.get("traceback") or [])
            head = (f"Rolled back: {self.notebook} and the patched files are exactly as before." if event["exact"]
                    else f"Rolled back, but not exactly: {event['reason']}")
            return f"{text}\n{head}" if text else head
        if kind == "repair_started":
            of = f" of {self.repair}" if self.repair else ""
            return f"Asking the model for a fix (attempt {event['attempt']}{of})…"
        if kind == "repair_proposed":
            from ..edits.diff import proposal_diffs, render_text
            from ..edits.model import Proposal
            from ..notebook_io import read_notebook

            fixed = Proposal.from_json(event["proposal"])
            diffs = proposal_diffs(read_notebook(self.notebook), fixed, self.repo)
            return f"Proposed fix (attempt {event['attempt']}):\n{render_text(diffs, color=self.color)}"
        if kind == "repair_failed":
            return f"The repair failed: {event['error']}"
        return None

    def closing_line(self, outcome, n_edits: int) -> str:
        notebook_report = next((g for g in outcome.gates if g["gate"] == "notebook"), None)
        summary = "; ".join(g["summary"] for g in outcome.gates)
        if outcome.status == "kept":
            if not outcome.validated:
                return f"Applied {n_edits} edit(s) to {self.notebook}."
            return f"Kept: {summary}"
        if outcome.status == "refused":
            return f"Not applied: {outcome.reason}"
        return f"Not applied: {summary or outcome.reason}" + ("" if notebook_report else "")
