"""mode="auto": targeted only where the cells it skips are worth skipping; the report says which mode ran,
why, and names cells and drift as people see them."""
from __future__ import annotations

import json

import nbformat
import pytest

from codex_nb.validate import ValidationReport, auto, validate_notebook
from codex_nb.validate.select import select_full, select_targeted

KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def chain_notebook(work: float, recorded: bool):
    """Slow early cells, then an independent last cell: the edit of the last cell can skip the slow ones."""
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNEL})
    sources = ["import time", f"time.sleep({work})\nslow = 1", f"time.sleep({work})\nslower = slow + 1",
               "quick = 2\nprint(quick)"]
    nb.cells = [nbformat.v4.new_code_cell(src, id=f"c{i}") for i, src in enumerate(sources)]
    if recorded:
        for cell, seconds in zip(nb.cells, (0.01, work, work, 0.01)):
            cell.metadata["papermill"] = {"duration": seconds}
    return nb


def test_recorded_times_decide_between_targeted_and_full():
    nb = chain_notebook(2.0, recorded=True)
    full, targeted = select_full(nb).cell_ids, select_targeted(nb, ["c3"], previous=nb).cell_ids
    assert targeted == ["c3"]
    mode, reason, estimate = auto.choose(nb, full, targeted)
    assert mode == "targeted" and "recorded" in reason and "skips 3 of 4 cells" in reason
    assert estimate["full_seconds"] == pytest.approx(4.02) and estimate["targeted_seconds"] == pytest.approx(0.01)
    # The same cells recorded as fast: skipping them is not worth giving up a full run.
    cheap = chain_notebook(0.01, recorded=True)
    mode, reason, _ = auto.choose(cheap, full, targeted)
    assert mode == "full" and reason.startswith("auto: full")
    # JupyterLab's timing metadata counts as recorded too.
    lab = chain_notebook(2.0, recorded=False)
    for cell in lab.cells[1:3]:
        cell.metadata["execution"] = {"iopub.execute_input": "2026-01-01T10:00:00.000Z",
                                      "shell.execute_reply": "2026-01-01T10:00:02.500Z"}
    mode, reason, estimate = auto.choose(lab, full, targeted)
    assert mode == "targeted" and estimate["times_from"]["recorded"] == 2


def test_without_recorded_times_auto_measures_them_in_a_first_run(tmp_path):
    nb = chain_notebook(0.6, recorded=False)
    path = tmp_path / "chain.ipynb"
    nbformat.write(nb, path)
    first = validate_notebook(path, changed=["c3"], previous=path)
    # Nothing known yet: estimated times say skipping is not worth it, so everything runs (and is measured).
    assert first.ok and first.requested_mode == "auto" and first.mode == "full"
    assert "estimated" in first.mode_reason and first.cells_run == ["c0", "c1", "c2", "c3"]
    assert first.cell_seconds["c1"] >= 0.5
    second = validate_notebook(path, changed=["c3"], previous=path)
    assert second.ok and second.mode == "targeted" and second.cells_run == ["c3"]
    assert "measured" in second.mode_reason and "skips 3 of 4" in second.mode_reason
    assert second.mode_reason in second.summary()
    # No edited cell named and no old version: auto runs everything, and says why.
    assert "no edited cell" in validate_notebook(path).mode_reason


def test_the_jupyter_checkpoint_is_the_version_before_the_edit_when_it_is_older(tmp_path):
    import os

    before = nbformat.v4.new_notebook(metadata={"kernelspec": KERNEL})
    before.cells = [nbformat.v4.new_code_cell(src, id=f"c{i}") for i, src in enumerate(
        ["x = [1]", "x = [1, 2]", "assert len(x) == 2, x"])]
    after = nbformat.from_dict(json.loads(nbformat.writes(before)))
    after.cells[1].source = "y = [1, 2]"
    path = tmp_path / "nb.ipynb"
    nbformat.write(after, path)
    unknown = validate_notebook(path, mode="targeted", changed=["c1"])
    assert not unknown.ok and unknown.failed["cell_id"] == "c2"
    assert "unknown" in unknown.reasons["c2"]
    (tmp_path / ".ipynb_checkpoints").mkdir()
    checkpoint = tmp_path / ".ipynb_checkpoints" / "nb-checkpoint.ipynb"
    nbformat.write(before, checkpoint)
    os.utime(checkpoint, (path.stat().st_mtime - 60,) * 2)
    known = validate_notebook(path, mode="targeted", changed=["c1"])
    assert not known.ok and known.failed["cell_id"] == "c2" and known.failed["ename"] == "AssertionError"
    assert known.reasons["c2"] == "reads x, which the edit changed or removed"


def test_reports_name_cells_as_people_see_them_and_list_drift_per_cell(tmp_path):
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNEL})
    talk = nbformat.v4.new_code_cell("for i in range(3):\n    print('line', i)", id="talk", execution_count=4,
                                     outputs=[nbformat.v4.new_output("stream", name="stdout",
                                                                     text="line 0\nline one\nline 2\n")])
    nb.cells = [nbformat.v4.new_markdown_cell("# title", id="md"), talk,
                nbformat.v4.new_code_cell("x = 1", id="edit"), nbformat.v4.new_code_cell("1 / 0", id="bad")]
    path = tmp_path / "drift.ipynb"
    nbformat.write(nb, path)
    report = validate_notebook(path, mode="full", changed=["edit"])
    assert report.labels["talk"] == "cell [2] (In [4]) “for i in range(3):”" and report.labels["bad"] == "cell [4] “1 / 0”"
    assert report.failed["cell"] == "cell [4] “1 / 0”" and "in cell [4] “1 / 0”" in report.summary()
    assert "bad" not in report.summary()  # ids are for programs: the JSON has them, people get labels
    text = report.drift_text()
    assert text.splitlines()[0] == "cell [2] (In [4]) “for i in range(3):”: outputs changed"  # the cards' names
    assert "    -line one" in text and "    +line 1" in text
    again = ValidationReport.from_json(json.loads(json.dumps(report.to_json())))
    assert again.summary() == report.summary() and again.drift_text() == text
