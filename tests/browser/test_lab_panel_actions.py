"""The panel card's Undo / Redo, and the actions on code blocks in answers, in a real JupyterLab.

Everything after a proposal goes through the server's engine (accept / undo routes), with
this page as the applier; the scripted model (jupyter_lab.llm) stands in for the model.
"""
from __future__ import annotations

import uuid

import nbformat
import pytest

from conftest import notebook_json, open_notebook, screenshot

pytestmark = pytest.mark.browser

SETTLED = """() => { const b = [...document.querySelectorAll('#codex-nb-panel .codex-validation')].pop();
                     return b && /%s/.test(b.textContent); }"""


def make_notebook(lab, cells: list[tuple[str, str]]) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src, id=cid) for cid, src in cells]
    name = f"actions-{uuid.uuid4().hex[:8]}.ipynb"
    lab.upload(name, nb)
    return name


def open_panel(page):
    page.keyboard.press("Control+Alt+KeyC")
    page.wait_for_selector("#codex-nb-panel .codex-input", state="visible")
    page.wait_for_selector("#codex-nb-panel .codex-chip-notebook")


def ask(page, kind: str, text: str):
    page.select_option("#codex-nb-panel .codex-kind", kind)
    page.fill("#codex-nb-panel .codex-input", text)
    page.click("#codex-nb-panel .codex-send")


def sources(page) -> list[str]:
    return ["".join(c["source"]) for c in notebook_json(page)["cells"]]


def last_assistant(page):
    return page.locator("#codex-nb-panel .codex-assistant").last


def test_undo_marks_the_card_undone_and_redo_applies_it_again(page, jupyter_lab):
    name = make_notebook(jupyter_lab, [("c1", "x = 20"), ("c2", "y = x + 1")])
    open_notebook(page, jupyter_lab, name)
    open_panel(page)
    jupyter_lab.llm.queue({"explanation": "Double x.", "edits": [
        {"op": "replace", "cell_id": "c2", "cell_type": "code", "source": "y = x * 2"}]})
    ask(page, "propose", "double x")
    proposal = last_assistant(page).locator(".codex-proposal")
    proposal.wait_for()
    proposal.locator(".codex-accept-all").click()
    page.wait_for_function(SETTLED % "applied and kept|validation passed|rolled back|not applied", timeout=90_000)
    assert sources(page)[1] == "y = x * 2"
    hint = proposal.locator(".codex-undo-hint").inner_text()
    assert "Undo here" in hint and "Ctrl+Z" not in hint
    assert "✓ accepted" in proposal.locator(".codex-diff-state").inner_text()
    proposal.locator(".codex-undo").click()
    page.wait_for_function(SETTLED % "undone")
    proposal.locator(".codex-redo").wait_for(state="visible")
    assert sources(page)[1] == "y = x + 1"
    assert "undone" in proposal.locator(".codex-diff-state").inner_text()
    assert "accepted" not in proposal.locator(".codex-diff-state").inner_text()
    assert proposal.locator(".codex-undo").is_hidden() and proposal.locator(".codex-redo").is_visible()
    screenshot(page, "panel-undone")
    proposal.locator(".codex-redo").click()
    page.wait_for_function(SETTLED % "applied and kept|validation passed|rolled back|not applied", timeout=90_000)
    assert sources(page)[1] == "y = x * 2"
    assert "✓ accepted" in proposal.locator(".codex-diff-state").inner_text()
    events = [e["event"] for e in jupyter_lab.api("GET", f"codex-nb/audit?path={name}")["entries"]]
    assert events.count("undone") == 1 and events.count("kept") == 2
    assert page.codex_errors == []


def test_drift_warnings_name_the_cells_and_show_old_and_new_output(page, jupyter_lab):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", id="c1", execution_count=1),
                nbformat.v4.new_code_cell("print(x * 10)", id="c2", execution_count=2, outputs=[
                    nbformat.v4.new_output("stream", name="stdout", text="10\n")])]
    name = f"drift-{uuid.uuid4().hex[:8]}.ipynb"
    jupyter_lab.upload(name, nb)
    open_notebook(page, jupyter_lab, name)
    open_panel(page)
    jupyter_lab.llm.queue({"explanation": "Start at two.", "edits": [
        {"op": "replace", "cell_id": "c1", "cell_type": "code", "source": "x = 2"}]})
    ask(page, "propose", "start at two")
    proposal = last_assistant(page).locator(".codex-proposal")
    proposal.wait_for()
    proposal.locator(".codex-accept-all").click()
    drift = proposal.locator(".codex-drift")
    drift.wait_for(timeout=90_000)
    cell = drift.locator(".codex-drift-cell")
    assert cell.count() == 1 and cell.get_attribute("title") == "c2"  # the id on hover only
    assert "cell [2]" in cell.locator(".codex-drift-name").inner_text()
    assert "print(x * 10)" in cell.locator(".codex-drift-name").inner_text()
    assert cell.locator(".codex-line-del").inner_text().strip() == "-10"
    assert cell.locator(".codex-line-add").inner_text().strip() == "+20"
    screenshot(page, "panel-drift")


def answer_with_code(page, jupyter_lab, code: str):
    jupyter_lab.llm.queue(f"Use a comprehension:\n\n```python\n{code}\n```\n")
    ask(page, "ask", "how do I square these?")
    bar = last_assistant(page).locator(".codex-code-actions").first
    bar.wait_for()
    return bar


def test_copy_puts_the_code_block_on_the_clipboard(page, jupyter_lab):
    name = make_notebook(jupyter_lab, [("c1", "xs = [1, 2, 3]")])
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=jupyter_lab.url.rstrip("/"))
    open_notebook(page, jupyter_lab, name)
    open_panel(page)
    code = "squares = [x * x for x in xs]\nprint(squares)"
    bar = answer_with_code(page, jupyter_lab, code)
    copy = bar.locator(".codex-code-copy")
    copy.click()
    page.wait_for_function("() => document.querySelector('#codex-nb-panel .codex-code-copy.codex-copied')")
    assert copy.get_attribute("data-copied") == code
    assert page.evaluate("() => navigator.clipboard.readText()") == code  # the real clipboard
    assert sources(page) == ["xs = [1, 2, 3]"]  # copying changes nothing


def test_insert_below_shows_a_card_and_accept_inserts_the_cell(page, jupyter_lab):
    name = make_notebook(jupyter_lab, [("c1", "xs = [1, 2, 3]"), ("c2", "print('end')")])
    open_notebook(page, jupyter_lab, name)
    page.locator(".jp-Notebook .jp-Cell").first.click()  # the active cell: the first one
    open_panel(page)
    code = "squares = [x * x for x in xs]"
    bar = answer_with_code(page, jupyter_lab, code)
    bar.locator(".codex-code-insert").click()
    card = last_assistant(page).locator(".codex-code-proposal")
    card.wait_for()
    assert "New code cell after cell [1]" in card.locator(".codex-diff-title").inner_text()
    assert sources(page) == ["xs = [1, 2, 3]", "print('end')"]  # nothing changes before Accept
    screenshot(page, "panel-code-insert-card")
    card.locator(".codex-accept-all").click()
    page.wait_for_function(SETTLED % "applied and kept|validation passed|rolled back|not applied", timeout=90_000)
    assert sources(page) == ["xs = [1, 2, 3]", code, "print('end')"]
    events = {e["event"] for e in jupyter_lab.api("GET", f"codex-nb/audit?path={name}")["entries"]}
    assert {"decided", "kept"} <= events  # through the engine, audited


def test_replace_cell_proposes_a_change_of_the_active_cell(page, jupyter_lab):
    name = make_notebook(jupyter_lab, [("c1", "xs = [1, 2, 3]"), ("c2", "print(xs)")])
    open_notebook(page, jupyter_lab, name)
    page.locator(".jp-Notebook .jp-Cell").nth(1).click()
    open_panel(page)
    code = "print([x * x for x in xs])"
    bar = answer_with_code(page, jupyter_lab, code)
    bar.locator(".codex-code-replace").click()
    card = last_assistant(page).locator(".codex-code-proposal")
    card.wait_for()
    assert "Change cell [2]" in card.locator(".codex-diff-title").inner_text()
    assert "print(xs)" in card.locator(".codex-line-del").inner_text()
    card.locator(".codex-accept-all").click()
    page.wait_for_function(SETTLED % "applied and kept|validation passed|rolled back|not applied", timeout=90_000)
    assert sources(page) == ["xs = [1, 2, 3]", code]
    assert page.codex_errors == []
