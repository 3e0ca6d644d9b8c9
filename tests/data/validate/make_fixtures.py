"""Rebuild the validation fixture notebooks: `python tests/data/validate/make_fixtures.py`.

analysis.ipynb is executed for real (so it carries genuine outputs, execution
counts, an image and a stream) and then written the way some editors do,
indent 2 with no trailing newline, so that byte-identity after a rollback is
not satisfied by accident by codex-nb's own serialisation (indent 1).
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).parent
# A 3×2 red PNG, small enough to read in the fixture.
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAMAAAACCAIAAAASFvFNAAAAEklEQVR4nGP4z8DAwMDAwMAAAA3+Af9Q2ZrYAAAAAElFTkSuQmCC")


def analysis() -> nbformat.NotebookNode:
    v4 = nbformat.v4
    nb = v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": {"name": "python"},
        "codex_nb": {"fixture": True},
        "authors": [{"name": "Zoë Example"}],
    }
    intro = v4.new_markdown_cell("# Analysis ✓\n\n![dot](attachment:dot.png)", id="intro")
    intro["attachments"] = {"dot.png": {"image/png": PNG}}
    cells = [
        intro,
        v4.new_code_cell("import json\nfrom pathlib import Path", id="imports"),
        v4.new_code_cell('data = {"a": [1, 2, 3], "b": [4, 5, 6]}', id="load"),
        v4.new_code_cell('total = sum(data["a"]) + sum(data["b"])\ntotal', id="total"),
        v4.new_code_cell(
            "from IPython.display import Image, display\nimport base64\n"
            f"display(Image(data=base64.b64decode({PNG!r})))", id="picture"),
        v4.new_code_cell('Path("validate_out.txt").write_text(json.dumps({"total": total}))', id="write"),
        v4.new_code_cell('greeting = "héllo"\nprint(greeting)', id="greet"),
        v4.new_code_cell('raise RuntimeError("a codex-skip cell must never run")', id="skipme",
                         metadata={"tags": ["codex-skip"]}),
        v4.new_code_cell("print(len(greeting), total)", id="report"),
    ]
    cells[2].metadata["collapsed"] = False
    nb.cells = cells
    return nb


def main() -> None:
    nb = analysis()
    NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(HERE)}},
                   allow_errors=True).execute()
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)
    (HERE / "validate_out.txt").unlink(missing_ok=True)
    text = json.dumps(nb, indent=2, ensure_ascii=False, sort_keys=True)
    (HERE / "analysis.ipynb").write_text(text, encoding="utf-8")
    base64.b64decode(PNG)  # the fixture's image must stay decodable


if __name__ == "__main__":
    main()
