"""The engine's bounded repair inside an agent run is paid from the run's token budget.

The scripted model on loopback reports usage for every answer (prompt: a quarter of the request's
characters; answer: a quarter of the reply's), so the test can add up exactly what every request —
plan, steps and repairs — cost, and compare it with what the run counted.
"""
from __future__ import annotations

import asyncio

import nbformat

import agent_script as s
from codex_nb import audit
from codex_nb.agent import Budget, Policy
from codex_nb.agent.headless import close, make_run


def cost(scripted_llm, replies: list[str]) -> int:
    """The tokens the scripted server reported for its recorded requests, answered by ``replies`` in order."""
    assert len(scripted_llm.requests) == len(replies), (len(scripted_llm.requests), len(replies))
    total = 0
    for body, reply in zip(scripted_llm.requests, replies):
        prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4
        total += prompt + max(1, len(reply) // 4)
    return total


def sources(path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells]


def play(scripted_llm, nb, replies, *, budget: Budget, on_event=None):
    for reply in replies:
        scripted_llm.queue(reply)
    run = make_run(nb, "go", policy=Policy(approve="auto"), runner=None, budget=budget)
    if on_event is not None:
        run.emit_to = lambda event: on_event(run, event)

    async def go():
        try:
            return await run.start()
        finally:
            await close(run)

    return run, asyncio.run(go())


def repairs(tmp_path) -> list[dict]:
    return [e for e in audit.read_log(tmp_path / "audit.jsonl") if e["event"] == "repair"]


BREAKS_USE = s.replace("load", "w = 1")  # "use" below reads x: the notebook gate's re-run fails with NameError


def test_the_tokens_of_a_repair_are_added_to_the_run_budget(scripted_llm, tmp_path):
    nb = s.project(tmp_path / "repo")
    replies = [s.plan("add z", "rename"), s.propose(s.insert("use", "z = 5")), s.propose(BREAKS_USE),
               s.repair_answer(s.replace("load", "x = 1\nw = 1")), s.finish()]
    run, result = play(scripted_llm, nb, replies, budget=Budget(max_repairs=1))
    assert result.status == "done", result.reason
    assert [st.status for st in result.steps] == ["kept", "kept", "finished"]
    assert "rolled back" in scripted_llm.requests[3]["messages"][-1]["content"]  # request 4 is the repair
    assert result.tokens == cost(scripted_llm, replies)  # the repair's prompt and answer are in the count
    assert result.remaining["tokens"] == 60_000 - result.tokens
    finished = [e for e in audit.read_log(tmp_path / "audit.jsonl") if e["event"] == "agent_run"][-1]
    assert finished["detail"]["tokens"] == result.tokens


def test_no_second_repair_starts_once_the_repairs_reach_the_token_bound(scripted_llm, tmp_path):
    nb = s.project(tmp_path / "repo")
    replies = [s.plan("add z", "rename"), s.propose(s.insert("use", "z = 5")), s.propose(BREAKS_USE),
               s.repair_answer(s.replace("load", "w = 2"))]  # the repair breaks "use" again
    seen = {}

    def bound_after_the_step_answer(run, event):
        if event["type"] == "agent_step_done" and event["step"] == 1:
            seen["after_step_1"] = nb.read_bytes()
        if event["type"] == "agent_action" and event["step"] == 2:
            # Step 2's answer is counted now: leave one token, so the first repair may start but
            # its own tokens reach the bound and the second, which max_repairs would allow, may not.
            run.budget.max_tokens = run.budget.tokens + 1

    run, result = play(scripted_llm, nb, replies, budget=Budget(max_repairs=2), on_event=bound_after_the_step_answer)
    assert result.status == "bounded" and "token bound" in result.reason
    assert [st.status for st in result.steps] == ["kept", "rolled_back"]
    assert len(scripted_llm.requests) == 4 and len(repairs(tmp_path)) == 1  # one repair, not two
    assert result.tokens == cost(scripted_llm, replies) and result.remaining["tokens"] == 0
    assert nb.read_bytes() == seen["after_step_1"]  # the last good checkpoint
    assert sources(nb) == ["x = 1", "y = x + 1\nprint(y)", "z = 5"]


def test_a_failed_step_is_not_repaired_when_the_token_bound_is_already_reached(scripted_llm, tmp_path):
    nb = s.project(tmp_path / "repo")
    replies = [s.plan("add z", "rename"), s.propose(s.insert("use", "z = 5")), s.propose(BREAKS_USE)]
    seen = {"notices": []}

    def bound_at_the_step_answer(run, event):
        if event["type"] == "agent_step_done" and event["step"] == 1:
            seen["after_step_1"] = nb.read_bytes()
        if event["type"] == "agent_action" and event["step"] == 2:
            run.budget.max_tokens = run.budget.tokens  # step 2's own answer used the last of the budget
        inner = event.get("event") or {}
        if inner.get("type") == "status" and inner.get("notice"):
            seen["notices"].append(inner["text"])

    run, result = play(scripted_llm, nb, replies, budget=Budget(max_repairs=2), on_event=bound_at_the_step_answer)
    assert result.status == "bounded" and "token bound" in result.reason
    assert [st.status for st in result.steps] == ["kept", "rolled_back"]
    assert len(scripted_llm.requests) == 3 and repairs(tmp_path) == []  # no repair was asked for
    assert any("Not repaired" in text for text in seen["notices"])
    assert result.tokens == cost(scripted_llm, replies)
    assert nb.read_bytes() == seen["after_step_1"]
