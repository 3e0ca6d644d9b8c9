"""Every example notebook runs headless with papermill on the embedded model, without an error.

A magic's UsageError is printed, not raised, so the outputs are also checked for
error text: an example that only "runs" because its errors were printed fails here.
"""
import json
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


# The embedded model is tiny and slow on a busy machine: a smaller context and a cap on answers keep
# each run bounded. The cap leaves room for the longest proposal the schema allows (about 1,600
# characters of JSON, which the tiny model may pad with whitespace: 1,024 tokens cut one off in CI, so the
# cap is the embedded provider's own, 1,536): free-text answers are what the smaller context shortens.
# Set the way a person would: IPython's profile for the magics, Jupyter's config path for the
# codex-nb command the CLI example runs.
SHORT_RUNS = {"max_answer_tokens": 1536, "token_budget": 1000}


def _short_run_config(root: Path) -> dict:
    profile = root / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_config.py").write_text("".join(f"c.CodexNB.{k} = {v!r}\n" for k, v in SHORT_RUNS.items()))
    jupyter = root / "jupyter-config"
    jupyter.mkdir()
    (jupyter / "codex_nb_config.json").write_text(json.dumps({"CodexNB": SHORT_RUNS}))
    return {"IPYTHONDIR": str(root / "ipython"),
            "JUPYTER_CONFIG_PATH": os.pathsep.join([str(jupyter), os.environ.get("JUPYTER_CONFIG_PATH", "")])}


@pytest.mark.parametrize("runner", ["papermill", "nbconvert"])
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_example_runs_headless(name, runner, tmp_path, monkeypatch):
    # Run a copy of the examples so that accepted edits, caches and audit logs stay out of the tree.
    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES, work, ignore=shutil.ignore_patterns(".codex_nb", ".ipynb_checkpoints"))
    source = work / name
    # Nothing tells the kernel its notebook: the magics find it themselves.
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "CODEX_NB_MODEL", "JPY_SESSION_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(EXAMPLES.parent), os.environ.get("PYTHONPATH", "")]))
    for key, value in _short_run_config(tmp_path / "config").items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "out" / source.name
    out.parent.mkdir()
    # The runner runs in its own process, as in a pipeline, from the notebook's folder and with no
    # options beyond input and output. papermill exits non-zero even for an error in a cell tagged
    # raises-exception (which it runs past, as Jupyter does), so the outputs are judged below.
    if runner == "papermill":
        args = [sys.executable, "-m", "papermill", source.name, str(out), "--no-progress-bar"]
    else:
        args = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", source.name,
                "--output-dir", str(out.parent)]
    run = subprocess.run(args, cwd=source.parent, capture_output=True, text=True, timeout=280)
    assert out.exists(), f"{name}: {runner} wrote no output\n{run.stderr[-3000:]}"
    nb = nbformat.read(out, as_version=4)
    stopped = [c for c in nb.cells if c.get("metadata", {}).get("papermill", {}).get("exception")
               and "raises-exception" not in c.metadata.get("tags", [])]
    assert not stopped, f"{name}: the run stopped at {stopped[0].source!r}:\n{_outputs_text(stopped[0])}"
    assert run.returncode == 0 or runner == "papermill", f"{name}: nbconvert failed\n{run.stderr[-3000:]}"
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code"), \
        f"{name}: not every cell ran\n{run.stderr[-3000:]}"
    for cell in nb.cells:
        if cell.cell_type != "code" or "raises-exception" in cell.metadata.get("tags", []):
            continue
        for output in cell.get("outputs", []):
            assert output.output_type != "error", f"{name}: {cell.source!r} raised {output.get('ename')}"
            text = output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            assert not any(marker in text for marker in ERROR_TEXT), f"{name}: {cell.source!r} printed an error:\n{text}"
            assert "working from the cells this kernel ran" not in text, f"{name}: the notebook was not found"
    # Every request a magic made is recorded against the example itself (not papermill's output).
    magic_cells = [c for c in nb.cells if c.cell_type == "code" and c.source.lstrip().startswith(("%codex", "%%codex"))]
    asked = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()] if magic_cells else []
    asked = [e for e in asked if e.get("event") in ("asked", "proposed") and e.get("source") == "kernel"]
    if any(c.source.lstrip().startswith(("%codex ask", "%%codex", "%codex fix", "%codex explain")) for c in magic_cells):
        assert asked and {e.get("notebook") for e in asked} == {str(source.resolve())}, asked


def _outputs_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", "") or str(output.get("data", {}).get("text/plain", "")))
        parts.append(f"{output.get('ename', '')}: {output.get('evalue', '')}" if output.get("ename") else "")
    return "\n".join(p for p in parts if p)[-3000:]
