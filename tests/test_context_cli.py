"""`codex-nb context` through a real subprocess."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data" / "context" / "shop_repo"
PROJECT = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    return subprocess.run([sys.executable, "-m", "codex_nb", "context", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_context_json_lists_ranked_files_and_sections(tmp_path):
    repo = tmp_path / "shop_repo"
    shutil.copytree(DATA, repo)
    proc = run_cli("--repo", str(repo), "--notebook", str(repo / "analysis.ipynb"),
                   "--query", "why does load_orders drop rows?", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["files"][0] == {"path": "shop/io.py", "score": data["files"][0]["score"],
                                "why": data["files"][0]["why"]}
    assert "load_orders" in data["files"][0]["why"]
    assert [s["name"] for s in data["sections"]] == ["notebook", "repository"]
    assert data["total_tokens"] == sum(s["tokens"] for s in data["sections"]) <= data["budget"]
    assert data["cell_ids"] == ["cell0", "cell1", "cell2"]
    assert all(not f["path"].startswith("/") for f in data["files"])


def test_context_query_alone_in_the_current_directory_prints_text(tmp_path):
    repo = tmp_path / "shop_repo"
    shutil.copytree(DATA, repo)
    proc = run_cli("--query", "monthly report", "--budget", "3000", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("# context: ")
    assert "=== repository ===" in proc.stdout and "shop/report.py" in proc.stdout
    # the second run reuses the cache written by the first
    again = run_cli("--query", "monthly report", "--json", "--top", "3", cwd=repo)
    data = json.loads(again.stdout)
    assert data["index"]["cache"] == "disk" and data["index"]["parsed"] == 0
    assert len(data["files"]) == 3


def test_context_usage_errors_exit_2_with_a_hint(tmp_path):
    proc = run_cli(cwd=tmp_path)
    assert proc.returncode == 2 and "--query" in proc.stderr
    proc = run_cli("--notebook", "missing.ipynb", cwd=tmp_path)
    assert proc.returncode == 2 and "does not exist" in proc.stderr
