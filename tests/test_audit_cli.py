"""`codex-nb audit` (list, filter, --json) and `codex-nb audit verify` (exit 0 / 1 / 2)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codex_nb import audit
from codex_nb.cli.main import main


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A repository with two notebooks and a log of two proposals, one accepted and one rejected."""
    monkeypatch.delenv("CODEX_NB_AUDIT_LOG", raising=False)
    (tmp_path / ".git").mkdir()
    (tmp_path / "sub").mkdir()
    a, b = str(tmp_path / "a.ipynb"), str(tmp_path / "sub" / "b.ipynb")
    audit.record("proposed", tmp_path, notebook=a, proposal_id="prop-a1", instruction_hash="h1", model="m",
                 edits=["replace"], user="ann")
    audit.record("decided", tmp_path, notebook=a, proposal_id="prop-a1", decision="accepted", edits=[0], user="ann")
    audit.record("applied", tmp_path, notebook=a, proposal_id="prop-a1", edits=[0], cells=["c1"], files=[],
                 applier="file", user="ann")
    audit.record("proposed", tmp_path, notebook=b, proposal_id="prop-b2", instruction_hash="h2", model="m",
                 edits=["insert", "delete"], user="bob")
    audit.record("decided", tmp_path, notebook=b, proposal_id="prop-b2", decision="rejected", edits=[0, 1],
                 user="bob")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def listed(capsys, *argv) -> list[dict]:
    assert main(["audit", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_table_shows_who_did_what_to_which_notebook(project, capsys):
    assert main(["audit"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["time", "(UTC)", "user", "event", "notebook", "proposal", "summary"]
    assert len(out) == 2 + 5
    assert "ann" in out[3] and "decided" in out[3] and "a.ipynb" in out[3] and "accepted edits 0" in out[3]
    assert "bob" in out[6] and "b.ipynb" in out[6] and "rejected edits 0,1" in out[6]
    assert "by file, cells c1" in out[4]


def test_filters(project, capsys):
    assert [e["seq"] for e in listed(capsys, "--notebook", "sub/b.ipynb")] == [4, 5]
    assert [e["seq"] for e in listed(capsys, "--notebook", str(project / "a.ipynb"))] == [1, 2, 3]
    assert [e["seq"] for e in listed(capsys, "--proposal", "prop-a")] == [1, 2, 3]
    assert [e["seq"] for e in listed(capsys, "--decision", "rejected")] == [5]
    assert [e["seq"] for e in listed(capsys, "--event", "proposed", "--event", "applied")] == [1, 3, 4]
    today = audit.read(project)[0]["time"][:10]
    assert len(listed(capsys, "--since", today, "--until", today)) == 5
    assert listed(capsys, "--until", "2000-01-01") == []
    assert listed(capsys, "--since", "2999-01-01T00:00") == []
    assert [e["seq"] for e in listed(capsys, "--limit", "2")] == [4, 5]
    assert main(["audit", "--proposal", "nothing-like-it"]) == 0
    assert capsys.readouterr().out.strip() == "no matching events"


def test_the_notebook_filter_finds_entries_of_a_clone_elsewhere(project, capsys):
    moved = project / "log.jsonl"
    moved.write_text(audit.audit_path(project).read_text().replace(str(project), "/elsewhere/checkout"))
    assert [e["seq"] for e in listed(capsys, "--log", str(moved), "--notebook", "sub/b.ipynb")] == [4, 5]


@pytest.mark.parametrize("argv, says", [
    (["--event", "approve"], "unknown event approve"),
    (["--since", "last tuesday"], "is not a date"),
    (["--limit", "0"], "--limit must be at least 1"),
])
def test_bad_filters_are_usage_errors(project, capsys, argv, says):
    assert main(["audit", *argv]) == 2
    assert says in capsys.readouterr().err


def test_verify_exit_codes(project, capsys):
    assert main(["audit", "verify"]) == 0
    assert capsys.readouterr().out.strip() == "ok: 5 lines, chain intact"
    log = audit.audit_path(project)
    lines = log.read_text().splitlines()
    log.write_text("\n".join([lines[0], lines[2], lines[1], *lines[3:]]) + "\n")
    assert main(["audit", "verify"]) == 1
    assert capsys.readouterr().out.startswith("line 2: seq is 3, expected 2 — lines were reordered")
    assert main(["audit", "--log", str(log), "verify", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], report["line"], report["kind"]) == (False, 2, "reordered")


def test_no_log_is_a_usage_error_that_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CODEX_NB_AUDIT_LOG", raising=False)
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    assert main(["audit", "verify"]) == 2
    err = capsys.readouterr().err
    assert f"looked for {tmp_path / '.codex_nb' / 'audit.jsonl'}" in err and "--log PATH" in err
    assert main(["audit", "--log", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl (from --log)" in capsys.readouterr().err


def test_the_installed_command_stamps_cli_as_the_source(tmp_path):
    """A standalone `codex-nb validate` is recorded as a validation_run from the CLI, and verifies.

    (The notebook names no kernel, so validation fails at once without starting one: it is recorded all the same.)
    """
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", id="c1")]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    (tmp_path / ".git").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "CODEX_NB_AUDIT_LOG"}
    exe = Path(sys.executable).with_name("codex-nb")
    done = subprocess.run([str(exe), "validate", str(path), "--quiet"], env=env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 1 and "names no kernel" in done.stderr
    done = subprocess.run([str(exe), "audit", "--json", "--notebook", str(path)], env=env, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (entry,) = json.loads(done.stdout)
    # nothing ran (no kernel), so the mode recorded is the one asked for: the default, auto
    assert (entry["event"], entry["source"], entry["ok"], entry["mode"]) == ("validation_run", "cli", False, "auto")
    assert audit.validate_entry(entry) == []
    done = subprocess.run([str(exe), "audit", "verify"], env=env, capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, "ok: 1 lines, chain intact")
