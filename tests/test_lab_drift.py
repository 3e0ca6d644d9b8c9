"""Drift warnings name the cells as people see them and show a small old/new diff, in the widget's HTML
and in the command line's text; the drift comes from a real validation (a real kernel re-runs the notebook)."""
from __future__ import annotations

import html
import json
import re

import nbformat
import pytest

from codex_nb.cli.main import main
from codex_nb.edits.model import Proposal, ReplaceCell
from codex_nb.notebook_io import source_hash
from codex_nb.widgets.render import report_html


def visible(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


@pytest.fixture
def drifting(tmp_path, monkeypatch):
    """A notebook whose second cell printed 10 and will print 20 once the first cell's x changes."""
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x = 1", id="c1", execution_count=1),
                nbformat.v4.new_code_cell("print(x * 10)", id="c2", execution_count=2, outputs=[
                    nbformat.v4.new_output("stream", name="stdout", text="10\n")])]
    path = tmp_path / "drift.ipynb"
    nbformat.write(nb, str(path))
    proposal = Proposal("Start at two.", (ReplaceCell("c1", "x = 2", source_hash("x = 1")),))
    proposal_file = tmp_path / "proposal.json"
    proposal_file.write_text(json.dumps(proposal.to_json()))
    return path, proposal_file


def test_the_command_line_and_the_widget_list_the_drifting_cell_with_its_diff(drifting, capsys):
    from codex_nb.validate import ValidationReport

    path, proposal_file = drifting
    code = main(["apply", str(path), str(proposal_file), "--validate", "--mode", "full", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = ValidationReport.from_json(json.loads(out)["report"])
    assert [(d["cell_id"], d["name"]) for d in report.drift] == [("c2", "cell [2] (In [2]) “print(x * 10)”")]
    # the command line's text: the cell by name, what changed, then -old / +new
    assert "Outputs changed in cells the edit did not touch:" in err
    text = err[err.index("Outputs changed"):]
    assert "cell [2] (In [2]) “print(x * 10)”: outputs changed" in text
    assert "    -10\n    +20" in text
    assert "c2" not in text  # ids are for JSON, not for people
    # the widget's card draws the same report
    markup = report_html(report)
    shown = visible(markup)
    assert "Outputs changed in 1 cell the edit did not touch" in shown and "cell [2] (In [2]) “print(x * 10)”" in shown
    assert 'class="codex-diff-line codex-diff-del"' in markup and ">-10<" in markup and ">+20<" in markup
    assert 'title="c2"' in markup  # the id only on hover


def test_no_drift_draws_nothing():
    from codex_nb.widgets.render import drift_html

    assert drift_html([]) == ""
