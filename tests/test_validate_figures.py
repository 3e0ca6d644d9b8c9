"""Figures nobody compares are laid out, not rendered, during validation; compared ones render as in Jupyter
(real kernels, real matplotlib, real papermill runs)."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from codex_nb.validate import kernels, validate_notebook
from codex_nb.validate.api import _key
from codex_nb.validate.engine import run_copy
from codex_nb.validate.figures import quiet_cells

KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}
SOURCES = {
    "imports": "import matplotlib.pyplot as plt",
    "data": "x = [1, 2, 3]\nscale = 2",
    "compared_plot": "fig, ax = plt.subplots()\nax.plot([1, 2, 3])\nax.set_title(r'$\\alpha$')",
    "compared_text": "print(sum(x) * scale)",
    "edited_plot": "plt.figure()\nplt.hist(x)\nplt.show()",
}


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def plotted(tmp_path_factory) -> tuple[nbformat.NotebookNode, Path]:
    """A plotting notebook with the outputs of a real run stored, as a person would have saved it."""
    root = tmp_path_factory.mktemp("plots")
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNEL})
    nb.cells = [nbformat.v4.new_code_cell(src, id=cid) for cid, src in SOURCES.items()]
    NotebookClient(nb, cwd=str(root), kernel_name="python3").execute()
    return nb, root


def edited(nb, **sources):
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    for cell in nb.cells:
        if cell.id in sources:
            cell.source = sources[cell.id]
    return nb


def mimetypes(outputs) -> set[str]:
    return {m for o in outputs for m in o.get("data", {})}


def test_a_plotting_notebook_validates_and_reports_text_drift_while_edited_figures_are_not_rendered(plotted):
    nb, root = plotted
    assert "image/png" in mimetypes(nb.cells[2].outputs) and "image/png" in mimetypes(nb.cells[4].outputs)
    changed = edited(nb, data="x = [1, 2, 3]\nscale = 3", edited_plot="plt.figure()\nplt.hist(x, bins=2)\nplt.show()")
    report = validate_notebook(changed, cwd=root, changed=["data", "edited_plot"], mode="full")
    assert report.ok, report.failure_text()
    assert set(report.quiet_figures) == {"data", "edited_plot"}  # compared cells render
    assert [(d["cell_id"], d["kind"]) for d in report.drift] == [("compared_text", "text_changed")]
    assert "'12" in report.drift[0]["detail"] and "'18" in report.drift[0]["detail"]


@pytest.mark.parametrize("warm", [SOURCES["imports"], ""], ids=["backend-set-up-by-the-warm-up", "cold"])
def test_quiet_cells_draw_no_image_and_compared_cells_draw_theirs(plotted, warm):
    nb, root = plotted
    changed = edited(nb, edited_plot="plt.figure()\nplt.hist(x, bins=2)\nplt.show()")
    ids = [c.id for c in changed.cells]
    quiet = quiet_cells(changed, ids, {"edited_plot"})
    assert quiet == ["edited_plot"]
    kernel = kernels.take_kernel(_key("python3", root, False, True, 200.0, warm=warm))
    try:
        outcome = run_copy(changed, ids, kernel=kernel, quiet_figures=quiet)
    finally:
        kernel.shutdown()
    assert outcome.failure is None, outcome.failure
    assert "image/png" not in mimetypes(outcome.outputs["edited_plot"])
    assert "<Figure size" in "".join(o["data"]["text/plain"] for o in outcome.outputs["edited_plot"] if "data" in o)
    assert "image/png" in mimetypes(outcome.outputs["compared_plot"])


@pytest.mark.parametrize("quiet", [True, False])
def test_a_figure_that_cannot_be_laid_out_fails_the_same_way_rendered_or_not(plotted, quiet):
    nb, root = plotted
    broken = edited(nb, edited_plot="plt.figure()\nplt.title(r'$\\frac{1}$')")
    report = validate_notebook(broken, cwd=root, changed=["edited_plot"], mode="full", quiet_figures=quiet)
    assert not report.ok and report.failed["cell_id"] == "edited_plot" and report.failed["ename"] == "ValueError"
    assert bool(report.quiet_figures) is quiet


def test_a_cell_whose_source_is_also_a_compared_cells_renders():
    nb = nbformat.v4.new_notebook()
    same = "plt.plot([1])"
    nb.cells = [nbformat.v4.new_code_cell(same, id="a", execution_count=1),
                nbformat.v4.new_code_cell(same, id="b"), nbformat.v4.new_code_cell("plt.plot([2])", id="c")]
    assert quiet_cells(nb, ["a", "b", "c"], edited=set()) == ["c"]
