"""The panel's door into the engine, over real HTTP: accept (with the test playing the page), reject, repair.

The page double applies the engine's apply requests with the same op semantics as the
lab extension (the op-parity fixture holds the two appliers together) and answers on the
reply route, as labextension/src/proposal.ts does. Validation is real (papermill, a fresh kernel).
"""
from __future__ import annotations

import asyncio
import getpass
import json
import re

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

from codex_nb import audit
from codex_nb.notebook_io import source_hash
from panel_page import PanelPage
from test_server import events, in_loop, post  # noqa: F401
from pytest_jupyter.jupyter_server import *  # noqa: E402,F401,F403


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"codex_nb": True}}}


@pytest.fixture
def project(jp_root_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("CODEX_NB_HISTORY_DIR", str(tmp_path / "history"))
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    (jp_root_dir / ".git").mkdir()
    (jp_root_dir / "helpers.py").write_text("def scale(x):\n    return x * 2\n")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("from helpers import scale\ny = scale(2)", id="c1"),
                nbformat.v4.new_code_cell("assert y == 4\nprint(y)", id="c2")]
    nbformat.write(nb, jp_root_dir / "nb.ipynb")
    return nb


def proposal(nb, *, cell_source: str, helper_new: str | None = None) -> dict:
    edits = [{"op": "replace", "cell_id": "c2", "source": cell_source, "cell_type": None,
              "base_hash": source_hash(nb.cells[1].source)}]
    if helper_new is not None:
        edits.append({"op": "patch_file", "path": "helpers.py", "search": "return x * 2", "replace": helper_new,
                      "base_hash": source_hash("def scale(x):\n    return x * 2\n")})
    return {"version": 1, "id": "p-test1", "explanation": "change it", "edits": edits}


async def test_a_cell_edit_and_a_file_patch_are_kept_together(jp_fetch, jp_root_dir, project):
    page = PanelPage(jp_fetch, project)
    await page.stream("accept", {"path": "nb.ipynb", "proposal": proposal(project, cell_source="assert y == 6\nprint(y)",
                                                                          helper_new="return x * 3")})
    names = page.names()
    assert names[0] == "accept" and names[1] == "decided" and names[-1] == "finished", names
    assert "applied" in names and "validated" in names and "kept" in names, [e for e in page.events if e[0] in ("refused", "error", "finished")]
    assert (jp_root_dir / "helpers.py").read_text() == "def scale(x):\n    return x * 3\n"  # written on the server
    assert page.nb.cells[1].source == "assert y == 6\nprint(y)"  # applied in the page, not in the file
    assert nbformat.read(jp_root_dir / "nb.ipynb", as_version=4).cells[1].source == "assert y == 4\nprint(y)"
    gates = page.last("validated")["gates"]
    assert gates[0]["gate"] == "notebook" and gates[0]["ok"] is True
    # the notebook cell that imports helpers is the targeted seed; the edited cell depends on it
    assert set(gates[0]["detail"]["cells_run"]) == {"c1", "c2"}
    log = [e for e in audit.read(jp_root_dir) if e.get("proposal_id") == "p-test1"]
    assert [e["event"] for e in log] == ["decided", "applied", "validated", "kept"]
    # The user is the server's identity provider's (a token request gets a generated identity), not the OS account.
    assert all(e["source"] == "server" for e in log) and len({e["user"] for e in log}) == 1
    assert re.fullmatch(r"[0-9a-f]{32}", log[0]["user"]) and log[0]["user"] != getpass.getuser()
    assert log[1]["files"] == ["helpers.py"] and log[1]["applier"] == "panel"


async def test_a_breaking_file_patch_rolls_back_cells_and_file_exactly_then_fix_asks_the_model(
        jp_fetch, jp_root_dir, project, scripted_llm):
    before = (jp_root_dir / "helpers.py").read_bytes()
    page = PanelPage(jp_fetch, project)
    original = json.loads(nbformat.writes(page.nb))
    await page.stream("accept", {"path": "nb.ipynb", "proposal": proposal(project, cell_source="assert y == 4\nprint(y, 'x')",
                                                                          helper_new="return x * 3")})
    rolled = page.last("rolled_back")
    assert rolled["exact"] is True and rolled["failure"]["ename"] == "AssertionError"
    assert rolled["failure"]["cell_id"] == "c2" and "assert y == 4" in rolled["failure"]["source"]
    assert (jp_root_dir / "helpers.py").read_bytes() == before
    assert json.loads(nbformat.writes(page.nb))["cells"] == original["cells"]
    outcome = page.last("finished")["outcome"]
    assert outcome["status"] == "rolled_back"

    scripted_llm.queue({"explanation": "keep the factor", "edits": [
        {"op": "replace", "cell_id": "c2", "cell_type": "code", "source": "assert y == 4\nprint('ok', y)"}]})
    fix = PanelPage(jp_fetch, page.nb)
    await fix.stream("repair", {"path": "nb.ipynb", "outcome_id": outcome["id"]})
    assert fix.last("proposal")["proposal"]["explanation"] == "keep the factor"
    sent = scripted_llm.all_request_text()
    # The same repair prompt as every door: the traceback, the failing cell and the diffs that failed.
    assert "AssertionError" in sent and "return x * 3" in sent and "Failing cell id: c2" in sent
    history = json.loads((await jp_fetch("codex-nb", "history", params={"path": "nb.ipynb"})).body)
    assert history["messages"][-1]["proposal"]["explanation"] == "keep the factor"


async def test_a_stale_edit_is_refused_and_nothing_changes(jp_fetch, jp_root_dir, project):
    page = PanelPage(jp_fetch, project)
    page.nb.cells[1].source = "print('typed after the proposal')"
    await page.stream("accept", {"path": "nb.ipynb", "proposal": proposal(project, cell_source="print(1)", helper_new="return x")})
    assert "refused" in page.names() and "applied" not in page.names()
    assert "changed since the proposal" in page.last("refused")["reason"]
    assert page.nb.cells[1].source == "print('typed after the proposal')"
    assert (jp_root_dir / "helpers.py").read_text() == "def scale(x):\n    return x * 2\n"


async def test_a_notebook_cannot_be_patched_as_a_file(jp_fetch, jp_root_dir, project):
    page = PanelPage(jp_fetch, project)
    bad = {"version": 1, "id": "p-nb", "explanation": "", "edits": [
        {"op": "patch_file", "path": "nb.ipynb", "search": "", "replace": "{}"}]}
    original = (jp_root_dir / "nb.ipynb").read_bytes()
    await page.stream("accept", {"path": "nb.ipynb", "proposal": bad})
    assert "notebooks change only through cell edits" in page.last("refused")["reason"]
    assert (jp_root_dir / "nb.ipynb").read_bytes() == original


async def test_reject_is_recorded_by_the_server_and_clients_cannot_write_the_log(jp_fetch, jp_root_dir, project):
    resp = await post(jp_fetch, "reject", {"path": "nb.ipynb", "proposal": proposal(project, cell_source="x"),
                                           "edit_indexes": [0]})
    assert json.loads(resp.body) == {"rejected": [0]}
    entry = [e for e in audit.read(jp_root_dir) if e["event"] == "decided"][-1]
    assert entry["decision"] == "rejected" and entry["source"] == "server" and entry["edits"] == [0]
    with pytest.raises(HTTPClientError) as exc:  # no route lets a client write audit lines (or set time / user)
        await post(jp_fetch, "audit", {"path": "nb.ipynb", "event": "decided", "user": "mallory", "time": "1970"})
    assert exc.value.code == 405
    with pytest.raises(HTTPClientError) as exc:
        await post(jp_fetch, "accept/run-0123/reply", {"request_id": "r-1", "ok": True})
    assert exc.value.code == 404


for _name, _fn in list(globals().items()):
    if _name.startswith("test_") and asyncio.iscoroutinefunction(_fn):
        globals()[_name] = in_loop(_fn)
