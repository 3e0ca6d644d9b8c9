"""One agent run: plan → (checkpoint → tool call → decision → engine) per step → finish, Stop or a bound.

Every edit goes through ``Engine.accept`` with the door's applier (it locks,
applies all or nothing, reads the notebook back, runs the gates, keeps or rolls
back, audits); repairs are the engine's. This module only decides what to ask
the model, who must approve, when to stop, and what to checkpoint. A step is
reported kept only when the engine kept it *and* the notebook read back holds
it. Stop cancels the step in flight; the notebook is then put back to the
step's checkpoint if anything of the step is left in it.
"""
from __future__ import annotations

import asyncio
import json
import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import Callable

from .. import audit
from ..errors import CodexError, EditRefused, ProposalError
from ..engine.locks import PathLocks
from .budget import Budget
from .checkpoint import Checkpoint, kept_since, rewind_ops, same_cells
from .decide import AutoDecider, Decision
from .model import StopRequested
from .policy import Policy

Emit = Callable[[dict], None]
MAX_OUTPUT_CHARS = 1500


@dataclass
class StepRecord:
    step: int
    tool: str
    status: str  # kept | rolled_back | refused | rejected | read | ran | finished | malformed | not_run | stopped | failed
    summary: str = ""
    proposal_id: str | None = None
    cells: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class RunResult:
    run_id: str
    status: str  # done | stopped | bounded | cancelled | failed
    reason: str
    plan: list[str]
    steps: list[StepRecord]
    remaining: dict
    tokens: int = 0

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "done" else 1

    def to_json(self) -> dict:
        return {"run_id": self.run_id, "status": self.status, "reason": self.reason, "plan": self.plan,
                "steps": [s.to_json() for s in self.steps], "remaining": self.remaining, "tokens": self.tokens}


class AgentRun:
    def __init__(self, goal: str, *, applier, engine, model, runner=None, policy: Policy | None = None,
                 budget: Budget | None = None, decider=None, emit: Emit | None = None, run_id: str | None = None):
        self.goal = goal
        self.applier = applier
        self.engine = engine
        self.model = model
        self.runner = runner
        self.policy = policy or Policy()
        self.budget = budget or Budget()
        self.decider = decider or AutoDecider()
        self.emit_to = emit
        self.run_id = run_id or "r-" + uuid.uuid4().hex[:12]
        self.plan: list[str] = []
        self.steps: list[StepRecord] = []
        self.checkpoints: list[Checkpoint] = []
        self.observations: list[str] = []
        self.cancel = model.cancel if model is not None else threading.Event()
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stop_requested_at: float | None = None
        self.model_seconds = 0.0  # time spent waiting for the model (what the agent's own overhead excludes)

    # -- controls (callable from any thread) ------------------------------------------------
    def stop(self) -> None:
        import time

        self.stop_requested_at = time.monotonic()
        self.cancel.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not task.done():
            loop.call_soon_threadsafe(task.cancel)
            if self.runner is not None:
                asyncio.run_coroutine_threadsafe(self.runner.interrupt(), loop)

    # -- the run ---------------------------------------------------------------------------
    async def start(self) -> RunResult:
        self._loop = asyncio.get_running_loop()
        self._audit("agent_run", 0, {"phase": "started", "goal_hash": audit.instruction_hash(self.goal),
                                     "policy": self.policy.to_json(), "bounds": self._bounds(),
                                     "model": getattr(self.model, "model_id", None)})
        status, reason = "failed", ""
        try:
            status, reason = await self._guarded(self._plan_and_steps())
        except CodexError as exc:
            status, reason = "failed", exc.message
        result = RunResult(self.run_id, status, reason, self.plan, self.steps, self.budget.remaining(),
                           self.budget.tokens)
        self._audit("agent_run", len(self.steps), {"phase": "finished", "status": status, "reason": reason,
                                                  "remaining": result.remaining, "tokens": self.budget.tokens})
        self._emit({"type": "agent_finished", **result.to_json()})
        return result

    async def _guarded(self, coro):
        self._task = asyncio.ensure_future(coro)
        try:
            return await self._task
        except asyncio.CancelledError:
            if not self.cancel.is_set():
                raise
            await self._settle_after_stop()
            return "stopped", "stopped by the person"

    async def _plan_and_steps(self):
        nb = await self.applier.read()
        try:
            answer = await self._timed(self.model.plan(self.goal, nb, self.applier.notebook_path))
        except ProposalError as exc:
            self.budget.tokens += int(exc.fields.get("tokens") or 0)
            return "failed", f"the model's plan could not be used: {exc.message}"
        except StopRequested:
            raise asyncio.CancelledError from None
        except asyncio.TimeoutError:
            return "bounded", self.budget.exhausted() or "the time bound is reached"
        self.budget.tokens += answer.tokens
        self.model_seconds += answer.seconds
        proposed = [s["title"].strip() for s in answer.data["steps"] if s["title"].strip()]
        self._emit({"type": "agent_plan", "run_id": self.run_id, "steps": proposed, "remaining": self.budget.remaining()})
        approved = await self.decider.approve_plan(proposed)
        self._audit("agent_step", 0, {"kind": "plan", "proposed": proposed, "approved": approved})
        if approved is None:
            return "cancelled", "the plan was cancelled"
        self.plan = [t for t in approved if t.strip()] or proposed
        while True:
            if self.cancel.is_set():
                raise asyncio.CancelledError
            bound = self.budget.exhausted()
            if bound:
                await self._back_to_last_checkpoint()
                return "bounded", bound
            try:
                finished = await self._timed(self._one_step(len(self.steps) + 1))
            except asyncio.TimeoutError:  # the step in flight was cancelled: the engine rolled back what it had begun
                await self._back_to_last_checkpoint()
                if self.checkpoints and (not self.steps or self.steps[-1].step != self.checkpoints[-1].step):
                    self._record(StepRecord(self.checkpoints[-1].step, "none", "stopped", "the time bound is reached"))
                return "bounded", f"the time bound ({self.budget.max_seconds:g} s) is reached"
            if finished:
                return "done", finished

    async def _one_step(self, n: int) -> str | None:
        nb = await self.applier.read()
        checkpoint = Checkpoint.of(n, nb)
        self.checkpoints.append(checkpoint)
        self.budget.steps += 1
        self._emit({"type": "agent_step_started", "run_id": self.run_id, "step": n, "remaining": self.budget.remaining()})
        try:
            answer = await self.model.step(self.goal, self.plan, nb, self.observations, self.budget.remaining(),
                                           self.applier.notebook_path)
        except StopRequested:
            raise asyncio.CancelledError from None
        except ProposalError as exc:
            self.budget.tokens += int(exc.fields.get("tokens") or 0)
            self._observe(n, f"Your last answer could not be used: {exc.message}. {exc.hint}")
            self._record(StepRecord(n, "none", "malformed", exc.message))
            return None
        self.budget.tokens += answer.tokens
        self.model_seconds += answer.seconds
        data = answer.data
        tool = data["tool"]
        self._emit({"type": "agent_action", "run_id": self.run_id, "step": n, "tool": tool,
                    "cell_ids": data["cell_ids"], "explanation": data["explanation"]})
        if tool == "finish":
            self._record(StepRecord(n, tool, "finished", data["explanation"]))
            return data["explanation"] or "finished"
        if tool in ("read_cells", "read_outputs"):
            self._observe(n, _read(nb, data["cell_ids"], outputs=tool == "read_outputs"))
            self._record(StepRecord(n, tool, "read", cells=list(data["cell_ids"])))
            return None
        if tool == "run_cells":
            await self._run_cells(n, nb, data["cell_ids"])
            return None
        await self._propose(n, nb, checkpoint, data)
        return None

    async def _propose(self, n: int, nb, checkpoint: Checkpoint, data: dict) -> None:
        from ..assistant import _file_hash
        from ..edits.parse import build_proposal

        root = self.engine._root(self.applier.notebook_path)
        try:
            proposal = build_proposal({"explanation": data["explanation"], "edits": data["edits"]}, nb,
                                      model=getattr(self.model, "model_id", ""),
                                      notebook=str(self.applier.notebook_path) if self.applier.notebook_path else None,
                                      file_hash=lambda rel: _file_hash(root, rel))
        except ProposalError as exc:
            self._observe(n, f"The proposed edits could not be used: {exc.message}. {exc.hint}")
            self._record(StepRecord(n, "propose_edits", "malformed", exc.message))
            return
        if not proposal.edits:
            self._observe(n, "The proposal had no edits; nothing changed.")
            self._record(StepRecord(n, "propose_edits", "rejected", "no edits", proposal.id))
            return
        self._emit({"type": "agent_proposal", "run_id": self.run_id, "step": n, "proposal": proposal.to_json(),
                    "needs_person": self.policy.needs_person(proposal)})
        decision = Decision(list(range(len(proposal.edits))))
        if self.policy.needs_person(proposal):
            decision = await self.decider.decide(n, proposal, self.policy)
            if decision.policy:
                self.policy = self.policy.choose(decision.policy)
        if not decision.indexes:
            self.engine.reject(proposal, list(range(len(proposal.edits))), self.applier.notebook_path,
                               emit=self._engine_emit(n))
            self._observe(n, "The person rejected the proposed edits. Propose something else or finish.")
            self._record(StepRecord(n, "propose_edits", "rejected", "rejected by the person", proposal.id))
            return
        # Stop reaches the validation kernel through ``cancel``; repairs are paid from the run's token budget.
        outcome = await self.engine.accept(proposal, self.applier, decision.indexes, emit=self._engine_emit(n),
                                           repair=self.budget.repairs_left, cancel=self.cancel,
                                           repair_tokens=self.budget.tokens_left,
                                           repair_check=self.policy.repair_held)
        self.budget.repairs += max(0, outcome.attempts - 1)
        self.budget.tokens += outcome.repair_tokens
        if outcome.kept:
            entry = next((e for e in reversed(self.engine.history) if e.outcome_id == outcome.id), None)
            if entry is not None:
                checkpoint.note_kept(entry)
        record = StepRecord(n, "propose_edits", outcome.status, outcome.reason, outcome.proposal_id,
                            list(outcome.cells), list(outcome.files))
        if outcome.kept:
            landed = _landed(await self.applier.read(), outcome.proposal)
            if landed:
                record.status, record.summary = "failed", landed
                self._observe(n, f"The edits were reported applied but are not in the notebook: {landed}")
            else:
                gates = "; ".join(g.get("summary", "") for g in outcome.gates) or "not validated"
                record.summary = gates
                if outcome.commit_offer is not None:  # commit = "ask": an agent run does not stop to ask
                    from ..cli.commit_prompt import by_hand
                    from ..engine import events as ev

                    record.summary += "; kept without a commit"
                    self._engine_emit(n)(ev.Status(
                        "Kept without a commit: commit = 'ask', and an agent run does not stop to ask. Commit it "
                        f"by hand ({by_hand(outcome.commit_offer.files)}), or set c.CodexNB.commit = 'on'.", notice=True))
                self._observe(n, f"Edits kept ({', '.join(outcome.cells) or 'files'}); validation: {gates}")
                await self._run_kept(n, outcome)
        elif outcome.status == "rolled_back" and (outcome.failure or {}).get("kind") == "cancelled":
            record.status, record.summary = "stopped", "stopped by the person"  # Stop ended the validation
        elif outcome.status == "rolled_back":
            failure = outcome.failure or {}
            text = "\n".join(failure.get("traceback") or [])[-MAX_OUTPUT_CHARS:]
            self._observe(n, f"The edits broke the notebook and were rolled back: {outcome.reason}\n"
                             f"cell {failure.get('cell_id')}: {failure.get('ename')}: {failure.get('evalue')}\n{text}")
        else:
            self._observe(n, f"The edits were refused: {outcome.reason}. {outcome.hint}")
        self._record(record)

    async def _run_cells(self, n: int, nb, cell_ids: list[str]) -> None:
        if self.runner is None:
            self._observe(n, "Cells cannot be run here; propose edits or finish.")
            self._record(StepRecord(n, "run_cells", "not_run", "no kernel", cells=list(cell_ids)))
            return
        if self.policy.needs_person_to_run() and not await self.decider.approve_run(n, list(cell_ids)):
            self._observe(n, "The person declined to run those cells.")
            self._record(StepRecord(n, "run_cells", "rejected", "declined by the person", cells=list(cell_ids)))
            return
        outputs = await self.runner.run(nb, list(cell_ids))
        self._observe(n, "Run results:\n" + "\n".join(f"cell {cid}:\n{_outputs_text(outs)}" for cid, outs in outputs.items()))
        self._record(StepRecord(n, "run_cells", "ran", f"{len(outputs)} cell(s) ran", cells=list(outputs)))

    async def _run_kept(self, n: int, outcome) -> None:
        """The kept code cells run where the runner says they should (``runs_kept``: the live kernel of a
        notebook, so their outputs are in the notebook); their outputs are read back into the next step."""
        if not getattr(self.runner, "runs_kept", False):
            return
        nb = await self.applier.read()
        ids = [c["id"] for c in nb.cells if c["id"] in outcome.cells and c.get("cell_type") == "code"]
        if not ids:
            return
        if self.policy.needs_person_to_run() and not await self.decider.approve_run(n, ids):
            self._observe(n, "The person declined to run the kept cells.")
            return
        outputs = await self.runner.run(nb, ids)
        self._observe(n, "Run results:\n" + "\n".join(f"cell {cid}:\n{_outputs_text(outs)}" for cid, outs in outputs.items()))

    async def _timed(self, coro):
        """``coro`` within the wall time left; a person's decision time counts too (it is the run's time)."""
        left = self.budget.max_seconds - self.budget.elapsed()
        try:
            return await asyncio.wait_for(coro, max(0.0, left))
        except asyncio.TimeoutError:
            self.cancel.set()  # the model's stream ends too (a local model generates in a thread of its own)
            raise

    # -- checkpoints -----------------------------------------------------------------------
    async def _settle_after_stop(self) -> None:
        """After Stop: the notebook at the last completed step, never half-applied."""
        self.cancel.set()
        await self._back_to_last_checkpoint()
        if self.checkpoints and (not self.steps or self.steps[-1].step != self.checkpoints[-1].step):
            self._record(StepRecord(self.checkpoints[-1].step, "none", "stopped", "stopped by the person"))

    async def _back_to_last_checkpoint(self) -> None:
        if not self.checkpoints:
            return
        last = self.checkpoints[-1]
        completed = self.steps and self.steps[-1].step == last.step
        if completed:
            return
        now = await self.applier.read()
        if not same_cells(now.cells, last.cells):  # the engine restored the files of a change it did not keep
            await self._restore(last, now, [])

    async def rewind(self, step: int, *, rebuild: bool = False) -> dict:
        """Put the notebook and patched files back as they were when step ``step`` was done (0: before the
        run); with ``rebuild``, rebuild kernel state by running the restored code cells from the top."""
        done = [s.step for s in self.steps]
        if step < 0 or (step > 0 and step not in done):
            raise CodexError(f"this run has no completed step {step}",
                             hint=f"choose 0 (before the run) or one of {', '.join(map(str, sorted(set(done)))) or 'none'}")
        target = next((cp for cp in self.checkpoints if cp.step == step + 1), None)
        now = await self.applier.read()
        undone = kept_since(self.checkpoints, step + 1)
        files = sorted({str(p) for entry in undone for p in entry.files.paths})
        if target is None:  # the last step: the notebook is there already
            target = Checkpoint.of(step + 1, now)
        else:
            await self._restore(target, now, undone)
        rebuilt = False
        if rebuild and self.runner is not None:
            await self.runner.rebuild(target.cells)
            rebuilt = True
        self.checkpoints = [cp for cp in self.checkpoints if cp.step <= step]
        self.steps = [s for s in self.steps if s.step <= step]
        self.budget.steps = len({s.step for s in self.steps})
        self.observations.append(f"[rewound to the end of step {step}]")
        detail = {"to_step": step, "rebuilt_kernel": rebuilt, "files": files}
        self._audit("agent_rewind", step, detail)
        self._emit({"type": "agent_rewound", "run_id": self.run_id, "step": step, "rebuilt_kernel": rebuilt})
        return detail

    async def _restore(self, target: Checkpoint, now, undone: list) -> None:
        """The notebook as at ``target``, and every file as before the kept changes ``undone`` (newest first)."""
        paths = [os.fspath(p) for entry in undone for p in entry.files.paths]
        async with PathLocks([*self.applier.lock_paths, *paths], timeout=self.engine.settings.lock_timeout):
            back = await self.applier.apply(rewind_ops(now, target))
            failed = [p for entry in undone for p in entry.files.restore()]  # the engine's exact restore
        for entry in undone:  # taken back: `%codex undo` must not take them back a second time
            if entry in self.engine.history:
                self.engine.history.remove(entry)
        if failed:
            raise EditRefused(f"{', '.join(sorted(set(failed)))} could not be restored exactly",
                              hint="restore it from version control")
        if not same_cells(back.cells, target.cells):
            raise CodexError("the notebook read back after the rewind is not the checkpoint",
                             hint="the front end did not apply it; reload the notebook and rewind again")

    # -- plumbing --------------------------------------------------------------------------
    def _engine_emit(self, n: int) -> Emit:
        def emit(event):
            self._emit({"type": "agent_engine", "run_id": self.run_id, "step": n, "event": _as_json(event)})
        return emit

    def _emit(self, event: dict) -> None:
        if self.emit_to is not None:
            self.emit_to(event)

    def _observe(self, n: int, text: str) -> None:
        self.observations.append(f"[step {n}] {text}")

    def _record(self, record: StepRecord) -> None:
        self.steps.append(record)
        self._audit("agent_step", record.step, {"kind": "step", **record.to_json()}, proposal_id=record.proposal_id)
        self._emit({"type": "agent_step_done", "run_id": self.run_id, **record.to_json(),
                    "remaining": self.budget.remaining()})

    def _bounds(self) -> dict:
        b = self.budget
        return {"steps": b.max_steps, "tokens": b.max_tokens, "seconds": b.max_seconds, "repairs": b.max_repairs}

    def _audit(self, event: str, step: int, detail: dict, proposal_id: str | None = None) -> None:
        notebook = self.applier.notebook_path
        identity = {"user": self.engine.user} if self.engine.user else {}
        try:
            audit.record(event, notebook or self.engine.anchor or os.getcwd(), source="agent",
                         notebook=str(notebook) if notebook else None, proposal_id=proposal_id,
                         run_id=self.run_id, step=step, detail=detail, **identity)
        except OSError:
            pass


def _as_json(event) -> dict:
    if isinstance(event, dict):
        return event
    from ..engine.events import to_json

    return to_json(event)


def _landed(nb, proposal_json: dict) -> str:
    """Empty when every inserted / replaced cell of the kept proposal is in the notebook read back."""
    cells = {c["id"]: c for c in nb.cells}
    for edit in proposal_json.get("edits", []):
        if edit["op"] == "insert":
            cell = cells.get(edit["new_id"])
            if cell is None or cell["source"] != edit["source"]:
                return f"inserted cell {edit['new_id']} is missing"
        elif edit["op"] == "replace":
            cell = cells.get(edit["cell_id"])
            if cell is None or cell["source"] != edit["source"]:
                return f"cell {edit['cell_id']} does not have the new source"
        elif edit["op"] == "delete" and edit["cell_id"] in cells:
            return f"cell {edit['cell_id']} was not deleted"
    return ""


def _read(nb, cell_ids: list[str], *, outputs: bool) -> str:
    wanted = set(cell_ids)
    parts = []
    for i, cell in enumerate(nb.cells):
        if wanted and cell["id"] not in wanted:
            continue
        body = _outputs_text(cell.get("outputs", [])) if outputs else cell["source"]
        parts.append(f"cell {cell['id']} (#{i + 1}, {cell['cell_type']}):\n```\n{body[:MAX_OUTPUT_CHARS]}\n```")
    return "Read:\n" + ("\n".join(parts) or "(no such cells)")


def _outputs_text(outputs: list) -> str:
    from ..context.redact import redact_text

    lines = []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            lines.append(_text(out.get("text")))
        elif kind == "error":
            lines.append(f"{out.get('ename')}: {out.get('evalue')}")
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            lines.append(_text(data.get("text/plain")) if "text/plain" in data else f"[{', '.join(data)}]")
    return redact_text("\n".join(lines)[-MAX_OUTPUT_CHARS:] or "(no output)")[0]


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def dumps(result: RunResult) -> str:
    return json.dumps(result.to_json(), indent=1)
