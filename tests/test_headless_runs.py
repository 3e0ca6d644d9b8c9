"""`%codex` under papermill, nbconvert and a plain nbclient script, with no environment variable naming the notebook.

Each run is a real runner in its own process, starting a real kernel; the model is the
scripted one on loopback, so what the kernel sent can be read back. The notebook has a
Markdown cell no kernel ever executes: its text reaching the model proves the file was
found, not just the kernel's history used.
"""
import base64
import json
import os
import subprocess
import sys
import time
import textwrap
from pathlib import Path

import nbformat
import pytest

from codex_nb.magics import locate

FILE_ONLY = "Only-in-the-file marker 7731: this Markdown cell never runs."
HISTORY_NOTE = "working from the cells this kernel ran"
RUN_TIMEOUT = 240


def _notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell(FILE_ONLY, id="intro"),
        nbformat.v4.new_code_cell("%load_ext codex_nb", id="load"),
        nbformat.v4.new_code_cell("answer = 41 + 1", id="compute"),
        nbformat.v4.new_code_cell("%codex ask what is answer?", id="ask"),
        nbformat.v4.new_code_cell("%codex ask and why?", id="ask-again"),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def project(tmp_path, scripted_llm, monkeypatch):
    """A project folder with one notebook; the scripted model answers every request."""
    scripted_llm.default = "It is 42."
    for var in ("JPY_SESSION_NAME", "CODEX_NB_HISTORY_DIR"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "proj" / ".git").mkdir(parents=True)
    return _notebook(tmp_path / "proj" / "analysis.ipynb")


def _run(args, cwd: Path):
    run = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert run.returncode == 0, f"{args[:3]} failed:\n{run.stderr[-3000:]}"
    return run


def _outputs(path: Path) -> list[str]:
    nb = nbformat.read(str(path), as_version=4)
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts.append(out.get("text", "") + str(out.get("data", {}).get("text/markdown", ""))
                         + str(out.get("data", {}).get("text/plain", "")) + out.get("evalue", ""))
    return texts


def _sent(llm) -> list[str]:
    """The text of each chat request the model received."""
    return [json.dumps(r.get("messages", "")) for r in llm.requests if "messages" in r]


def _audited_notebooks(tmp_path: Path) -> set:
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    return {json.loads(line).get("notebook") for line in lines if json.loads(line).get("event") == "asked"}


def _assert_found(project: Path, llm, tmp_path: Path, out: Path):
    sent = _sent(llm)
    assert len(sent) == 2, f"expected two requests, the model saw {len(sent)}"
    assert all(FILE_ONLY in s for s in sent), "the notebook file did not reach the model: it was not found"
    assert _audited_notebooks(tmp_path) == {str(project.resolve())}
    texts = _outputs(out)
    assert sum("It is 42." in t for t in texts) == 2
    assert not any(HISTORY_NOTE in t or "UsageError" in t for t in texts)


def test_bare_papermill_from_the_parent_folder(project, scripted_llm, tmp_path):
    # As in `papermill examples/quickstart.ipynb out.ipynb`: the kernel runs in the caller's folder,
    # the output lands next to the input while the run writes it, cell by cell.
    out = project.parent / "analysis-out.ipynb"
    _run([sys.executable, "-m", "papermill", "proj/analysis.ipynb", "proj/analysis-out.ipynb", "--no-progress-bar"],
         cwd=tmp_path)
    _assert_found(project, scripted_llm, tmp_path, out)


def test_nbconvert_execute(project, scripted_llm, tmp_path):
    _run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", str(project),
          "--output-dir", str(tmp_path / "converted")], cwd=tmp_path)
    _assert_found(project, scripted_llm, tmp_path, tmp_path / "converted" / "analysis.ipynb")


def test_plain_nbclient_script(project, scripted_llm, tmp_path):
    # The script's command line names no notebook; the kernel starts in the notebook's folder.
    script = tmp_path / "runner.py"
    script.write_text(textwrap.dedent(f"""
        import nbformat
        from nbclient import NotebookClient
        nb = nbformat.read({str(project)!r}, as_version=4)
        NotebookClient(nb, resources={{"metadata": {{"path": {str(project.parent)!r}}}}}).execute()
        nbformat.write(nb, {str(tmp_path / 'ran.ipynb')!r})
    """))
    _run([sys.executable, str(script)], cwd=tmp_path)
    _assert_found(project, scripted_llm, tmp_path, tmp_path / "ran.ipynb")


def test_a_notebook_that_is_no_file_works_from_the_kernel_history_and_says_so_once(project, scripted_llm, tmp_path):
    # The runner builds the notebook in memory: no file anywhere holds its cells (the script carries
    # it encoded, so that the repository context, which reads the script, cannot show the marker either).
    text = base64.b64encode(project.read_bytes()).decode()
    project.unlink()
    script = tmp_path / "runner.py"
    script.write_text(textwrap.dedent(f"""
        import nbformat
        from nbclient import NotebookClient
        import base64
        nb = nbformat.reads(base64.b64decode({text!r}).decode(), as_version=4)
        NotebookClient(nb, resources={{"metadata": {{"path": {str(tmp_path)!r}}}}}).execute()
        nbformat.write(nb, {str(tmp_path / 'ran.ipynb')!r})
    """))
    _run([sys.executable, str(script)], cwd=tmp_path)
    texts = _outputs(tmp_path / "ran.ipynb")
    assert sum(HISTORY_NOTE in t for t in texts) == 1, texts
    assert sum("It is 42." in t for t in texts) == 2
    sent = _sent(scripted_llm)
    assert len(sent) == 2
    assert all("answer = 41 + 1" in s for s in sent), "the kernel's history did not reach the model"
    assert not any(FILE_ONLY in s for s in sent)


# -- which file wins, without a runner ----------------------------------------------------------

def _cells(path: Path, sources: list[str], metadata: dict | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata.update(metadata or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def test_the_input_wins_over_papermills_output_and_the_best_match_over_a_partial_one(tmp_path):
    ran = ["import os", "x = 1", "%codex ask why"]
    source = _cells(tmp_path / "a" / "input.ipynb", ran)
    # papermill's output has the same cells plus its injected parameters (which the kernel ran too)
    _cells(tmp_path / "output.ipynb", ["# Parameters\nn = 2", *ran],
           {"papermill": {"input_path": "a/input.ipynb", "output_path": "output.ipynb"}})
    _cells(tmp_path / "other.ipynb", ["%codex ask why"])  # holds the running cell, nothing else
    _cells(tmp_path / "unrelated.ipynb", ["import os", "x = 1"])  # not the running cell
    executed = ["# Parameters\nn = 2", *ran]
    assert locate.find_notebook(executed, cwd=tmp_path, runner_pid=0) == source.resolve()


def test_the_runners_command_line_names_the_notebook(tmp_path):
    far = _cells(tmp_path / "far" / "away" / "deep" / "nb.ipynb", ["y = 2", "%codex review"])
    runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", str(far)], cwd=tmp_path)
    try:
        # too deep for the walk from tmp_path/elsewhere, but named on the runner's command line
        (tmp_path / "elsewhere").mkdir()
        deadline = time.monotonic() + 10  # a loaded machine may not have the new command line in /proc yet
        while Path("/proc").is_dir() and time.monotonic() < deadline and not locate.runner_notebooks(runner.pid):
            time.sleep(0.05)
        found = locate.find_notebook(["y = 2", "%codex review"], cwd=tmp_path / "elsewhere", runner_pid=runner.pid)
    finally:
        runner.kill()
        runner.wait()
    if not Path("/proc").is_dir() and os.environ.get("CI") != "true":
        pytest.skip("no /proc on this system: the command line cannot be read")  # CI (Linux) always has it
    assert found == far.resolve()


def test_a_half_written_file_is_passed_over(tmp_path):
    good = _cells(tmp_path / "nb.ipynb", ["z = 3", "%codex fix"])
    (tmp_path / "out.ipynb").write_text(good.read_text()[:-40])  # papermill caught mid-write
    assert locate.find_notebook(["z = 3", "%codex fix"], cwd=tmp_path, runner_pid=0) == good.resolve()


def test_no_file_holding_the_running_cell_finds_nothing(tmp_path):
    _cells(tmp_path / "nb.ipynb", ["z = 3"])
    assert locate.find_notebook(["z = 3", "%codex fix"], cwd=tmp_path, runner_pid=os.getpid()) is None
