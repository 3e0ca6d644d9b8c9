"""Stop while a step's accepted edit is being validated: the validation kernel is killed, not waited for.

A scripted model on loopback plays the run; the engine re-runs the notebook in a real fresh kernel
(papermill), whose cell sleeps for a minute. Stop must end the run within seconds, leave the
notebook at the last completed step and leave no validation kernel process behind.
"""
from __future__ import annotations

import os
import threading
import time

import psutil

import agent_script as s
from codex_nb import audit
from codex_nb.agent import Policy
from codex_nb.agent.headless import make_run
from codex_nb.validate import kernels, validate_notebook

SLEEPY = "import time\ntime.sleep(60)\ny = x + 1"


def ipykernels() -> dict[int, psutil.Process]:
    """The kernel processes this test process started (validation kernels, spares)."""
    found = {}
    for child in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if any("ipykernel" in part for part in child.cmdline()):
                found[child.pid] = child
        except psutil.NoSuchProcess:
            continue
    return found


def gone(proc: psutil.Process) -> bool:
    """The process has exited and been reaped (a zombie still holds its pid: it does not count as gone)."""
    try:
        return not proc.is_running()
    except psutil.NoSuchProcess:
        return True


def test_stop_during_validation_kills_the_kernel_and_rolls_the_step_back_within_seconds(scripted_llm, tmp_path,
                                                                                      monkeypatch):
    # A headless run (the CLI): no spare is kept for a next validation. An in-process IPython shell left by
    # an earlier test would make this process look like a kernel, which keeps one on purpose.
    monkeypatch.setattr(kernels, "long_lived_process", lambda: False)
    nb = s.project(tmp_path / "repo")
    scripted_llm.queue(s.plan("add z", "slow down"))
    scripted_llm.queue(s.propose(s.insert("use", "z = 3")))
    scripted_llm.queue(s.propose(s.replace("use", SLEEPY), explanation="sleep"))
    scripted_llm.queue(s.finish(), delay=30)  # never asked for: the run stops first
    run = make_run(nb, "slow", policy=Policy(approve="auto"), runner=None)
    seen: dict = {}
    earlier = set(ipykernels())  # spares an earlier test left for its own notebooks are not this run's

    def watch(event):
        if event["type"] == "agent_step_done" and event["step"] == 1:
            seen["after_step_1"] = nb.read_bytes()
        inner = event.get("event") or {}
        progress = inner.get("event") or {}
        if (event["type"] == "agent_engine" and event["step"] == 2 and inner.get("type") == "progress"
                and progress.get("type") == "cell_start" and progress.get("cell_id") == "use"
                and "kernels" not in seen):
            # the validation kernel, now sleeping in the edited cell
            seen["kernels"] = {pid: p for pid, p in ipykernels().items() if pid not in earlier}
            threading.Timer(0.5, run.stop).start()

    run.emit_to = watch

    result = s.run_to_end(run)
    ended = time.monotonic()
    assert run.stop_requested_at is not None, "the validation never reached the sleeping cell"
    took = ended - run.stop_requested_at
    # Waiting for the cell would take its minute; ending in well under that means the kernel was killed.
    # (Usually under a second; the bound leaves room for a machine loaded by other work.)
    assert took < 30, f"the run took {took:.1f} s to end after Stop"
    print(f"run ended {took:.2f} s after Stop")  # shown with pytest -rP
    assert result.status == "stopped" and result.reason == "stopped by the person"
    assert [st.status for st in result.steps] == ["kept", "stopped"]
    assert nb.read_bytes() == seen["after_step_1"]  # the notebook is exactly at the last completed step
    assert run.checkpoints[-1].step == 2
    assert [c["source"] for c in run.checkpoints[-1].cells] == ["x = 1", "y = x + 1\nprint(y)", "z = 3"]
    assert seen["kernels"], "no validation kernel was seen running"
    for pid, proc in seen["kernels"].items():
        assert gone(proc), f"validation kernel {pid} is still running after Stop"
    assert not set(ipykernels()) - earlier, "a kernel process outlived the run"
    entries = audit.read_log(tmp_path / "audit.jsonl")
    validated = [e for e in entries if e["event"] == "validated"]
    assert not validated[-1]["ok"] and "stopped" in validated[-1]["gates"][0]["summary"]
    rolled = [e for e in entries if e["event"] == "rolled_back"]
    assert rolled[-1]["exact"] is True and rolled[-1]["reason"] == "validation was stopped"
    assert rolled[-1]["kind"] == "cancelled"
    finished = [e for e in entries if e["event"] == "agent_run"][-1]
    assert finished["detail"]["status"] == "stopped"
    assert len(scripted_llm.requests) == 3  # nothing was asked after Stop, and no repair of a stopped step


def test_a_cancelled_validation_reports_kind_cancelled_and_leaves_the_spare_pool_usable(tmp_path):
    nb = s.project(tmp_path / "repo", {"a": "x = 1", "b": SLEEPY})
    import nbformat

    node = nbformat.read(nb, as_version=4)
    kernels.shutdown_all()
    earlier = set(ipykernels())  # kernels of other tests' runners and servers are not this validation's
    cancel = threading.Event()
    seen: dict = {}

    def progress(event):
        if event.get("type") == "cell_start" and event.get("cell_id") == "b":
            seen["kernels"] = {pid: p for pid, p in ipykernels().items() if pid not in earlier}
            threading.Timer(0.3, cancel.set).start()

    try:
        started = time.monotonic()
        report = validate_notebook(node, cwd=nb.parent, mode="full", progress=progress, cancel=cancel,
                                   keep_spare=True)
        took = time.monotonic() - started
        assert took < 30, f"the cancelled validation took {took:.1f} s"  # the cell sleeps a minute
        assert not report.ok and report.failed["kind"] == "cancelled"
        assert report.failed["cell_id"] == "b" and "stopped" in report.summary()
        assert seen["kernels"]
        for pid, proc in seen["kernels"].items():
            assert gone(proc), f"the cancelled validation's kernel {pid} is still running"
        # The pool holds a fresh spare (never the killed kernel): the next validation takes it and passes.
        node.cells[1].source = "y = x + 1"
        again = validate_notebook(node, cwd=nb.parent, mode="full", keep_spare=False)
        assert again.ok, again.summary()
        assert again.kernel_start["spare"] is True
        assert not set(seen["kernels"]) & set(ipykernels())
        # A token set before the validation starts: no kernel is taken at all.
        cancel_now = threading.Event()
        cancel_now.set()
        early = validate_notebook(node, cwd=nb.parent, mode="full", cancel=cancel_now, keep_spare=False)
        assert not early.ok and early.failed["kind"] == "cancelled" and early.cells_run == []
    finally:
        kernels.shutdown_all()
