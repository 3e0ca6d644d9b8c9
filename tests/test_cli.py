"""The `codex-nb` CLI end to end: real subprocesses, a scripted model over loopback HTTP."""
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, env=None, stdin=None):
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, "-m", "codex_nb", *args], capture_output=True, text=True,
                          env=full_env, input=stdin, timeout=900)


@pytest.fixture
def project(tmp_path):
    (tmp_path / ".git").mkdir()  # the repository root: audit log and file patches live here
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "io.py").write_text("def load_orders(path):\n    return path\n")
    nb = new_notebook()
    a, b = new_code_cell("x = 2"), new_code_cell("print(x * 3)")
    a["id"], b["id"] = "setup", "show"
    b["outputs"] = [new_output("stream", name="stdout", text="6\n")]
    b["execution_count"] = 2
    nb.cells = [a, b]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "analysis.ipynb"
    nbformat.write(nb, path)
    return path


def reply(*edits, explanation="Doubles x."):
    return {"explanation": explanation, "edits": list(edits)}


def test_propose_then_apply(project, scripted_llm, tmp_path):
    scripted_llm.queue(reply({"op": "replace", "cell_id": "setup", "cell_type": "code", "source": "x = 4"},
                             {"op": "insert", "cell_id": "end", "cell_type": "markdown", "source": "Done."}))
    out = cli("propose", str(project), "double x", "--json")
    assert out.returncode == 0, out.stderr
    proposal = json.loads(out.stdout)
    assert proposal["version"] == 1 and proposal["model"] == "openai:scripted-model"
    assert [e["op"] for e in proposal["edits"]] == ["replace", "insert"]
    sent = scripted_llm.requests[-1]
    schema = sent["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["edits"]["items"]["anyOf"][0]["properties"]["cell_id"]["enum"][:2] == ["setup", "show"]
    assert "x = 2" in sent["messages"][-1]["content"]  # the notebook is in the context

    pfile = tmp_path / "p.json"
    pfile.write_text(out.stdout)
    before = project.read_bytes()
    dry = cli("apply", str(project), str(pfile), "--dry-run")
    assert dry.returncode == 0 and "+x = 4" in dry.stdout and project.read_bytes() == before
    done = cli("apply", str(project), str(pfile))
    assert done.returncode == 0, done.stderr
    nb = nbformat.read(project, as_version=4)
    assert [c.source for c in nb.cells] == ["x = 4", "print(x * 3)", "Done."]
    assert nb.cells[1].outputs  # untouched cells keep their outputs

    log = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [e["event"] for e in log] == ["proposed", "decided", "applied", "kept"]
    assert log[0]["instruction_hash"] and "double x" not in json.dumps(log)


def test_apply_refuses_a_stale_proposal_and_changes_nothing(project, scripted_llm, tmp_path):
    scripted_llm.queue(reply({"op": "replace", "cell_id": "setup", "cell_type": "code", "source": "x = 4"}))
    pfile = tmp_path / "p.json"
    pfile.write_text(cli("propose", str(project), "double x", "--json").stdout)
    nb = nbformat.read(project, as_version=4)
    nb.cells[0].source = "x = 3  # edited by the user meanwhile"
    nbformat.write(nb, project)
    before = project.read_bytes()
    out = cli("apply", str(project), str(pfile))
    assert out.returncode == 1 and "stale" in out.stderr and "ask again" in out.stderr
    assert project.read_bytes() == before


def test_file_patch_applies_inside_repo_and_refuses_outside(project, scripted_llm, tmp_path):
    good = {"version": 1, "id": "p-1", "explanation": "", "edits": [
        {"op": "patch_file", "path": "pkg/io.py", "search": "return path", "replace": "return str(path)"},
        {"op": "replace", "cell_id": "setup", "source": "x = 5", "base_hash": _hash("x = 2")}]}
    pfile = tmp_path / "good.json"
    pfile.write_text(json.dumps(good))
    assert cli("apply", str(project), str(pfile)).returncode == 0
    assert "return str(path)" in (tmp_path / "pkg" / "io.py").read_text()

    evil = {"version": 1, "id": "p-2", "explanation": "", "edits": [
        {"op": "replace", "cell_id": "setup", "source": "x = 6", "base_hash": _hash("x = 5")},
        {"op": "patch_file", "path": "../escape.py", "search": "", "replace": "owned"}]}
    pfile.write_text(json.dumps(evil))
    before = project.read_bytes()
    out = cli("apply", str(project), str(pfile))
    assert out.returncode == 1 and "outside the repository" in out.stderr
    assert project.read_bytes() == before and not (tmp_path.parent / "escape.py").exists()


def _hash(text):
    from codex_nb.notebook_io import source_hash

    return source_hash(text)


@pytest.mark.parametrize("answer, needle", [
    ("this is not json at all", "not valid JSON"),
    (json.dumps(reply({"op": "replace", "cell_id": "nope", "cell_type": "code", "source": "1"})), "unknown cell id"),
])
def test_unusable_model_answers_fail_cleanly_after_a_retry(project, scripted_llm, answer, needle):
    scripted_llm.queue(answer).queue(answer)
    before = project.read_bytes()
    out = cli("propose", str(project), "do it", "--json")
    assert out.returncode == 1 and needle in out.stderr and "→" in out.stderr
    assert out.stdout == "" and project.read_bytes() == before
    assert len(scripted_llm.requests) == 2  # the error text went back to the model once
    assert "could not be used" in scripted_llm.requests[1]["messages"][-1]["content"]


def test_an_oversize_answer_stops_at_the_cap_and_is_not_retried(project, scripted_llm):
    scripted_llm.queue("x" * 250_000, chunk_size=8192).queue("x" * 250_000, chunk_size=8192)
    out = cli("propose", str(project), "do it", "--json")
    assert out.returncode == 1 and "reading stopped there" in out.stderr and "→" in out.stderr
    assert len(scripted_llm.requests) == 1


def test_a_bad_first_answer_is_repaired_by_the_retry(project, scripted_llm):
    scripted_llm.queue(json.dumps(reply({"op": "delete", "cell_id": "ghost", "cell_type": "code", "source": ""})))
    scripted_llm.queue(reply({"op": "delete", "cell_id": "show", "cell_type": "code", "source": ""}))
    out = cli("propose", str(project), "remove the print", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["edits"][0]["cell_id"] == "show"
    assert "ghost" in scripted_llm.requests[1]["messages"][-1]["content"]


def test_truncated_answer(project, scripted_llm):
    scripted_llm.queue('{"explanation": "x", "edits": [{"op": "repl', finish_reason="length")
    scripted_llm.queue('{"explanation": "x", "edits": [{"op": "repl', finish_reason="length")
    out = cli("propose", str(project), "do it")
    assert out.returncode == 1 and "cut off" in out.stderr


def test_unknown_model_lists_providers(project):
    out = cli("propose", str(project), "x", "--model", "nosuch:thing")
    assert out.returncode == 2 and "unknown provider 'nosuch'" in out.stderr
    assert all(p in out.stderr for p in ("anthropic", "local", "ollama", "openai"))


def test_missing_key(project):
    env = {"OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}
    out = cli("propose", str(project), "x", "--model", "openai:gpt-4.1-mini", env=env)
    assert out.returncode == 2 and "No key found for OpenAI" in out.stderr and "local:smollm2" in out.stderr


def test_unreachable_server(project):
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "k"}
    out = cli("propose", str(project), "x", "--model", "openai:m", env=env)
    assert out.returncode == 1 and "cannot reach http://127.0.0.1:9/v1" in out.stderr


def test_invalid_notebook_and_bad_proposal_files(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{ nope")
    out = cli("propose", str(bad), "x")
    assert out.returncode == 1 and "not a valid notebook" in out.stderr
    out = cli("propose", str(tmp_path / "missing.ipynb"), "x")
    assert out.returncode == 2 and "does not exist" in out.stderr
    good = tmp_path / "good.ipynb"
    nbformat.write(new_notebook(), good)
    (tmp_path / "p.json").write_bytes(b"\xff\xfe")
    out = cli("apply", str(good), str(tmp_path / "p.json"))
    assert out.returncode == 2 and "UTF-8" in out.stderr
    (tmp_path / "p.json").write_text("[1, 2")
    out = cli("apply", str(good), str(tmp_path / "p.json"))
    assert out.returncode == 2 and "not valid JSON" in out.stderr


def test_usage_errors_exit_2():
    out = cli("propose")
    assert out.returncode == 2 and "usage" in out.stderr


def test_models_lists_the_scripted_server(scripted_llm):
    out = cli("models", "--json", "--check")
    rows = {r["id"]: r for r in json.loads(out.stdout)}
    assert rows["openai:scripted-model"]["reachable"] is True


def test_apply_reads_the_proposal_from_stdin(project):
    proposal = {"version": 1, "id": "p-9", "explanation": "", "edits": [{"op": "insert", "new_id": "n1", "source": "y = 1"}]}
    out = cli("apply", str(project), "-", "--json", stdin=json.dumps(proposal))
    assert out.returncode == 0 and json.loads(out.stdout)["cells"] == ["n1"]
