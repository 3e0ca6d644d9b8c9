"""Validation kernels on a real Jupyter Kernel Gateway started on loopback (one for the module).

The gateway runs in a folder of its own and passes its kernels an environment variable this
process does not have, so a cell can tell that it ran there. A second kernelspec on it,
``python3-elsewhere``, starts its kernel in a mount namespace where one directory is an empty
tmpfs: a gateway host that does not have the client's temporary directory (as a gateway on
another machine would not), without a second machine.
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

from codex_nb.notebook_io import source_hash

MARK = "CODEX_NB_TEST_ON_GATEWAY"
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    home = tmp_path_factory.mktemp("gateway-home")
    hidden = tmp_path_factory.mktemp("client-tmp")  # what the "elsewhere" kernel cannot see
    spec_dir = home / "data" / "kernels" / "python3-elsewhere"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "display_name": "Python 3 (another host's view)", "language": "python",
        "argv": ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                 'mount -t tmpfs none "$0" && exec "$1" -m ipykernel_launcher -f "$2"',
                 str(hidden), sys.executable, "{connection_file}"]}))
    port = _free_port()
    env = {**os.environ, MARK: "yes", "JUPYTER_PATH": str(home / "data"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
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
    yield {"url": url, "home": home, "hidden": hidden}
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(autouse=True)
def _audit_here(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.delenv("CODEX_NB_VALIDATION_GATEWAY_URL", raising=False)
    # No user-level Jupyter config of this machine decides where the tests' kernels run.
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "no-config"))


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s, id=f"c{i}") for i, s in enumerate(sources, 1)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def _codex(*args: str, env: dict | None = None, cwd=None):
    return subprocess.run([sys.executable, "-m", "codex_nb", *args], capture_output=True, text=True, timeout=240,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def _validate(nb: Path, *args: str, env: dict | None = None):
    run = _codex("validate", str(nb), "--json", "--quiet", *args, env=env, cwd=nb.parent.parent)
    assert run.stdout.strip(), run.stderr[-2000:]
    return run.returncode, json.loads(run.stdout)


def test_a_notebook_validates_on_the_gateway(gateway, tmp_path):
    nb = _notebook(tmp_path / "proj" / "nb.ipynb",
                   "import os\non_gateway = os.environ.get(%r)" % MARK,
                   "assert on_gateway == 'yes', 'this kernel is not the gateway\\'s'\nprint('ran remotely')")
    code, report = _validate(nb, "--gateway-url", gateway["url"])
    assert code == 0 and report["ok"], report
    assert report["cells_run"] == ["c1", "c2"] and report["mode"] == "full"
    assert report["gateway"]["url"] == gateway["url"] and report["gateway"]["kernel_id"]
    text = _codex("validate", str(nb), "--quiet", "--gateway-url", gateway["url"]).stdout
    assert text.startswith("ok:") and f"on the kernel gateway at {gateway['url']}" in text


def test_a_failure_on_the_gateway_is_reported_like_a_local_one(gateway, tmp_path):
    nb = _notebook(tmp_path / "proj" / "nb.ipynb", "x = 1", "y = x / 0", "print(y)")
    remote_code, remote = _validate(nb, "--gateway-url", gateway["url"])
    local_code, local = _validate(nb)
    assert remote_code == local_code == 1
    for key in ("kind", "cell_id", "index", "ename", "evalue", "cell"):
        assert remote["failed"][key] == local["failed"][key], key
    assert remote["failed"]["kind"] == "error" and remote["failed"]["cell_id"] == "c2"
    assert remote["failed"]["ename"] == "ZeroDivisionError" and "y = x /" in "".join(remote["failed"]["traceback"])
    assert remote["cells_run"] == local["cells_run"] == ["c1", "c2"]
    assert remote["gateway"] and local["gateway"] is None


def test_the_kernel_runs_in_the_scratch_copy_when_the_gateway_host_has_it(gateway, tmp_path):
    # Same machine here (a shared mount in a team): relative reads work, writes stay in the copy.
    proj = tmp_path / "proj"
    nb = _notebook(proj / "nb.ipynb", "rows = open('data.txt').read()", "open('out.txt', 'w').write(rows)")
    (proj / "data.txt").write_text("rows")
    code, report = _validate(nb, "--gateway-url", gateway["url"])
    assert code == 0 and report["ok"], report
    where = report["gateway"]
    assert where["sees_files"] and where["cwd"] == report["workdir"] == where["wanted"]
    assert "scratch copy" in where["note"] and not (proj / "out.txt").exists()


def test_a_gateway_host_without_the_files_runs_in_its_own_directory_and_says_so(gateway, tmp_path):
    proj = tmp_path / "proj"
    nb = _notebook(proj / "nb.ipynb", "import os\nprint(os.getcwd())", "rows = open('data.txt').read()")
    (proj / "data.txt").write_text("rows")
    # The scratch copy goes to the directory the "elsewhere" kernel cannot see.
    code, report = _validate(nb, "--gateway-url", gateway["url"], "--kernel", "python3-elsewhere",
                             env={"TMPDIR": str(gateway["hidden"])})
    assert code == 1, report
    where = report["gateway"]
    assert not where["sees_files"] and where["cwd"] == str(gateway["home"]) == report["workdir"]
    assert where["wanted"].startswith(str(gateway["hidden"]))
    assert "its own directory" in where["note"] and "notebook's files are not there" in where["note"]
    assert report["failed"]["cell_id"] == "c2" and report["failed"]["ename"] == "FileNotFoundError"
    text = _codex("validate", str(nb), "--quiet", "--gateway-url", gateway["url"], "--kernel", "python3-elsewhere",
                  env={"TMPDIR": str(gateway["hidden"])}).stdout
    assert f"in its own directory {gateway['home']}" in text


def test_a_kernel_the_gateway_does_not_have_is_a_missing_kernel(gateway, tmp_path):
    nb = _notebook(tmp_path / "proj" / "nb.ipynb", "x = 1")
    code, report = _validate(nb, "--gateway-url", gateway["url"], "--kernel", "no-such-kernel")
    assert code == 1 and report["failed"]["kind"] == "missing_kernel"
    assert report["failed"]["installed"] == ["python3", "python3-elsewhere"]
    assert gateway["url"] in report["failed"]["message"] and "--kernel" in report["failed"]["message"]


def test_an_unreachable_gateway_says_how_to_fix_it(tmp_path):
    nb = _notebook(tmp_path / "proj" / "nb.ipynb", "x = 1")
    url = f"http://127.0.0.1:{_free_port()}"
    code, report = _validate(nb, "--gateway-url", url)
    assert code == 1 and report["failed"]["kind"] == "engine_error" and report["cells_run"] == []
    message = report["failed"]["message"]
    assert url in message and "cannot be reached" in message and "validation_gateway_url" in message
    bad = _codex("validate", str(nb), "--gateway-url", "gateway:8888")
    assert bad.returncode == 2 and "http://HOST:PORT" in bad.stderr


def test_accepting_through_the_engine_validates_on_the_configured_gateway(gateway, tmp_path):
    config = tmp_path / "jupyter-config"
    config.mkdir()
    (config / "codex_nb_config.json").write_text(json.dumps({"CodexNB": {"validation_gateway_url": gateway["url"]}}))
    env = {"JUPYTER_CONFIG_DIR": str(config)}
    nb = _notebook(tmp_path / "proj" / "nb.ipynb", "import os\nwhere = os.environ.get(%r)" % MARK, "print(where)")
    proposal = {"version": 1, "id": "p-gw", "explanation": "Check where it runs.", "edits": [
        {"op": "replace", "cell_id": "c2", "source": "assert where == 'yes'\nprint(where)",
         "base_hash": source_hash("print(where)")}]}
    pfile = tmp_path / "p.json"
    pfile.write_text(json.dumps(proposal))
    done = _codex("apply", str(nb), str(pfile), "--validate", "--json", env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    gates = {g["gate"]: g for g in json.loads(done.stdout)["gates"]}
    assert gates["notebook"]["ok"] and gates["notebook"]["detail"]["gateway"]["url"] == gateway["url"]
    assert "assert where == 'yes'" in nbformat.read(str(nb), as_version=4).cells[1].source
    # The same setting, no flag, for the validate command.
    code, report = _validate(nb, env=env)
    assert code == 0 and report["gateway"]["url"] == gateway["url"]


def test_a_kernel_that_dies_or_overruns_on_the_gateway_fails_as_locally(gateway, tmp_path):
    died = _notebook(tmp_path / "died" / "nb.ipynb", "x = 1", "import os\nos._exit(1)", "y = 2")
    code, report = _validate(died, "--gateway-url", gateway["url"])
    assert code == 1 and report["failed"]["kind"] == "kernel_died" and report["failed"]["cell_id"] == "c2"
    stuck = _notebook(tmp_path / "stuck" / "nb.ipynb", "x = 1", "while True:\n    pass")
    code, report = _validate(stuck, "--gateway-url", gateway["url"], "--timeout", "6", "--cell-timeout", "0")
    assert code == 1 and report["failed"]["kind"] == "total_timeout" and report["failed"]["cell_id"] == "c2"


def test_a_spare_kernel_is_started_on_the_gateway(gateway, tmp_path):
    from codex_nb.validate import kernels, validate_notebook

    nb = _notebook(tmp_path / "proj" / "nb.ipynb", "import json\nx = 1")
    try:
        first = validate_notebook(str(nb), gateway_url=gateway["url"], keep_spare=True)
        assert first.ok and first.kernel_start["spare"] is False, first.failed
        spare_keys = [k for k in kernels.spare_keys() if k.gateway_url == gateway["url"]]
        assert len(spare_keys) == 1
        second = validate_notebook(str(nb), gateway_url=gateway["url"], keep_spare=False)
        assert second.ok and second.kernel_start["spare"] is True and second.gateway["sees_files"]
    finally:
        kernels.shutdown_all()
