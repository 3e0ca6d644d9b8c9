"""Shared doubles for the magics and widget tests (imported by tests/test_magics*.py, tests/test_widgets*.py).

``FakeLab`` stands in for the lab extension's comm target: it holds the live
notebook and applies ops with the same pure function the Python side uses,
answering exactly as labextension/src/liveapply.ts does.
"""
from __future__ import annotations

import copy
import os

import nbformat
import pytest

from codex_nb.edits.live_ops import apply_ops
from codex_nb.errors import CodexError
from codex_nb.validate.api import ValidationReport

CELLS = [
    ("c-load", "import math\nrows = [1, 2, 3, 4]"),
    ("c-merge", "merged = rows[:2]"),
    ("c-check", "total = sum(merged)\nprint(total)"),
]


def make_notebook(cells=CELLS) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for cid, src in cells:
        cell = nbformat.v4.new_code_cell(src)
        cell["id"] = cid
        nb.cells.append(cell)
    return nb


class FakeComm:
    def __init__(self, lab):
        self.lab = lab
        self.on_msg_cb = None
        self.on_close_cb = None

    def on_msg(self, cb):
        self.on_msg_cb = cb

    def on_close(self, cb):
        self.on_close_cb = cb

    def send(self, data):
        self.lab.received.append(data)
        if self.lab.silent:
            return
        if self.lab.close_on_open:
            self.on_close_cb({})
            return
        self.lab.outbox.append(data)
        if self.lab.auto:
            self.lab.deliver()

    def close(self):
        pass


class FakeLab:
    """The front end: a live notebook, ops applied all-or-nothing, replies like the real extension."""

    def __init__(self, nb, path="analysis.ipynb", auto=True, silent=False, close_on_open=False, runs_cells=True):
        self.nb = copy.deepcopy(nb)
        self.runs_cells = runs_cells  # False: an older extension that does not know "run"
        self.ran: list[str] = []
        self.path = path
        self.auto, self.silent, self.close_on_open = auto, silent, close_on_open
        self.received: list[dict] = []
        self.outbox: list[dict] = []
        self.comm = None

    def factory(self):
        self.comm = FakeComm(self)
        return self.comm

    def deliver(self):
        while self.outbox:
            data = self.outbox.pop(0)
            ok, reason = True, None
            if data["type"] == "apply":
                try:
                    self.nb = apply_ops(self.nb, data["ops"])
                except CodexError as exc:
                    ok, reason = False, exc.message
            elif data["type"] == "run":
                if self.runs_cells:
                    self.ran.extend(data["cell_ids"])
                else:
                    ok, reason = False, 'unknown message type "run"'
            self.comm.on_msg_cb({"content": {"data": {"type": "result", "request_id": data["request_id"], "ok": ok,
                                                      "reason": reason, "notebook": copy.deepcopy(dict(self.nb)),
                                                      "path": self.path}}})

    def source(self, cid):
        return next(c["source"] for c in self.nb.cells if c["id"] == cid)


class FakeValidator:
    """Records calls and reports per-cell progress like validate_notebook; fails when told to."""

    def __init__(self, fail_cell=None):
        self.fail_cell = fail_cell
        self.calls: list[dict] = []

    def __call__(self, nb, *, changed=(), mode="targeted", progress=None, **kw):
        self.calls.append({"nb": nb, "changed": list(changed), "mode": mode, **kw})
        if isinstance(nb, (str, os.PathLike)):
            nb = nbformat.read(str(nb), as_version=4)
        ids = [c["id"] for c in nb.cells if c["id"] in changed] or [nb.cells[0]["id"]]
        emit = progress or (lambda e: None)
        emit({"type": "start", "total": len(ids), "cells": ids, "mode": mode})
        failed = None
        for n, cid in enumerate(ids):
            emit({"type": "cell_start", "cell_id": cid, "index": n})
            if cid == self.fail_cell:
                failed = {"kind": "error", "cell_id": cid, "index": n, "ename": "NameError",
                          "evalue": "name 'nope' is not defined", "traceback": ["NameError: name 'nope' is not defined"],
                          "message": "NameError: name 'nope' is not defined"}
                emit({"type": "cell_error", "cell_id": cid, "index": n})
                break
            emit({"type": "cell_done", "cell_id": cid, "index": n})
        return ValidationReport(ok=failed is None, mode=mode, cells_run=ids, seconds=0.01, failed=failed)


@pytest.fixture(scope="session")
def ipshell():
    from IPython.testing.globalipapp import get_ipython, start_ipython

    # start_ipython() returns the shell only the first time; each test module imports this fixture.
    return start_ipython() or get_ipython()


@pytest.fixture
def nb_file(tmp_path, monkeypatch):
    path = tmp_path / "analysis.ipynb"
    nbformat.write(make_notebook(), str(path))
    # Mark tmp_path as the repository root, whatever a parent directory (/tmp/.codex_nb, …) holds.
    (tmp_path / ".git").mkdir()
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    monkeypatch.chdir(tmp_path)
    return path


@pytest.fixture
def codex(ipshell, nb_file, scripted_llm):
    """%load_ext codex_nb in the in-process shell, wired to a FakeLab front end and a FakeValidator."""
    from codex_nb.magics import register_magics, unregister_magics
    from codex_nb.widgets.live import LiveChannel

    magics = register_magics(ipshell)
    session = magics.session
    lab = FakeLab(nbformat.read(str(nb_file), as_version=4), path=nb_file.name)
    session.channel = LiveChannel(comm_factory=lab.factory, timeout=0.5)
    session.ui = "widget"
    session.validator = FakeValidator()
    session.lab = lab
    session.llm = scripted_llm
    ipshell.user_ns.pop("__session__", None)
    # A terminal shell formats text only; a kernel's formats every MIME type the widgets use.
    active = ipshell.display_formatter.active_types
    ipshell.display_formatter.active_types = list(ipshell.display_formatter.formatters)
    yield session
    ipshell.display_formatter.active_types = active
    unregister_magics(ipshell)
    ipshell.config.pop("CodexNB", None)


def proposal_reply(*edits, explanation="Keep every row and check it."):
    return {"explanation": explanation, "edits": list(edits)}


def replace(cid, source):
    return {"op": "replace", "cell_id": cid, "cell_type": "code", "source": source}


def run_magic(shell, line, cell=None):
    """Run %codex / %%codex and return the shell's session (raising UsageError like a real cell would)."""
    if cell is None:
        return shell.run_line_magic("codex", line)
    return shell.run_cell_magic("codex", line, cell)


def wait_for(condition, timeout: float = 10.0) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
