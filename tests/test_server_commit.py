"""The panel's Commit (commit = "ask") over real HTTP against a real Jupyter server: POST /codex-nb/commit makes the
offered commit of a kept change (the test plays the page, as in test_server_accept), refuses with a message and a
hint when a file changed since, and the panel's Undo then reverts it by a revert commit. A real git repository."""
from __future__ import annotations

import asyncio
import getpass
import json
import re
import subprocess

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

from codex_nb import audit
from codex_nb.notebook_io import source_hash
from panel_page import PanelPage
from test_server import in_loop, post  # noqa: F401
from pytest_jupyter.jupyter_server import *  # noqa: E402,F401,F403

HELPER = "def scale(x):\n    return x * 2\n"


def git(root, *args):
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"codex_nb": True}}}


@pytest.fixture
def project(jp_root_dir, jp_config_dir, monkeypatch, tmp_path):
    monkeypatch.setattr("codex_nb.config._ipython_config", lambda: None)  # the Jupyter config files decide
    (jp_config_dir / "codex_nb_config.json").write_text(json.dumps({"CodexNB": {"commit": "ask"}}))
    monkeypatch.setenv("CODEX_NB_HISTORY_DIR", str(tmp_path / "history"))
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    for var in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        monkeypatch.setenv(var, "t")
    for var in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(var, "t@example.org")
    (jp_root_dir / "helpers.py").write_text(HELPER)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("from helpers import scale\ny = scale(2)", id="c1"),
                nbformat.v4.new_code_cell("assert y == 4\nprint(y)", id="c2")]
    nbformat.write(nb, jp_root_dir / "nb.ipynb")
    git(jp_root_dir, "init", "-q")
    git(jp_root_dir, "add", "-A")
    git(jp_root_dir, "commit", "-qm", "start")
    return nb


def proposal(nb) -> dict:
    return {"version": 1, "id": "p-panel-ask", "explanation": "Scale by three.", "edits": [
        {"op": "replace", "cell_id": "c2", "source": "assert y == 6\nprint(y)", "cell_type": None,
         "base_hash": source_hash(nb.cells[1].source)},
        {"op": "patch_file", "path": "helpers.py", "search": "return x * 2", "replace": "return x * 3",
         "base_hash": source_hash(HELPER)}]}


async def kept(jp_fetch, nb, validate=True):
    page = PanelPage(jp_fetch, nb)
    await page.stream("accept", {"path": "nb.ipynb", "proposal": proposal(nb), "settings": {"validate": validate}})
    outcome = page.last("finished")["outcome"]
    assert outcome["status"] == "kept", page.events
    return page, outcome


async def test_commit_makes_the_offered_commit_and_undo_reverts_it(jp_fetch, jp_root_dir, project):
    head = git(jp_root_dir, "rev-parse", "HEAD")
    page, outcome = await kept(jp_fetch, project)
    offer = page.last("kept")["commit_offer"]
    assert offer["files"] == ["helpers.py"] and outcome["commit"] is None  # the page's notebook is not a file here
    assert git(jp_root_dir, "rev-parse", "HEAD") == head

    resp = json.loads((await post(jp_fetch, "commit", {"path": "nb.ipynb", "outcome_id": outcome["id"]})).body)
    sha = resp["commit"]
    assert resp["files"] == ["helpers.py"] and resp["proposal_id"] == "p-panel-ask"
    assert git(jp_root_dir, "rev-parse", "HEAD") == sha and git(jp_root_dir, "rev-parse", "HEAD~1") == head
    assert git(jp_root_dir, "show", "--name-only", "--format=", sha).split() == ["helpers.py"]
    message = git(jp_root_dir, "log", "-1", "--format=%B")
    assert "Codex-Proposal: p-panel-ask" in message and "Codex-Validation: passed (notebook" in message
    log = [e for e in audit.read(jp_root_dir) if e.get("proposal_id") == "p-panel-ask"]
    committed = next(e for e in log if e["event"] == "committed")
    assert committed["commit"] == sha and committed["source"] == "server"
    # the identity provider's user (a token request gets a generated one), not the OS account
    assert re.fullmatch(r"[0-9a-f]{32}", committed["user"]) and committed["user"] != getpass.getuser()

    with pytest.raises(HTTPClientError) as again:
        await post(jp_fetch, "commit", {"path": "nb.ipynb", "outcome_id": outcome["id"]})
    assert again.value.code == 409 and "already committed" in json.loads(again.value.response.body)["message"]

    # the panel's Undo: the engine knows the commit now, so the files come back by a revert commit
    undo = PanelPage(jp_fetch, page.nb)
    await undo.stream("undo", {"path": "nb.ipynb", "outcome_id": outcome["id"]})
    assert undo.last("undone")["commit"] == git(jp_root_dir, "rev-parse", "HEAD")
    assert git(jp_root_dir, "rev-parse", "HEAD~1") == sha
    assert git(jp_root_dir, "log", "-1", "--format=%s") == 'Revert "Scale by three."'
    assert (jp_root_dir / "helpers.py").read_text() == HELPER and undo.nb.cells[1].source == "assert y == 4\nprint(y)"


async def test_commit_is_refused_when_a_file_changed_since_or_the_outcome_is_unknown(jp_fetch, jp_root_dir, project):
    head = git(jp_root_dir, "rev-parse", "HEAD")
    _page, outcome = await kept(jp_fetch, project, validate=False)
    (jp_root_dir / "helpers.py").write_text("def scale(x):\n    return x * 3  # tuned by hand\n")
    with pytest.raises(HTTPClientError) as info:
        await post(jp_fetch, "commit", {"path": "nb.ipynb", "outcome_id": outcome["id"]})
    body = json.loads(info.value.response.body)
    assert info.value.code == 409 and "helpers.py changed after the change was kept" in body["message"]
    assert "git add -A -- helpers.py && git commit" in body["hint"]
    assert git(jp_root_dir, "rev-parse", "HEAD") == head
    with pytest.raises(HTTPClientError) as unknown:
        await post(jp_fetch, "commit", {"path": "nb.ipynb", "outcome_id": "a-000000000000"})
    assert unknown.value.code == 404


for _name, _fn in list(globals().items()):
    if _name.startswith("test_") and asyncio.iscoroutinefunction(_fn):
        globals()[_name] = in_loop(_fn)
