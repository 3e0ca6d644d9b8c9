"""Kept changes as commits in a real git repository; refusals; revert; `codex-nb undo`; the validation line."""
from __future__ import annotations

import json
import subprocess

import pytest

from codex_nb import audit
from codex_nb.cli.main import main
from codex_nb.config import CodexNB
from codex_nb.engine.gates import ChangeUnderTest, GateResult
from codex_nb.gates import before
from codex_nb.gates.commit import DirtyFiles, GitProblem, check_clean, commit_kept, revert_commit
from codex_nb.gates.summary import commit_trailers, report_text, validation_line
from codex_nb.gates.tests import TestGate
from gates_project import git, make_project, write


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # no repository above the test's
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    return make_project(tmp_path / "shop")


def trailers_of(root, sha) -> dict:
    """The commit's trailers as git itself parses them."""
    body = git(root, "log", "-1", "--format=%B", sha)
    parsed = subprocess.run(["git", "interpret-trailers", "--parse"], input=body, cwd=root, capture_output=True,
                            text=True, check=True).stdout
    return dict(line.split(": ", 1) for line in parsed.splitlines())


def changed_in(root, sha) -> list[str]:
    return sorted(git(root, "diff-tree", "--no-commit-id", "--name-only", "-r", sha).split())


def test_kept_green_change_becomes_one_commit_of_exactly_its_files(project):
    # the user's own work in progress: one file staged, one modified, one untracked
    write(project, "src/shop/banner.py", "def banner(name):\n    return f'Hello {name}'\n")
    git(project, "add", "src/shop/banner.py")
    write(project, "tests/test_banner.py", (project / "tests/test_banner.py").read_text() + "\n# note\n")
    write(project, "scratch.txt", "mine\n")
    assert check_clean(project, ["src/shop/prices.py", "src/shop/vat.py"]) == []

    # the change: a green patch and a new module, validated by the real test gate
    write(project, "src/shop/prices.py", (project / "src/shop/prices.py").read_text().replace(
        "round(sum(prices), 2)", "round(sum(prices, 0.0), 2)"))
    write(project, "src/shop/vat.py", "RATE = 0.2\n")
    files = ["src/shop/prices.py", "src/shop/vat.py"]
    ch = ChangeUnderTest(repo_root=project, notebook_path=None, before=None, after=None, changed_files=files,
                         settings=CodexNB())
    result = TestGate().run(ch, lambda e: None)
    assert result.ok, result.summary
    head_before = git(project, "rev-parse", "HEAD").strip()

    sha = commit_kept(project, files, "Sum prices from a float start\n\nSo that an empty cart totals 0.0.",
                      commit_trailers("p-1234abcd", [result]))

    assert git(project, "rev-parse", "HEAD").strip() == sha
    assert git(project, "rev-parse", f"{sha}^").strip() == head_before
    assert changed_in(project, sha) == files
    assert git(project, "log", "-1", "--format=%s", sha).strip() == "Sum prices from a float start"
    assert trailers_of(project, sha) == {"Codex-Proposal": "p-1234abcd", "Codex-Validation": "passed (3 tests)"}
    # the user's staging area and work tree are as they were; the committed files are clean
    assert git(project, "diff", "--cached", "--name-only").split() == ["src/shop/banner.py"]
    status = git(project, "status", "--porcelain").splitlines()
    assert sorted(status) == sorted(["M  src/shop/banner.py", " M tests/test_banner.py", "?? scratch.txt"])


def test_dirty_touched_file_is_refused_unless_allowed(project):
    write(project, "src/shop/prices.py", "# my unfinished edit\n" + (project / "src/shop/prices.py").read_text())
    write(project, "src/shop/new_idea.py", "x = 1\n")  # untracked counts as not committed too
    with pytest.raises(DirtyFiles) as info:
        check_clean(project, ["src/shop/prices.py", "src/shop/new_idea.py", "src/shop/cart.py"])
    assert "uncommitted changes in src/shop/new_idea.py, src/shop/prices.py" in str(info.value)
    assert "commit or stash" in info.value.hint
    assert info.value.fields["files"] == ["src/shop/new_idea.py", "src/shop/prices.py"]
    assert check_clean(project, ["src/shop/prices.py"], allow_dirty=True) == ["src/shop/prices.py"]
    assert check_clean(project, ["src/shop/cart.py"]) == []


def test_outside_a_git_repository_the_message_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    plain = make_project(tmp_path / "plain", commit=False)
    for call in (lambda: check_clean(plain, ["src/shop/prices.py"]),
                 lambda: commit_kept(plain, ["src/shop/prices.py"], "x")):
        with pytest.raises(GitProblem) as info:
            call()
        assert "is not inside a git repository" in info.value.message
        assert "git init" in info.value.hint and "commit = 'off'" in info.value.hint


def test_missing_identity_is_a_clear_error(project, monkeypatch):
    git(project, "config", "--unset", "user.name")
    git(project, "config", "--unset", "user.email")
    git(project, "config", "user.useConfigOnly", "true")
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    write(project, "src/shop/vat.py", "RATE = 0.2\n")
    head = git(project, "rev-parse", "HEAD")
    with pytest.raises(GitProblem) as info:
        commit_kept(project, ["src/shop/vat.py"], "Add VAT")
    assert "git config user.email" in info.value.hint
    assert git(project, "rev-parse", "HEAD") == head


def test_revert_restores_files_byte_exact_and_keeps_the_users_index(project):
    original = (project / "src/shop/prices.py").read_bytes()
    banner = (project / "src/shop/banner.py").read_bytes()
    write(project, "src/shop/prices.py", "def total(prices):\n    return 0\n")
    write(project, "src/shop/vat.py", "RATE = 0.2\n")
    (project / "src/shop/banner.py").unlink()
    files = ["src/shop/banner.py", "src/shop/prices.py", "src/shop/vat.py"]
    sha = commit_kept(project, files, "Rework", [("Codex-Proposal", "p-1")])
    assert changed_in(project, sha) == files
    write(project, "README.md", "user's own staged work\n")
    git(project, "add", "README.md")

    new = revert_commit(project, sha)

    assert git(project, "rev-parse", "HEAD").strip() == new
    assert git(project, "log", "-1", "--format=%s", new).strip() == 'Revert "Rework"'
    assert f"This reverts commit {sha}." in git(project, "log", "-1", "--format=%B", new)
    assert (project / "src/shop/prices.py").read_bytes() == original
    assert (project / "src/shop/banner.py").read_bytes() == banner
    assert not (project / "src/shop/vat.py").exists()
    assert git(project, "diff", "--cached", "--name-only").split() == ["README.md"]
    assert git(project, "diff", f"{sha}^", new, "--stat") == ""  # the tree is the one before the change


def test_revert_is_refused_when_the_files_changed_since(project):
    write(project, "src/shop/vat.py", "RATE = 0.2\n")
    sha = commit_kept(project, ["src/shop/vat.py"], "Add VAT")
    write(project, "src/shop/vat.py", "RATE = 0.21\n")  # later work of the user's
    with pytest.raises(GitProblem) as info:
        revert_commit(project, sha)
    assert "src/shop/vat.py changed after commit" in info.value.message
    assert f"git revert {sha[:12]}" in info.value.hint
    assert (project / "src/shop/vat.py").read_text() == "RATE = 0.21\n"


def test_cli_undo_reverts_the_last_committed_change_and_records_it(project, capsys):
    nb = project / "analysis.ipynb"
    nb.write_text("{}")
    original = (project / "src/shop/prices.py").read_bytes()
    for n, text in enumerate(["return 1", "return 2"]):
        write(project, "src/shop/prices.py", f"def total(prices):\n    {text}\n")
        sha = commit_kept(project, ["src/shop/prices.py"], f"Change {n}", [("Codex-Proposal", f"p-{n}")])
        audit.record("applied", nb, notebook=str(nb), proposal_id=f"p-{n}", edits=[0], cells=[],
                     files=["src/shop/prices.py"], applier="file")
        audit.record("kept", nb, notebook=str(nb), proposal_id=f"p-{n}", repo_root=str(project),
                     files=["src/shop/prices.py"], commit=sha, changed_cells=[], live=False)

    assert main(["undo", str(nb)]) == 0
    assert "Undid proposal p-1: revert commit" in capsys.readouterr().out
    assert (project / "src/shop/prices.py").read_text() == "def total(prices):\n    return 1\n"
    assert main(["undo", str(nb), "--json"]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert entry["event"] == "undone" and entry["proposal_id"] == "p-0" and entry["edits"] == [0]
    assert git(project, "rev-parse", "HEAD").strip() == entry["commit"]
    assert (project / "src/shop/prices.py").read_bytes() == original
    assert [e["proposal_id"] for e in audit.read(nb) if e["event"] == "undone"] == ["p-1", "p-0"]
    assert audit.verify(audit.audit_path(nb)).ok

    assert main(["undo", str(nb)]) == 2
    assert "nothing to undo" in capsys.readouterr().err


def test_cli_undo_of_an_uncommitted_change_restores_the_saved_files(project, capsys):
    nb = project / "analysis.ipynb"
    nb.write_text('{"cells": []}')
    old_prices = (project / "src/shop/prices.py").read_bytes()
    old_nb = nb.read_bytes()
    new_prices, new_nb = b"def total(p):\n    return 7\n", b'{"cells": [1]}'
    record = before.snapshot(project, "p-9", {"src/shop/prices.py": (old_prices, new_prices),
                                              "src/shop/vat.py": (None, b"RATE = 1\n"),
                                              "analysis.ipynb": (old_nb, new_nb)})
    (project / "src/shop/prices.py").write_bytes(new_prices)
    (project / "src/shop/vat.py").write_bytes(b"RATE = 1\n")
    nb.write_bytes(new_nb)
    audit.record("kept", nb, notebook=str(nb), proposal_id="p-9", repo_root=str(project), commit=None,
                 files=["src/shop/prices.py", "src/shop/vat.py"], before=record, changed_cells=["c1"], live=False)

    assert main(["undo", str(nb)]) == 0
    assert "restored the saved files" in capsys.readouterr().out
    assert (project / "src/shop/prices.py").read_bytes() == old_prices
    assert nb.read_bytes() == old_nb
    assert not (project / "src/shop/vat.py").exists()


def test_cli_undo_refuses_half_an_undo(project, capsys):
    """Cells changed in the notebook file, but only the module was committed: nothing is undone."""
    nb = project / "analysis.ipynb"
    nb.write_text('{"cells": [1]}')
    write(project, "src/shop/vat.py", "RATE = 0.2\n")
    sha = commit_kept(project, ["src/shop/vat.py"], "Add VAT")
    audit.record("kept", nb, notebook=str(nb), proposal_id="p-5", repo_root=str(project), commit=sha,
                 files=["src/shop/vat.py"], changed_cells=["c1"], live=False)
    assert main(["undo", str(nb)]) == 2
    assert "no saved copy of the notebook" in capsys.readouterr().err
    assert git(project, "rev-parse", "HEAD").strip() == sha and (project / "src/shop/vat.py").exists()
    audit.record("kept", nb, notebook=str(nb), proposal_id="p-6", repo_root=str(project), commit=None,
                 files=[], changed_cells=["c1"], live=True)
    assert main(["undo", str(nb)]) == 2
    assert "live in JupyterLab" in capsys.readouterr().err


def test_restore_refuses_when_a_file_moved_on(project):
    path = project / "src/shop/banner.py"
    old = path.read_bytes()
    record = before.snapshot(project, "p-2", {"src/shop/banner.py": (old, b"x = 1\n")})
    path.write_bytes(b"x = 2\n")  # not what the change left
    with pytest.raises(before.UndoRefused) as info:
        before.restore(project, record)
    assert "src/shop/banner.py changed after the change was kept" in info.value.message
    assert path.read_bytes() == b"x = 2\n"


def test_validation_line_and_report_text():
    notebook = GateResult("notebook", True, "notebook: 4 cells ran", 2.0,
                          {"mode": "targeted", "cells_run": ["a", "b", "c", "d"]})
    tests = GateResult("tests", True, "tests: 12 passed; 2 of 5 test files, selected by imports", 1.5,
                       {"tests": 12, "selection": {"reasons": {"tests/test_a.py": "imports pkg/a.py"}, "widened": ""}})
    checks = GateResult("checks", True, "checks: 2 passed", 0.5,
                        {"checks": [{"command": "ruff check {files}", "exit_code": 0, "seconds": 0.2, "error": ""},
                                    {"command": "mypy pkg", "exit_code": 0, "seconds": 0.3, "error": ""}]})
    assert validation_line([notebook, tests, checks]) == "passed (notebook targeted 4 cells; 12 tests; 2 checks)"
    failing = GateResult("tests", False, "tests: 1 failed", 1.0, {"tests": 3, "failed": [{"nodeid": "t.py::x", "message": "boom"}]})
    assert validation_line([notebook, failing]) == "failed (3 tests)"
    text = report_text([notebook, tests, checks])
    assert text.startswith("Validation passed in 4.0 s")
    assert "tests/test_a.py — imports pkg/a.py" in text and "mypy pkg — exit 0, 0.3 s" in text
    assert "failed: t.py::x — boom" in report_text([failing])

