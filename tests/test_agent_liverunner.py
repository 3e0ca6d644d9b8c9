"""LiveKernelRunner against a real IPython shell: the page double runs a requested cell in that shell (as
JupyterLab runs it in the notebook's kernel, with its cell id), and the runner matches its pre/post_run_cell
events, reads its outputs back from the page's notebook, stops at an error, rebuilds state with a reset, and
falls back to a fresh kernel (saying so once) when the page cannot run cells."""
from __future__ import annotations

import asyncio
import threading

import nbformat
import pytest
from IPython.utils.capture import capture_output

from codex_nb.agent import liverunner
from codex_nb.agent.liverunner import LiveKernelRunner
from codex_nb.agent.runner import KernelRunner
from codex_nb.widgets.live import LiveChannel
from test_magics_fixtures import FakeLab, ipshell, make_notebook  # noqa: F401 - fixture


class RunningLab(FakeLab):
    """A page that runs the cells it is asked to run in ``shell`` and puts their outputs into its notebook.

    ``reply_first``: it answers before the cell runs (the kernel may take the page's answer before the
    cell's execute request)."""

    def __init__(self, nb, shell, reply_first=False):
        super().__init__(nb)
        self.shell = shell
        self.reply_first = reply_first
        self.executed: list[str] = []

    def deliver(self):
        runs = [d for d in self.outbox if d["type"] == "run"]
        if not self.reply_first:
            self._run(runs)
        super().deliver()
        if self.reply_first:
            self._run(runs)

    def _run(self, runs):
        for data in runs:
            for cid in data["cell_ids"]:
                self.execute(cid)

    def execute(self, cid):
        cell = next(c for c in self.nb.cells if c["id"] == cid)
        self.executed.append(cid)
        with capture_output(display=False) as cap:
            result = self.shell.run_cell(cell["source"], store_history=False, cell_id=cid)
        cell["outputs"] = [nbformat.v4.new_output("stream", name="stdout", text=cap.stdout)] if cap.stdout else []
        err = result.error_in_exec
        if err is not None:
            cell["outputs"].append(nbformat.v4.new_output("error", ename=type(err).__name__, evalue=str(err),
                                                          traceback=[]))
        cell["execution_count"] = len(self.executed)


CELLS = [("a", "x = 41 + 1\nprint('x is', x)"), ("b", "print('b sees', x)"), ("boom", "raise ValueError('no')"),
         ("after", "print('never')"), ("ask", '%codex agent "again"')]


def runner_for(lab, **kw):
    said: list[str] = []
    channel = LiveChannel(comm_factory=lab.factory, timeout=0.5)
    fresh = []

    def fallback():
        fresh.append(KernelRunner())
        return fresh[0]
    runner = LiveKernelRunner(lab.shell if hasattr(lab, "shell") else None, channel, fallback, notice=said.append, **kw)
    runner.said, runner.fresh = said, fresh
    return runner


def go(coro):
    # Not asyncio.run: its SIGINT handler would take the interrupt meant for the cell (a kernel has none).
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def test_runs_cells_in_the_shell_and_reads_their_outputs_back(ipshell):  # noqa: F811
    lab = RunningLab(make_notebook(CELLS), ipshell)
    runner = runner_for(lab)
    ipshell.user_ns.pop("x", None)
    out = go(runner.run(lab.nb, ["b", "a"]))
    assert lab.executed == ["a", "b"]  # notebook order, one request per cell
    assert ipshell.user_ns["x"] == 42  # the shell's own namespace
    assert [o["text"] for o in out["a"]] == ["x is 42\n"] and [o["text"] for o in out["b"]] == ["b sees 42\n"]
    assert [d["cell_ids"] for d in lab.received if d["type"] == "run"] == [["a"], ["b"]]
    assert runner.fresh == [] and runner.said == []
    go(runner.close())
    assert runner._pre_run_cell not in ipshell.events.callbacks["pre_run_cell"]  # nothing left in the shell


def test_an_error_stops_the_cells_below_and_is_reported(ipshell):  # noqa: F811
    lab = RunningLab(make_notebook(CELLS), ipshell)
    runner = runner_for(lab)
    out = go(runner.run(lab.nb, ["a", "boom", "after"]))
    assert lab.executed == ["a", "boom"]
    assert [(o["ename"], o["evalue"]) for o in out["boom"] if o["output_type"] == "error"] == [("ValueError", "no")]
    assert "after" not in out


def test_other_cells_running_meanwhile_are_not_taken_for_the_runs(ipshell):  # noqa: F811
    lab = RunningLab(make_notebook(CELLS), ipshell)
    runner = runner_for(lab)
    real = lab.execute

    def person_first(cid):  # the person's own cell runs just before the page gets to ours
        ipshell.run_cell("y = 'mine'", store_history=False, cell_id="persons-cell")
        real(cid)
    lab.execute = person_first
    out = go(runner.run(lab.nb, ["a"]))
    assert [o["text"] for o in out["a"]] == ["x is 42\n"]


def test_an_answer_before_the_cell_starts_still_waits_for_it(ipshell, monkeypatch):  # noqa: F811
    lab = RunningLab(make_notebook(CELLS), ipshell, reply_first=True)
    runner = runner_for(lab)

    def late(cid):  # the execute request reaches the kernel a moment after the page's answer
        threading.Timer(0.3, lambda: lab.execute(cid)).start()
    monkeypatch.setattr(lab, "_run", lambda runs: [late(c) for d in runs for c in d["cell_ids"]])
    ipshell.user_ns.pop("x", None)
    out = go(runner.run(lab.nb, ["a"]))
    assert list(out) == ["a"] and lab.executed == ["a"] and runner.fresh == []  # not taken for "never ran"
    assert ipshell.user_ns["x"] == 42


def test_rebuild_resets_the_namespace_and_reruns_the_notebook_without_codex_cells(ipshell):  # noqa: F811
    lab = RunningLab(make_notebook(CELLS), ipshell)
    runner = runner_for(lab)
    ipshell.user_ns.update(stale=1, __session__="work.ipynb")
    cells = [c for c in lab.nb.cells if c["id"] in ("a", "b", "ask")]
    go(runner.rebuild(cells))
    assert lab.executed == ["a", "b"]  # the %codex agent cell is not re-run
    assert "stale" not in ipshell.user_ns and ipshell.user_ns["x"] == 42
    assert ipshell.user_ns["__session__"] == "work.ipynb"  # how the magics find the notebook


def test_a_kernel_interrupt_by_the_person_stops_the_run_but_the_runs_own_does_not(ipshell):  # noqa: F811
    cells = [("int", "raise KeyboardInterrupt"), ("slow", "import time\ntime.sleep(5)\nslept = True")]
    lab = RunningLab(make_notebook(cells), ipshell)
    stops: list[bool] = []
    runner = runner_for(lab, on_interrupted=lambda: stops.append(True))
    out = go(runner.run(lab.nb, ["int"]))
    assert stops == [True] and out["int"][-1]["ename"] == "KeyboardInterrupt"
    ipshell.user_ns.pop("slept", None)
    timer = threading.Timer(0.5, runner._interrupt_running)  # what Stop does while the cell runs
    timer.start()
    out = go(runner.run(lab.nb, ["slow"]))
    assert stops == [True] and "slept" not in ipshell.user_ns
    assert out["slow"][-1]["ename"] == "KeyboardInterrupt"


def test_a_page_that_cannot_run_cells_falls_back_to_a_fresh_kernel_once(ipshell):  # noqa: F811
    lab = FakeLab(make_notebook(CELLS), runs_cells=False)  # an older extension: "unknown message type"
    lab.shell = ipshell
    runner = runner_for(lab)
    try:
        out = go(runner.run(lab.nb, ["a", "b"]))
        assert [o["text"] for o in out["b"]] == ["b sees 42\n"]  # a fresh kernel ran them
        assert len(runner.fresh) == 1 and len(runner.said) == 1 and "fresh kernel" in runner.said[0]
        go(runner.run(lab.nb, ["a"]))
        assert len(runner.said) == 1  # said once
    finally:
        go(runner.close())


def test_a_page_that_says_yes_but_never_runs_the_cell_falls_back(ipshell, monkeypatch):  # noqa: F811
    monkeypatch.setattr(liverunner, "QUEUE_GRACE", 0.3)
    lab = FakeLab(make_notebook(CELLS))  # records the request, runs nothing
    lab.shell = ipshell
    runner = runner_for(lab)
    try:
        out = go(runner.run(lab.nb, ["a"]))
        assert lab.ran == ["a"] and [o["text"] for o in out["a"]] == ["x is 42\n"]
        assert "never started" in runner.said[0]
    finally:
        go(runner.close())


@pytest.fixture(autouse=True)
def _clean(ipshell):  # noqa: F811
    yield
    for name in ("x", "y", "stale", "slept", "__session__"):
        ipshell.user_ns.pop(name, None)


def test_no_page_at_all_falls_back_to_a_fresh_kernel(ipshell):  # noqa: F811
    lab = FakeLab(make_notebook(CELLS), silent=True)  # classic Notebook, VS Code: nothing answers the comm
    lab.shell = ipshell
    runner = runner_for(lab)
    try:
        out = go(runner.run(lab.nb, ["a"]))
        assert [o["text"] for o in out["a"]] == ["x is 42\n"] and len(runner.fresh) == 1
        assert "fresh kernel" in runner.said[0] and "extension" in runner.said[0]
    finally:
        go(runner.close())
