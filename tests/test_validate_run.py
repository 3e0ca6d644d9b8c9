"""validate_notebook against real kernels through real papermill."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

import codex_nb
from codex_nb.cli.main import main
from codex_nb.validate import ValidationReport, ValidationUsageError, validate_notebook

DATA = Path(__file__).parent / "data" / "validate"
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


def removed_soon(path: Path, timeout: float = 10) -> bool:
    """The kernel and its scratch copy are shut down in the background after a run."""
    import time

    deadline = time.monotonic() + timeout
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not path.exists()


def write_nb(path: Path, *sources, tags=None, kernelspec=KERNEL) -> Path:
    nb = nbformat.v4.new_notebook()
    if kernelspec:
        nb.metadata["kernelspec"] = kernelspec
    nb.cells = [nbformat.v4.new_code_cell(src, id=f"c{i}") for i, src in enumerate(sources)]
    for i, tag_list in (tags or {}).items():
        nb.cells[i].metadata["tags"] = tag_list
    nbformat.write(nb, path)
    return path


@pytest.fixture(autouse=True)
def audit_log(tmp_path, monkeypatch) -> Path:
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(log))
    return log


@pytest.fixture
def analysis(tmp_path) -> Path:
    target = tmp_path / "project" / "analysis.ipynb"
    target.parent.mkdir()
    shutil.copy(DATA / "analysis.ipynb", target)
    return target


def test_full_run_of_a_real_notebook_leaves_it_untouched(analysis):
    before = analysis.read_bytes()
    events = []
    report = codex_nb.validate(str(analysis), progress=events.append)  # the package-level API
    assert isinstance(report, ValidationReport)
    assert report.ok and report.failed is None and report.mode == "full"
    assert report.cells_run == ["imports", "load", "total", "picture", "write", "greet", "report"]
    assert report.skipped == {"skipme": "tagged codex-skip"}
    assert report.drift == [], report.drift  # same code, same outputs (the image keeps its size)
    assert analysis.read_bytes() == before
    # The kernel ran in a scratch copy of the notebook's directory: the notebook's relative write stayed there.
    assert not (analysis.parent / "validate_out.txt").exists()
    assert report.workdir and Path(report.workdir).name == "project" and not report.in_place
    assert removed_soon(Path(report.workdir))  # removed after the run, with the kernel
    in_place = codex_nb.validate(str(analysis), in_place=True)
    assert in_place.ok and in_place.in_place and in_place.workdir == str(analysis.parent.resolve())
    assert json.loads((analysis.parent / "validate_out.txt").read_text()) == {"total": 21}
    kinds = [e["type"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "finish"
    assert kinds.count("cell_start") == kinds.count("cell_done") == 7
    done = [e for e in events if e["type"] == "cell_done"]
    assert [e["n"] for e in done] == list(range(1, 8)) and {e["total"] for e in done} == {7}
    assert done[0]["cell_id"] == "imports" and done[0]["index"] == 1
    assert set(report.to_json()) >= {"ok", "mode", "cells_run", "seconds", "failed", "drift"}


def test_a_failing_cell_gives_papermills_structured_error(tmp_path, audit_log):
    nb = write_nb(tmp_path / "f.ipynb", "x = 1", "y = {}['missing']", "print('after')")
    report = validate_notebook(nb, audit_log=True)
    assert not report.ok and report.cells_run == ["c0", "c1"]
    failed = report.failed
    assert (failed["kind"], failed["cell_id"], failed["index"]) == ("error", "c1", 1)
    assert failed["ename"] == "KeyError" and failed["evalue"] == "'missing'"
    assert isinstance(failed["traceback"], list) and "KeyError" in report.failure_text()
    assert "\x1b[" not in report.failure_text()
    entry = json.loads(audit_log.read_text().splitlines()[-1])
    assert entry["event"] == "validation_run" and entry["ok"] is False and entry["failed"]["cell_id"] == "c1"
    assert entry["notebook"] == str(nb) and entry["cells_run"] == ["c0", "c1"]


def test_cell_timeout_is_its_own_result(tmp_path):
    nb = write_nb(tmp_path / "t.ipynb", "import time", "time.sleep(60)", "print('never')")
    report = validate_notebook(nb, cell_timeout=1.5, total_timeout=60)
    assert report.failed["kind"] == "timeout" and report.failed["cell_id"] == "c1"
    assert report.failed["ename"] == "CellTimeoutError" and report.seconds < 20


def test_total_timeout_stops_a_run_of_individually_fast_cells(tmp_path):
    nb = write_nb(tmp_path / "tt.ipynb", *["import time; time.sleep(0.7)"] * 6)
    report = validate_notebook(nb, cell_timeout=30, total_timeout=3.5)
    assert report.failed["kind"] == "total_timeout"
    assert 0 < len(report.cells_run) < 6 and report.seconds < 15


def test_a_kernel_that_dies_is_reported_as_such(tmp_path):
    nb = write_nb(tmp_path / "d.ipynb", "x = 1", "import os\nos._exit(3)", "print(x)")
    report = validate_notebook(nb, total_timeout=60)
    assert report.failed["kind"] == "kernel_died" and report.failed["cell_id"] == "c1"
    assert report.failed["ename"] == "DeadKernelError" and report.cells_run == ["c0", "c1"]


def test_missing_kernel_and_invalid_notebook_need_no_kernel(tmp_path, monkeypatch):
    nb = write_nb(tmp_path / "k.ipynb", "x = 1")
    report = validate_notebook(nb, kernel_name="no-such-kernel-here")
    assert report.failed["kind"] == "missing_kernel" and "python3" in report.failed["message"]
    # A kernelspec whose interpreter is gone (a deleted environment) is missing too.
    ghost = tmp_path / "jupyter" / "kernels" / "ghost"
    ghost.mkdir(parents=True)
    (ghost / "kernel.json").write_text(json.dumps({
        "argv": [str(tmp_path / "gone" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Ghost", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    report = validate_notebook(nb, kernel_name="ghost")
    assert report.failed["kind"] == "missing_kernel" and report.failed["ename"] == "FileNotFoundError"
    unnamed = write_nb(tmp_path / "u.ipynb", "x = 1", kernelspec=None)
    assert validate_notebook(unnamed).failed["kind"] == "missing_kernel"
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [', encoding="utf-8")
    report = validate_notebook(broken)
    assert report.failed["kind"] == "invalid_notebook" and report.cells_run == []
    with pytest.raises(ValidationUsageError):
        validate_notebook(tmp_path / "absent.ipynb")
    with pytest.raises(ValidationUsageError):
        validate_notebook(nbformat.read(nb, as_version=4))  # a NotebookNode needs cwd=


def test_targeted_run_executes_only_the_selected_cells(tmp_path):
    # Every cell leaves a marker file when it runs, so "not executed" is observable.
    mark = "open('ran-{0}', 'w').close()\n"
    nb = write_nb(
        tmp_path / "t.ipynb",
        mark.format(0) + "import time\ntime.sleep(0.2)\nbase = 2",
        mark.format(1) + "unrelated = 5",
        mark.format(2) + "value = base * 10",
        mark.format(3) + "print(unrelated)",
        mark.format(4) + "assert value == 20",
    )
    # In place, so that the marker files land where the test can see them; the notebook as it was
    # before the edit is the same, so only the edited cell's links count.
    report = validate_notebook(nb, mode="targeted", changed=["c2"], previous=nb, in_place=True)
    assert report.ok, report.failed
    assert report.cells_run == ["c0", "c2", "c4"]
    assert sorted(p.name for p in tmp_path.glob("ran-*")) == ["ran-0", "ran-2", "ran-4"]
    assert report.reasons == {"c0": "binds base read by cell [3]", "c2": "edited",
                              "c4": "reads value bound by cell [3]"}


def test_a_notebook_node_runs_in_the_given_directory_and_parameters_work(tmp_path):
    (tmp_path / "input.txt").write_text("41")
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNEL})
    params = nbformat.v4.new_code_cell("bonus = 0", id="params", metadata={"tags": ["parameters"]})
    nb.cells = [params, nbformat.v4.new_code_cell(
        "value = int(open('input.txt').read()) + bonus\nassert value == 42, value", id="use")]
    report = validate_notebook(nb, cwd=tmp_path, parameters={"bonus": 1})
    assert report.ok, report.failed
    assert report.cells_run == ["params", "use"]  # the injected-parameters cell is papermill's, not reported
    assert nb.cells[1].outputs == []  # the caller's object is not executed in place


def test_drift_is_a_warning_unless_asked_to_fail(tmp_path):
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNEL})
    stale = nbformat.v4.new_code_cell("print('new text')", id="talk", execution_count=1,
                                      outputs=[nbformat.v4.new_output("stream", name="stdout", text="old text\n")])
    edited = nbformat.v4.new_code_cell("x = 1", id="edit")
    nb.cells = [stale, edited]
    path = tmp_path / "drift.ipynb"
    nbformat.write(nb, path)
    warn = validate_notebook(path, changed=["edit"])
    assert warn.ok and [d["cell_id"] for d in warn.drift] == ["talk"]
    assert warn.drift[0]["kind"] == "text_changed" and "old text" in warn.drift[0]["detail"]
    strict = validate_notebook(path, changed=["edit"], drift_fails=True)
    assert not strict.ok and strict.failed["kind"] == "drift" and strict.failed["cell_id"] == "talk"


def test_cli_exit_codes_and_json_report(tmp_path, capsys, audit_log):
    good = write_nb(tmp_path / "good.ipynb", "x = 1", "y = x + 1")
    assert main(["validate", str(good), "--changed", "c1", "--mode", "targeted", "--json"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["ok"] and report["mode"] == "targeted" and report["cells_run"] == ["c0", "c1"]
    assert "[2/2] cell [2] “y = x + 1” ok" in err
    entry = json.loads(audit_log.read_text().splitlines()[-1])
    assert entry["event"] == "validation_run" and entry["ok"] is True and entry["mode"] == "targeted"
    bad = write_nb(tmp_path / "bad.ipynb", "1 / 0")
    assert main(["validate", str(bad), "--json", "-q"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["failed"]["ename"] == "ZeroDivisionError" and err == ""
    assert main(["validate", str(good), "--changed", "nope"]) == 2
    assert "no cell with id nope" in capsys.readouterr().err
    params = write_nb(tmp_path / "p.ipynb", "n = 1\nname = 'a'", "assert (n, name) == (5, 'x'), (n, name)",
                      tags={0: ["parameters"]})
    assert main(["validate", str(params), "-q", "-p", "n", "5", "-p", "name", "x"]) == 0


def test_works_from_inside_a_running_event_loop(tmp_path):
    # The magics and the server call validate_notebook from code that runs inside an event loop.
    import asyncio

    nb = write_nb(tmp_path / "loop.ipynb", "x = 40 + 2", "assert x == 42")

    async def caller():
        return validate_notebook(nb, total_timeout=60)

    report = asyncio.run(caller())
    assert report.ok and report.cells_run == ["c0", "c1"]
