"""The Codex side panel in a real JupyterLab, driven by Playwright on Chromium.

Every test talks to the scripted model (jupyter_lab.llm) through the real server
extension; validation really re-runs the notebook with papermill.
"""
from __future__ import annotations

import json
import uuid

import nbformat
import pytest

from conftest import notebook_json, open_notebook, run_cell, screenshot

pytestmark = pytest.mark.browser


def make_notebook(lab, cells: list[tuple[str, str]]) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src, id=cid) for cid, src in cells]
    name = f"panel-{uuid.uuid4().hex[:8]}.ipynb"
    lab.upload(name, nb)
    return name


def open_panel(page):
    page.keyboard.press("Control+Alt+KeyC")  # the documented shortcut
    page.wait_for_selector("#codex-nb-panel .codex-input", state="visible")
    page.wait_for_selector("#codex-nb-panel .codex-chip-notebook")


def ask(page, kind: str, text: str):
    page.select_option("#codex-nb-panel .codex-kind", kind)
    page.fill("#codex-nb-panel .codex-input", text)
    page.click("#codex-nb-panel .codex-send")


def cell_sources(page) -> dict[str, str]:
    return {c["id"]: "".join(c["source"]) for c in notebook_json(page)["cells"]}


def last_assistant(page):
    return page.locator("#codex-nb-panel .codex-assistant").last


def test_ask_streams_markdown(page, jupyter_lab):
    name = make_notebook(jupyter_lab, [("c1", "import math\nr = math.sqrt(16)")])
    open_notebook(page, jupyter_lab, name)
    open_panel(page)
    answer = "The cell imports **math** and stores the square root of 16 in `r`.\n\n```python\nr == 4.0\n```\n" * 3
    jupyter_lab.llm.queue(answer, chunk_size=6, chunk_delay=0.04)
    ask(page, "ask", "What does this cell do?")
    # Text arrives while the answer is still streaming …
    page.wait_for_function("""() => { const n = document.querySelector('#codex-nb-panel .codex-answer.codex-streaming');
                                      return n && n.textContent.includes('imports'); }""")
    screenshot(page, "panel-streaming")
    # … and ends as Markdown rendered by JupyterLab's rendermime (bold and a code block).
    answer_node = last_assistant(page).locator(".codex-answer")
    answer_node.locator("strong", has_text="math").first.wait_for()
    assert answer_node.locator("pre").count() >= 1
    assert "codex-streaming" not in answer_node.get_attribute("class")
    screenshot(page, "panel-answer")
    assert page.codex_errors == []  # no uncaught errors in the page


def test_accept_applies_to_the_live_notebook_and_validates(page, jupyter_lab):
    name = make_notebook(jupyter_lab, [("c1", "x = 20"), ("c2", "y = x + 1\nprint(y)")])
    open_notebook(page, jupyter_lab, name)
    run_cell(page, 0)
    open_panel(page)
    jupyter_lab.llm.queue({"explanation": "Double **y** instead.", "edits": [
        {"op": "replace", "cell_id": "c2", "cell_type": "code", "source": "y = x * 2\nprint(y)"}]},
        chunk_size=12, chunk_delay=0.01)
    ask(page, "propose", "double x instead of adding one")
    proposal = last_assistant(page).locator(".codex-proposal")
    proposal.wait_for()
    diff = proposal.locator(".codex-diff").first
    assert "y = x * 2" in diff.locator(".codex-line-add").all_inner_texts()[0]
    assert "y = x + 1" in diff.locator(".codex-line-del").all_inner_texts()[0]
    screenshot(page, "panel-proposal")
    proposal.locator(".codex-accept-all").click()
    badge = proposal.locator(".codex-validation")
    page.wait_for_function("""() => { const b = [...document.querySelectorAll('#codex-nb-panel .codex-validation')].pop();
                                      return b && /validation passed|rolled back|not applied|not exact/.test(b.textContent); }""",
                           timeout=90_000)
    assert "validation passed" in badge.inner_text()
    assert cell_sources(page)["c2"] == "y = x * 2\nprint(y)"
    screenshot(page, "panel-accepted-validated")
    # One undo step takes the whole change back.
    page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.undo()")
    assert cell_sources(page)["c2"] == "y = x + 1\nprint(y)"
    entries = jupyter_lab.api("GET", f"codex-nb/audit?path={name}")["entries"]
    assert {"proposed", "decided", "validated"} <= {e["event"] for e in entries}


def test_reject_leaves_the_notebook_unchanged(page, jupyter_lab):
    name = make_notebook(jupyter_lab, [("c1", "a = 1"), ("c2", "b = a + 1")])
    open_notebook(page, jupyter_lab, name)
    open_panel(page)
    before = cell_sources(page)
    jupyter_lab.llm.queue({"explanation": "Add a cell.", "edits": [
        {"op": "insert", "cell_id": "c2", "cell_type": "code", "source": "c = b * 10"},
        {"op": "delete", "cell_id": "c1"}]})
    ask(page, "propose", "add c")
    proposal = last_assistant(page).locator(".codex-proposal")
    proposal.wait_for()
    assert proposal.locator(".codex-diff").count() == 2
    proposal.locator(".codex-reject-all").click()
    page.wait_for_function("""() => { const b = [...document.querySelectorAll('#codex-nb-panel .codex-validation')].pop();
                                      return b && b.textContent.includes('rejected'); }""")
    assert cell_sources(page) == before
    assert proposal.locator(".codex-accept-all").is_disabled()
    entries = jupyter_lab.api("GET", f"codex-nb/audit?path={name}")["entries"]
    assert ("decided", "rejected") in {(e["event"], e.get("decision")) for e in entries}
    screenshot(page, "panel-rejected")


def test_failing_edit_rolls_back_and_offers_fix(page, jupyter_lab):
    name = make_notebook(jupyter_lab, [("c1", "total = 3"), ("c2", "print(total)")])
    open_notebook(page, jupyter_lab, name)
    open_panel(page)
    jupyter_lab.llm.queue({"explanation": "Rename the variable.", "edits": [
        {"op": "replace", "cell_id": "c1", "cell_type": "code", "source": "count = 3"}]})
    ask(page, "propose", "rename total to count")
    proposal = last_assistant(page).locator(".codex-proposal")
    proposal.wait_for()
    proposal.locator(".codex-accept-all").click()
    page.wait_for_function("""() => { const b = [...document.querySelectorAll('#codex-nb-panel .codex-validation')].pop();
                                      return b && /validation passed|rolled back|not applied|not exact/.test(b.textContent); }""",
                           timeout=90_000)
    badge = proposal.locator(".codex-validation")
    assert "rolled back" in badge.inner_text() and "NameError" in badge.inner_text()
    assert cell_sources(page) == {"c1": "total = 3", "c2": "print(total)"}
    assert badge.locator(".codex-fix").is_visible()
    screenshot(page, "panel-rolled-back")
    entries = jupyter_lab.api("GET", f"codex-nb/audit?path={name}")["entries"]
    assert "rolled_back" in {e["event"] for e in entries}

    # Fix sends the failure back to the model as a "fix" request.
    jupyter_lab.llm.queue({"explanation": "Keep both names.", "edits": [
        {"op": "replace", "cell_id": "c1", "cell_type": "code", "source": "count = 3\ntotal = count"}]})
    badge.locator(".codex-fix").click()
    last_assistant(page).locator(".codex-proposal").wait_for()
    assert "NameError" in json.dumps(jupyter_lab.llm.requests[-1])


def test_fix_with_codex_on_an_error_cell_and_history_survives_reload(page, jupyter_lab):
    name = make_notebook(jupyter_lab, [("c1", "1 / 0")])
    open_notebook(page, jupyter_lab, name)
    run_cell(page, 0)
    button = page.locator(".jp-Cell .codex-fix-cell")
    button.wait_for()
    screenshot(page, "cell-fix-button")
    jupyter_lab.llm.queue({"explanation": "Avoid dividing by zero.", "edits": [
        {"op": "replace", "cell_id": "c1", "cell_type": "code", "source": "1 / 1"}]})
    button.click()
    page.wait_for_selector("#codex-nb-panel .codex-proposal")
    assert "ZeroDivisionError" in json.dumps(jupyter_lab.llm.requests[-1])
    # The conversation for this notebook is there again after a reload.
    open_notebook(page, jupyter_lab, name)
    open_panel(page)
    page.wait_for_selector("#codex-nb-panel .codex-user-text")
    assert "ZeroDivisionError" in page.locator("#codex-nb-panel .codex-user-text").first.inner_text()
    assert page.locator("#codex-nb-panel .codex-proposal .codex-diff").count() == 1


def test_stop_cancels_a_streaming_answer(page, jupyter_lab):
    name = make_notebook(jupyter_lab, [("c1", "z = 0")])
    open_notebook(page, jupyter_lab, name)
    open_panel(page)
    jupyter_lab.llm.queue("word " * 400, chunk_size=5, chunk_delay=0.05)  # ~20 s if not stopped
    ask(page, "ask", "talk for a long time")
    page.wait_for_function("() => (document.querySelector('#codex-nb-panel .codex-streaming') || {}).textContent?.length > 10")
    page.click("#codex-nb-panel .codex-stop")
    page.wait_for_selector("#codex-nb-panel .codex-assistant[data-state=cancelled]", timeout=10_000)
    assert page.locator("#codex-nb-panel .codex-send").is_enabled()


def test_context_chips_and_file_completion(page, jupyter_lab):
    (jupyter_lab.root_dir / "helpers_for_chips.py").write_text("def helper():\n    return 1\n")
    name = make_notebook(jupyter_lab, [("c1", "frame_size = 12")])
    open_notebook(page, jupyter_lab, name)
    run_cell(page, 0)
    open_panel(page)
    page.fill("#codex-nb-panel .codex-input", "look at @helpers_for")
    page.dispatch_event("#codex-nb-panel .codex-input", "input")
    page.locator("#codex-nb-panel .codex-completion-file", has_text="helpers_for_chips.py").click()
    page.locator("#codex-nb-panel .codex-chip-file").wait_for()
    page.type("#codex-nb-panel .codex-input", " @frame")
    page.locator("#codex-nb-panel .codex-completion-variable", has_text="frame_size").click()
    page.locator("#codex-nb-panel .codex-chip-variable").wait_for()
    screenshot(page, "panel-chips")
    jupyter_lab.llm.queue("ok")
    page.select_option("#codex-nb-panel .codex-kind", "ask")
    page.click("#codex-nb-panel .codex-send")
    last_assistant(page).locator(".codex-answer:not(.codex-streaming)").wait_for()
    sent = json.dumps(jupyter_lab.llm.requests[-1])
    assert "def helper" in sent and "frame_size" in sent
    # Chips are removable.
    page.locator("#codex-nb-panel .codex-chip-file .codex-chip-remove").click()
    assert page.locator("#codex-nb-panel .codex-chip-file").count() == 0


def test_panel_follows_the_dark_theme(page, jupyter_lab):
    name = make_notebook(jupyter_lab, [("c1", "value = 1"), ("c2", "print(value)")])
    open_notebook(page, jupyter_lab, name)
    open_panel(page)
    jupyter_lab.llm.queue({"explanation": "Print it **twice**.", "edits": [
        {"op": "replace", "cell_id": "c2", "cell_type": "code", "source": "print(value)\nprint(value)"}]})
    ask(page, "propose", "print twice")
    last_assistant(page).locator(".codex-proposal .codex-line-add").first.wait_for()
    light = page.evaluate("() => getComputedStyle(document.querySelector('#codex-nb-panel')).backgroundColor")
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    page.wait_for_function(
        "(light) => getComputedStyle(document.querySelector('#codex-nb-panel')).backgroundColor !== light", arg=light)
    dark = page.evaluate("""() => { const probe = document.createElement('div');
        probe.style.background = 'var(--jp-layout-color1)'; document.body.appendChild(probe);
        const want = getComputedStyle(probe).backgroundColor; probe.remove();
        return [getComputedStyle(document.querySelector('#codex-nb-panel')).backgroundColor, want]; }""")
    assert dark[0] == dark[1]  # the panel paints with the theme's own variables
    page.wait_for_selector("#jupyterlab-splash", state="detached")
    page.wait_for_timeout(300)
    screenshot(page, "panel-dark")
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
