"""Declared checks: real commands in a real project — passing, failing, timing out, missing, badly declared."""
from __future__ import annotations

import json
import time

import pytest

from codex_nb.config import CodexNB
from codex_nb.engine.gates import ChangeUnderTest
from codex_nb.gates.checks import ChecksGate, declared_checks, expand
from gates_project import make_project, write

# A check script of the project's own: fails on files that contain "TODO", prints its arguments as JSON.
CHECK_SCRIPT = """
    import json, sys
    print(json.dumps(sys.argv[1:]))
    bad = [f for f in sys.argv[1:] if "TODO" in open(f).read()]
    for f in bad:
        print(f"{f}: contains TODO")
    sys.exit(1 if bad else 0)
    """


@pytest.fixture
def project(tmp_path):
    root = make_project(tmp_path / "shop", commit=False)
    write(root, "tools/no_todo.py", CHECK_SCRIPT)
    return root


def declare(root, checks: list[str]) -> None:
    text = (root / "pyproject.toml").read_text()
    (root / "pyproject.toml").write_text(text + "\n[tool.codex-nb]\nchecks = " + json.dumps(checks) + "\n")


def run(root, files, **settings):
    ch = ChangeUnderTest(repo_root=root, notebook_path=None, before=None, after=None, changed_files=files,
                         settings=CodexNB(**settings))
    gate = ChecksGate()
    events = []
    return gate.applies(ch), gate.run(ch, events.append), events


def test_declared_check_passes_with_files_expanded_and_quoted(project):
    declare(project, ["python tools/no_todo.py {files}"])
    write(project, "notes/my file.txt", "all done\n")
    applies, result, events = run(project, ["src/shop/prices.py", "notes/my file.txt"])
    assert applies and result.ok, result.summary
    (entry,) = result.detail["checks"]
    assert entry["exit_code"] == 0 and entry["source"] == "[tool.codex-nb] checks"
    assert json.loads(entry["output"].splitlines()[0]) == ["src/shop/prices.py", "notes/my file.txt"]
    assert result.summary.startswith("checks: 1 passed")
    assert [e["stage"] for e in events] == ["start", "done"]


def test_failing_check_reports_exit_code_and_output_for_the_repair(project):
    declare(project, ["python tools/no_todo.py {files}"])
    write(project, "src/shop/prices.py", "# TODO: finish\n")
    _, result, _ = run(project, ["src/shop/prices.py"], checks=["python -c 'print(42)'"])
    assert not result.ok
    by_cmd = {c["command"]: c for c in result.detail["checks"]}
    assert by_cmd["python -c 'print(42)'"]["exit_code"] == 0  # settings' check first, and it passed
    assert by_cmd["python tools/no_todo.py {files}"]["exit_code"] == 1
    assert "1 of 2 failed" in result.summary and "exited with 1" in result.summary
    assert "src/shop/prices.py: contains TODO" in result.repair_text
    assert "exit code 1" in result.repair_text


def test_check_that_runs_too_long_is_stopped(project):
    started = time.monotonic()
    _, result, _ = run(project, ["src/shop/prices.py"], checks=["python -c 'import time; time.sleep(60)'"],
                       check_timeout=1.0)
    assert time.monotonic() - started < 15
    (entry,) = result.detail["checks"]
    assert not result.ok and entry["timed_out"] and entry["exit_code"] is None
    assert "stopped at the 1 s limit (check_timeout)" in result.summary


def test_missing_executable_says_how_to_fix_it(project):
    declare(project, ["ruff-that-is-not-installed check {files}"])
    _, result, _ = run(project, ["src/shop/prices.py"], checks=["no-such-tool-xyz --strict && true"])
    assert not result.ok
    errors = [c["error"] for c in result.detail["checks"]]
    assert errors == [
        "check 'no-such-tool-xyz --strict && true': command not found — install no-such-tool-xyz or remove it from c.CodexNB.checks",
        "check 'ruff-that-is-not-installed check {files}': command not found — install ruff-that-is-not-installed "
        "or remove it from [tool.codex-nb] checks",
    ]
    assert "command not found" in result.repair_text


def test_shell_syntax_runs_through_the_shell(project):
    _, result, _ = run(project, ["src/shop/prices.py"], checks=["test -f {files} && echo present | tr a-z A-Z"])
    assert result.ok, result.summary
    assert "PRESENT" in result.detail["checks"][0]["output"]
    argv, shell = expand("ruff check {files}", ["a b.py", "c.py"])
    assert argv == ["ruff", "check", "a b.py", "c.py"] and not shell


def test_badly_declared_checks_are_a_clear_failure(project):
    (project / "pyproject.toml").write_text((project / "pyproject.toml").read_text() + '\n[tool.codex-nb]\nchecks = "ruff"\n')
    applies, result, _ = run(project, ["src/shop/prices.py"])
    assert applies and not result.ok
    assert "must be a list of command strings" in result.summary
    (project / "pyproject.toml").write_text("[tool.codex-nb\n")
    checks, problem = declared_checks(project, CodexNB())
    assert checks == [] and "pyproject.toml cannot be read" in problem


def test_no_checks_or_no_changed_files_means_the_gate_does_not_apply(project):
    applies, _, _ = run(project, ["src/shop/prices.py"])
    assert not applies
    declare(project, ["python tools/no_todo.py {files}"])
    ch = ChangeUnderTest(repo_root=project, notebook_path=None, before=None, after=None, changed_files=[],
                         settings=CodexNB())
    assert not ChecksGate().applies(ch)


def test_long_output_keeps_its_start_and_end(project):
    noisy = "python -c \"print('first line'); print('x' * 200000); print('last words'); raise SystemExit(3)\""
    _, result, _ = run(project, ["src/shop/prices.py"], checks=[noisy])
    output = result.detail["checks"][0]["output"]
    assert result.detail["checks"][0]["exit_code"] == 3
    assert output.startswith("first line") and output.rstrip().endswith("last words")
    assert len(output) < 6000 and "left out" in output
