"""`%codex agent` in a real JupyterLab + Chromium runs its cells in the notebook's own kernel, through the page.

A step's kept edit adds a cell; the page runs it in the live kernel (its output is in the notebook cell and
read back into the model's next step), a later cell of the same kernel sees its variable, and a rewind with
"rebuild kernel" resets the live namespace and re-runs the notebook up to the checkpoint through the page.
Interrupting the kernel while the run's cell runs in it stops the run, and so does the widget's Stop button (its
comm message would wait for the cell, so the page interrupts the kernel).
"""
from __future__ import annotations

import uuid

import nbformat
import pytest

import agent_script as s
from conftest import notebook_json, open_notebook, run_cell, screenshot

pytestmark = pytest.mark.browser
WIDGET = ".codex-agent"


def upload(lab, cells) -> str:
    (lab.root_dir / ".git").mkdir(exist_ok=True)  # the lab's root is the repository root
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src, id=cid) for cid, src in cells]
    name = f"agent-live-{uuid.uuid4().hex[:8]}.ipynb"
    lab.upload(name, nb)
    return name


def cell(page, cid: str) -> dict:
    return next(c for c in notebook_json(page)["cells"] if c["id"] == cid)


def cell_by_source(page, source: str) -> dict:
    return next(c for c in notebook_json(page)["cells"] if "".join(c["source"]) == source)


def text_of(c: dict) -> str:
    return "".join("".join(o.get("text", "")) for o in c.get("outputs", []) if o["output_type"] == "stream")


def kernel_expressions(page, expressions: dict) -> dict:
    """Evaluate expressions in the notebook's kernel (not as a notebook cell: nothing re-runs it)."""
    found = page.evaluate("""async (exprs) => {
        const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
        const reply = await k.requestExecute({code: '', silent: false, store_history: false,
                                              user_expressions: exprs}).done;
        return reply.content.user_expressions; }""", expressions)
    return {k: v.get("data", {}).get("text/plain") if v.get("status") == "ok" else v.get("ename") for k, v in found.items()}


def wait_status(page, prefix: str, timeout: float = 120_000) -> None:
    page.wait_for_function("""(p) => [...document.querySelectorAll('.codex-agent-status')]
                                        .some(n => n.innerText.startsWith(p))""", arg=prefix, timeout=timeout)


NEW = "x = 41 + 1\nprint('x is', x)"


def test_agent_cells_run_in_the_live_kernel_and_rewind_rebuilds_it(page, jupyter_lab):
    name = upload(jupyter_lab, [("c-ext", "%load_ext codex_nb"), ("c-agent", '%codex agent "make x"'),
                                ("c-show", "print('shown', x)")])
    open_notebook(page, jupyter_lab, name)
    llm = jupyter_lab.llm
    llm.queue(s.plan("set x"))
    llm.queue(s.propose(s.insert("c-agent", NEW), explanation="set x"))
    llm.queue(s.finish("x is set"))
    run_cell(page, 0)
    run_cell(page, 1)
    page.locator(f"{WIDGET} .codex-agent-approve").click(timeout=90_000)
    page.locator(f"{WIDGET} .codex-agent-accept").click(timeout=90_000)
    try:
        wait_status(page, "done", timeout=180_000)
    except Exception:
        screenshot(page, "FAILED-agent-live-not-done")
        raise
    screenshot(page, "agent-live-done")

    added = cell_by_source(page, NEW)
    assert isinstance(added["execution_count"], int)  # run by the page, in this notebook's kernel
    assert "x is 42" in text_of(added)  # its output is in the notebook cell
    finish_request = llm.requests[-1]["messages"][-1]["content"]
    assert "Run results" in finish_request and "x is 42" in finish_request  # read back into the next step
    assert "fresh kernel" not in page.locator(f"{WIDGET} .codex-agent-notice").inner_text()

    run_cell(page, 3)  # a later cell of the same kernel sees x
    assert "shown 42" in text_of(cell(page, "c-show"))

    # State the notebook does not hold, set in the kernel directly; a rebuild must not keep it.
    assert kernel_expressions(page, {"x": "x"})["x"] == "42"
    page.evaluate("""async () => { const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
                                   await k.requestExecute({code: 'stale = 1; x = 0', store_history: false}).done; }""")
    assert kernel_expressions(page, {"stale": "stale", "x": "x"}) == {"stale": "1", "x": "0"}
    before = added["execution_count"]
    row = page.locator(f"{WIDGET} .codex-agent-step").first
    row.locator(".codex-agent-rebuild input").check()
    row.locator(".codex-agent-rewind").click()
    wait_status(page, "Rewound to the end of step 1 and rebuilt the kernel", timeout=120_000)
    screenshot(page, "agent-live-rewound-rebuilt")
    after = kernel_expressions(page, {"stale": "stale", "x": "x"})
    assert after == {"stale": "NameError", "x": "42"}  # reset, then the notebook up to step 1 re-ran
    rerun = cell_by_source(page, NEW)
    assert rerun["execution_count"] > before and "x is 42" in text_of(rerun)  # re-run through the page
    assert "shown 42" in text_of(cell(page, "c-show"))
    assert [c["id"] for c in notebook_json(page)["cells"]][:2] == ["c-ext", "c-agent"]


@pytest.mark.parametrize("stop_with", ["kernel", "button"])
def test_stop_or_the_kernels_interrupt_during_the_runs_cell_stops_the_run(page, jupyter_lab, stop_with):
    name = upload(jupyter_lab, [("c-ext", "%load_ext codex_nb"), ("c-agent", '%codex agent --no-validate "wait"')])
    open_notebook(page, jupyter_lab, name)
    llm = jupyter_lab.llm
    llm.queue(s.plan("wait"))
    llm.queue(s.propose(s.insert("c-agent", "import time\nstarted = True\ntime.sleep(60)\nfinished = True"),
                        explanation="wait a minute"))
    run_cell(page, 0)
    run_cell(page, 1)
    page.locator(f"{WIDGET} .codex-agent-approve").click(timeout=90_000)
    page.locator(f"{WIDGET} .codex-agent-accept").click(timeout=90_000)
    # The kept cell runs in the live kernel: its prompt shows [*] while the kernel is busy with it.
    page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
        const c = w.content.widgets.find(c => c.model.sharedModel.getSource().startsWith('import time'));
        return !!c && c.promptNode.textContent.includes('*') && w.sessionContext.session.kernel.status === 'busy'; }""",
                           timeout=90_000)
    page.wait_for_timeout(1500)
    assert "interrupts it" in page.locator(f"{WIDGET} .codex-agent-status").inner_text()
    if stop_with == "button":
        # The widget's Stop: its comm message would wait for the cell, so the page interrupts the kernel.
        page.locator(f"{WIDGET}.codex-agent-cell-running .codex-agent-stop").click(timeout=10_000)
    else:
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:interrupt-kernel')")
    wait_status(page, "stopped", timeout=30_000)
    screenshot(page, "agent-live-stopped")
    page.wait_for_function("""() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status
                                    === 'idle'""", timeout=30_000)
    found = kernel_expressions(page, {"started": "started", "finished": "finished"})
    assert found == {"started": "True", "finished": "NameError"}  # interrupted in the live kernel
    sources = ["".join(c["source"]) for c in notebook_json(page)["cells"]]
    assert sources == ["%load_ext codex_nb", '%codex agent --no-validate "wait"']  # the step did not complete: rolled back


PANEL = "#codex-nb-agent"
PANEL_NEW = "z = x + 41\nprint('z is', z)"


def test_panel_agent_cells_run_in_the_notebooks_kernel_and_rewind_rebuilds_it(page, jupyter_lab):
    """The panel's Agent mode (the run lives on the server): the page runs the kept cell in the notebook's
    kernel, its output is in the notebook and goes back to the model, and a rewind with rebuild resets it."""
    name = upload(jupyter_lab, [("p-load", "x = 1")])
    open_notebook(page, jupyter_lab, name)
    run_cell(page, 0)  # the person ran the notebook: x is in the live kernel, nowhere else
    llm = jupyter_lab.llm
    llm.queue(s.plan("compute z"))
    llm.queue(s.propose(s.insert("end", PANEL_NEW), explanation="compute z"))
    llm.queue(s.finish("z is there"))
    page.evaluate("() => window.jupyterapp.shell.activateById('codex-nb-agent')")
    page.wait_for_selector(f"{PANEL} .codex-agent-goal", state="visible")
    page.select_option(f"{PANEL} .codex-agent-approve-mode", "auto")
    page.fill(f"{PANEL} .codex-agent-goal", "compute z from x")
    page.click(f"{PANEL} .codex-agent-start")
    page.click(f"{PANEL} .codex-agent-approve", timeout=60_000)
    page.wait_for_function("() => document.querySelector('#codex-nb-agent .codex-agent-status')?.innerText.startsWith('done')",
                           timeout=180_000)
    screenshot(page, "agent-panel-live-done")
    added = cell_by_source(page, PANEL_NEW)
    assert isinstance(added["execution_count"], int) and "z is 42" in text_of(added)  # x came from the live kernel
    finish_request = llm.requests[-1]["messages"][-1]["content"]
    assert "z is 42" in finish_request  # read back into the next step
    assert page.inner_text(f"{PANEL} .codex-agent-notice") == ""  # no fallback to a kernel of its own
    assert kernel_expressions(page, {"z": "z"})["z"] == "42"

    page.evaluate("""async () => { const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
                                   await k.requestExecute({code: 'stale = 1', store_history: false}).done; }""")
    page.check(f"{PANEL} .codex-agent-rebuild")
    page.click(f"{PANEL} .codex-agent-step:nth-child(1) .codex-agent-rewind")
    page.wait_for_function("""() => document.querySelector('#codex-nb-agent .codex-agent-status')?.innerText
                                     .startsWith('Rewound to the end of step 1 and rebuilt the kernel')""", timeout=120_000)
    # reset, then the cells up to step 1 re-ran in the notebook's kernel (x = 1, then the step's cell)
    assert kernel_expressions(page, {"stale": "stale", "x": "x", "z": "z"}) == {"stale": "NameError", "x": "1", "z": "42"}
