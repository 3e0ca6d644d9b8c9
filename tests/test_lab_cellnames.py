"""Cells are named as a person sees them: position, prompt, first line — never the id."""
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from codex_nb.cellnames import cell_label, cell_labels, cell_name, first_line


def _nb():
    nb = new_notebook()
    nb.cells = [new_markdown_cell("\n\n# Orders\nmore"), new_code_cell("import pandas as pd"),
                new_code_cell("   df = pd.read_csv('a_very_long_file_name_that_goes_on_and_on.csv')  "),
                new_code_cell("")]
    nb.cells[1]["execution_count"] = 7
    for cid, cell in zip(["eda5c9bd-0bf1", "b7c7ab13", "c3", "c4"], nb.cells):
        cell["id"] = cid
    return nb


def test_position_prompt_and_first_line():
    nb = _nb()
    assert cell_label(nb, "b7c7ab13") == "cell [2] (In [7]) “import pandas as pd”"
    assert cell_label(nb, "eda5c9bd-0bf1") == "cell [1] “# Orders”"  # markdown: no prompt, first non-blank line
    assert cell_label(nb, "c4") == "cell [4] (empty)"


def test_long_lines_are_trimmed_and_ids_never_shown():
    nb = _nb()
    label = cell_label(nb, "c3")
    assert label.startswith("cell [3] “df = pd.read_csv(") and label.endswith("…”")
    assert len(first_line(nb.cells[2]["source"])) == 40
    assert all(cid not in name for cid, name in cell_labels(nb).items())


def test_unknown_cells_and_bare_positions():
    assert cell_label(_nb(), "gone") == "a cell that is no longer in the notebook"
    assert cell_label(None, "x") == "a cell that is no longer in the notebook"
    assert cell_name(4) == "cell [5]"
    assert cell_name(0, {"cell_type": "code", "execution_count": None, "source": ["x = 1\n", "y"]}) == "cell [1] “x = 1”"
    assert cell_labels(_nb(), with_source=False)["b7c7ab13"] == "cell [2] (In [7])"
