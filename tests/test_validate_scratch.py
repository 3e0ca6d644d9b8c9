"""Validation cannot change the user's files: it runs in a scratch copy, with a write guard and an optional
network guard in the kernel (real kernels, real papermill runs)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat
import pytest

from codex_nb.validate import validate_notebook

KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("CODEX_NB_VALIDATE_IN_PLACE", "CODEX_NB_VALIDATE_NETWORK", "CODEX_NB_VALIDATE_SCRATCH_MB"):
        monkeypatch.delenv(name, raising=False)


def removed_soon(path: Path, timeout: float = 10) -> bool:
    """The kernel and its scratch copy are shut down in the background after a run."""
    import time

    deadline = time.monotonic() + timeout
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not path.exists()


def write_nb(path: Path, *sources) -> Path:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNEL})
    nb.cells = [nbformat.v4.new_code_cell(src, id=f"c{i}") for i, src in enumerate(sources)]
    nbformat.write(nb, path)
    return path


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    (root / "data" / "input.csv").write_text("a,b\n1,2\n")
    (root / "keep.txt").write_text("precious")
    (root / "results").mkdir()
    (root / "results" / "old.txt").write_text("old result")
    return root


def test_a_notebook_that_deletes_and_writes_files_leaves_the_users_files_untouched(project):
    nb = write_nb(
        project / "destructive.ipynb",
        "import os, shutil\nrows = open('data/input.csv').read().splitlines()\nassert rows == ['a,b', '1,2']",
        "os.remove('keep.txt')\nshutil.rmtree('results')",
        "open('data/input.csv', 'w').write('overwritten')\nopen('new.txt', 'w').write('new')",
        "assert not os.path.exists('keep.txt') and open('new.txt').read() == 'new'\nprint(os.getcwd())",
    )
    before = snapshot(project)
    report = validate_notebook(nb, mode="full")
    assert report.ok, report.failed
    assert snapshot(project) == before  # nothing deleted, overwritten or added
    assert not report.in_place and report.workdir and removed_soon(Path(report.workdir))
    assert Path(report.workdir).name == "project" and str(project) not in report.workdir
    assert "scratch copy" in report.summary() and report.workdir in report.summary()


def test_a_write_to_the_original_by_absolute_path_is_refused_and_reported(project):
    target = project / "keep.txt"
    nb = write_nb(project / "absolute.ipynb", f"open({str(target)!r}, 'w').write('gone')")
    report = validate_notebook(nb, mode="full")
    assert not report.ok and report.failed["ename"] == "PermissionError"
    assert "scratch copy" in report.failure_text()
    assert target.read_text() == "precious"
    # Deleting it through os is refused as well.
    nb = write_nb(project / "absolute_rm.ipynb", f"import os\nos.remove({str(target)!r})")
    assert validate_notebook(nb, mode="full").failed["ename"] == "PermissionError"
    assert target.read_text() == "precious"


def test_what_is_too_large_to_copy_is_shared_read_only(project):
    (project / "big.bin").write_bytes(b"x" * 300_000)
    nb = write_nb(project / "big.ipynb",
                  "size = len(open('big.bin', 'rb').read())\nassert size == 300_000",
                  "open('big.bin', 'wb').write(b'')")
    report = validate_notebook(nb, mode="full", scratch_limit_mb=0.1)
    assert "big.bin" in report.linked and "shared read-only" in report.summary()
    assert report.failed["cell_id"] == "c1" and report.failed["ename"] == "PermissionError"
    assert (project / "big.bin").stat().st_size == 300_000


def test_in_place_is_explicit_and_really_changes_the_directory(project):
    nb = write_nb(project / "inplace.ipynb", "import os\nos.remove('keep.txt')")
    report = validate_notebook(nb, mode="full", in_place=True)
    assert report.ok and report.in_place and "in place" in report.summary()
    assert not (project / "keep.txt").exists()


def test_network_can_be_turned_off_for_the_validation_kernel(project):
    probe = (
        "import socket, os\n"
        "server = socket.socket(); server.bind(('127.0.0.1', 0)); server.listen(1)\n"
        "local = socket.create_connection(server.getsockname(), timeout=5); local.close()\n"  # loopback is fine
        "proxy = os.environ.get('HTTPS_PROXY')\n"
        "try:\n"
        "    socket.create_connection(('192.0.2.1', 80), timeout=5)\n"
        "    outcome = 'connected'\n"
        "except PermissionError as exc:\n"
        "    outcome = str(exc)\n"
        "try:\n"
        "    socket.getaddrinfo('example.org', 443)\n"
        "    lookup = 'resolved'\n"
        "except PermissionError as exc:\n"
        "    lookup = str(exc)\n"
        "assert 'turned off' in outcome and 'turned off' in lookup, (outcome, lookup)\n"
        "assert proxy == 'http://127.0.0.1:9', proxy"
    )
    nb = write_nb(project / "net.ipynb", probe)
    report = validate_notebook(nb, mode="full", network=False)
    assert report.ok, report.failure_text()
    assert report.network is False


def test_saving_a_notebook_keeps_a_scratch_copy_current_and_refresh_brings_its_copy_up_to_date(project):
    import os

    from codex_nb.validate.scratch import make_scratch

    nb = write_nb(project / "saved.ipynb", "x = 1")
    (project / ".ipynb_checkpoints").mkdir()
    (project / ".codex_nb").mkdir()
    scratch = make_scratch(project)
    try:
        write_nb(nb, "x = 2")  # the accepted edit is saved
        os.utime(nb, ns=(1, 1))  # whatever its size and time now
        (project / ".ipynb_checkpoints" / "saved-checkpoint.ipynb").write_text("{}")  # and Jupyter checkpoints it
        (project / ".codex_nb" / "audit.jsonl").write_text("{}\n")  # and the engine audits it
        (project / f".{nb.name}.1234.tmp").write_text("")  # a save in progress
        assert scratch.is_current()
        scratch.refresh_notebooks()
        assert (scratch.path / "saved.ipynb").read_bytes() == nb.read_bytes()
        (project / "keep.txt").write_text("changed")  # any other file still makes the copy stale
        assert not scratch.is_current()
    finally:
        scratch.cleanup()
