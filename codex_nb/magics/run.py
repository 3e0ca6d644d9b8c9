"""The subcommands that ask the model: propose (default), fix, review, ask, explain, notebook.

Each one gathers what the kernel knows (the notebook, live variables, the last
error), calls ``assistant.run`` — the same pipeline as the side panel and the
CLI — while streaming the answer, then shows the answer or the review widget.
"""
from __future__ import annotations

import re
import sys

from .. import audit
from ..errors import ProposalError, UsageProblem
from .args import interpolate, mentions

STRUCTURED = {"propose", "fix", "review"}


def dispatch(session, req):
    if req.command == "notebook":
        from .newnb import new_notebook

        return new_notebook(session, req)
    ns = session.shell.user_ns
    text = interpolate(req.text, ns)
    kind = req.command
    if kind in ("propose", "ask") and not text:
        example = "%codex ask why is df empty?" if kind == "ask" else "%%codex\nthe merge in cell 4 drops rows — fix it"
        raise UsageProblem("say what you want", hint=f"write the request after the magic, e.g. {example}; %codex help lists subcommands")
    terminal = session.frontend() == "terminal"
    path, nb = session.notebook(req.notebook, required=kind in STRUCTURED and not terminal)
    if nb is None and kind in STRUCTURED:  # a terminal without a notebook: new code goes to the next prompt
        import nbformat

        nb = nbformat.v4.new_notebook()
    instruction, active, with_error = _focus(session, kind, text, nb)
    state = session.kernel_state(with_error=with_error)
    result, stream = call_model(session, kind, instruction, req, path, nb, state, active, attachments(text, ns))
    if kind not in STRUCTURED:
        if terminal:
            return stream.finish()
        from IPython.display import Markdown

        return stream.finish(Markdown(result.text or "_(no answer)_"))
    return show_proposal(session, req, path, nb, result.proposal, stream)


def _focus(session, kind: str, text: str, nb) -> tuple[str, str | None, bool]:
    """(instruction, active cell id, whether the last error goes into the context)."""
    if kind == "fix":
        if session.exc_info() is None:
            raise UsageProblem("there is no error to fix",
                               hint="run the failing cell, then %codex fix; or describe the problem: %codex <request>")
        return text or "Fix the last error.", session.error_cell_id(nb), True
    if kind == "explain":
        m = re.fullmatch(r"(?:cell\s*)?(\d+)", text.strip(), re.I)
        if m:
            n = int(m.group(1))
            if nb is None:
                raise UsageProblem(f"cannot find cell {n}: this kernel does not know its notebook",
                                   hint="run it in a notebook opened in Jupyter, or pass --notebook PATH")
            if not 1 <= n <= len(nb.cells):
                raise UsageProblem(f"there is no cell {n}", hint=f"cells are numbered 1 to {len(nb.cells)} from the top")
            cid = nb.cells[n - 1]["id"]
            return f"Explain cell {n} (id {cid}).", cid, session.error_cell_id(nb) == cid
        if not text:
            if session.exc_info() is None:
                raise UsageProblem("there is nothing to explain",
                                   hint="give a cell number (%codex explain 4) or run it right after a traceback")
            return "Explain the last error: what went wrong and how to fix it.", session.error_cell_id(nb), True
        return text, session.current_cell_id(), session.error_is_fresh()
    return text, session.current_cell_id(), session.error_is_fresh()


def attachments(text: str, ns: dict) -> str | None:
    """Summaries of the variables named as @name (the same summary the panel attaches)."""
    from ..context.kernel import variable_summaries

    return variable_summaries(mentions(text, ns), ns)


def make_stream(session):
    from ..widgets.stream import StreamView, TextStream

    return TextStream() if session.frontend() == "terminal" else StreamView()


def call_model(session, kind, instruction, req, path, nb, state, active, extra, stream=None):
    from .. import assistant

    stream = stream or make_stream(session)
    try:
        result = assistant.run(kind, instruction, notebook=path, notebook_node=nb, repo=req.repo, model=req.model,
                               kernel_state=state, active_cell=active, extra_context=extra, on_delta=stream.on_delta)
    except ProposalError as exc:
        stream.finish()
        # Its hint was written for the model's retry; the person needs a different one.
        raise ProposalError(f"the model's answer could not be used: {exc.message}",
                            hint="ask again, or use a stronger model with --model provider:model") from None
    except BaseException:
        stream.finish()
        raise
    return result, stream


def apply_context(session, req, path):
    """The kernel's door into the engine: settings from config + this magic's flags, the session's undo history."""
    from ..engine import build_engine
    from ..widgets.apply import ApplyContext

    engine = build_engine(source="kernel", anchor=path, repo_root=req.repo, validator=session.validator,
                          history=session.history, validate=req.validate, validate_mode=req.mode, model=req.model)
    return ApplyContext(channel=session.channel, engine=engine, notebook_path=path, repo=req.repo,
                        run_code=lambda source: session.shell.run_cell(source, store_history=False))


def show_proposal(session, req, path, nb, proposal, stream):
    if session.frontend() == "terminal":
        from ..widgets.terminal import review_in_terminal

        stream.finish()
        ctx = apply_context(session, req, path)
        review_in_terminal(proposal, nb, engine=ctx.engine, notebook_path=req.notebook and path,
                           color=sys.stdout.isatty(),
                           set_next_input=lambda code: session.shell.set_next_input(code, replace=False))
        return None
    if not proposal.edits:
        from IPython.display import Markdown

        from ..widgets.render import NO_EDITS

        return stream.finish(Markdown(f"{proposal.explanation}\n\n_{NO_EDITS}_" if proposal.explanation else f"_{NO_EDITS}_"))
    session.last_view = proposal_view(session, req, path, nb, proposal)
    stream.finish(session.last_view)
    if session.extension_status() != "absent" and getattr(session.shell, "kernel", None) is not None:
        session.channel.ping(session.shell.execution_count)  # refresh the live copy for the next request
    return None


def proposal_view(session, req, path, nb, proposal):
    from ..edits.diff import proposal_diffs
    from ..widgets.review import ReviewWidget
    from ..widgets.terminal import fallback_cell, fallback_note

    ctx = apply_context(session, req, path)
    if session.extension_status() == "absent":
        code, missed = fallback_cell(proposal, proposal_diffs(nb, proposal))
        if code:
            session.shell.set_next_input(code, replace=False)
        audit.record("fallback", ctx.anchor, source="kernel", notebook=path, proposal_id=proposal.id, inserted=bool(code),
                     missed=missed)
        return ReviewWidget(proposal, nb, ctx, note=fallback_note(missed, bool(code)), actions=False)
    return ReviewWidget(proposal, nb, ctx, on_fix=lambda review, outcome: fix_followup(session, req, review, outcome))


def fix_followup(session, req, review, outcome):
    """The Fix button: the engine sends the failure (traceback, failing cell, failed diffs) back to the model;
    the fixed proposal appears under the old one, for review like any other."""
    import ipywidgets as W

    from ..widgets.apply import kernel_loop
    from ..widgets.render import note_html
    from ..widgets.review import ReviewWidget
    from ..widgets.stream import StreamView

    out = W.HTML("")
    out.add_class("codex-fix-stream")
    review.followup.children = (*review.followup.children, out)
    stream = StreamView(widget=out)

    def on_event(event: dict) -> None:
        if event["type"] == "repair_delta":
            stream.on_delta(event["text"])
        elif event["type"] == "repair_failed":
            out.value = note_html(event["error"], "codex-error", "error")

    async def work():
        applier = review.ctx.applier()
        fixed = await review.ctx.engine.repair(outcome, applier, emit=on_event)
        if fixed is None:
            return None
        nb_now = await applier.read()
        stream.finish()
        out.layout.display = "none"
        follow = ReviewWidget(fixed, nb_now, review.ctx, on_fix=lambda r, o: fix_followup(session, req, r, o))
        review.followup.children = (*review.followup.children, follow)
        return follow

    return kernel_loop().submit(work())
