"""Agent mode in a real JupyterLab + Chromium: a goal in, the plan approved, one step accepted, one rejected,
one more accepted, then Rewind to step 1 puts the live notebook back; the server's run did every edit through
the engine with this page as the applier."""
from __future__ import annotations

import uuid

import nbformat
import pytest

import agent_script as s
from conftest import notebook_json, open_notebook, screenshot

pytestmark = pytest.mark.browser
AGENT = "#codex-nb-agent"


def sources(page) -> list[str]:
    return ["".join(c["source"]) for c in notebook_json(page)["cells"]]


def test_agent_mode_accept_reject_and_rewind(page, jupyter_lab):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", id="load"), nbformat.v4.new_code_cell("y = x + 1", id="use")]
    name = f"agent-{uuid.uuid4().hex[:8]}.ipynb"
    jupyter_lab.upload(name, nb)
    open_notebook(page, jupyter_lab, name)
    llm = jupyter_lab.llm
    llm.queue(s.plan("add a", "add b"))
    llm.queue(s.propose(s.insert("use", "a = 1"), explanation="add a"))
    llm.queue(s.propose(s.insert("end", "b = 2"), explanation="add b"))
    llm.queue(s.propose(s.insert("end", "c = 3"), explanation="add c"))
    llm.queue(s.finish("all there"))
    page.evaluate("() => window.jupyterapp.shell.activateById('codex-nb-agent')")
    page.wait_for_selector(f"{AGENT} .codex-agent-goal", state="visible")
    page.fill(f"{AGENT} .codex-agent-goal", "add a and c")
    page.click(f"{AGENT} .codex-agent-start")
    page.wait_for_selector(f"{AGENT} .codex-agent-plan", timeout=60_000)
    assert page.input_value(f"{AGENT} .codex-agent-plan") == "add a\nadd b"
    page.click(f"{AGENT} .codex-agent-approve")
    page.wait_for_selector(f"{AGENT} .codex-agent-accept", timeout=60_000)
    assert "a = 1" in page.inner_text(f"{AGENT} .codex-agent-question")
    page.click(f"{AGENT} .codex-agent-accept")
    page.wait_for_selector(f"{AGENT} .codex-agent-step-kept", timeout=120_000)
    page.wait_for_function("() => document.querySelector('#codex-nb-agent .codex-agent-question')?.innerText.includes('b = 2')",
                           timeout=60_000)
    page.click(f"{AGENT} .codex-agent-reject")
    page.wait_for_function("() => document.querySelector('#codex-nb-agent .codex-agent-question')?.innerText.includes('c = 3')",
                           timeout=60_000)
    page.click(f"{AGENT} .codex-agent-accept")
    page.wait_for_function("() => document.querySelector('#codex-nb-agent .codex-agent-status')?.innerText.startsWith('done')",
                           timeout=120_000)
    assert sources(page) == ["x = 1", "y = x + 1", "a = 1", "c = 3"]
    assert "steps" in page.inner_text(f"{AGENT} .codex-agent-budget")
    steps = page.query_selector_all(f"{AGENT} .codex-agent-step")
    assert [el.get_attribute("class").split("codex-agent-step-")[1] for el in steps] == ["kept", "rejected", "kept", "finished"]
    screenshot(page, "agent-done")
    page.click(f"{AGENT} .codex-agent-step:nth-child(1) .codex-agent-rewind")
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.cells.length === 3",
                           timeout=60_000)
    assert sources(page) == ["x = 1", "y = x + 1", "a = 1"]
    page.wait_for_function("() => document.querySelectorAll('#codex-nb-agent .codex-agent-step').length === 1")
    screenshot(page, "agent-rewound")
