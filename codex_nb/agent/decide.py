"""The person at the gates: approve the plan, decide a proposal, allow a run of cells.

``AutoDecider`` is the headless "nobody is there" answer: plans are approved, and
anything the policy sends to a person is declined (so with ``--approve auto`` a
file patch or a deletion is still never applied unless it was allowed
explicitly). ``TerminalDecider`` asks on a terminal. ``PendingDecider`` is for
front ends that answer later (the notebook widget, the panel): each question is
a future that the front end resolves by its id.
"""
from __future__ import annotations

import asyncio
import itertools
import sys
from dataclasses import dataclass, field


@dataclass
class Decision:
    indexes: list[int] = field(default_factory=list)  # the accepted edits; empty: rejected
    policy: str | None = None  # a policy chosen for the rest of the run (see Policy.choose)


class AutoDecider:
    async def approve_plan(self, steps: list[str]) -> list[str] | None:
        return steps

    async def decide(self, step: int, proposal, policy) -> Decision:
        return Decision([])

    async def approve_run(self, step: int, cell_ids: list[str]) -> bool:
        return False


class TerminalDecider:
    """Questions on stderr, answers from stdin (``codex-nb agent --approve ask``)."""

    def __init__(self, read=None, write=None):
        self.read = read or (lambda: sys.stdin.readline())
        self.write = write or (lambda text: (sys.stderr.write(text), sys.stderr.flush()))

    async def _ask(self, question: str) -> str:
        self.write(question)
        return (await asyncio.get_running_loop().run_in_executor(None, self.read)).strip().lower()

    async def approve_plan(self, steps: list[str]) -> list[str] | None:
        listing = "".join(f"  {i + 1}. {t}\n" for i, t in enumerate(steps))
        answer = await self._ask(f"Plan:\n{listing}Approve this plan? [y/N] ")
        return steps if answer in ("y", "yes") else None

    async def decide(self, step: int, proposal, policy) -> Decision:
        from ..edits.diff import proposal_diffs, render_text

        self.write(f"\nStep {step}: {proposal.explanation}\n")
        try:
            from ..notebook_io import read_notebook

            nb = read_notebook(proposal.notebook) if proposal.notebook else None
            if nb is not None:
                self.write(render_text(proposal_diffs(nb, proposal)) + "\n")
        except Exception:
            pass
        answer = await self._ask("Accept these edits? [y]es / [n]o / [a]ccept edits that validate from now on: ")
        if answer in ("a", "all"):
            return Decision(list(range(len(proposal.edits))), policy="accept_validated")
        return Decision(list(range(len(proposal.edits))) if answer in ("y", "yes") else [])

    async def approve_run(self, step: int, cell_ids: list[str]) -> bool:
        return (await self._ask(f"Step {step}: run cells {', '.join(cell_ids)}? [y/N] ")) in ("y", "yes")


class PendingDecider:
    """Each question becomes a pending future with an id; a front end answers it with ``answer(id, value)``."""

    def __init__(self, on_question=None):
        self.on_question = on_question  # called with {"question_id", "kind", ...} when a question is asked
        self.pending: dict[str, asyncio.Future] = {}
        self._ids = itertools.count(1)
        self.loop: asyncio.AbstractEventLoop | None = None

    async def _ask(self, kind: str, **fields):
        self.loop = asyncio.get_running_loop()
        qid = f"q{next(self._ids)}"
        future = self.loop.create_future()
        self.pending[qid] = future
        if self.on_question:
            self.on_question({"type": "agent_question", "question_id": qid, "kind": kind, **fields})
        try:
            return await future
        finally:
            self.pending.pop(qid, None)

    def answer(self, question_id: str, value) -> bool:
        """Resolve a question (thread-safe); False when it is not pending (already answered or gone)."""
        future = self.pending.get(question_id)
        if future is None or self.loop is None:
            return False

        def settle():
            if not future.done():
                future.set_result(value)
        self.loop.call_soon_threadsafe(settle)
        return True

    async def approve_plan(self, steps: list[str]) -> list[str] | None:
        value = await self._ask("plan", steps=steps)
        return None if value is None else [str(s) for s in value]

    async def decide(self, step: int, proposal, policy) -> Decision:
        value = await self._ask("proposal", step=step, proposal=proposal.to_json())
        if isinstance(value, Decision):
            return value
        value = value or {}
        return Decision([int(i) for i in value.get("indexes") or []], value.get("policy"))

    async def approve_run(self, step: int, cell_ids: list[str]) -> bool:
        return bool(await self._ask("run", step=step, cell_ids=cell_ids))
