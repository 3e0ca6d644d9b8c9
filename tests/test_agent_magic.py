"""%codex agent in a notebook: the plan as an editable list with Approve / Cancel, each step's proposal drawn as
review cards with the run's decision buttons, the live notebook changed only through the engine (kernel comm
applier), policies for the rest of the run, rewind from the widget."""
from __future__ import annotations

import time

import pytest
from IPython.core.error import UsageError

import agent_script as s
from codex_nb import audit
from test_magics_fixtures import codex, ipshell, nb_file, run_magic  # noqa: F401 - fixtures


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def buttons(widget):
    found = {}

    def walk(w):
        for cls in getattr(w, "_dom_classes", ()):
            found[cls] = w
        for child in getattr(w, "children", ()):
            walk(child)
    walk(widget.question)
    return found


def test_agent_widget_plan_steps_policy_and_rewind(codex, ipshell):  # noqa: F811
    codex.llm.queue(s.plan("add a", "add b"))
    codex.llm.queue(s.propose(s.insert("c-check", "a = 1"), explanation="add a"))
    codex.llm.queue(s.propose(s.insert("end", "b = 2"), explanation="add b"))
    codex.llm.queue(s.finish())
    run_magic(ipshell, 'agent "add a and b"')
    widget = codex.last_agent
    assert wait_for(lambda: "codex-agent-approve" in buttons(widget))
    plan = buttons(widget)["codex-agent-plan"]
    assert plan.value == "add a\nadd b"
    plan.value = "add a\nadd b\nthen stop"  # the person edits the plan before approving it
    buttons(widget)["codex-agent-approve"].click()
    assert wait_for(lambda: "codex-agent-accept" in buttons(widget))
    review = widget.reviews[1]
    assert [c.diff["op"] for c in review.cards] == ["insert"] and "a = 1" in review.cards[0].diff["new"]
    buttons(widget)["codex-agent-accept"].click()
    assert wait_for(lambda: "codex-agent-policy-auto" in buttons(widget) and 2 in widget.reviews)
    assert [c["source"] for c in codex.lab.nb.cells][-1] == "a = 1"  # the live page has step 1
    buttons(widget)["codex-agent-policy-auto"].click()  # accept, and edits that validate from now on
    assert wait_for(lambda: widget.stop_button.disabled)
    assert widget.run.plan == ["add a", "add b", "then stop"]
    assert [st.status for st in widget.run.steps] == ["kept", "kept", "finished"]
    assert [c["source"] for c in codex.lab.nb.cells][-2:] == ["a = 1", "b = 2"]
    assert "left:" in widget.budget.value and "steps" in widget.budget.value
    # This page double does not run cells: the kept cells ran in a fresh kernel, and the widget says so once.
    assert "fresh kernel" in widget.notice.value and codex.lab.ran
    assert "kept" in [e["type"] for e in review.events]  # the review card drew the engine's events
    rows = list(widget.steps.children)
    rows[0].children[1].click()  # "Rewind to here" on step 1
    assert wait_for(lambda: [c["source"] for c in codex.lab.nb.cells][-1] == "a = 1")
    assert "b = 2" not in [c["source"] for c in codex.lab.nb.cells]
    assert wait_for(lambda: len(widget.steps.children) == 1)
    entries = audit.read(codex.notebook_path(None))
    agent_events = [e for e in entries if e["event"].startswith("agent_")]
    assert {e["event"] for e in agent_events} == {"agent_run", "agent_step", "agent_rewind"}
    assert all(e["source"] == "agent" for e in entries if e["event"] in ("applied", "kept"))


def test_agent_cancelled_plan_changes_nothing(codex, ipshell):  # noqa: F811
    codex.llm.queue(s.plan("x"))
    before = [dict(c) for c in codex.lab.nb.cells]
    run_magic(ipshell, 'agent "do x"')
    widget = codex.last_agent
    assert wait_for(lambda: "codex-agent-cancel" in buttons(widget))
    buttons(widget)["codex-agent-cancel"].click()
    assert wait_for(lambda: widget.stop_button.disabled)
    assert "cancelled" in widget.status.value
    assert [dict(c) for c in codex.lab.nb.cells] == before


def test_agent_needs_a_goal(codex, ipshell):  # noqa: F811
    with pytest.raises(UsageError, match="say what the agent should do"):
        run_magic(ipshell, "agent")
