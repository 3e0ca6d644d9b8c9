"""commit = "ask": the kept change carries a commit offer; the CLI asks on a terminal (a real pty), the engine
commits it only while its files are still as kept, and every undo sees the offered commit as a commit.

A real package with its own tests in a real git repository (the fixture of test_engine_gates).
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys

import pytest

from codex_nb import audit
from codex_nb.edits.model import Proposal
from codex_nb.engine import FileApplier
from codex_nb.engine.api import accept_file, build_engine
from codex_nb.engine.run_sync import run_sync
from codex_nb.errors import CodexError
from codex_nb.gates.commit import CommitRefused
from test_engine_gates import git, patch, repo  # noqa: F401  (fixture)


@pytest.fixture
def ask_config(tmp_path, monkeypatch):
    """A Jupyter config dir with c.CodexNB.commit = "ask" (and nothing else of the machine's)."""
    config = tmp_path / "jupyter-config"
    config.mkdir()
    (config / "codex_nb_config.json").write_text(json.dumps({"CodexNB": {"commit": "ask"}}))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(config))
    monkeypatch.setattr("codex_nb.config._ipython_config", lambda: None)  # an in-process shell's config must not win
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    return config


def cli(repo, tmp_path, proposal, *flags):
    pfile = tmp_path / "p.json"
    pfile.write_text(json.dumps(proposal))
    return [sys.executable, "-m", "codex_nb.cli.main", "apply", str(repo / "orders.ipynb"), str(pfile), "--json", *flags]


def run_on_a_terminal(cmd, answer: bytes, timeout=240):
    """Run ``cmd`` with stdin and stderr on a real pty; answer the first [y/N] question; (rc, stdout, terminal text)."""
    master, slave = os.openpty()
    proc = subprocess.Popen(cmd, stdin=slave, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen, answered = b"", False
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk and proc.poll() is not None:
                    break
                seen += chunk
            if not answered and b"[y/N]" in seen:
                os.write(master, answer)
                answered = True
            if proc.poll() is not None and not ready:
                break
        out = proc.stdout.read()
        proc.wait(timeout)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out.decode(), seen.decode("utf-8", "replace")


def test_on_a_terminal_yes_commits_exactly_the_touched_files_with_trailers_and_undo_reverts_it(repo, tmp_path, ask_config):
    head = git(repo, "rev-parse", "HEAD")
    (repo / "shop" / "other.py").write_text("NAME = 'other'\n# mine, never committed\n")
    rc, out, terminal = run_on_a_terminal(cli(repo, tmp_path, patch("return sum(xs) + 0", "p-ask-yes"), "--validate"),
                                          b"y\n")
    assert rc == 0, terminal
    assert "Commit 1 file(s) (shop/prices.py) as \"Round the total.\"? [y/N]" in terminal
    result = json.loads(out)
    sha = result["commit"]
    assert sha and result["commit_offer"] is None and f"Committed {sha[:12]}" in terminal
    assert git(repo, "rev-parse", "HEAD") == sha and git(repo, "rev-parse", "HEAD~1") == head
    assert git(repo, "show", "--name-only", "--format=", sha).split() == ["shop/prices.py"]
    message = git(repo, "log", "-1", "--format=%B")
    assert "Codex-Proposal: p-ask-yes" in message and "Codex-Validation: passed (notebook" in message
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == "M shop/other.py"
    committed = [e for e in audit.read(repo) if e["event"] == "committed"]
    assert [(e["proposal_id"], e["commit"], e["files"]) for e in committed] == [("p-ask-yes", sha, ["shop/prices.py"])]
    assert audit.verify(audit.audit_path(repo)).ok

    # `codex-nb undo` sees the offered commit as the kept change's commit: a revert commit, not a file restore
    done = subprocess.run([sys.executable, "-m", "codex_nb.cli.main", "undo", str(repo / "orders.ipynb"), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    undone = json.loads(done.stdout)
    assert undone["reverted_commit"] == sha and git(repo, "rev-parse", "HEAD") == undone["commit"]
    assert git(repo, "log", "-1", "--format=%s") == 'Revert "Round the total."'
    assert (repo / "shop" / "prices.py").read_text() == "def total(xs):\n    return sum(xs)\n"


def test_on_a_terminal_no_keeps_it_uncommitted_and_says_how_to_commit(repo, tmp_path, ask_config):
    head = git(repo, "rev-parse", "HEAD")
    rc, out, terminal = run_on_a_terminal(cli(repo, tmp_path, patch("return sum(xs) + 0", "p-ask-no")), b"n\n")
    assert rc == 0, terminal
    assert json.loads(out)["commit"] is None and git(repo, "rev-parse", "HEAD") == head
    assert "Kept without a commit. To commit it later: git add -A -- shop/prices.py && git commit" in terminal
    assert (repo / "shop" / "prices.py").read_text().endswith("return sum(xs) + 0\n")
    assert not [e for e in audit.read(repo) if e["event"] == "committed"]


def test_without_a_terminal_it_is_kept_uncommitted_with_the_offer_and_how_to_commit(repo, tmp_path, ask_config):
    head = git(repo, "rev-parse", "HEAD")
    done = subprocess.run(cli(repo, tmp_path, patch("return sum(xs) + 0", "p-ask-pipe")), capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["commit"] is None and git(repo, "rev-parse", "HEAD") == head
    offer = result["commit_offer"]
    assert offer["files"] == ["shop/prices.py"] and offer["dirty"] == []
    assert "Codex-Proposal: p-ask-pipe" in offer["message"] and "Codex-Validation: not validated" in offer["message"]
    import hashlib

    assert offer["hashes"] == {"shop/prices.py": hashlib.sha256((repo / "shop" / "prices.py").read_bytes()).hexdigest()}
    assert "Kept without a commit: commit = 'ask' and no terminal to ask" in done.stderr
    assert "--commit" in done.stderr and "git add -A -- shop/prices.py" in done.stderr
    assert "[y/N]" not in done.stderr


def kept_with_offer(repo, pid="p-offer", replace="return sum(xs) + 0", **flags):
    outcome = accept_file(repo / "orders.ipynb", Proposal.from_json(patch(replace, pid)), source="api",
                          validate=False, commit="ask", **flags)
    assert outcome.kept and outcome.commit is None and outcome.commit_offer is not None
    return outcome


def test_the_engine_refuses_the_offer_once_a_file_changed_and_commits_it_when_it_is_back(repo, ask_config):
    outcome = kept_with_offer(repo)
    engine = build_engine(source="api", settings=None, validate=False)
    kept_text = (repo / "shop" / "prices.py").read_text()
    (repo / "shop" / "prices.py").write_text(kept_text + "# a later edit\n")
    with pytest.raises(CommitRefused) as info:
        run_sync(engine.commit_offered(outcome))
    assert "shop/prices.py changed after the change was kept" in info.value.message
    assert "git add -A -- shop/prices.py && git commit" in info.value.hint
    head = git(repo, "rev-parse", "HEAD")
    assert git(repo, "rev-parse", "HEAD") == head

    (repo / "shop" / "prices.py").write_text(kept_text)
    sha = run_sync(engine.commit_offered(outcome))
    assert git(repo, "rev-parse", "HEAD") == sha and outcome.commit == sha and outcome.commit_offer is None
    with pytest.raises(CodexError) as again:
        run_sync(engine.commit_offered(outcome))
    assert "already committed" in again.value.message


def test_an_offer_is_refused_when_the_person_committed_it_already(repo, ask_config):
    outcome = kept_with_offer(repo, "p-by-hand")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qam", "by hand")
    head = git(repo, "rev-parse", "HEAD")
    engine = build_engine(source="api", validate=False)
    with pytest.raises(CommitRefused) as info:
        run_sync(engine.commit_offered(outcome))
    assert "already committed as the change left them" in info.value.message
    assert git(repo, "rev-parse", "HEAD") == head


def test_no_offer_outside_a_git_repository_or_over_the_persons_edits(repo, tmp_path, ask_config):
    import shutil

    from codex_nb.notebook_io import source_hash

    def over_my_note(pid):
        (repo / "shop" / "prices.py").write_text("def total(xs):\n    return sum(xs)\n# my note\n")
        proposal = patch("return sum(xs) + 0", pid)
        proposal["edits"][0]["base_hash"] = source_hash((repo / "shop" / "prices.py").read_text())
        return Proposal.from_json(proposal)

    events = []
    outcome = accept_file(repo / "orders.ipynb", over_my_note("p-dirty-ask"), source="api", validate=False,
                          commit="ask", emit=events.append)
    assert outcome.kept and outcome.commit_offer is None  # kept: with "ask" a commit is optional
    notices = [e["text"] for e in events if e["type"] == "status" and e.get("notice")]
    assert any("shop/prices.py had uncommitted edits of yours" in n and "--allow-dirty" in n for n in notices)
    allowed = accept_file(repo / "orders.ipynb", over_my_note("p-dirty-ok"), source="api", validate=False,
                          commit="ask", commit_allow_dirty=True)
    assert allowed.kept and allowed.commit_offer.dirty == ["shop/prices.py"]

    shutil.rmtree(repo / ".git")
    events.clear()
    outcome = accept_file(repo / "orders.ipynb", over_my_note("p-plain"), source="api", validate=False,
                          commit="ask", emit=events.append)
    assert outcome.kept and outcome.commit_offer is None
    assert any("not inside a git repository" in e["text"] for e in events if e["type"] == "status" and e.get("notice"))


def test_engine_undo_of_an_offered_commit_is_a_revert_commit_and_is_audited(repo, ask_config):
    history: list = []
    engine = build_engine(source="api", validate=False, commit="ask", history=history)
    applier = FileApplier(repo / "orders.ipynb")
    outcome = run_sync(engine.accept(Proposal.from_json(patch("return sum(xs) + 0", "p-undo")), applier))
    sha = run_sync(engine.commit_offered(outcome))
    assert history[-1].commit == sha
    events = []
    run_sync(engine.undo(FileApplier(repo / "orders.ipynb"), emit=events.append))
    revert = git(repo, "rev-parse", "HEAD")
    assert revert != sha and git(repo, "rev-parse", "HEAD~1") == sha
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""  # the work tree is the revert commit
    assert (repo / "shop" / "prices.py").read_text() == "def total(xs):\n    return sum(xs)\n"
    undone = [e for e in audit.read(repo) if e["event"] == "undone"][-1]
    assert undone["reverted_commit"] == sha and undone["commit"] == revert and undone["proposal_id"] == "p-undo"
    assert [e for e in events if e["type"] == "undone"][0]["commit"] == revert


def test_an_agent_run_keeps_the_change_uncommitted_and_says_how_to_commit(repo, ask_config, scripted_llm):
    import agent_script as s
    from codex_nb.agent import Policy
    from codex_nb.agent.headless import make_run

    head = git(repo, "rev-parse", "HEAD")
    scripted_llm.queue(s.plan("patch"))
    scripted_llm.queue(s.propose({"op": "patch_file", "path": "shop/prices.py", "search": "return sum(xs)",
                                  "replace": "return sum(xs) + 0"}))
    scripted_llm.queue(s.finish())
    events = []
    run = make_run(repo / "orders.ipynb", "go", policy=Policy(approve="auto", allow_destructive=True), validate=False,
                   runner=None, emit=events.append)
    run.model.provider.offers_file_patches = True

    result = s.run_to_end(run)
    assert [st.status for st in result.steps] == ["kept", "finished"], result.steps
    assert "kept without a commit" in result.steps[0].summary and git(repo, "rev-parse", "HEAD") == head
    notices = [e["event"]["text"] for e in events if e.get("type") == "agent_engine" and e["event"].get("notice")]
    assert any("an agent run does not stop to ask" in n and "git add -A -- shop/prices.py" in n for n in notices)
