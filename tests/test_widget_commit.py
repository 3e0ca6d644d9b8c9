"""The `%%codex` card with commit = "ask": a Commit button after a kept change with a commit offer, which commits
through the engine (or says why not); and `%codex undo` of a committed change is a revert commit, audited.

An in-process IPython shell with the FakeLab page (test_magics_fixtures), in a real git repository.
"""
from __future__ import annotations

import shutil
import subprocess

import pytest

from codex_nb import audit
from test_magics_fixtures import (  # noqa: F401  (fixtures)
    codex, ipshell, nb_file, proposal_reply, replace, run_magic, wait_for)

HELPER = "def keep(rows):\n    return rows[:2]\n"


def git(root, *args):
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(nb_file, monkeypatch):
    """The notebook's directory as a real git repository with one module committed."""
    root = nb_file.parent
    shutil.rmtree(root / ".git")  # the fixture's marker directory, replaced by a real repository
    (root / "helpers.py").write_text(HELPER)
    for var, value in (("GIT_AUTHOR_NAME", "t"), ("GIT_AUTHOR_EMAIL", "t@example.org"),
                       ("GIT_COMMITTER_NAME", "t"), ("GIT_COMMITTER_EMAIL", "t@example.org"),
                       ("GIT_CEILING_DIRECTORIES", str(root.parent))):
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(root.parent / f"{root.name}-audit.jsonl"))
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    return root




def kept(codex, ipshell, commit: str):
    ipshell.config.CodexNB.commit = commit  # the codex fixture drops CodexNB config afterwards
    codex.llm.queue(proposal_reply(replace("c-merge", "merged = keep(rows)"),
                                   {"op": "patch_file", "path": "helpers.py", "search": "return rows[:2]",
                                    "replace": "return rows"}, explanation="Keep every row."))
    run_magic(ipshell, "", "fix the merge")
    view = codex.last_view
    view.accept_all.click()
    view.acceptance.wait(10)
    assert wait_for(lambda: not view.busy)
    assert view.acceptance.outcome.kept
    return view


def test_the_commit_button_commits_exactly_the_touched_files_and_undo_reverts_the_commit(codex, ipshell, repo):
    head = git(repo, "rev-parse", "HEAD")
    (repo / "notes.txt").write_text("mine\n")
    view = kept(codex, ipshell, "ask")
    assert git(repo, "rev-parse", "HEAD") == head  # nothing committed before the person says so
    assert "codex-commit" in view.commit_button._dom_classes and view.commit_button.layout.display == ""
    assert "Commit makes it one commit of helpers.py" in view.notice.value

    view.commit_button.click()
    sha = view.committing.result(10)
    assert wait_for(lambda: not view.busy)
    assert git(repo, "rev-parse", "HEAD") == sha and git(repo, "rev-parse", "HEAD~1") == head
    assert git(repo, "show", "--name-only", "--format=", sha).split() == ["helpers.py"]
    message = git(repo, "log", "-1", "--format=%B")
    assert message.startswith("Keep every row.") and "Codex-Proposal: " + view.proposal.id in message
    assert "Codex-Validation: passed (notebook" in message
    assert f"Committed {sha[:12]}" in view.notice.value and view.commit_button.layout.display == "none"
    committed = [e for e in audit.read(repo) if e["event"] == "committed"]
    assert [(e["commit"], e["source"], e["files"]) for e in committed] == [(sha, "kernel", ["helpers.py"])]

    # the card's Undo goes through the engine, which now knows the commit: a revert commit
    view.undo_button.click()
    assert wait_for(lambda: view.cards[0].state == "undone")
    assert git(repo, "rev-parse", "HEAD~1") == sha and (repo / "helpers.py").read_text() == HELPER
    assert git(repo, "log", "-1", "--format=%s") == 'Revert "Keep every row."'
    assert codex.lab.source("c-merge") == "merged = rows[:2]"
    undone = [e for e in audit.read(repo) if e["event"] == "undone"][-1]
    assert undone["reverted_commit"] == sha and undone["commit"] == git(repo, "rev-parse", "HEAD")
    assert "reverted by commit" in view.notice.value
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""


def test_the_commit_button_refuses_when_a_file_changed_since_and_says_how(codex, ipshell, repo):
    head = git(repo, "rev-parse", "HEAD")
    view = kept(codex, ipshell, "ask")
    (repo / "helpers.py").write_text((repo / "helpers.py").read_text() + "# later\n")
    view.commit_button.click()
    assert view.committing.result(10) is None
    assert wait_for(lambda: not view.busy)
    assert git(repo, "rev-parse", "HEAD") == head
    assert "Not committed: helpers.py changed after the change was kept" in view.notice.value
    assert "git add -A -- helpers.py" in view.notice.value and "codex-commit-refused" in view.notice.value


def test_without_ask_there_is_no_commit_button(codex, ipshell, repo):
    view = kept(codex, ipshell, "off")
    assert view.commit_button.layout.display == "none"


def test_percent_codex_undo_of_a_committed_change_is_a_revert_commit_and_audited(codex, ipshell, repo):
    head = git(repo, "rev-parse", "HEAD")
    view = kept(codex, ipshell, "on")
    sha = view.acceptance.outcome.commit
    assert sha and git(repo, "rev-parse", "HEAD") == sha and git(repo, "rev-parse", "HEAD~1") == head
    run_magic(ipshell, "undo")  # answered by the page after the cell: wait for it
    assert wait_for(lambda: git(repo, "rev-parse", "HEAD~1") == sha)
    assert wait_for(lambda: codex.lab.source("c-merge") == "merged = rows[:2]")
    assert (repo / "helpers.py").read_text() == HELPER
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""
    assert git(repo, "diff", head, "HEAD", "--stat") == ""  # the tree is the one before the change
    undone = [e for e in audit.read(repo) if e["event"] == "undone"][-1]
    assert undone["reverted_commit"] == sha and undone["proposal_id"] == view.proposal.id
    assert undone["commit"] == git(repo, "rev-parse", "HEAD") and undone["source"] == "kernel"
    assert audit.verify(audit.audit_path(repo)).ok


def test_terminal_review_asks_to_commit_and_percent_codex_undo_reverts_it(codex, ipshell, repo, nb_file, capsys,
                                                                            monkeypatch):
    """Terminal IPython: the file applier writes the notebook, so the notebook file is part of the commit."""
    codex.ui = "terminal"
    ipshell.config.CodexNB.commit = "ask"
    original = nb_file.read_bytes()
    head = git(repo, "rev-parse", "HEAD")
    answers = iter(["a", "y"])  # accept all edits, then yes to the commit
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    codex.llm.queue(proposal_reply(replace("c-merge", "merged = keep(rows)"),
                                   {"op": "patch_file", "path": "helpers.py", "search": "return rows[:2]",
                                    "replace": "return rows"}, explanation="Keep every row."))
    run_magic(ipshell, f"--notebook {nb_file} fix the merge")
    out = capsys.readouterr().out
    sha = git(repo, "rev-parse", "HEAD")
    assert sha != head and f"Committed {sha[:12]}: helpers.py, analysis.ipynb." in out
    assert sorted(git(repo, "show", "--name-only", "--format=", sha).split()) == ["analysis.ipynb", "helpers.py"]

    run_magic(ipshell, "undo")
    out = capsys.readouterr().out
    revert = git(repo, "rev-parse", "HEAD")
    assert git(repo, "rev-parse", "HEAD~1") == sha and f"by revert commit {revert[:12]}" in out
    assert nb_file.read_bytes() == original and (repo / "helpers.py").read_text() == HELPER
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""
    undone = [e for e in audit.read(repo) if e["event"] == "undone"][-1]
    assert undone["reverted_commit"] == sha and undone["commit"] == revert
