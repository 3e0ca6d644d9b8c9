"""The engine with the file applier: apply → validate → keep | exact rollback (+ repair), real kernels, audit, scripted model."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codex_nb import audit
from codex_nb.cli.main import main
from codex_nb.edits.model import DeleteCell, InsertCell, PatchFile, Proposal, ReplaceCell
from codex_nb.notebook_io import source_hash
from codex_nb.validate import ValidationReport
from codex_nb.engine import accept_file

DATA = Path(__file__).parent / "data" / "validate"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A repository with the fixture notebook (outputs, metadata, an attachment; indent 2) and a module."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (root / "helpers.py").write_text("FACTOR = 2\n")
    shutil.copy(DATA / "analysis.ipynb", root / "analysis.ipynb")
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    return root


def apply_validated(nb, proposal, *, repair=0, on_event=None, validator=None, total_timeout=None, repo_root=None):
    return accept_file(nb, proposal, repo_root=repo_root, emit=on_event, validator=validator, repair=repair,
                       total_timeout=total_timeout, validate=True, validate_mode="targeted")


def report_of(outcome) -> dict:
    return next(g["detail"] for g in outcome.gates if g["gate"] == "notebook")


def cell_source(path: Path, cell_id: str) -> str:
    nb = nbformat.read(path, as_version=4)
    return next(c.source for c in nb.cells if c.id == cell_id)


def replace(path: Path, cell_id: str, source: str, **kw) -> Proposal:
    return Proposal(explanation="edit", edits=(
        ReplaceCell(cell_id=cell_id, source=source, base_hash=source_hash(cell_source(path, cell_id))),), **kw)


def test_a_passing_edit_is_kept_and_audited(project):
    nb = project / "analysis.ipynb"
    proposal = replace(nb, "greet", 'greeting = "hello"\nprint(greeting)')
    events = []
    result = apply_validated(nb, proposal, on_event=events.append)
    assert result.kept and result.validated and report_of(result)["ok"] and result.attempts == 1
    assert cell_source(nb, "greet") == 'greeting = "hello"\nprint(greeting)'
    # targeted: the edited cell, its reader (report), and what report reads (total, which reads data)
    ran = report_of(result)["cells_run"]
    assert {"load", "total", "greet", "report"} <= set(ran) and "skipme" not in ran
    kinds = [e["type"] for e in events]
    assert kinds[0] == "decided" and "applied" in kinds and "validated" in kinds and "rolled_back" not in kinds
    assert kinds.index("applied") < kinds.index("validated") < kinds.index("kept") < kinds.index("finished")
    progress = [e["event"]["type"] for e in events if e["type"] == "progress"]
    assert progress[0] == "start" and progress.count("cell_done") == len(ran) and progress[-1] == "finish"
    log = [e for e in audit.read(project) if e["proposal_id"] == proposal.id]
    assert [e["event"] for e in log] == ["decided", "applied", "validated", "kept"]
    assert log[2]["ok"] is True and log[2]["mode"] == "targeted" and log[2]["seconds"] > 0
    assert log[1]["cells"] == ["greet"] and log[1]["applier"] == "file"


def test_a_failing_edit_restores_every_file_byte_for_byte(project):
    nb = project / "analysis.ipynb"
    before = {p: p.read_bytes() for p in (nb, project / "helpers.py")}
    proposal = Proposal(explanation="break it", edits=(
        ReplaceCell(cell_id="load", source='data = {"a": [1, 2, 3]}',
                    base_hash=source_hash(cell_source(nb, "load"))),
        PatchFile(path="helpers.py", search="FACTOR = 2", replace="FACTOR = 3",
                  base_hash=source_hash("FACTOR = 2\n")),
        PatchFile(path="pkg/new_module.py", search="", replace="X = 1\n"),
    ))
    result = apply_validated(nb, proposal, repo_root=project)
    assert not result.kept and result.status == "rolled_back"
    report = ValidationReport.from_json(report_of(result))
    # No cell imports the new module, so the targeted request widens to a full run, saying why.
    assert report.mode == "full" and "pkg/new_module.py" in report.widened
    assert report.failed["cell_id"] == "total" and report.failed["ename"] == "KeyError"
    assert result.failure["cell_id"] == "total" and result.failure["ename"] == "KeyError"
    for path, data in before.items():
        assert path.read_bytes() == data, path
    assert not (project / "pkg" / "new_module.py").exists()
    log = [e for e in audit.read(project) if e["event"] in ("validated", "rolled_back")]
    assert [e["event"] for e in log] == ["validated", "rolled_back"]
    assert log[1]["exact"] is True and sorted(log[1]["files"]) == ["helpers.py", "pkg/new_module.py"]


def broken_then_fixed(nb: Path) -> tuple[dict, dict]:
    """Two model answers, each a whole proposal against the rolled-back notebook."""
    load = {"op": "replace", "cell_id": "load", "cell_type": "code",
            "source": 'data = {"a": [1, 2, 3], "z": [15]}'}
    bad = {"explanation": "use the keys that exist",
           "edits": [load, {"op": "replace", "cell_id": "total", "cell_type": "code",
                            "source": 'total = sum(data["a"]) + sum(data["c"])\ntotal'}]}
    good = {"explanation": "sum whatever keys are present",
            "edits": [load, {"op": "replace", "cell_id": "total", "cell_type": "code",
                             "source": "total = sum(sum(v) for v in data.values())\ntotal"}]}
    return bad, good


def test_repair_loop_with_a_scripted_model(project, scripted_llm):
    nb = project / "analysis.ipynb"
    original = nb.read_bytes()
    proposal = replace(nb, "load", 'data = {"a": [1, 2, 3], "z": [15]}')
    bad, good = broken_then_fixed(nb)
    scripted_llm.queue(bad).queue(good)
    events = []
    result = apply_validated(nb, proposal, repair=2, on_event=events.append)
    assert result.kept, result.failure
    assert result.attempts == 3
    assert [e["failure"]["evalue"] for e in events if e["type"] == "rolled_back"] == ["'b'", "'c'"]
    assert cell_source(nb, "total") == "total = sum(sum(v) for v in data.values())\ntotal"
    assert cell_source(nb, "load") == 'data = {"a": [1, 2, 3], "z": [15]}'
    assert nb.read_bytes() != original
    # The model saw the failing cell, the traceback and the edit that failed.
    first = json.dumps(scripted_llm.requests[0])
    assert "KeyError" in first and "total" in first and '\\"z\\": [15]' in first
    kinds = [e["type"] for e in events]
    assert kinds.count("rolled_back") == 2 and kinds.count("repair_proposed") == 2
    assert [e["event"] for e in audit.read(project) if e["event"] in ("validated", "rolled_back", "repair")] == [
        "validated", "rolled_back", "repair", "validated", "rolled_back", "repair", "validated"]


def test_repair_gives_up_after_n_attempts_and_leaves_the_notebook_as_it_was(project, scripted_llm):
    nb = project / "analysis.ipynb"
    original = nb.read_bytes()
    bad, _ = broken_then_fixed(nb)
    scripted_llm.queue(bad)
    result = apply_validated(nb, replace(nb, "load", 'data = {"a": [1]}'), repair=1)
    assert not result.kept and result.attempts == 2
    assert nb.read_bytes() == original


def test_cli_apply_validate_rolls_back_and_exits_1(project, tmp_path, capsys):
    nb = project / "analysis.ipynb"
    original = nb.read_bytes()
    proposal_file = tmp_path / "proposal.json"
    proposal_file.write_text(json.dumps(replace(nb, "imports", "import json").to_json()))
    code = main(["apply", str(nb), str(proposal_file), "--validate", "--json"])
    out, err = capsys.readouterr()
    assert code == 1 and nb.read_bytes() == original
    result = json.loads(out)
    assert result["kept"] is False and result["report"]["failed"]["ename"] == "NameError"
    assert "Rolled back" in err and "exactly as before" in err
    # per-cell progress reaches the terminal, naming the cell as people see it
    assert 'cell [6]' in err and 'Path("validate_out.txt")' in err and "FAILED: NameError" in err


# --- rollback byte-identity over random sequences (validation outcome drawn, files real) ---

def fake_validator(outcomes):
    """A validator whose verdicts come from the test; raising stands for an interrupt mid-run."""
    def validate(path, *, changed=None, mode="full", **_):
        verdict = outcomes.pop(0)
        if verdict == "interrupt":
            raise KeyboardInterrupt
        failed = None if verdict == "pass" else {"kind": "error", "cell_id": (changed or [None])[0],
                                                 "index": 0, "ename": "E", "evalue": "", "traceback": [],
                                                 "message": "E"}
        return ValidationReport(ok=failed is None, mode=mode, cells_run=list(changed or []), seconds=0.0,
                                failed=failed)
    return validate


def random_steps(project, data, max_steps: int):
    """Reset the fixture notebook; for each drawn step yield (path, its bytes before the step, the parsed notebook)."""
    nb_path = project / "analysis.ipynb"
    shutil.copy(DATA / "analysis.ipynb", nb_path)
    for _ in range(data.draw(st.integers(1, max_steps), label="steps")):
        before = nb_path.read_bytes()
        yield nb_path, before, nbformat.reads(before.decode(), as_version=4)


edit_kinds = st.sampled_from(["replace", "insert", "delete"])
texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_accept_reject_sequences_roll_back_exactly(project, data):
    for nb_path, before, nb in random_steps(project, data, 6):
        cell = data.draw(st.sampled_from(nb.cells), label="cell")
        kind = data.draw(edit_kinds, label="kind")
        if kind == "delete" and len(nb.cells) > 1:
            edit = DeleteCell(cell_id=cell.id, base_hash=source_hash(cell.source))
        elif kind == "insert":
            edit = InsertCell(source=data.draw(texts, label="src"), after=cell.id)
        else:
            edit = ReplaceCell(cell_id=cell.id, source=data.draw(texts, label="src"),
                               base_hash=source_hash(cell.source))
        proposal = Proposal(explanation="random", edits=(edit,))
        verdict = data.draw(st.sampled_from(["pass", "fail", "interrupt"]), label="verdict")
        validator = fake_validator([verdict])
        if verdict == "interrupt":
            with pytest.raises(KeyboardInterrupt):
                apply_validated(nb_path, proposal, validator=validator)
            assert nb_path.read_bytes() == before
            continue
        result = apply_validated(nb_path, proposal, validator=validator)
        assert result.kept is (verdict == "pass")
        if verdict == "pass":
            assert nb_path.read_bytes() != before or kind == "replace"
        else:
            assert nb_path.read_bytes() == before


def test_a_rollback_that_cannot_restore_a_file_says_so(project, monkeypatch):
    from codex_nb.engine import filechange

    real_write = filechange.atomic_write_bytes
    calls = []

    def flaky_write(path, data):
        calls.append(path)
        if len(calls) > 1:  # the patch is written; putting the old bytes back fails
            raise OSError("disk hiccup")
        real_write(path, data)

    monkeypatch.setattr(filechange, "atomic_write_bytes", flaky_write)
    nb = project / "analysis.ipynb"
    proposal = Proposal(explanation="x", edits=(
        PatchFile(path="helpers.py", search="FACTOR = 2", replace="FACTOR = 3", base_hash=source_hash("FACTOR = 2\n")),))
    events = []
    result = accept_file(nb, proposal, repo_root=project, emit=events.append, validator=fake_validator(["fail"]),
                         validate=True)
    assert result.status == "rolled_back"
    rolled = next(e for e in events if e["type"] == "rolled_back")
    assert rolled["exact"] is False and "helpers.py could not be restored" in rolled["reason"]
    entry = [e for e in audit.read(project) if e["event"] == "rolled_back"][-1]
    assert entry["exact"] is False


snippets = st.sampled_from([
    "value = 1", "print(total)", "data['c'] = [7]", "1 / 0", "import nonexistent_module_xyz",
    "greeting = greeting.upper()", "del data", "raise SystemExit(2)",
])


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_sequences_with_real_validation_keep_or_restore_exactly(project, data):
    for nb_path, before, nb in random_steps(project, data, 2):
        code = [c for c in nb.cells if c.cell_type == "code" and c.id != "skipme"]
        cell = data.draw(st.sampled_from(code), label="cell")
        source = data.draw(snippets, label="source")
        edit = (InsertCell(source=source, after=cell.id) if data.draw(st.booleans(), label="insert")
                else ReplaceCell(cell_id=cell.id, source=source, base_hash=source_hash(cell.source)))
        result = apply_validated(nb_path, Proposal(explanation="random", edits=(edit,)), total_timeout=60)
        assert result.kept is report_of(result)["ok"]
        if result.kept:
            unchanged = isinstance(edit, ReplaceCell) and cell.source == source and not cell.get("outputs")
            assert nb_path.read_bytes() != before or unchanged
        else:
            assert nb_path.read_bytes() == before
            assert report_of(result)["failed"]["kind"] == "error"


def test_cli_apply_validate_repair_shows_the_fix_and_keeps_it(project, tmp_path, scripted_llm, capsys):
    nb = project / "analysis.ipynb"
    proposal_file = tmp_path / "proposal.json"
    proposal_file.write_text(json.dumps(replace(nb, "load", 'data = {"a": [1, 2, 3], "z": [15]}').to_json()))
    _, good = broken_then_fixed(nb)
    scripted_llm.queue(good)
    code = main(["apply", str(nb), str(proposal_file), "--validate", "--repair", "1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Proposed fix (attempt 1):" in err and "+total = sum(sum(v) for v in data.values())" in err
    assert out.strip().splitlines()[-1].startswith("Kept: ok: ")
    assert "Asking the model for a fix (attempt 1 of 1)" in err
    assert cell_source(nb, "total") == "total = sum(sum(v) for v in data.values())\ntotal"
