"""Every example notebook runs headless with papermill on the embedded model, without an error.

A magic's UsageError is printed, not raised, so the outputs are also checked for
error text: an example that only "runs" because its errors were printed fails here.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = ["quickstart.ipynb", "fix_an_error.ipynb", "validate_and_rollback.ipynb", "cli_pipeline.ipynb",
             "shop_project/orders.ipynb"]
ERROR_TEXT = ("UsageError", "codex-nb propose:", "codex-nb apply:", "codex-nb validate:")

pytestmark = pytest.mark.embedded


def test_every_example_is_listed():
    found = {str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*.ipynb")
             if ".ipynb_checkpoints" not in p.parts and "data" not in p.parts}
    assert found == set(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_example_runs_headless(name, tmp_path, monkeypatch):
    # Run a copy of the examples so that accepted edits, caches and audit logs stay out of the tree.
    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES, work, ignore=shutil.ignore_patterns(".codex_nb", ".ipynb_checkpoints"))
    source = work / name
    # Jupyter tells a kernel its notebook through JPY_SESSION_NAME; papermill does not, so do it here.
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "CODEX_NB_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("JPY_SESSION_NAME", str(source))
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(EXAMPLES.parent), os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "out.ipynb"
    # papermill runs in its own process, as in a pipeline: in-process it would leave its event
    # loop behind for the tests that follow. It exits non-zero even for an error in a cell tagged
    # raises-exception (which it runs past, as Jupyter does), so the outputs are judged below.
    run = subprocess.run([sys.executable, "-m", "papermill", str(source), str(out), "--cwd", str(source.parent),
                          "-k", "python3", "--execution-timeout", "900", "--no-progress-bar"],
                         capture_output=True, text=True, timeout=1800)
    assert out.exists(), f"{name}: papermill wrote no output\n{run.stderr[-3000:]}"
    nb = nbformat.read(out, as_version=4)
    stopped = [c for c in nb.cells if c.get("metadata", {}).get("papermill", {}).get("exception")
               and "raises-exception" not in c.metadata.get("tags", [])]
    assert not stopped, f"{name}: the run stopped at {stopped[0].source!r}:\n{_outputs_text(stopped[0])}"
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code"), \
        f"{name}: not every cell ran\n{run.stderr[-3000:]}"
    for cell in nb.cells:
        if cell.cell_type != "code" or "raises-exception" in cell.metadata.get("tags", []):
            continue
        for output in cell.get("outputs", []):
            assert output.output_type != "error", f"{name}: {cell.source!r} raised {output.get('ename')}"
            text = output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            assert not any(marker in text for marker in ERROR_TEXT), f"{name}: {cell.source!r} printed an error:\n{text}"



def _outputs_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", "") or str(output.get("data", {}).get("text/plain", "")))
        parts.append(f"{output.get('ename', '')}: {output.get('evalue', '')}" if output.get("ename") else "")
    return "\n".join(p for p in parts if p)[-3000:]
