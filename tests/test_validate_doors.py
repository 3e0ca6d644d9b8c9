"""The validation safety settings and the spare kernel through the engine's doors (the Python API and
`codex-nb apply --validate`): real engine, real kernels, real papermill runs, real files."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from codex_nb.edits.model import Proposal
from codex_nb.engine import FileApplier, build_engine, run_sync
from codex_nb.engine.api import accept_file
from codex_nb.notebook_io import source_hash

ROOT = Path(__file__).resolve().parents[1]
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}
SETTINGS = ("CODEX_NB_VALIDATE_IN_PLACE", "CODEX_NB_VALIDATE_NETWORK", "CODEX_NB_VALIDATE_SCRATCH_MB")
DESTRUCTIVE = "import os\nos.remove('keep.txt')\nopen('new.txt', 'w').write('new')\nprint(sorted(os.listdir('.')))"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setattr("codex_nb.config._ipython_config", lambda: None)
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "jupyter-config"))
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


def configure(tmp_path: Path, **traits) -> None:
    directory = tmp_path / "jupyter-config"
    directory.mkdir(exist_ok=True)
    (directory / "codex_nb_config.json").write_text(json.dumps({"CodexNB": traits}))


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / ".git").mkdir()
    (root / "keep.txt").write_text("precious")
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNEL})
    nb.cells = [nbformat.v4.new_code_cell("import json", id="imports"),
                nbformat.v4.new_code_cell("x = 1", id="work")]
    nbformat.write(nb, root / "analysis.ipynb")
    return root / "analysis.ipynb"


def replacing(cell_id: str, source: str, old: str = "x = 1") -> Proposal:
    return Proposal.from_json({"version": 1, "id": "p-1", "explanation": "", "edits": [
        {"op": "replace", "cell_id": cell_id, "cell_type": "code", "source": source, "base_hash": source_hash(old)}]})


def users_files(root: Path) -> dict[str, str]:
    """Every file but the notebook (which the accepted edit changes) and the audit trail."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix != ".ipynb" and ".git" not in p.parts and ".codex_nb" not in p.parts}


def notebook_report(outcome) -> dict:
    return next(g["detail"] for g in outcome.gates if g["gate"] == "notebook")


def test_an_engine_door_validates_in_a_scratch_copy_by_default(project):
    before = users_files(project.parent)
    outcome = accept_file(project, replacing("work", DESTRUCTIVE), validate=True, validate_mode="full")
    report = notebook_report(outcome)
    assert outcome.kept and report["ok"], report["failed"]
    assert users_files(project.parent) == before  # keep.txt still there, no new.txt
    assert not report["in_place"] and str(project.parent) not in report["workdir"]
    assert "scratch copy" in outcome.gates[0]["summary"]


def test_validate_in_place_set_in_the_config_runs_in_place_from_the_cli_and_says_so(project, tmp_path):
    configure(tmp_path, validate_in_place=True)
    proposal = tmp_path / "p.json"
    proposal.write_text(json.dumps(replacing("work", DESTRUCTIVE).to_json()))
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run([sys.executable, "-m", "codex_nb", "apply", str(project), str(proposal), "--validate",
                           "--mode", "full", "--json", "--force"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["report"]
    assert report["ok"] and report["in_place"] and report["workdir"] == str(project.parent.resolve())
    assert not (project.parent / "keep.txt").exists() and (project.parent / "new.txt").read_text() == "new"
    assert "in place" in json.loads(done.stdout)["gates"][0]["summary"]
    # The engine started the kernel when it was built, before the edit was applied.
    assert report["kernel_start"]["spare"] is True


def test_with_the_network_forbidden_a_cell_that_opens_a_socket_fails_with_the_guards_message(project, tmp_path):
    configure(tmp_path, validate_network=False)
    before = project.read_bytes()
    outcome = accept_file(project, replacing("work", "import socket\nsocket.create_connection(('example.com', 80), 5)"),
                          validate=True, validate_mode="full")
    report = notebook_report(outcome)
    assert outcome.status == "rolled_back" and project.read_bytes() == before
    assert not report["network"] and report["failed"]["ename"] == "PermissionError"
    assert "network access is turned off for this validation" in report["failed"]["evalue"]


def test_the_environment_still_beats_the_config_for_an_engine_door(project, tmp_path, monkeypatch):
    configure(tmp_path, validate_network=False)
    monkeypatch.setenv("CODEX_NB_VALIDATE_NETWORK", "on")
    outcome = accept_file(project, replacing("work", "import socket\nsocket.getaddrinfo('localhost', 80)"),
                          validate=True, validate_mode="full")
    assert outcome.kept and notebook_report(outcome)["network"] is True


def test_the_validation_after_accept_takes_the_spare_started_when_the_review_opened(project):
    # The engine is built when a proposal is shown; the kernel starts then, in a scratch copy made
    # from the notebook as it was. The accepted edit saves the notebook: the spare stays usable and its
    # copy of the notebook is brought up to date (the cell below reads it).
    engine = build_engine(source="api", anchor=project, validate=True, validate_mode="full")
    check = ("import json\ncells = json.load(open('analysis.ipynb'))['cells']\n"
             "assert ''.join(cells[1]['source']).startswith('import json' + chr(10) + 'cells ='), cells[1]")
    outcome = run_sync(engine.accept(replacing("work", check), FileApplier(project)))
    report = notebook_report(outcome)
    assert outcome.kept, report["failed"]
    assert report["kernel_start"]["spare"] is True and not report["in_place"]


def test_codex_nb_validate_reads_the_same_settings_and_its_flags_win(tmp_path, capsys):
    from codex_nb.cli.main import main

    configure(tmp_path, validate_network=False)
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNEL})
    nb.cells = [nbformat.v4.new_code_cell(
        "import socket\ntry:\n    socket.getaddrinfo('example.com', 80)\nexcept PermissionError:\n    raise\n"
        "except OSError:\n    pass  # no network here: resolution failing is not the guard", id="c0")]
    path = tmp_path / "net.ipynb"
    nbformat.write(nb, path)
    assert main(["validate", str(path), "--json", "-q"]) == 1
    refused = json.loads(capsys.readouterr().out)
    assert not refused["network"] and "network access is turned off" in refused["failed"]["evalue"]
    assert main(["validate", str(path), "--json", "-q", "--network"]) == 0
    assert json.loads(capsys.readouterr().out)["network"] is True


def test_codex_nb_validate_takes_timeouts_and_skip_tags_from_the_config_and_its_flags_win(tmp_path, capsys):
    from codex_nb.cli.main import main

    configure(tmp_path, cell_timeout=1, skip_tags=["slow"])
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNEL})
    nb.cells = [nbformat.v4.new_code_cell("raise RuntimeError('only when asked')", id="c0", metadata={"tags": ["slow"]}),
                nbformat.v4.new_code_cell("import time\ntime.sleep(3)", id="c1")]
    path = tmp_path / "slow.ipynb"
    nbformat.write(nb, path)
    assert main(["validate", str(path), "--json", "-q", "--mode", "full"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["failed"]["kind"] == "timeout" and report["failed"]["cell_id"] == "c1"  # the 1 s of the config
    assert main(["validate", str(path), "--json", "-q", "--mode", "full", "--cell-timeout", "30"]) == 0
    capsys.readouterr()
    assert main(["validate", str(path), "--json", "-q", "--mode", "full", "--cell-timeout", "30",
                 "--skip-tag", "other"]) == 1  # the flag replaces the configured tags: the tagged cell runs
    assert json.loads(capsys.readouterr().out)["failed"]["evalue"] == "only when asked"


def test_codex_nb_apply_takes_the_validation_safety_flags(project, tmp_path, capsys):
    from codex_nb.cli.main import main

    proposal = tmp_path / "p.json"
    proposal.write_text(json.dumps(replacing("work", "import socket\nsocket.create_connection(('example.com', 80), 5)")
                                   .to_json()))
    before = project.read_bytes()
    assert main(["apply", str(project), str(proposal), "--validate", "--mode", "full", "--no-network", "--json",
                 "--force"]) == 1
    report = json.loads(capsys.readouterr().out)["report"]
    assert not report["network"] and "network access is turned off" in report["failed"]["evalue"]
    assert project.read_bytes() == before  # rolled back exactly
    destructive = tmp_path / "d.json"
    destructive.write_text(json.dumps(replacing("work", DESTRUCTIVE).to_json()))
    assert main(["apply", str(project), str(destructive), "--validate", "--mode", "full", "--in-place", "--json",
                 "--force"]) == 0
    report = json.loads(capsys.readouterr().out)["report"]
    assert report["in_place"] and (project.parent / "new.txt").read_text() == "new"
