"""A pytest plugin that writes each test report as one JSON line (loaded with ``-p``).

The test gate reads outcomes from this file instead of pytest's console text, which
changes with versions, plugins and verbosity. The path comes from the environment
variable ``CODEX_NB_TEST_REPORT``; without it the plugin does nothing. It runs only
inside the pytest process the gate starts, one session per process.

It also narrows the run to the selected tests: ``CODEX_NB_TEST_SKIP`` names a file
listing the test files *not* selected, which are not collected. Naming the selected
files on the command line instead would override the project's own ignore rules
(``collect_ignore``, ``pytest_ignore_collect``), which pytest never applies to
explicit arguments.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

MAX_TEXT = 4000  # per failure: the end of the traceback holds the assertion

_out: dict = {}  # "fh": the open report file of this pytest process


def _write(entry: dict) -> None:
    fh = _out.get("fh")
    if fh is not None:
        fh.write(json.dumps(entry, default=str) + "\n")
        fh.flush()  # the gate reads the file while the tests run


def pytest_configure(config):
    path = os.environ.get("CODEX_NB_TEST_REPORT")
    if path and not hasattr(config, "workerinput"):  # one writer, also under pytest-xdist
        _out["fh"] = open(path, "a", encoding="utf-8")
    skip = os.environ.get("CODEX_NB_TEST_SKIP")
    if skip:
        with open(skip, encoding="utf-8") as fh:
            _out["skip"] = {os.path.realpath(line) for line in fh.read().splitlines() if line}


@pytest.hookimpl(tryfirst=True)  # a project's hook answering False would otherwise end the question
def pytest_ignore_collect(collection_path: Path, config):
    skip = _out.get("skip")
    if skip and os.path.realpath(collection_path) in skip:
        return True
    return None  # everything else as the project's own rules decide


def pytest_unconfigure(config):
    fh = _out.pop("fh", None)
    if fh is not None:
        fh.close()


def _failure(report) -> dict:
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    text = getattr(report, "longreprtext", "") or ""
    return {"message": str(getattr(crash, "message", "") or "")[:500], "text": text[-MAX_TEXT:]}


def pytest_runtest_logreport(report):
    entry = {"kind": "test", "nodeid": report.nodeid, "when": report.when, "outcome": report.outcome,
             "duration": round(getattr(report, "duration", 0.0), 4)}
    if hasattr(report, "wasxfail"):
        entry["xfail"] = True
    if report.failed:
        entry.update(_failure(report))
    _write(entry)


def pytest_collectreport(report):
    if report.failed:
        _write({"kind": "collect", "nodeid": report.nodeid, "outcome": "error", **_failure(report)})


def pytest_sessionfinish(session, exitstatus):
    _write({"kind": "session", "exitstatus": int(exitstatus), "collected": session.testscollected})
