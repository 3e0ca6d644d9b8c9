"""The proposal widget: one card per edit with a diff and Accept / Reject / Accept & Run / Edit.

Buttons carry stable CSS classes (``codex-accept``, ``codex-reject``,
``codex-accept-run``, ``codex-edit``, ``codex-accept-all``, ``codex-reject-all``,
``codex-fix``) for tests and for users' own styling. The widget's MIME bundle
also holds static HTML and plain text, so nbconvert, papermill output and
a notebook opened without the widget manager still show the proposal.
"""
from __future__ import annotations

import dataclasses
import weakref
from typing import Callable

import ipywidgets as W

from ..edits.diff import proposal_diffs, render_text
from .apply import Acceptance, ApplyContext
from .render import card_title_html, diff_html, escape, note_html, progress_html, proposal_html, report_html


def _button(label: str, cls: str, style: str = "") -> W.Button:
    b = W.Button(description=label, button_style=style, layout=W.Layout(width="auto"))
    b.add_class(cls)
    return b


class Card(W.VBox):
    """One edit: title, diff, buttons, and an editor for changing the proposed source before accepting."""

    def __init__(self, review: "ReviewWidget", index: int, diff: dict, actions: bool):
        self.review, self.index, self.diff, self.state = review, index, diff, "pending"
        self.title = W.HTML(card_title_html(diff))
        self.body = W.HTML(diff_html(diff))
        self.accept = _button("Accept", "codex-accept", "success")
        self.reject = _button("Reject", "codex-reject")
        self.accept_run = _button("Accept & Run", "codex-accept-run")
        self.edit = _button("Edit", "codex-edit")
        self.editor = W.Textarea(value=diff["new"], layout=W.Layout(width="100%", height="10em", display="none"))
        self.editor.add_class("codex-edit-area")
        self.save = _button("Use edited source", "codex-edit-save")
        self.save.layout.display = "none"
        self.accept.on_click(lambda _: review.accept([index]))
        self.accept_run.on_click(lambda _: review.accept([index], run=True))
        self.reject.on_click(lambda _: review.reject([index]))
        self.edit.on_click(lambda _: self._toggle_editor())
        self.save.on_click(lambda _: review.replace_source(index, self.editor.value))
        self.buttons = W.HBox([self.accept, self.accept_run, self.reject, self.edit])
        if diff["op"] in ("delete", "patch_file"):
            self.edit.disabled = self.accept_run.disabled = True
        if not actions:
            self.buttons.layout.display = "none"
        super().__init__([self.title, self.body, self.buttons, self.editor, self.save])
        self.add_class("codex-card")

    def _toggle_editor(self) -> None:
        shown = self.editor.layout.display != "none"
        self.editor.layout.display = self.save.layout.display = "none" if shown else ""

    def set_state(self, state: str) -> None:
        self.remove_class(f"codex-card-{self.state}")
        self.state = state
        self.add_class(f"codex-card-{state}")
        self.title.value = card_title_html(self.diff, state)
        decided = state in ("accepted", "rejected", "undone")
        for b in (self.accept, self.accept_run, self.reject, self.edit):
            b.disabled = decided or (b in (self.edit, self.accept_run) and self.diff["op"] in ("delete", "patch_file"))

    def update_diff(self, diff: dict) -> None:
        self.diff = diff
        self.body.value = diff_html(diff)
        self.title.value = card_title_html(diff, self.state)


# Open proposal widgets by proposal id: `%codex undo` runs in another cell, and the card it takes back
# must say "undone" (weak: a widget the page closed is not kept alive for this).
_OPEN: "weakref.WeakValueDictionary[str, ReviewWidget]" = weakref.WeakValueDictionary()

UNDO_HINT = ("Undo: the Undo button here or `%codex undo` (this card then says undone). "
             "Z in command mode also takes the cells back, but this card cannot see that.")


def mark_undone(proposal_id: str, edits: list[int]) -> None:
    """Tell the proposal's widget (if it is still open) that the engine took ``edits`` back."""
    view = _OPEN.get(proposal_id)
    if view is not None:
        view.undone(list(edits))


class ReviewWidget(W.VBox):
    def __init__(self, proposal, nb, ctx: ApplyContext, *, note: str = "", actions: bool = True,
                 on_fix: Callable | None = None):
        self.proposal, self.nb, self.ctx, self.on_fix = proposal, nb, ctx, on_fix
        self.diffs = proposal_diffs(nb, proposal)
        self.busy = False
        self.acceptance: Acceptance | None = None
        self.report = None  # the notebook validation of the newest acceptance
        self.failure: dict | None = None
        self.events: list[dict] = []
        self.note = note
        self.explanation = W.HTML(f"<div style='white-space:pre-wrap'>{escape(proposal.explanation)}</div>")
        self.explanation.add_class("codex-explanation")
        self.notice = W.HTML(note_html(note, "codex-fallback", "warn") if note else "")
        self.notice.add_class("codex-notice")
        self.cards = [Card(self, i, d, actions) for i, d in enumerate(self.diffs)]
        self.accept_all = _button("Accept all", "codex-accept-all", "success")
        self.reject_all = _button("Reject all", "codex-reject-all")
        self.accept_all.on_click(lambda _: self.accept(self._pending()))
        self.reject_all.on_click(lambda _: self.reject(self._pending()))
        # Undo takes this proposal's kept change back through the engine; Redo accepts the same edits
        # again (a new acceptance: planned against the notebook as it is, validated, audited).
        self.undo_button = _button("Undo", "codex-undo-button")
        self.redo_button = _button("Redo", "codex-redo-button")
        self.undo_button.on_click(lambda _: self.undo())
        self.redo_button.on_click(lambda _: self.redo())
        self.undo_button.layout.display = self.redo_button.layout.display = "none"
        self.undone_edits: list[int] = []
        # commit = "ask": the kept change's offered commit, made by the engine when the person clicks
        self.commit_button = _button("Commit", "codex-commit")
        self.commit_button.on_click(lambda _: self.commit())
        self.commit_button.layout.display = "none"
        self.committing = None  # the engine's commit, a future on the kernel's engine loop
        toolbar = W.HBox([self.accept_all, self.reject_all, self.undo_button, self.redo_button, self.commit_button])
        if not actions or not self.cards:
            toolbar.layout.display = "none"
        self.bar = W.IntProgress(value=0, min=0, max=1, layout=W.Layout(display="none"))
        self.bar.add_class("codex-progress")
        self.cell_marks: dict[str, str] = {}
        self.cell_names: dict[str, str] = {}
        self.cell_order: list[str] = []
        self.cells = W.HTML("")
        self.badge = W.HTML("")
        self.badge.add_class("codex-validation")
        self.fix = _button("Fix", "codex-fix", "warning")
        self.fix.layout.display = "none"
        self.fix.layout.align_self = "flex-start"  # a VBox stretches its children; a button should not
        self.fix.on_click(lambda _: self._fix())
        self.followup = W.VBox([])
        # Output of Accept & Run: a button callback's output reaches the page only through an Output widget.
        self.output = W.Output()
        self.output.add_class("codex-run-output")
        super().__init__([self.explanation, *self.cards, toolbar, self.notice, self.output, self.bar, self.cells,
                          self.badge, self.fix, self.followup])
        self.add_class("codex-review")
        _OPEN[proposal.id] = self

    # -- static fallback ----------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["text/html"] = proposal_html(self.proposal.explanation, self.diffs, self.note)
        bundle["text/plain"] = f"{self.proposal.explanation}\n\n{render_text(self.diffs)}"
        return bundle

    # -- decisions ----------------------------------------------------------------
    def _pending(self) -> list[int]:
        return [c.index for c in self.cards if c.state in ("pending", "rolled_back")]

    def _busy(self) -> bool:
        """True (and says so) while the previous decision is still being applied or validated."""
        if self.busy:
            self._say("Still applying or validating the previous decision; try again when it is done.")
        return self.busy

    def accept(self, indexes: list[int], run: bool = False) -> None:
        if self._busy() or not indexes:
            return
        self.busy = True
        self.acceptance = Acceptance(self.ctx, self.proposal, indexes, self._on_event,
                                     run=(self._run_code if self.ctx.run_code else True) if run else False)
        self.acceptance.start()

    def _run_code(self, source: str) -> None:
        with self.output:
            self.ctx.run_code(source)

    def reject(self, indexes: list[int]) -> None:
        if self._busy() or not indexes:
            return
        for i in indexes:
            self.cards[i].set_state("rejected")
        self._refresh_toolbar()
        self.ctx.engine.reject(self.proposal, list(indexes), notebook=self.ctx.notebook_path)

    def replace_source(self, index: int, source: str) -> None:
        """Edit: the person's version of the new source replaces the model's before accepting."""
        edits = list(self.proposal.edits)
        edits[index] = dataclasses.replace(edits[index], source=source)
        self.proposal = dataclasses.replace(self.proposal, edits=tuple(edits))
        self.diffs = proposal_diffs(self.nb, self.proposal)
        self.cards[index].update_diff(self.diffs[index])

    # -- events from the engine (its loop's thread, or a validation worker) ---------------------
    def _on_event(self, event: dict) -> None:
        self.events.append(event)
        handler = getattr(self, f"_on_{event['type']}", None)
        if handler is not None:
            handler(event)

    def _on_status(self, event: dict) -> None:
        self._say(event["text"])

    def _on_refused(self, event: dict) -> None:
        self.busy = False
        extra = (" Nothing was changed; the new code is in the card (Edit shows it as text to copy)."
                 if event.get("no_frontend") else " Nothing was changed.")
        hint = f" ({event['hint']})" if event.get("hint") else ""
        self._say(f"Could not apply: {event['reason']}{hint}.{extra}", "codex-refused", "error")
        if self.acceptance is not None and any(self.cards[i].state == "undone" for i in self.acceptance.indexes):
            self.undone_edits = list(self.acceptance.indexes)
            self.redo_button.disabled = False

    def _on_applied(self, event: dict) -> None:
        for i in self.acceptance.indexes:
            self.cards[i].set_state("accepted")
        self._refresh_toolbar()
        self._say("Applied to the notebook as one change." + (" Validating…" if self.ctx.validate else ""))

    def _on_progress(self, event: dict) -> None:
        step = event["event"]
        kind = step.get("type")
        if kind == "start":
            self.cell_order = list(step.get("cells") or [])
            self.cell_marks = {c: "queued" for c in self.cell_order}
            self.cell_names = self._names()  # once per run: the notebook as the edit leaves it
            self.bar.max, self.bar.value, self.bar.layout.display = max(1, step.get("total") or 0), 0, ""
            self.cells.value = progress_html(self.cell_marks, self.cell_order, self.cell_names)
        elif kind in ("cell_start", "cell_done", "cell_error"):
            cid = step.get("cell_id")
            self.cell_marks[cid] = {"cell_start": "running", "cell_done": "done", "cell_error": "error"}[kind]
            if kind != "cell_start":
                self.bar.value = min(self.bar.max, self.bar.value + 1)
            self.cells.value = progress_html(self.cell_marks, self.cell_order, self.cell_names)

    def _on_validated(self, event: dict) -> None:
        self.report = notebook_report(event)
        if self.report is not None:
            self.badge.value = report_html(self.report, "" if event["ok"] else self.report.failure_text())
        else:
            self.badge.value = f"<div class='codex-validation'>{escape(event['summary'])}</div>"

    def _on_kept(self, event: dict) -> None:
        self.busy = False
        if not self.ctx.validate:
            self.badge.value = "<div class='codex-validation-skipped'>applied; not validated</div>"
        self._say(("Applied and kept. " if self.ctx.validate else "Applied (validation is off). ") + UNDO_HINT)
        self.undo_button.layout.display = ""
        self.undo_button.disabled = False
        self.redo_button.layout.display = "none"
        offer = event.get("commit_offer")
        self.commit_button.layout.display = "" if offer else "none"
        self.commit_button.disabled = False
        if offer:
            files = offer["files"]
            self.commit_button.tooltip = f"Commit {len(files)} file(s): {', '.join(files)}"
            self._say(("Applied and kept. " if self.ctx.validate else "Applied (validation is off). ")
                      + f"Commit makes it one commit of {', '.join(files)} (commit = 'ask'). " + UNDO_HINT)

    # -- commit = "ask" ---------------------------------------------------------------------------
    def commit(self) -> None:
        """Commit the kept change as offered, through the engine (refused if its files changed since)."""
        from .apply import commit_offered

        if self._busy():
            return
        outcome = self.acceptance.outcome if self.acceptance is not None else None
        if outcome is None or outcome.commit_offer is None:
            self._say("There is no commit to make for this card.", "codex-commit-refused", "warn")
            return
        self.busy = True
        self.commit_button.disabled = True
        self._say("Committing…")
        self.committing = commit_offered(self.ctx, outcome, self._on_committed, self._on_commit_refused)

    def _on_committed(self, sha: str, files: list[str]) -> None:
        self.busy = False
        self.commit_button.layout.display = "none"
        self._say(f"Committed {sha[:12]}: {', '.join(files)}. Undo reverts it with a revert commit.", "codex-committed")

    def _on_commit_refused(self, message: str, hint: str) -> None:
        self.busy = False
        self.commit_button.disabled = False
        self._say(f"Not committed: {message}" + (f" ({hint})" if hint else ""), "codex-commit-refused", "error")

    def _on_rolled_back(self, event: dict) -> None:
        self.busy = False
        self.failure = event["failure"]
        if event["exact"]:
            for i in self.acceptance.indexes:
                self.cards[i].set_state("rolled_back")
            self._refresh_toolbar()
            gate = (self.failure or {}).get("gate")
            what = "the notebook" if gate == "notebook" else f"the {gate} check"
            self._say(f"The change failed {what}, so it was rolled back: the notebook and files are as they were before.",
                      "codex-rollback", "error")
        else:
            self._say(f"Validation failed and the rollback was not exact ({event['reason']}); "
                      "use Edit → Undo in the notebook.", "codex-rollback-failed", "error")
        self.fix.layout.display = "" if self.on_fix else "none"

    def _on_finished(self, event: dict) -> None:
        self.busy = False

    # -- undo / redo ----------------------------------------------------------------------------
    def _my_entry(self):
        """This proposal's kept change in the engine's undo history, if it is the newest (undo goes newest first)."""
        history = self.ctx.engine.history
        return history[-1] if history and history[-1].proposal_id == self.proposal.id else None

    def undo(self) -> None:
        from .apply import undo_last

        if self._busy():
            return
        if self._my_entry() is None:
            later = any(e.proposal_id == self.proposal.id for e in self.ctx.engine.history)
            self._say("A later change was kept after this one: undo that first (`%codex undo`)." if later
                      else "This change is no longer in this kernel's undo history (was the kernel restarted?); "
                           "use Edit → Undo in the notebook.", "codex-undo-refused", "warn")
            return
        self.busy = True
        self.undo_button.disabled = True
        self._say("Undoing…")
        undo_last(self.ctx, self._on_event)

    def _on_undone(self, event: dict) -> None:
        self.busy = False
        self.undone(list(event.get("edits") or []))
        if event.get("commit"):
            self._say(f"Undone: the notebook is back to how it was before this change, and its commit is reverted "
                      f"by commit {event['commit'][:12]}. Redo applies the same edits again.", "codex-undone")

    def undone(self, edits: list[int]) -> None:
        """The engine took these edits back (from this card, or from `%codex undo` in another cell)."""
        self.commit_button.layout.display = "none"
        for i in edits:
            if 0 <= i < len(self.cards):
                self.cards[i].set_state("undone")
        self.undone_edits = list(edits)
        self.undo_button.layout.display = "none"
        self.redo_button.layout.display = ""
        self.redo_button.disabled = False
        self._refresh_toolbar()
        self._say("Undone: the notebook is back to how it was before this change. "
                  "Redo applies the same edits again (validated like any acceptance).", "codex-undone")

    def redo(self) -> None:
        if self._busy() or not self.undone_edits:
            return
        self.redo_button.disabled = True
        indexes, self.undone_edits = self.undone_edits, []
        self.accept(indexes)

    def _refresh_toolbar(self) -> None:
        self.accept_all.disabled = self.reject_all.disabled = not self._pending()

    def _names(self) -> dict[str, str]:
        """Cells as people see them ("cell [5]"), for the progress marks; inserted cells by their new position."""
        from ..cellnames import cell_labels

        after = self.nb
        try:
            from ..edits.live_ops import apply_proposal

            after, _undo = apply_proposal(self.nb, self.acceptance_subset())
        except Exception:  # the names are a courtesy; the ids still stand in
            pass
        return cell_labels(after, with_source=False)

    def acceptance_subset(self):
        indexes = self.acceptance.indexes if self.acceptance else []
        return dataclasses.replace(self.proposal, edits=tuple(self.proposal.edits[i] for i in indexes))

    def _say(self, text: str, cls: str = "codex-status", tone: str = "muted") -> None:
        self.notice.value = note_html(text, cls, tone)

    def _fix(self) -> None:
        if self.on_fix is None or self.acceptance is None or self.acceptance.outcome is None:
            return
        self.fix.disabled = True
        self.on_fix(self, self.acceptance.outcome)


def notebook_report(validated: dict):
    """The notebook gate's ValidationReport from a ``validated`` event (None if the notebook was not re-run)."""
    from ..validate.api import ValidationReport

    detail = next((g["detail"] for g in validated.get("gates", []) if g["gate"] == "notebook"), None)
    return ValidationReport.from_json(detail) if detail else None
