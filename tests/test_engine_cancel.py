"""A door's cancel token stops the engine's validation: the kernel is killed, the change rolled back exactly
(notebook and patched file), and a stopped validation is never sent to the repairer."""
from __future__ import annotations

import asyncio
import threading
import time

from codex_nb import audit
from codex_nb.edits.model import InsertCell, PatchFile, Proposal
from codex_nb.engine import FileApplier, build_engine
from nb_factory import write_notebook


def test_the_door_token_stops_validation_rolls_back_exactly_and_is_not_repaired(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    nb = write_notebook(tmp_path / "nb.ipynb", {"c0": "x = 1"})
    (tmp_path / "conf.py").write_bytes(b"RATE = 1\n")
    before_nb, before_conf = nb.read_bytes(), (tmp_path / "conf.py").read_bytes()
    repaired = []

    def repairer(proposal, failure, notebook, notebook_path, on_delta):
        repaired.append(failure)
        raise AssertionError("a stopped validation must not be repaired")

    cancel = threading.Event()
    events, stopped_at = [], []

    def stop():
        stopped_at.append(time.monotonic())
        cancel.set()

    def emit(event):
        events.append(event)
        inner = event.get("event") or {}
        if event["type"] == "progress" and inner.get("type") == "cell_start" and inner.get("cell_id") == "slow":
            threading.Timer(0.3, stop).start()

    engine = build_engine(source="api", anchor=nb, repairer=repairer, validate=True, validate_mode="full")
    proposal = Proposal(explanation="slow", edits=(
        InsertCell(source="import conf, time\ntime.sleep(60)", new_id="slow"),
        PatchFile(path="conf.py", search="RATE = 1", replace="RATE = 2"),
    ))
    outcome = asyncio.run(engine.accept(proposal, FileApplier(nb), emit=emit, repair=2, cancel=cancel))
    assert stopped_at, "the validation never reached the sleeping cell"
    took = time.monotonic() - stopped_at[0]
    assert took < 30, f"accept took {took:.1f} s to return after the token was set"  # the sleep is a minute
    assert outcome.status == "rolled_back" and outcome.failure["kind"] == "cancelled"
    assert outcome.attempts == 1 and repaired == [] and outcome.repair_tokens == 0
    assert nb.read_bytes() == before_nb and (tmp_path / "conf.py").read_bytes() == before_conf
    types = [e["type"] for e in events]
    assert types[-2:] == ["rolled_back", "finished"] and "validated" in types and "repair_started" not in types
    rolled = next(e for e in events if e["type"] == "rolled_back")
    assert rolled["exact"] is True and rolled["failure"]["kind"] == "cancelled"
    entries = [e["event"] for e in audit.read_log(tmp_path / "audit.jsonl")]
    assert "rolled_back" in entries and "kept" not in entries and "repair" not in entries


def test_the_door_token_stops_the_projects_tests_and_ends_their_processes(tmp_path, monkeypatch):
    import psutil

    from codex_nb.gates.tests import TestGate

    root = tmp_path / "proj"
    (root / "calc").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / ".git").mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'calc'\n")
    (root / "calc" / "__init__.py").write_text("")
    (root / "calc" / "ops.py").write_bytes(b"def double(x):\n    return 2 * x\n")
    (root / "tests" / "test_ops.py").write_text(
        "import time\nfrom calc.ops import double\n\ndef test_double():\n    time.sleep(60)\n    assert double(2) == 4\n")
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    nb = write_notebook(root / "nb.ipynb", {"c0": "x = 1"})
    before = (nb.read_bytes(), (root / "calc" / "ops.py").read_bytes())
    cancel = threading.Event()
    seen: dict = {}

    def emit(event):
        inner = event.get("event") or {}
        if event["type"] == "progress" and event["gate"] == "tests" and inner.get("stage") == "selected":
            def stop():
                seen["pytest"] = [p for p in psutil.Process().children(recursive=True)
                                  if p.pid not in earlier and "pytest" in " ".join(p.cmdline())]
                seen["at"] = time.monotonic()
                cancel.set()
            threading.Timer(1.5, stop).start()  # pytest is collecting or sleeping in the test by then

    # Processes an earlier test left (a spare kernel whose paths name pytest's temporary directory) are not the gate's.
    earlier = {p.pid for p in psutil.Process().children(recursive=True)}
    engine = build_engine(source="api", anchor=nb, repo_root=root, gates=[TestGate()], validate=True)
    proposal = Proposal(explanation="triple", edits=(PatchFile(path="calc/ops.py", search="2 * x", replace="3 * x"),))
    outcome = asyncio.run(engine.accept(proposal, FileApplier(nb), emit=emit, cancel=cancel))
    took = time.monotonic() - seen["at"]
    assert took < 30, f"accept took {took:.1f} s to return after the token was set"  # the sleep is a minute
    assert outcome.status == "rolled_back" and outcome.failure["kind"] == "cancelled"
    assert "stopped before they finished" in outcome.reason
    assert (nb.read_bytes(), (root / "calc" / "ops.py").read_bytes()) == before
    assert seen["pytest"], "pytest was not running when the token was set"
    assert all(not p.is_running() for p in seen["pytest"])
