"""The project's gates inside the engine: a change to a module is kept only if its tests pass; kept becomes a commit.

A real small package with its own tests in a real git repository, a notebook that imports it, real
papermill and real pytest runs (through `codex-nb apply`, the CLI door).
"""
from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest

from codex_nb import audit
from codex_nb.notebook_io import source_hash


def git(root, *args):
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    (root / "shop").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'shop'\n")
    (root / "shop" / "__init__.py").write_text("")
    (root / "shop" / "prices.py").write_text("def total(xs):\n    return sum(xs)\n")
    (root / "shop" / "other.py").write_text("NAME = 'other'\n")
    (root / "tests" / "test_prices.py").write_text("from shop.prices import total\n\ndef test_total():\n    assert total([1, 2]) == 3\n")
    (root / "tests" / "test_other.py").write_text("from shop.other import NAME\n\ndef test_name():\n    assert NAME == 'other'\n")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("from shop.prices import total\nt = total([2, 2])", id="c1"),
                nbformat.v4.new_code_cell("print(t)", id="c2")]
    nbformat.write(nb, root / "orders.ipynb")
    git(root, "init", "-q")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.org", "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "start")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "t")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "t@example.org")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "t")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "t@example.org")
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    return root


def apply(repo, tmp_path, proposal, *flags):
    pfile = tmp_path / "p.json"
    pfile.write_text(json.dumps(proposal))
    return subprocess.run([sys.executable, "-m", "codex_nb.cli.main", "apply", str(repo / "orders.ipynb"), str(pfile),
                           "--validate", "--json", *flags], capture_output=True, text=True, timeout=240)


def patch(replace: str, pid: str, cell: str | None = None) -> dict:
    edits = [{"op": "patch_file", "path": "shop/prices.py", "search": "return sum(xs)", "replace": replace,
              "base_hash": source_hash("def total(xs):\n    return sum(xs)\n")}]
    if cell is not None:
        edits.append({"op": "replace", "cell_id": "c2", "source": cell, "base_hash": source_hash("print(t)")})
    return {"version": 1, "id": pid, "explanation": "Round the total.", "edits": edits}


def test_a_patch_that_keeps_the_tests_green_is_kept_and_committed(repo, tmp_path):
    head = git(repo, "rev-parse", "HEAD")
    done = apply(repo, tmp_path, patch("return sum(xs) + 0", "p-green"), "--commit")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    gates = {g["gate"]: g for g in result["gates"]}
    assert gates["notebook"]["ok"] and gates["tests"]["ok"]
    assert gates["tests"]["detail"]["ran"] == ["tests/test_prices.py::test_total"]  # only the tests that import it
    sha = result["commit"]
    assert sha and git(repo, "rev-parse", "HEAD") == sha and git(repo, "rev-parse", "HEAD~1") == head
    assert git(repo, "show", "--name-only", "--format=", sha).split() == ["shop/prices.py"]
    message = git(repo, "log", "-1", "--format=%B")
    assert "Codex-Proposal: p-green" in message and "Codex-Validation: passed" in message
    kept = [e for e in audit.read(repo) if e["event"] == "kept"][-1]
    assert kept["commit"] == sha and kept["files"] == ["shop/prices.py"]


def test_a_patch_that_breaks_a_test_rolls_back_cells_and_files_exactly(repo, tmp_path):
    before = {p: (repo / p).read_bytes() for p in ("shop/prices.py", "orders.ipynb")}
    head = git(repo, "rev-parse", "HEAD")
    done = apply(repo, tmp_path, patch("return sum(xs) + 1", "p-red", cell="print('total', t)"), "--commit")
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["status"] == "rolled_back" and result["failure"]["gate"] == "tests"
    assert "tests/test_prices.py::test_total" in "\n".join(result["failure"]["traceback"])
    assert all((repo / p).read_bytes() == data for p, data in before.items())
    assert git(repo, "rev-parse", "HEAD") == head  # no commit
    rolled = [e for e in audit.read(repo) if e["event"] == "rolled_back"][-1]
    assert rolled["exact"] is True and rolled["proposal_id"] == "p-red"


def test_a_dirty_file_the_change_touches_is_refused_when_committing(repo, tmp_path):
    (repo / "shop" / "prices.py").write_text("def total(xs):\n    return sum(xs)\n# my unfinished note\n")
    proposal = patch("return sum(xs) + 0", "p-dirty")
    proposal["edits"][0]["base_hash"] = source_hash((repo / "shop" / "prices.py").read_text())
    done = apply(repo, tmp_path, proposal, "--commit")
    assert done.returncode == 1
    assert "uncommitted" in json.loads(done.stdout)["reason"]
    assert (repo / "shop" / "prices.py").read_text().endswith("# my unfinished note\n")


def test_allow_dirty_lets_the_commit_carry_the_persons_edit_to_that_file_only(repo, tmp_path):
    (repo / "shop" / "prices.py").write_text("def total(xs):\n    return sum(xs)\n# my unfinished note\n")
    (repo / "shop" / "other.py").write_text("NAME = 'other'\n# also mine, not touched by the change\n")
    proposal = patch("return sum(xs) + 0", "p-dirty-ok")
    proposal["edits"][0]["base_hash"] = source_hash((repo / "shop" / "prices.py").read_text())
    done = apply(repo, tmp_path, proposal, "--commit", "--allow-dirty")
    assert done.returncode == 0, done.stderr
    assert "also carry your uncommitted edits to shop/prices.py" in done.stderr
    sha = json.loads(done.stdout)["commit"]
    assert git(repo, "show", "--name-only", "--format=", sha).split() == ["shop/prices.py"]
    assert git(repo, "show", f"{sha}:shop/prices.py").endswith("# my unfinished note")
    assert git(repo, "status", "--porcelain") == "M shop/other.py"  # never committed


def test_commit_ask_keeps_the_change_uncommitted_and_says_how_to_commit(repo, tmp_path):
    head = git(repo, "rev-parse", "HEAD")
    config = tmp_path / "jupyter-config"
    config.mkdir()
    (config / "codex_nb_config.json").write_text(json.dumps({"CodexNB": {"commit": "ask"}}))
    pfile = tmp_path / "p.json"
    pfile.write_text(json.dumps(patch("return sum(xs) + 0", "p-ask")))
    done = subprocess.run([sys.executable, "-m", "codex_nb.cli.main", "apply", str(repo / "orders.ipynb"), str(pfile),
                           "--validate", "--json"], capture_output=True, text=True, timeout=240,
                          env={**__import__("os").environ, "JUPYTER_CONFIG_DIR": str(config)}, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["commit"] is None and git(repo, "rev-parse", "HEAD") == head
    assert "Kept without a commit: commit = 'ask' and no terminal to ask" in done.stderr and "--commit" in done.stderr
