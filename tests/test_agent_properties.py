"""Hypothesis over random agent runs: random scripted answers (good, breaking, malformed, out-of-vocabulary)
and random person decisions, through the real engine, file applier, audit log and a loopback model.

Properties: never a lost cell (the notebook is exactly the start replayed with the kept proposals),
never an unaudited change (every kept step has its applied + kept audit lines), never a claimed edit that
is not in the notebook (read back at the moment the step is reported kept)."""
from __future__ import annotations

import json
import os

import nbformat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agent_script as s
from codex_nb import audit
from codex_nb.agent import Decision, Policy
from codex_nb.agent.headless import make_run
from codex_nb.edits.live_ops import apply_proposal
from codex_nb.edits.model import Proposal
from codex_nb.engine.gates import GateResult

IDS = ["load", "use", "end", "ghost"]


class NoRaiseGate:
    """A project check: the notebook must not contain a ``raise`` (judged on the applied notebook)."""

    name = "checks"

    def applies(self, change):
        return True

    def run(self, change, progress):
        bad = [c.id for c in change.after.cells if "raise" in c.source]
        return GateResult(gate=self.name, ok=not bad, summary="no raise" if not bad else f"raise in {bad}",
                          detail={"cells": bad})


answers = st.one_of(
    st.builds(lambda i, src: s.propose(s.insert(i, src)), st.sampled_from(IDS), st.sampled_from(["a = 1", "b = 2", "raise X"])),
    st.builds(lambda i, src: s.propose(s.replace(i, src)), st.sampled_from(IDS), st.sampled_from(["x = 3", "raise Y"])),
    st.builds(lambda i: s.propose(s.delete(i)), st.sampled_from(IDS)),
    st.just("not json {"),
    st.just(json.dumps({"tool": "shell", "cell_ids": [], "edits": [], "explanation": "run rm"})),
    st.builds(lambda i: s.step("read_outputs", [i]), st.sampled_from(["load", "use"])),
    st.just(s.finish()),
)


class RandomPerson:
    def __init__(self, choices):
        self.choices = list(choices)

    async def approve_plan(self, steps):
        return steps

    async def decide(self, step, proposal, policy):
        accept = self.choices.pop(0) if self.choices else True
        return Decision(list(range(len(proposal.edits))) if accept else [])

    async def approve_run(self, step, ids):
        return False


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(script=st.lists(answers, min_size=1, max_size=7), decisions=st.lists(st.booleans(), max_size=7),
       approve=st.sampled_from(["ask", "auto"]), stop_at=st.one_of(st.none(), st.integers(1, 6)))
def test_random_runs_lose_no_cell_change_nothing_unaudited_and_claim_nothing_absent(
        scripted_llm, tmp_path_factory, script, decisions, approve, stop_at):
    root = tmp_path_factory.mktemp("agentprop")
    os.environ["CODEX_NB_AUDIT_LOG"] = str(root / "audit.jsonl")
    nb = s.project(root / "repo")
    start = nbformat.read(nb, as_version=4)
    scripted_llm.replies.clear()
    scripted_llm.queue(s.plan("random"))
    for answer in script:
        scripted_llm.queue(answer)
    kept_proposals, claims = [], []

    def watch(event):
        inner = event.get("event") or {}
        if event["type"] == "agent_engine" and inner.get("type") == "finished" and inner["outcome"]["status"] == "kept":
            kept_proposals.append(inner["outcome"]["proposal"])
        if event["type"] == "agent_step_done" and event["status"] == "kept":
            now = {c.id: c.source for c in nbformat.read(nb, as_version=4).cells}
            proposal = kept_proposals[-1]
            for edit in proposal["edits"]:
                if edit["op"] == "insert":
                    claims.append(now.get(edit["new_id"]) == edit["source"])
                elif edit["op"] == "replace":
                    claims.append(now.get(edit["cell_id"]) == edit["source"])
                elif edit["op"] == "delete":
                    claims.append(edit["cell_id"] not in now)
        if stop_at is not None and event["type"] == "agent_step_started" and event["step"] == stop_at:
            run.stop()

    run = make_run(nb, "random goal", policy=Policy(approve=approve), decider=RandomPerson(decisions), emit=watch,
                   gates=[NoRaiseGate()], runner=None, repair=0)
    run.budget.max_steps = len(script)
    run.budget.max_repairs = 0

    result = s.run_to_end(run)
    assert result.status in ("done", "bounded", "stopped")
    assert all(claims)
    expected = start
    for proposal in kept_proposals:
        expected, _ = apply_proposal(expected, Proposal.from_json(proposal))
    final = nbformat.read(nb, as_version=4)
    assert [(c.id, c.source) for c in final.cells] == [(c.id, c.source) for c in expected.cells]
    assert not any("raise" in c.source for c in final.cells)  # the gate's rollbacks were exact
    entries = audit.read_log(root / "audit.jsonl")
    kept_ids = [e["proposal_id"] for e in entries if e["event"] == "kept"]
    applied_ids = {e["proposal_id"] for e in entries if e["event"] == "applied"}
    assert sorted(kept_ids) == sorted(p["id"] for p in kept_proposals) and set(kept_ids) <= applied_ids
    steps = [e for e in entries if e["event"] == "agent_step" and e["detail"].get("kind") == "step"]
    assert [e["step"] for e in steps] == [r.step for r in result.steps]
    assert all(e["run_id"] == run.run_id for e in entries if e["event"].startswith("agent_"))
    assert audit.verify(root / "audit.jsonl").ok
