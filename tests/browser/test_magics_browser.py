"""%%codex in a real JupyterLab: the widget, Accept, the live notebook, validation and rollback.

Playwright drives Debian's Chromium against a real `jupyter lab` (fixtures in
tests/browser/conftest.py). The kernel's model is the lab's ScriptedLLM; the
edit reaches the notebook through the lab extension's comm target, and the
validation really re-runs the notebook with papermill.
"""
from __future__ import annotations

import uuid

import nbformat
import pytest

from conftest import notebook_json, open_notebook, run_cell, screenshot

pytestmark = pytest.mark.browser

CELLS = [
    ("c-load", "rows = [1, 2, 3, 4]"),
    ("c-merge", "merged = rows[:2]"),
    ("c-check", "print(len(merged))"),
    ("c-ext", "%load_ext codex_nb"),
    ("c-ask", "%%codex\nthe merge in cell 2 drops rows — fix it"),
    ("c-undo", "%codex undo"),
]


def own_root(lab) -> None:
    """Make the lab's root its own repository root, whatever a parent (/tmp/.codex_nb, …) holds,
    so that the context engine indexes the test's files and not all of /tmp."""
    (lab.root_dir / ".git").mkdir(exist_ok=True)


def upload(lab) -> str:
    own_root(lab)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src, id=cid) for cid, src in CELLS]
    name = f"magics-{uuid.uuid4().hex[:8]}.ipynb"
    lab.upload(name, nb)
    return name


def sources(page) -> dict[str, str]:
    return {c["id"]: "".join(c["source"]) for c in notebook_json(page)["cells"]}


def ask_for(page, lab, new_merge: str, edited_merge: str | None = None):
    """Run the notebook up to the %%codex cell with a scripted proposal for cell c-merge; wait for its card.

    With ``edited_merge``, cell c-merge is then changed in the editor and run again, unsaved, the way
    people work: the proposal must be made against that text, or accepting it would be refused as stale.
    """
    name = upload(lab)
    open_notebook(page, lab, name)
    for i in range(4):
        run_cell(page, i)
    if edited_merge is not None:
        page.evaluate("""(src) => window.jupyterapp.shell.currentWidget.content.widgets[1].model.sharedModel
                                        .setSource(src)""", edited_merge)
        run_cell(page, 1)
    lab.llm.queue({"explanation": "Keep every row.", "edits": [
        {"op": "replace", "cell_id": "c-merge", "cell_type": "code", "source": new_merge}]}, chunk_delay=0.01)
    run_cell(page, 4)
    card = page.locator(".codex-review .codex-card").first
    try:
        card.wait_for(state="visible", timeout=90_000)
    except Exception:
        screenshot(page, f"FAILED-no-card-{name}")
        raise
    return card


def test_accept_changes_the_live_cell_and_validation_passes(page, jupyter_lab):
    card = ask_for(page, jupyter_lab, "merged = list(rows)", edited_merge="merged = rows[:3]")
    text = card.inner_text()
    assert "merged = list(rows)" in text and "merged = rows[:3]" in text  # the diff against the current cell
    screenshot(page, "magics-proposal")
    card.locator(".codex-accept").click()
    page.locator(".codex-validation-passed").wait_for(timeout=120_000)
    screenshot(page, "magics-accepted-validated")
    assert sources(page)["c-merge"] == "merged = list(rows)"
    assert "validation passed" in page.locator(".codex-validation").inner_text()
    assert page.locator(".codex-review .codex-card-accepted").count() == 1
    run_cell(page, 5)  # %codex undo
    page.locator(".codex-undo", has_text="Undone").wait_for()
    assert sources(page)["c-merge"] == "merged = rows[:3]"
    screenshot(page, "magics-undone")


def test_accept_and_run_puts_the_output_in_the_real_cell(page, jupyter_lab):
    card = ask_for(page, jupyter_lab, "merged = list(rows)\nprint('kept', len(merged), 'rows')")
    card.locator(".codex-accept-run").click()
    page.locator(".codex-validation-passed").wait_for(timeout=120_000)

    def merge_output() -> str:
        cell = next(c for c in notebook_json(page)["cells"] if c["id"] == "c-merge")
        return "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))

    page.wait_for_function("""() => window.jupyterapp.shell.currentWidget.content.widgets[1].model.outputs.length > 0""",
                           timeout=60_000)
    assert "kept 4 rows" in merge_output()
    screenshot(page, "magics-accept-and-run")


def test_edit_that_breaks_a_later_cell_is_rolled_back(page, jupyter_lab):
    card = ask_for(page, jupyter_lab, "merged = None")
    card.locator(".codex-accept").click()
    page.locator(".codex-rollback").wait_for(timeout=120_000)
    screenshot(page, "magics-rolled-back")
    assert sources(page)["c-merge"] == "merged = rows[:2]"  # restored in place
    failure = page.locator(".codex-validation-failed").first
    assert failure.is_visible()
    assert "TypeError" in page.locator(".codex-validation").inner_text()
    # Fix sends the failure back to the model; its new proposal appears under the old one.
    jupyter_lab.llm.queue({"explanation": "Keep a list.", "edits": [
        {"op": "replace", "cell_id": "c-merge", "cell_type": "code", "source": "merged = list(rows)"}]})
    page.locator(".codex-fix").click()
    follow = page.locator(".codex-review .codex-review .codex-card").first
    follow.wait_for(state="visible", timeout=90_000)
    assert "merged = list(rows)" in follow.inner_text()
    screenshot(page, "magics-fix-proposal")
    assert "TypeError" in jupyter_lab.llm.requests[-1]["messages"][-1]["content"]


def open_ask_notebook(page, jupyter_lab, kind: str) -> None:
    """Upload and open a notebook: a list (cell 1), %load_ext (cell 2), `%codex ask` about cell 1 (cell 3)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src, id=cid) for cid, src in [
        ("c-load", "rows = [1, 2, 3, 4]"), ("c-ext", "%load_ext codex_nb"), ("c-ask", "%codex ask what does cell 1 do?")]]
    name = f"magics-{kind}-{uuid.uuid4().hex[:8]}.ipynb"
    own_root(jupyter_lab)
    jupyter_lab.upload(name, nb)
    open_notebook(page, jupyter_lab, name)


def test_ask_streams_then_renders_markdown(page, jupyter_lab):
    open_ask_notebook(page, jupyter_lab, "ask")
    run_cell(page, 0)
    run_cell(page, 1)
    jupyter_lab.llm.queue("Cell 1 makes a list of **four rows**. " * 12, chunk_size=6, chunk_delay=0.05)
    # Not awaiting the command's promise: it resolves only when the cell has finished.
    page.evaluate("""() => { const app = window.jupyterapp; const nb = app.shell.currentWidget.content;
                             nb.activeCellIndex = 2; app.commands.execute('notebook:run-cell'); }""")
    # Partial text is on the page while the model is still answering …
    page.wait_for_function("""() => { const n = document.querySelector('.codex-stream-text');
                                      return n && n.textContent.includes('four rows') && n.textContent.length < 300; }""",
                           timeout=90_000)
    screenshot(page, "magics-ask-streaming")
    # … and ends as rendered Markdown.
    page.locator(".jp-RenderedMarkdown strong", has_text="four rows").first.wait_for(timeout=90_000)
    assert page.locator(".codex-stream-text").count() == 0
    screenshot(page, "magics-ask-answer")


def test_codex_sees_an_unsaved_edit_that_was_never_run(page, jupyter_lab):
    open_ask_notebook(page, jupyter_lab, "fresh")
    run_cell(page, 1)  # %load_ext: the kernel opens its comm to the notebook
    # Typed into cell 1 and neither run nor saved: only the editor has it.
    page.evaluate("""() => window.jupyterapp.shell.currentWidget.content.widgets[0].model.sharedModel
                           .setSource('rows = load_rows_from_the_warehouse()')""")
    jupyter_lab.llm.queue("It calls a loader.")
    asked = len(jupyter_lab.llm.requests)
    run_cell(page, 2, timeout=90_000)
    sent = jupyter_lab.llm.requests[asked]["messages"][-1]["content"]
    this_notebook = sent.split("=== notebook ===", 1)[1].split("\n===", 1)[0]  # not other notebooks in the repository
    assert "load_rows_from_the_warehouse()" in this_notebook and "rows = [1, 2, 3, 4]" not in this_notebook
