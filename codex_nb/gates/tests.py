"""The test gate: a change to repository files is kept only if the project's affected tests pass.

pytest runs in a subprocess (the interpreter codex-nb runs in, the repository root as
its working directory, ``test_timeout`` for the whole run). Outcomes come from a small
plugin that writes one JSON line per report, so failures are read as data: the
failing test ids and the end of each traceback go to the repair prompt.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ..engine.gates import ChangeUnderTest, GateResult, Progress
from .proc import run_command, trim
from .select import Selection, select_tests

PLUGIN_MODULE = "_codex_nb_pytest_report"
MAX_REPAIR_CHARS = 6000
MAX_FAILURE_CHARS = 1500
SHOWN_FAILURES = 8
MAX_LISTED_TESTS = 500  # test ids kept in the report (the counts cover all)


def _setting(change: ChangeUnderTest, name: str, default):
    value = getattr(change.settings, name, None) if change.settings is not None else None
    return default if value is None else value


class TestGate:
    """Runs the tests that import the changed modules (``tests = "auto"``) or the whole suite (``"all"``)."""

    __test__ = False  # a class named Test* is not a pytest test class
    name = "tests"

    def applies(self, change: ChangeUnderTest) -> bool:
        return bool(change.changed_files) and _setting(change, "tests", "auto") != "off"

    def run(self, change: ChangeUnderTest, progress: Progress) -> GateResult:
        started = time.monotonic()
        root = Path(change.repo_root)
        selection = select_tests(root, list(change.changed_files), _setting(change, "tests", "auto"))
        progress({"gate": self.name, "stage": "selected", "files": selection.files, "widened": selection.widened,
                  "reasons": selection.reasons})
        if selection.files == []:
            return GateResult(self.name, True, f"tests: none ran — {selection.note}",
                              time.monotonic() - started, {"selection": selection.to_json(), "tests": 0})
        timeout = float(_setting(change, "test_timeout", 600.0))
        outcome = run_pytest(root, selection.unselected, timeout, progress, cancel=change.cancel)
        outcome["selection"] = selection.to_json()
        seconds = time.monotonic() - started
        return _result(self.name, selection, outcome, seconds, timeout)


def pytest_command() -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", PLUGIN_MODULE, "--tb=short"]


def run_pytest(root: Path, leave_out: list[str], timeout: float, progress: Progress, cancel=None) -> dict:
    """Run the project's suite without the test files ``leave_out`` and return what happened, as data.

    pytest collects as the project configures it (testpaths, ignore rules, plugins); the
    plugin only declines to collect the files left out.
    """
    work = tempfile.mkdtemp(prefix="codex-nb-tests-")
    try:
        shutil.copyfile(Path(__file__).with_name("pytest_report.py"), os.path.join(work, PLUGIN_MODULE + ".py"))
        report_path = os.path.join(work, "report.jsonl")
        env = dict(os.environ)
        # the plugin lives in its own directory: nothing of codex-nb's is put on the tests' path
        env["PYTHONPATH"] = work + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["CODEX_NB_TEST_REPORT"] = report_path
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # leave no __pycache__ behind in the user's tree
        if leave_out:
            skip_path = os.path.join(work, "skip.txt")
            with open(skip_path, "w", encoding="utf-8") as fh:
                fh.write("".join(str(root / rel) + "\n" for rel in leave_out))
            env["CODEX_NB_TEST_SKIP"] = skip_path
        reader = _ReportReader(report_path, progress)
        argv = pytest_command()
        finished = run_command(argv, root, timeout, env=env, on_tick=reader.poll, cancel=cancel)
        reader.poll()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"command": ["python", *argv[1:]], "exit_code": finished.exit_code, "timed_out": finished.timed_out,
            "cancelled": finished.cancelled, "pytest_seconds": round(finished.seconds, 3), "output": finished.output, "reports": reader.entries}


class _ReportReader:
    """Reads the plugin's JSON lines as they are written, and tells ``progress`` about each finished test."""

    def __init__(self, path: str, progress: Progress):
        self.path, self.progress = path, progress
        self.offset = 0
        self.entries: list[dict] = []

    def poll(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except OSError:
            return
        end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next poll
        self.offset += end
        for line in chunk[:end].splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            self.entries.append(entry)
            if entry.get("kind") == "test" and (entry.get("when") == "call" or entry.get("outcome") != "passed"):
                self.progress({"gate": "tests", "stage": "test", "nodeid": entry["nodeid"], "outcome": entry["outcome"]})


def outcomes(reports: list[dict]) -> tuple[dict[str, str], list[dict]]:
    """{nodeid: passed|failed|error|skipped|xfailed|xpassed} and the failure entries, in order."""
    final: dict[str, str] = {}
    failures: list[dict] = []
    for e in reports:
        if e.get("kind") == "collect":
            final[e["nodeid"]] = "error"
            failures.append(e)
        elif e.get("kind") == "test":
            node, when, outcome = e["nodeid"], e.get("when"), e.get("outcome")
            if outcome == "failed":
                final[node] = "failed" if when == "call" else "error"
                failures.append(e)
            elif outcome == "skipped" and final.get(node) not in ("failed", "error"):
                final[node] = "xfailed" if e.get("xfail") else "skipped"
            elif when == "call" and outcome == "passed":
                final[node] = "xpassed" if e.get("xfail") else "passed"
            elif when == "setup" and node not in final:
                final[node] = "passed"  # confirmed by the call report that follows
    return final, failures


def _counts(final: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in final.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _count_text(counts: dict[str, int]) -> str:
    order = ("failed", "error", "passed", "skipped", "xfailed", "xpassed")
    return ", ".join(f"{counts[k]} {k}" for k in order if counts.get(k)) or "no tests"


def _scope_text(selection: Selection) -> str:
    if selection.whole_suite:
        return f"whole suite ({selection.widened})"
    n = len(selection.files or [])
    return f"{n} of {selection.test_files} test file{'s' if selection.test_files != 1 else ''}, selected by imports"


def _result(name: str, selection: Selection, outcome: dict, seconds: float, timeout: float) -> GateResult:
    final, failures = outcomes(outcome.pop("reports"))
    counts = _counts(final)
    exit_code = outcome["exit_code"]
    detail = {**outcome, "counts": counts, "tests": len(final), "ran": sorted(final)[:MAX_LISTED_TESTS],
              "failed": [{"nodeid": f["nodeid"], "when": f.get("when", "collect"), "message": f.get("message", "")}
                         for f in failures]}
    output = detail.pop("output")
    scope = _scope_text(selection)
    if outcome.get("cancelled"):
        summary = f"tests: stopped before they finished (Stop) — {_count_text(counts)} so far; {scope}"
        return GateResult(name, False, summary, seconds, detail, "")
    if outcome["timed_out"]:
        detail["output"] = output
        summary = f"tests: stopped at the {timeout:g} s limit (test_timeout) — {_count_text(counts)} so far; {scope}"
        return GateResult(name, False, summary, seconds, detail, _repair(failures, summary, output))
    if failures:
        ids = ", ".join(f["nodeid"] for f in failures[:3]) + (" …" if len(failures) > 3 else "")
        summary = f"tests: {_count_text(counts)} — {ids}; {scope}"
        return GateResult(name, False, summary, seconds, detail, _repair(failures, summary, ""))
    if exit_code in (0, 5):
        note = "" if final else " (pytest collected no tests)"
        return GateResult(name, True, f"tests: {_count_text(counts)}{note}; {scope}; {seconds:.1f} s", seconds, detail)
    detail["output"] = output
    if "No module named pytest" in output:
        summary = (f"tests: pytest is not installed for {sys.executable} — install it there "
                   "(pip install pytest) or set c.CodexNB.tests = 'off'")
    else:
        summary = f"tests: pytest stopped with exit code {exit_code} before reporting a failing test; {scope}"
    return GateResult(name, False, summary, seconds, detail, f"{summary}\n{trim(output, 600, 2000)}")


def _repair(failures: list[dict], summary: str, output: str) -> str:
    """What the model reads: the failing ids, each with the end of its traceback (assertion, error)."""
    parts = [f"The project's tests failed after the change. {summary}"]
    for f in failures[:SHOWN_FAILURES]:
        head = f"FAILED {f['nodeid']}" if f.get("kind") == "test" else f"ERROR collecting {f['nodeid']}"
        if f.get("kind") == "test" and f.get("when") != "call":
            head = f"ERROR in {f['when']} of {f['nodeid']}"
        text = f.get("text", "") or f.get("message", "")
        parts.append(f"{head}\n{trim(text, 300, MAX_FAILURE_CHARS - 300)}")
    if len(failures) > SHOWN_FAILURES:
        parts.append(f"… and {len(failures) - SHOWN_FAILURES} more failures.")
    if output and not failures:
        parts.append(trim(output, 500, 1500))
    text = "\n\n".join(parts)
    return text if len(text) <= MAX_REPAIR_CHARS else text[: MAX_REPAIR_CHARS - 20] + "\n… [trimmed]"
