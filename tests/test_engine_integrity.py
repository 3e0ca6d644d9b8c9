"""Integrity of the one engine: concurrent applies, refused inputs, protected paths, leftovers of killed writes."""
from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest

from codex_nb.engine import accept_file
from codex_nb.edits.model import InsertCell, PatchFile, Proposal, ReplaceCell
from codex_nb.notebook_io import source_hash
from nb_factory import write_notebook


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    return write_notebook(tmp_path / "nb.ipynb", {"c0": "x = 1"})


def cli_apply(nb, proposal_file):
    return subprocess.Popen([sys.executable, "-m", "codex_nb.cli.main", "apply", str(nb), str(proposal_file), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_applying_at_once_never_lose_an_edit(project, tmp_path):
    rounds = 6
    for n in range(rounds):
        nb = nbformat.read(project, as_version=4)
        base = source_hash(nb.cells[0].source)
        files = []
        for who in ("a", "b"):
            # Both insert a cell (both can land, one on top of the other) and both replace c0 from the same
            # base (only one can: the other is refused as stale, never "applied" with its edit lost).
            p = Proposal(explanation=who, edits=(InsertCell(source=f"{who}{n} = {n}", new_id=f"{who}-{n}"),))
            q = Proposal(explanation=who, edits=(ReplaceCell(cell_id="c0", source=f"x = '{who}{n}'", base_hash=base),))
            files += [tmp_path / f"{who}{n}-insert.json", tmp_path / f"{who}{n}-replace.json"]
            files[-2].write_text(json.dumps(p.to_json()))
            files[-1].write_text(json.dumps(q.to_json()))
        procs = [cli_apply(project, f) for f in files]
        codes = [p.wait(120) for p in procs]
        nb = nbformat.read(project, as_version=4)
        ids = [c.id for c in nb.cells]
        assert f"a-{n}" in ids and f"b-{n}" in ids, (codes, [p.stderr.read() for p in procs])
        assert codes[0] == 0 and codes[2] == 0  # the inserts
        replaced = [codes[1], codes[3]]
        assert sorted(replaced) == [0, 1], replaced  # exactly one replace kept, the other refused
        winner = "a" if codes[1] == 0 else "b"
        assert nb.cells[0].source == f"x = '{winner}{n}'"
        nbformat.validate(nb)
    assert not list(project.parent.glob(".nb.ipynb.*.tmp"))


def test_threads_in_one_process_are_serialised_too(project):
    proposals = [Proposal(explanation=str(i), edits=(InsertCell(source=f"v{i} = {i}", new_id=f"t-{i}"),)) for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda p: accept_file(project, p, validate=False), proposals))
    assert all(o.kept for o in outcomes)
    ids = [c.id for c in nbformat.read(project, as_version=4).cells]
    assert sorted(ids) == sorted(["c0", *(f"t-{i}" for i in range(8))])


def test_a_file_patch_of_a_notebook_is_refused_with_the_cell_edits_unapplied(project):
    original = project.read_bytes()
    p = Proposal(explanation="", edits=(
        ReplaceCell(cell_id="c0", source="x = 2", base_hash=source_hash("x = 1")),
        PatchFile(path="nb.ipynb", search="", replace="{}")))
    outcome = accept_file(project, p, validate=False)
    assert outcome.status == "refused" and "cell edits" in outcome.reason
    assert project.read_bytes() == original


@pytest.mark.parametrize("edit, needle", [
    ({"op": "insert", "new_id": "bad id!", "source": "y = 1"}, "cell id"),
    ({"op": "insert", "new_id": "x" * 80, "source": "y = 1"}, "cell id"),
    ({"op": "insert", "new_id": "ok", "source": "y = 1", "cell_type": "python"}, "cell type"),
])
def test_hand_edited_proposals_that_would_make_an_invalid_notebook_are_refused(project, tmp_path, edit, needle):
    original = project.read_bytes()
    pfile = tmp_path / "p.json"
    pfile.write_text(json.dumps({"version": 1, "id": "p-bad", "explanation": "", "edits": [edit]}))
    done = cli_apply(project, pfile)
    out, err = done.communicate(timeout=60)
    assert done.returncode == 1 and needle in (out + err), (out, err)
    assert project.read_bytes() == original
    nbformat.validate(nbformat.read(project, as_version=4))


def test_nested_git_directories_are_protected(project):
    (project.parent / "vendor" / "lib" / ".git").mkdir(parents=True)
    p = Proposal(explanation="", edits=(PatchFile(path="vendor/lib/.git/config", search="", replace="[core]\n"),))
    outcome = accept_file(project, p, validate=False)
    assert outcome.status == "refused" and "protected" in outcome.reason
    assert not (project.parent / "vendor" / "lib" / ".git" / "config").exists()


def test_a_killed_write_leaves_no_temporary_file_after_the_next_apply(project):
    stale = project.parent / f".{project.name}.k1ll3d.tmp"
    stale.write_text("half a notebook")
    helper = project.parent / "helpers.py"
    helper.write_text("A = 1\n")
    stale_helper = project.parent / ".helpers.py.x9.tmp"
    stale_helper.write_text("A =")
    p = Proposal(explanation="", edits=(InsertCell(source="y = 2", new_id="n1"),
                                        PatchFile(path="helpers.py", search="A = 1", replace="A = 2", base_hash=source_hash("A = 1\n"))))
    assert accept_file(project, p, validate=False).kept
    assert not stale.exists() and not stale_helper.exists()
