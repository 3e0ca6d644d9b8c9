"""`codex-nb apply` never writes a notebook that a running Jupyter server has open (a real server, a real session)."""
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from nb_factory import write_notebook
from server_processes import free_port

ROOT = Path(__file__).resolve().parents[1]


def server_url(proc: subprocess.Popen, runtime: Path) -> str:
    """The URL the server wrote to its runtime file once listening: the port asked for may have been taken
    in the meantime (the server then moves to the next one), so the file, not the request, says where it is."""
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None and time.monotonic() < deadline, "jupyter server did not start"
        for info in runtime.glob("jpserver-*.json"):
            try:
                return json.loads(info.read_text())["url"]
            except (ValueError, KeyError):
                pass  # written but not yet complete
        time.sleep(0.2)


@pytest.fixture
def jupyter(tmp_path):
    """A `jupyter server` subprocess over ``tmp_path/root``, registered in its own runtime directory."""
    root, runtime = tmp_path / "root", tmp_path / "runtime"
    root.mkdir()
    (root / ".git").mkdir()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime), "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    token, port = uuid.uuid4().hex, free_port()
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root", f"--port={port}",
                             "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = server_url(proc, runtime)

    def api(method: str, path: str, body=None):
        request = urllib.request.Request(url + path, method=method, data=json.dumps(body).encode() if body else None,
                                         headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"null")

    yield root, env, api
    proc.terminate()
    proc.wait(timeout=30)


def apply(env, notebook, proposal_file, *flags):
    return subprocess.run([sys.executable, "-m", "codex_nb", "apply", str(notebook), str(proposal_file), *flags],
                          capture_output=True, text=True, env=env, timeout=300)


def test_apply_refuses_a_notebook_open_in_jupyter_and_force_overrides(jupyter, tmp_path):
    root, env, api = jupyter
    (root / "work").mkdir()
    notebook = write_notebook(root / "work" / "analysis.ipynb", {"c1": "x = 1"})
    before = notebook.read_bytes()
    proposal = tmp_path / "proposal.json"
    proposal.write_text(json.dumps({"version": 1, "id": "p-1", "explanation": "",
                                    "edits": [{"op": "insert", "new_id": "n1", "source": "y = 2"}]}))
    session = api("POST", "api/sessions", {"path": "work/analysis.ipynb", "type": "notebook", "name": "analysis.ipynb",
                                           "kernel": {"name": "python3"}})

    refused = apply(env, notebook, proposal)
    assert refused.returncode == 1
    assert "is open in Jupyter at http://127.0.0.1" in refused.stderr and "--force" in refused.stderr
    assert notebook.read_bytes() == before

    other = write_notebook(root / "other.ipynb", {"c1": "z = 3"})  # a notebook nobody has open
    assert apply(env, other, proposal).returncode == 0

    api("DELETE", f"api/sessions/{session['id']}")
    assert apply(env, notebook, proposal, "--dry-run").returncode == 0
    done = apply(env, notebook, proposal)
    assert done.returncode == 0, done.stderr
    assert "y = 2" in notebook.read_text()


def test_force_writes_an_open_notebook(jupyter, tmp_path):
    root, env, api = jupyter
    notebook = write_notebook(root / "analysis.ipynb", {"c1": "x = 1"})
    proposal = tmp_path / "proposal.json"
    proposal.write_text(json.dumps({"version": 1, "id": "p-2", "explanation": "",
                                    "edits": [{"op": "insert", "new_id": "n1", "source": "y = 2"}]}))
    api("POST", "api/sessions", {"path": "analysis.ipynb", "type": "notebook", "name": "analysis.ipynb",
                                 "kernel": {"name": "python3"}})
    forced = apply(env, notebook, proposal, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "y = 2" in notebook.read_text()


def test_terminal_review_does_not_write_a_notebook_open_in_jupyter(jupyter, monkeypatch):
    import nbformat

    from codex_nb.edits.model import Proposal
    from codex_nb.widgets.terminal import review_in_terminal

    root, env, api = jupyter
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", env["JUPYTER_RUNTIME_DIR"])
    notebook = write_notebook(root / "analysis.ipynb", {"c1": "x = 1"})
    before = notebook.read_bytes()
    api("POST", "api/sessions", {"path": "analysis.ipynb", "type": "notebook", "name": "analysis.ipynb",
                                 "kernel": {"name": "python3"}})
    proposal = Proposal.from_json({"version": 1, "id": "p-3", "explanation": "",
                                   "edits": [{"op": "insert", "new_id": "n1", "source": "y = 2"}]})
    lines = []
    from codex_nb.engine import build_engine

    engine = build_engine(source="kernel", anchor=notebook, validate=False)
    applied = review_in_terminal(proposal, nbformat.read(notebook, as_version=4), engine=engine,
                                 notebook_path=str(notebook), ask=lambda prompt: "y", out=lines.append)
    assert applied == []
    assert any(line.startswith("Not applied:") and "is open in Jupyter" in line for line in lines)
    assert notebook.read_bytes() == before
