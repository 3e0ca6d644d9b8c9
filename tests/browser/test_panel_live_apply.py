"""The `codex_nb.live_apply` comm target, driven from a real kernel with a raw comm (no codex-nb kernel code).

This is the contract the %codex widgets rely on: ops applied through the notebook model as
one undoable change, all or nothing, with the full notebook sent back; and the target is
still there after a kernel restart.
"""
from __future__ import annotations

import json
import uuid

import nbformat
import pytest

from conftest import notebook_json, open_notebook, run_cell, screenshot

pytestmark = pytest.mark.browser

OPEN = """\
import json
from comm import create_comm
replies = []
ch = create_comm(target_name="codex_nb.live_apply", data={})
ch.on_msg(lambda m: replies.append(m["content"]["data"]))
ch.send({"type": "apply", "request_id": "r1", "proposal_id": "p1", "ops": [
    {"op": "insert", "new_id": "n1", "after": "c1", "before": None, "cell_type": "markdown", "source": "# inserted"},
    {"op": "replace", "cell_id": "c2", "source": "y = 20", "cell_type": None, "expected_source": "y = 2"}]})"""

MORE = """\
ch.send({"type": "apply", "request_id": "r2", "proposal_id": "p2", "ops": [
    {"op": "delete", "cell_id": "c1", "expected_source": "x = 1"},
    {"op": "replace", "cell_id": "c2", "source": "y = 3", "cell_type": None, "expected_source": "stale"}]})
ch.send({"type": "apply", "request_id": "r3", "proposal_id": "p1", "ops": [
    {"op": "remove", "cell_id": "n1"},
    {"op": "restore", "index": 1, "cell": {"id": "c2", "cell_type": "code", "source": "y = 2", "metadata": {"keep": 1},
                                           "outputs": [], "execution_count": None}}]})
ch.send({"type": "apply", "request_id": "r4", "proposal_id": "p3", "ops": [{"op": "remove", "cell_id": "nope"}]})"""

SHOW = "print(json.dumps(replies))"

AFTER_RESTART = """\
import json
from comm import create_comm
again = []
ch2 = create_comm(target_name="codex_nb.live_apply", data={})
ch2.on_msg(lambda m: again.append(m["content"]["data"]))
ch2.send({"type": "snapshot", "request_id": "s1"})"""

SHOW_AGAIN = "print(json.dumps(again))"


def printed(page, index: int):
    cell = notebook_json(page)["cells"][index]
    text = "".join("".join(o.get("text", "")) for o in cell["outputs"] if o.get("output_type") == "stream")
    return json.loads(text)


def sources(page) -> list[tuple[str, str]]:
    return [(c["id"], "".join(c["source"])) for c in notebook_json(page)["cells"]]


def test_live_apply_comm_target(page, jupyter_lab):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", id="c1"), nbformat.v4.new_code_cell("y = 2", id="c2"),
                nbformat.v4.new_code_cell(OPEN, id="k1"), nbformat.v4.new_code_cell(MORE, id="k2"),
                nbformat.v4.new_code_cell(SHOW, id="k3"), nbformat.v4.new_code_cell(AFTER_RESTART, id="k4"),
                nbformat.v4.new_code_cell(SHOW_AGAIN, id="k5")]
    name = f"live-{uuid.uuid4().hex[:8]}.ipynb"
    jupyter_lab.upload(name, nb)
    open_notebook(page, jupyter_lab, name)
    run_cell(page, 1)  # c2 gets an output and an execution count, which a replace must clear

    run_cell(page, 2)  # k1: insert + replace in one message
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.cells.length === 8")
    assert sources(page)[:3] == [("c1", "x = 1"), ("n1", "# inserted"), ("c2", "y = 20")]
    live = notebook_json(page)
    assert live["cells"][1]["cell_type"] == "markdown"
    assert live["cells"][2]["outputs"] == [] and live["cells"][2]["execution_count"] is None
    screenshot(page, "live-apply-applied")

    # One undo step takes back both ops of the message; redo brings them back.
    page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.undo()")
    assert sources(page)[:2] == [("c1", "x = 1"), ("c2", "y = 2")]
    page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.redo()")
    assert sources(page)[:3] == [("c1", "x = 1"), ("n1", "# inserted"), ("c2", "y = 20")]

    run_cell(page, 4)  # k2: a stale request (refused whole), a rollback (remove + restore), a missing cell
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.cells.length === 7")
    run_cell(page, 4)  # k3 (n1 is gone): print the replies
    replies = {r["request_id"]: r for r in printed(page, 4)}
    assert replies["r1"]["ok"] is True and replies["r1"]["reason"] is None
    assert replies["r1"]["path"] == name
    assert [c["id"] for c in replies["r1"]["notebook"]["cells"]][:3] == ["c1", "n1", "c2"]
    assert replies["r2"]["ok"] is False and replies["r2"]["reason"] == "cell c2 changed since the proposal"
    assert replies["r3"]["ok"] is True
    assert replies["r4"]["ok"] is False and replies["r4"]["reason"] == "cell nope is gone"
    # r2 changed nothing (c1 is still there); r3 put c2 back exactly, metadata included.
    live = notebook_json(page)
    assert [c["id"] for c in live["cells"]] == ["c1", "c2", "k1", "k2", "k3", "k4", "k5"]
    assert "".join(live["cells"][1]["source"]) == "y = 2" and live["cells"][1]["metadata"] == {"keep": 1}

    # The target survives a kernel restart.
    page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart()")
    page.wait_for_function("""() => { const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
                                      return k.status === 'idle'; }""")
    run_cell(page, 5)  # k4 (indexes are back to the original layout)
    run_cell(page, 6)
    (snap,) = printed(page, 6)
    assert snap["request_id"] == "s1" and snap["ok"] is True and len(snap["notebook"]["cells"]) == 7
