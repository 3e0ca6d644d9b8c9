"""The agent run's widget: plan, steps, decisions, budget, Stop and Rewind (see magic.py)."""
from __future__ import annotations

import ipywidgets as W
import nbformat

from ..widgets.render import escape


def _button(label: str, cls: str, style: str = "") -> W.Button:
    b = W.Button(description=label, button_style=style, layout=W.Layout(width="auto"))
    b.add_class(cls)
    return b


class AgentWidget(W.VBox):
    def __init__(self, session, req, path, goal: str):
        from ..engine import build_engine
        from ..widgets.apply import ApplyContext
        from .decide import PendingDecider
        from .model import AgentModel
        from .policy import Policy
        from .run import AgentRun
        from .liverunner import live_runner

        engine = build_engine(source="agent", anchor=path, repo_root=req.repo, validator=session.validator,
                              history=session.history, validate=req.validate, validate_mode=req.mode, model=req.model)
        self.ctx = ApplyContext(channel=session.channel, engine=engine, notebook_path=path, repo=req.repo)
        self.decider = PendingDecider(on_question=self._on_question)
        self.notice = W.HTML("")
        self.notice.add_class("codex-agent-notice")
        # Cells run in this kernel, through the page (their outputs land in the notebook); a fresh kernel if not.
        runner = live_runner(session, engine, self.ctx.cwd, notice=self._notice, say=self._say,
                             on_interrupted=self.stop, running=self._cell_running)
        self.run = AgentRun(goal, applier=self.ctx.applier(), engine=engine,
                            model=AgentModel(req.model or engine.settings.model, repo_root=engine._root(path)),
                            runner=runner, policy=Policy(approve="ask"), decider=self.decider, emit=self._on_event)
        self.future = None
        self.reviews: dict[int, object] = {}
        self.title = W.HTML(f"<b>Agent</b>: {escape(goal)}")
        self.budget = W.HTML("")
        self.budget.add_class("codex-agent-budget")
        self.status = W.HTML("Planning…")
        self.status.add_class("codex-agent-status")
        self.stop_button = _button("Stop", "codex-agent-stop", "danger")
        self.stop_button.on_click(lambda _: self.stop())
        self.question = W.VBox([])
        self.steps = W.VBox([])
        super().__init__([W.HBox([self.title, self.stop_button]), self.budget, self.status, self.notice, self.question,
                          self.steps])
        self.add_class("codex-agent")

    # -- controls ---------------------------------------------------------------------------
    def start(self) -> None:
        from ..widgets.apply import kernel_loop

        self.future = kernel_loop().submit(self._go())

    async def _go(self):
        from .headless import close

        try:
            return await self.run.start()
        except Exception as exc:  # never leave the widget spinning
            self._say(f"The run failed: {type(exc).__name__}: {exc}")
            return None
        finally:
            await close(self.run)

    def stop(self) -> None:
        self.run.stop()
        self._say("Stopping…")

    def rewind(self, step: int, rebuild: bool) -> None:
        from ..widgets.apply import kernel_loop

        async def go():
            try:
                await self.run.rewind(step, rebuild=rebuild)
            except Exception as exc:
                self._say(f"Could not rewind: {getattr(exc, 'message', exc)}")

        kernel_loop().submit(go())

    # -- questions from the run -------------------------------------------------------------
    def _on_question(self, q: dict) -> None:
        kind = q["kind"]
        if kind == "plan":
            self._ask_plan(q)
        elif kind == "proposal":
            self._ask_proposal(q)
        else:
            self._ask_run(q)

    def _answer(self, qid: str, value) -> None:
        self.question.children = ()
        self.decider.answer(qid, value)

    def _ask_plan(self, q: dict) -> None:
        editor = W.Textarea(value="\n".join(q["steps"]), layout=W.Layout(width="100%", height="8em"))
        editor.add_class("codex-agent-plan")
        approve = _button("Approve plan", "codex-agent-approve", "success")
        cancel = _button("Cancel", "codex-agent-cancel")
        approve.on_click(lambda _: self._answer(q["question_id"], [line.strip() for line in editor.value.splitlines()
                                                                  if line.strip()]))
        cancel.on_click(lambda _: self._answer(q["question_id"], None))
        self.question.children = (W.HTML("<b>Plan</b> — edit the steps (one per line), then approve:"), editor,
                                  W.HBox([approve, cancel]))
        self._say("Waiting for the plan to be approved.")

    def _ask_proposal(self, q: dict) -> None:
        from ..edits.model import Proposal
        from ..widgets.review import ReviewWidget

        proposal = Proposal.from_json(q["proposal"])
        cells = self.run.checkpoints[-1].cells if self.run.checkpoints else []
        review = ReviewWidget(proposal, nbformat.v4.new_notebook(cells=cells), self.ctx, actions=False)
        self.reviews[q["step"]] = review
        everything = list(range(len(proposal.edits)))
        qid = q["question_id"]
        buttons = [(_button("Accept", "codex-agent-accept", "success"), {"indexes": everything}),
                   (_button("Reject", "codex-agent-reject"), {"indexes": []}),
                   (_button("Accept edits that validate from now on", "codex-agent-policy-auto"),
                    {"indexes": everything, "policy": "accept_validated"}),
                   (_button("Accept, and always ask before running cells", "codex-agent-policy-run"),
                    {"indexes": everything, "policy": "ask_before_run"})]
        for button, value in buttons:
            button.on_click(lambda _, v=value: self._answer(qid, v))
        self.question.children = (W.HTML(f"<b>Step {q['step']}</b> proposes:"), review, W.HBox([b for b, _ in buttons]))
        self._say("Waiting for a decision. File patches and deletions are always asked for.")

    def _ask_run(self, q: dict) -> None:
        run = _button("Run", "codex-agent-run", "success")
        skip = _button("Don't run", "codex-agent-skip")
        run.on_click(lambda _: self._answer(q["question_id"], True))
        skip.on_click(lambda _: self._answer(q["question_id"], False))
        self.question.children = (W.HTML(f"Step {q['step']} wants to run cells {escape(', '.join(q['cell_ids']))}"),
                                  W.HBox([run, skip]))

    # -- events from the run ----------------------------------------------------------------
    def _on_event(self, event: dict) -> None:
        kind = event["type"]
        if "remaining" in event:
            r = event["remaining"]
            self.budget.value = (f"<small>left: {r['steps']} steps, {r['tokens']} tokens, {r['seconds']} s, "
                                 f"{r['repairs']} repairs</small>")
        if kind == "agent_step_started":
            self._say(f"Step {event['step']}: asking the model…")
        elif kind == "agent_action":
            self._say(f"Step {event['step']}: {event['tool']} — {event['explanation'][:300]}")
        elif kind == "agent_engine":
            review = self.reviews.get(event["step"])
            if review is not None:
                review._on_event(event["event"])
        elif kind == "agent_step_done":
            self._add_step(event)
        elif kind == "agent_rewound":
            self.steps.children = tuple(row for row in self.steps.children if row._step <= event["step"])
            self._say(f"Rewound to the end of step {event['step']}"
                      + (" and rebuilt the kernel." if event["rebuilt_kernel"] else "."))
        elif kind == "agent_finished":
            self.question.children = ()
            self.stop_button.disabled = True
            self._say(f"{event['status']}: {escape(event['reason'])}")

    def _add_step(self, event: dict) -> None:
        text = W.HTML(f"<b>{event['step']}.</b> {escape(event['tool'])} — {escape(event['status'])} "
                      f"<small>{escape(event['summary'][:200])}</small>")
        rewind = _button("Rewind to here", "codex-agent-rewind")
        rebuild = W.Checkbox(value=False, description="rebuild kernel", indent=False, layout=W.Layout(width="auto"))
        rebuild.add_class("codex-agent-rebuild")
        rewind.on_click(lambda _, n=event["step"]: self.rewind(n, rebuild.value))
        row = W.HBox([text, rewind, rebuild])
        row._step = event["step"]
        row.add_class("codex-agent-step")
        self.steps.children = (*self.steps.children, row)

    def _notice(self, text: str) -> None:
        """Said once and kept in view (the status line changes with every event)."""
        self.notice.value = f"<small>{escape(text)}</small>"

    def _cell_running(self, on: bool) -> None:
        # The lab extension sees this class and makes Stop interrupt the kernel while the run's cell runs.
        (self.add_class if on else self.remove_class)("codex-agent-cell-running")

    def _say(self, text: str) -> None:
        self.status.value = text
