"""Spare kernels: started ahead of time, used once, never reused after running user code, cleaned up on exit,
no leaked processes, and in the right working directory (real kernels)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from codex_nb.validate import kernels, prepare, validate_notebook

KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    kernels.shutdown_all()  # spares that earlier validations in this process left ready are not this test's
    _EARLIER.update(p.pid for p in _kernels_now())
    yield
    kernels.shutdown_all()


def write_nb(path: Path, *sources) -> Path:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNEL})
    nb.cells = [nbformat.v4.new_code_cell(src, id=f"c{i}") for i, src in enumerate(sources)]
    nbformat.write(nb, path)
    return path


def wait_for_spare(timeout: float = 90) -> kernels.StartedKernel:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with kernels._lock:
            entries = list(kernels._spares.values())
        if entries and entries[0][0].done():
            return entries[0][0].result()
        time.sleep(0.1)
    raise AssertionError("no spare kernel became ready")


def gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:  # also when it exits between the lookup and the status read
            return True
        time.sleep(0.1)
    return False


def _is_live_kernel(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE and "ipykernel" in " ".join(process.cmdline())
    except psutil.NoSuchProcess:  # it ended while we looked
        return False


def _kernels_now() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if _is_live_kernel(p)]


_EARLIER: set[int] = set()  # kernels other tests of this process left running: not this module's to judge


def kernel_children() -> list[psutil.Process]:
    return [p for p in _kernels_now() if p.pid not in _EARLIER]


def probe_notebook(root: Path, out: Path) -> Path:
    """Cells that report the kernel's pid, working directory and how many cells it ran before, to ``out``."""
    return write_nb(
        root / "probe.ipynb",
        "import os, json, subprocess\n"
        "child = subprocess.Popen(['sleep', '300'])\n"
        f"json.dump({{'pid': os.getpid(), 'cwd': os.getcwd(), 'ran': len(In), 'child': child.pid,"
        f" 'names': sorted(k for k in globals() if not k.startswith('_'))}}, open({str(out)!r}, 'w'))",
    )


def test_a_spare_kernel_is_used_once_in_its_directory_and_then_killed_with_its_children(tmp_path):
    root = tmp_path / "work"
    root.mkdir()
    out = tmp_path / "probe.json"
    nb = probe_notebook(root, out)
    assert prepare(nb)
    spare = wait_for_spare()
    assert spare.spare and not spare.used and psutil.pid_exists(spare.pid)
    report = validate_notebook(nb, mode="full", keep_spare=True)
    assert report.ok, report.failure_text()
    seen = json.loads(out.read_text())
    assert report.kernel_start["spare"] is True and seen["pid"] == spare.pid
    assert report.kernel_start["warm"] is True  # the opening imports ran ahead of time
    assert spare.used
    # It ran in the scratch copy of the notebook's directory, with nothing run before the notebook's cells.
    assert seen["cwd"] == report.workdir and Path(seen["cwd"]).name == "work"
    assert seen["ran"] == 2  # In[0] is empty; In[1] is the one cell: the guard left no input or names behind
    assert {"child", "json", "os", "subprocess"} <= set(seen["names"]) and "_codex_nb_guard" not in seen["names"]
    # Used once: shut down after the run, the process a cell started killed with it.
    assert gone(seen["pid"]) and gone(seen["child"])
    # keep_spare started the next one; it is a different process, and the next run gets it.
    following = wait_for_spare()
    assert following.pid != seen["pid"] and not following.used
    second = validate_notebook(nb, mode="full", keep_spare=False)
    assert second.ok and json.loads(out.read_text())["pid"] == following.pid
    assert gone(following.pid) and kernels.spare_keys() == []
    assert kernel_children() == []


def test_a_run_without_a_spare_starts_its_own_kernel_and_leaves_nothing_behind(tmp_path):
    out = tmp_path / "probe.json"  # outside the notebook's directory, which the guard protects
    (tmp_path / "work").mkdir()
    nb = probe_notebook(tmp_path / "work", out)
    before = {p.pid for p in kernel_children()}
    report = validate_notebook(nb, mode="full", keep_spare=False)
    assert report.ok and report.kernel_start["spare"] is False
    seen = json.loads(out.read_text())
    assert gone(seen["pid"]) and gone(seen["child"])
    assert {p.pid for p in kernel_children()} == before == set()
    assert kernels.spare_keys() == []


def test_a_warm_up_that_prints_is_not_hidden_from_the_first_cell(tmp_path):
    # `import this` prints when first imported: a kernel that imported it ahead of time would swallow that.
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNEL})
    nb.cells = [nbformat.v4.new_code_cell("import this", id="zen", execution_count=1, outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="The Zen of Python, by Tim Peters\n")])]
    path = tmp_path / "zen.ipynb"
    nbformat.write(nb, path)
    prepare(path)
    spare = wait_for_spare()
    assert not spare.warm_clean
    report = validate_notebook(path, mode="full", keep_spare=False)
    assert report.ok and report.kernel_start["spare"] is False and report.kernel_start["warm"] is False
    assert not any("stdout was" in d["detail"] and "now ''" in d["detail"] for d in report.drift), report.drift
    assert gone(spare.pid)


def test_a_spare_whose_directory_changed_is_not_used(tmp_path):
    root = tmp_path / "work"
    root.mkdir()
    nb = write_nb(root / "reads.ipynb", "print(open('late.txt').read())")
    prepare(nb)
    spare = wait_for_spare()
    (root / "late.txt").write_text("written after the spare started")
    report = validate_notebook(nb, mode="full", keep_spare=False)
    assert report.ok, report.failure_text()  # a fresh copy has the file
    assert report.kernel_start["spare"] is False and gone(spare.pid)


def test_spare_kernels_are_shut_down_when_the_process_exits(tmp_path):
    nb = write_nb(tmp_path / "exit.ipynb", "x = 1")
    script = (
        "import sys, time\n"
        "from codex_nb.validate import kernels, prepare\n"
        f"prepare({str(nb)!r})\n"
        "deadline = time.monotonic() + 90\n"
        "while time.monotonic() < deadline:\n"
        "    entries = list(kernels._spares.values())\n"
        "    if entries and entries[0][0].done():\n"
        "        break\n"
        "    time.sleep(0.1)\n"
        "print(entries[0][0].result().pid, flush=True)\n"
    )
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=150, env=env)
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.split()[-1])
    assert gone(pid), "the spare kernel outlived the process that started it"


def test_only_the_last_folders_keep_a_spare_and_an_evicted_spare_is_shut_down(tmp_path):
    notebooks = []
    for i in range(kernels.MAX_SPARES + 1):
        folder = tmp_path / f"project{i}"
        folder.mkdir()
        notebooks.append(write_nb(folder / "nb.ipynb", "x = 1"))
    assert prepare(notebooks[0])
    first = wait_for_spare()
    for nb in notebooks[1:]:
        assert prepare(nb)
    kept = {Path(key.directory).name for key in kernels.spare_keys()}
    assert kept == {f"project{i}" for i in range(1, kernels.MAX_SPARES + 1)}
    assert gone(first.pid, timeout=30)
