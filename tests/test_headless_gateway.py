"""Validation kernels on a real Jupyter Kernel Gateway started on loopback (one per module).

The gateway runs in a folder of its own with an environment variable the test process does
not have: a cell that sees it ran on the gateway. The report has the same shape as a local one.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

MARK = "CODEX_NB_TEST_ON_GATEWAY"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    try:
        import kernel_gateway  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("jupyter-kernel-gateway is not installed (pip install jupyter-kernel-gateway)", pytrace=False)
        pytest.skip("jupyter-kernel-gateway is not installed")
    home = tmp_path_factory.mktemp("gateway-home")
    port = _free_port()
    env = {**os.environ, MARK: "yes"}
    log = open(home / "gateway.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "jupyter", "kernelgateway", "--KernelGatewayApp.ip=127.0.0.1",
                                f"--KernelGatewayApp.port={port}", "--KernelGatewayApp.port_retries=0",
                                # kernels get only the variables the gateway lets through
                                f"--KernelGatewayApp.env_process_whitelist={MARK}"],
                               cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None:
            pytest.fail(f"the kernel gateway exited: {(home / 'gateway.log').read_text()[-2000:]}", pytrace=False)
        try:
            urllib.request.urlopen(f"{url}/api/kernelspecs", timeout=5).read()
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail("the kernel gateway did not start in 90 s", pytrace=False)
            time.sleep(0.3)
    yield url
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s, id=f"c{i}") for i, s in enumerate(sources, 1)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def _validate(nb: Path, *args: str, env: dict | None = None):
    run = subprocess.run([sys.executable, "-m", "codex_nb", "validate", str(nb), "--json", "--quiet", *args],
                         capture_output=True, text=True, timeout=240, env={**os.environ, **(env or {})},
                         cwd=nb.parent.parent)
    assert run.stdout.strip(), run.stderr[-2000:]
    return run.returncode, json.loads(run.stdout)


def test_a_notebook_validates_on_the_gateway(gateway, tmp_path, monkeypatch):
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    nb = _notebook(tmp_path / "proj" / "nb.ipynb",
                   "import os\non_gateway = os.environ.get(%r)" % MARK,
                   "assert on_gateway == 'yes', 'this kernel is not the gateway\\'s'\nprint('ran remotely')")
    code, report = _validate(nb, "--gateway-url", gateway)
    assert code == 0 and report["ok"], report
    assert report["cells_run"] == ["c1", "c2"]  # the set-up cell is not one of the notebook's


def test_a_failure_on_the_gateway_is_reported_like_a_local_one(gateway, tmp_path, monkeypatch):
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    nb = _notebook(tmp_path / "proj" / "nb.ipynb", "x = 1", "y = x / 0")
    remote_code, remote = _validate(nb, "--gateway-url", gateway)
    local_code, local = _validate(nb)
    assert remote_code == local_code == 1
    for key in ("kind", "cell_id", "index", "ename", "evalue"):
        assert remote["failed"][key] == local["failed"][key], key
    assert remote["failed"]["ename"] == "ZeroDivisionError" and remote["failed"]["cell_id"] == "c2"
    assert remote["cells_run"] == local["cells_run"] == ["c1", "c2"]


def test_the_gateway_comes_from_the_configuration(gateway, tmp_path, monkeypatch):
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    config = tmp_path / "etc-jupyter"
    config.mkdir()
    (config / "codex_nb_config.json").write_text(json.dumps({"CodexNB": {"validation_gateway_url": gateway}}))
    nb = _notebook(tmp_path / "proj" / "nb.ipynb", "import os\nassert os.environ.get(%r) == 'yes'" % MARK)
    code, report = _validate(nb, env={"JUPYTER_CONFIG_PATH": str(config)})
    assert code == 0 and report["ok"], report


def test_relative_files_work_when_the_gateway_host_has_the_notebooks_folder(gateway, tmp_path, monkeypatch):
    # The gateway runs elsewhere (its own folder); the notebook's folder exists on its host (the same
    # machine here, a shared mount in a team), so the set-up cell moves the kernel there.
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    nb = _notebook(tmp_path / "proj" / "nb.ipynb", "print(open('data.txt').read())")
    (tmp_path / "proj" / "data.txt").write_text("rows")
    code, report = _validate(nb, "--gateway-url", gateway)
    assert code == 0 and report["ok"], report


def test_a_kernel_the_gateway_does_not_have_is_a_missing_kernel(gateway, tmp_path, monkeypatch):
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    nb = _notebook(tmp_path / "proj" / "nb.ipynb", "x = 1")
    code, report = _validate(nb, "--gateway-url", gateway, "--kernel", "no-such-kernel")
    assert code == 1 and report["failed"]["kind"] == "missing_kernel"
    assert "python3" in report["failed"]["message"] and gateway in report["failed"]["message"]


def test_an_unreachable_gateway_says_how_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    nb = _notebook(tmp_path / "proj" / "nb.ipynb", "x = 1")
    code, report = _validate(nb, "--gateway-url", f"http://127.0.0.1:{_free_port()}")
    assert code == 1 and report["failed"]["kind"] == "engine_error"
    assert "validation_gateway_url" in report["failed"]["message"]
