"""Real-browser fixtures: a real `jupyter lab` subprocess and Playwright on Debian's Chromium.

Shared by every browser test (panel and magics). The lab serves the freshly built
extension from this source tree (codex_nb/labextension, built with
`cd labextension && jlpm build`), whatever is installed, and runs the codex_nb
server extension. Its model is a ScriptedLLM on loopback (`jupyter_lab.llm`):
queue replies there. Kernels inherit the lab's environment, so %codex in a
kernel talks to the same scripted model.

Under CI (CI=true) a missing browser or a missing build fails the run; locally it skips.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scripted_llm import ScriptedLLM
from server_processes import (ARTIFACTS, BUILT_EXTENSION, REPO, free_port, launched_chromium, share_built_extension,
                              stop_process, wait_until, write_no_news_settings)
from server_processes import unavailable as _unavailable

SCREENSHOTS = ARTIFACTS / "screenshots"


def unavailable(reason: str):
    _unavailable("browser tests", reason)


@dataclass
class JupyterLab:
    url: str  # ends with "/"
    token: str
    root_dir: Path
    env: dict
    llm: ScriptedLLM
    log_path: Path
    process: subprocess.Popen = field(repr=False, default=None)

    def api(self, method: str, path: str, body=None) -> dict | None:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                     headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def upload(self, name: str, nb_json) -> str:
        """Put a notebook (dict or NotebookNode) into the root through the contents API; returns its path."""
        content = json.loads(json.dumps(nb_json))
        content.setdefault("metadata", {}).setdefault(
            "kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
        self.api("PUT", f"api/contents/{name}", {"type": "notebook", "format": "json", "content": content})
        return name

    def read(self, name: str) -> dict:
        """The saved notebook as nbformat JSON."""
        return self.api("GET", f"api/contents/{name}?content=1")["content"]

    def lab_url(self, name: str) -> str:
        return f"{self.url}lab/tree/{name}?reset&token={self.token}"


# pytest-jupyter (loaded by the route tests) has two autouse fixtures that take "the current
# event loop" and close it after each test. In a browser test that loop is Playwright's, still
# running, so they are replaced here by no-ops: these tests start no in-process server.
@pytest.fixture
def jp_asyncio_loop():
    yield None


@pytest.fixture
def jp_server_cleanup():
    yield


@pytest.fixture(scope="session")
def jupyter_lab_env() -> dict:
    """Extra environment for the lab process (and its kernels); override to add more."""
    return {}


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory, jupyter_lab_env):
    if not (BUILT_EXTENSION / "package.json").exists():
        unavailable(f"the lab extension is not built ({BUILT_EXTENSION}); run `cd labextension && jlpm install && jlpm build`")
    base = tmp_path_factory.mktemp("lab")
    root, workspaces, settings, config, share = (base / n for n in ("root", "workspaces", "settings", "config", "share"))
    for d in (root, workspaces, settings, config):
        d.mkdir(parents=True)
    (root / ".codexignore").write_text("")  # the root is the repository (audit log, history, context)
    share_built_extension(share)
    (config / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": {"codex_nb": True}}}))
    write_no_news_settings(settings)

    llm = ScriptedLLM().start()
    token = uuid.uuid4().hex
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "CODEX_NB_MODEL")}
    env.update({
        "JUPYTER_PATH": os.pathsep.join([str(share), env.get("JUPYTER_PATH", "")]).rstrip(os.pathsep),
        "JUPYTER_CONFIG_DIR": str(config),
        "PYTHONPATH": os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "OPENAI_BASE_URL": llm.url,
        "OPENAI_API_KEY": "sk-test-not-a-real-key",
        "CODEX_NB_MODEL": "openai:scripted-model",
        **jupyter_lab_env,
    })
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "jupyter-lab.log"
    log = open(log_path, "wb")
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--port={port}",
           "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", f"--LabApp.workspaces_dir={workspaces}",
           f"--LabApp.user_settings_dir={settings}", "--LabApp.expose_app_in_browser=True"]
    process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    lab = JupyterLab(url=f"http://127.0.0.1:{port}/", token=token, root_dir=root, env=env, llm=llm,
                     log_path=log_path, process=process)
    try:
        wait_until(lambda: lab.api("GET", "api/status") or True, process, "jupyter lab", 90, "jupyter lab did not start", log_path,
                   retry_on=(urllib.error.URLError, ConnectionError, OSError))
    except BaseException:
        llm.stop()
        raise
    yield lab
    stop_process(process, 20)
    log.close()
    llm.stop()


# Module scope, not session: while Playwright's sync API is alive its event loop counts as
# running in this thread, and tests that run their own loop (the route tests) would fail.
@pytest.fixture(scope="module")
def browser():
    yield from launched_chromium("browser tests")


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1500, "height": 950})
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.codex_errors = errors  # tests may assert there were no uncaught page errors
    yield page
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        screenshot(page, f"FAILED-{request.node.name}")
    context.close()


@pytest.fixture(autouse=True)
def shut_down_this_tests_sessions(request):
    """The lab lives for the whole session; the notebook sessions a test opened end with the test, so that
    their kernels do not pile up and load the machine for every test after it."""
    if "jupyter_lab" not in request.fixturenames:
        yield
        return
    lab = request.getfixturevalue("jupyter_lab")
    before = {s["id"] for s in lab.api("GET", "api/sessions") or []}
    yield
    for session in lab.api("GET", "api/sessions") or []:
        if session["id"] not in before:
            try:
                lab.api("DELETE", f"api/sessions/{session['id']}")
            except urllib.error.HTTPError as error:  # already gone: its page closed it
                if error.code != 404:
                    raise


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    try:
        page.screenshot(path=str(path))
    except Exception:  # a screenshot must never hide the real failure
        pass
    return path


KERNEL_IDLE = """() => {
  const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!(w && w.context && w.context.isReady && k && k.status === 'idle');
}"""


def open_notebook(page, lab: JupyterLab, name: str, timeout: float = 60_000) -> None:
    """Open `name` in a fresh workspace and wait until its kernel is idle (so runs are not dropped)."""
    page.goto(lab.lab_url(name))
    page.wait_for_function("() => !!window.jupyterapp", timeout=timeout)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout)
    page.wait_for_function(KERNEL_IDLE, timeout=timeout)


def notebook_json(page) -> dict:
    """The live notebook model (what the user sees, saved or not)."""
    return page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.toJSON()")


def run_cell(page, index: int, timeout: float = 60_000) -> None:
    """Run cell `index` of the current notebook; wait until it has executed and the kernel is idle.

    The cell is followed by its id, so a run that inserts or deletes cells above it still completes.
    """
    cell_id, before = page.evaluate(
        """(i) => { const app = window.jupyterapp; const nb = app.shell.currentWidget.content;
                    const m = nb.widgets[i].model;
                    nb.activeCellIndex = i; nb.deselectAll();
                    app.commands.execute('notebook:run-cell');
                    return [m.id, m.type === 'code' ? m.executionCount : null]; }""", index)
    page.wait_for_function(
        """([id, before]) => { const w = window.jupyterapp.shell.currentWidget;
              const cell = w.content.widgets.find(c => c.model.id === id);
              if (!cell) return true;  // the cell deleted itself
              const m = cell.model;
              if (m.type !== 'code') return true;
              const k = w.sessionContext.session.kernel;
              return typeof m.executionCount === 'number' && m.executionCount !== before && k.status === 'idle'; }""",
        arg=[cell_id, before], timeout=timeout)
