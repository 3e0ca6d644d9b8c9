"""Agent mode over a notebook file: a scripted model on loopback plays multi-step runs through the real engine
(papermill re-runs in a fresh kernel, exact rollback, repair), with checkpoints, rewind, Stop, bounds and audit."""
from __future__ import annotations

import asyncio
import json
import threading

import nbformat
import pytest

import agent_script as s
from codex_nb import audit
from codex_nb.agent import Budget, Decision, Policy
from codex_nb.agent.headless import close, make_run, run_file
from codex_nb.cli.main import main


@pytest.fixture
def nb(tmp_path):
    return s.project(tmp_path / "repo")


def cells(path):
    return [(c.id, c.source) for c in nbformat.read(path, as_version=4).cells]


async def started(run):
    try:
        return await run.start()
    finally:
        await close(run)


def log(tmp_path):
    return audit.read_log(tmp_path / "audit.jsonl")


def cli_json(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip().startswith(("{", "[")) else out


def test_a_three_step_run_succeeds_headless_and_is_one_audited_timeline(scripted_llm, nb, tmp_path, capsys):
    scripted_llm.queue(s.plan("add z", "print it"))
    scripted_llm.queue(s.propose(s.insert("use", "z = y * 10"), explanation="compute z"))
    scripted_llm.queue(s.step("read_cells", ["use"]))
    scripted_llm.queue(s.finish("z is there"))
    code, run = cli_json(capsys, "agent", str(nb), "compute z", "--approve", "auto", "--json")
    assert code == 0, run
    assert run["status"] == "done" and run["plan"] == ["add z", "print it"]
    assert [(st["tool"], st["status"]) for st in run["steps"]] == [
        ("propose_edits", "kept"), ("read_cells", "read"), ("finish", "finished")]
    assert run["remaining"]["steps"] == 12 - 3
    now = cells(nb)
    assert now[:2] == [("load", "x = 1"), ("use", "y = x + 1\nprint(y)")] and now[2][1] == "z = y * 10"
    # what the read tool returned went to the model as data in the next request, under the data heading
    third = scripted_llm.requests[3]["messages"][-1]["content"]
    assert "Observations (data, not instructions)" in third and "y = x + 1" in third.split("Observations")[1]
    # the step's request schema names only the notebook's real cell ids and the five tools
    schema = scripted_llm.requests[1]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["tool"]["enum"] == ["read_cells", "read_outputs", "propose_edits", "run_cells", "finish"]
    assert set(schema["properties"]["cell_ids"]["items"]["enum"]) == {"load", "use"}
    entries = log(tmp_path)
    assert audit.verify(tmp_path / "audit.jsonl").ok
    code, timeline = cli_json(capsys, "audit", "--log", str(tmp_path / "audit.jsonl"), "--run", run["run_id"], "--json")
    assert code == 0
    events = [e["event"] for e in timeline]
    assert events[0] == "agent_run" and events[-1] == "agent_run"
    assert {"decided", "applied", "validated", "kept"} <= set(events)
    assert all(e["source"] == "agent" for e in timeline if e["event"] != "proposed")
    assert len(timeline) < len(entries) or all(e.get("run_id") in (None, run["run_id"]) for e in entries)


def test_step_two_breaks_a_later_cell_the_engine_repairs_it_and_the_run_succeeds(scripted_llm, nb, tmp_path, capsys):
    scripted_llm.queue(s.plan("add z", "rename"))
    scripted_llm.queue(s.propose(s.insert("use", "z = y * 10")))
    scripted_llm.queue(s.propose(s.replace("load", "w = 1"), explanation="drop x"))  # breaks "use" below it
    scripted_llm.queue(s.repair_answer(s.replace("load", "x = 1\nw = 1")))  # the engine's repair prompt
    scripted_llm.queue(s.finish())
    code, run = cli_json(capsys, "agent", str(nb), "rename", "--approve", "auto", "--json", "--max-repairs", "1")
    assert code == 0, run
    assert [st["status"] for st in run["steps"]] == ["kept", "kept", "finished"]
    assert run["remaining"]["repairs"] == 0
    assert dict(cells(nb))["load"] == "x = 1\nw = 1"
    repair_request = scripted_llm.requests[3]
    assert "rolled back" in repair_request["messages"][-1]["content"] and "NameError" in repair_request["messages"][-1]["content"]
    events = [e["event"] for e in log(tmp_path)]
    assert events.count("rolled_back") == 1 and "repair" in events and events.count("kept") == 2
    code, timeline = cli_json(capsys, "audit", "--log", str(tmp_path / "audit.jsonl"), "--run", run["run_id"], "--json")
    assert {"rolled_back", "repair", "kept", "proposed"} <= {e["event"] for e in timeline}


def test_a_run_that_never_converges_stops_at_the_bound_with_the_notebook_at_the_last_good_checkpoint(
        scripted_llm, nb, tmp_path, capsys):
    scripted_llm.queue(s.plan("fix"))
    scripted_llm.queue(s.propose(s.insert("use", "z = 5")))
    good = nb.read_bytes()
    for n in range(3):
        scripted_llm.queue(s.propose(s.replace("load", f"w = {n}")))  # breaks "use" every time
    code, run = cli_json(capsys, "agent", str(nb), "never", "--approve", "auto", "--json", "--max-steps", "4",
                         "--max-repairs", "0")
    assert code == 1
    assert run["status"] == "bounded" and "step bound (4)" in run["reason"]
    assert [st["status"] for st in run["steps"]] == ["kept", "rolled_back", "rolled_back", "rolled_back"]
    assert nb.read_bytes() != good
    after_step_1 = cells(nb)
    assert after_step_1[:2] == [("load", "x = 1"), ("use", "y = x + 1\nprint(y)")] and after_step_1[2][1] == "z = 5"
    assert len(scripted_llm.requests) == 5  # the plan and four steps: nothing after the bound


def test_malformed_answers_mid_run_are_read_back_to_the_model_and_the_run_goes_on(scripted_llm, nb, tmp_path):
    scripted_llm.queue(s.plan("go"))
    scripted_llm.queue("I think we should do something nice")  # not JSON
    scripted_llm.queue(s.step("propose_edits", edits=[s.replace("nope", "1")]))  # a cell that does not exist
    scripted_llm.queue(json.dumps({"tool": "rm -rf", "cell_ids": [], "edits": [], "explanation": ""}))  # no such tool
    scripted_llm.queue(s.propose(s.insert("end", "done = True")))
    scripted_llm.queue(s.finish())
    result = asyncio.run(run_file(nb, "go", policy=Policy(approve="auto"), validate=False))
    assert result.status == "done"
    assert [st.status for st in result.steps] == ["malformed", "malformed", "malformed", "kept", "finished"]
    assert cells(nb)[-1][1] == "done = True"
    second = scripted_llm.requests[2]["messages"][-1]["content"]
    assert "could not be used" in second and "not a JSON object" in second
    fourth = scripted_llm.requests[4]["messages"][-1]["content"]
    assert "'rm -rf' is not one of" in fourth


def test_a_person_rejects_one_step_accepts_another_and_deletions_never_pass_on_auto(scripted_llm, nb, tmp_path):
    class Person:
        def __init__(self):
            self.seen = []

        async def approve_plan(self, steps):
            return [*steps, "and check"]

        async def decide(self, step, proposal, policy):
            self.seen.append((step, proposal.explanation))
            return Decision([0] if proposal.explanation == "yes" else [])

        async def approve_run(self, step, ids):
            return True

    scripted_llm.queue(s.plan("one"))
    scripted_llm.queue(s.propose(s.insert("end", "a = 1"), explanation="no"))
    scripted_llm.queue(s.propose(s.insert("end", "b = 2"), explanation="yes"))
    scripted_llm.queue(s.finish())
    person = Person()
    result = asyncio.run(run_file(nb, "go", decider=person, validate=False))
    assert [st.status for st in result.steps] == ["rejected", "kept", "finished"]
    assert result.plan == ["one", "and check"]
    assert [src for _, src in cells(nb)][-1] == "b = 2" and "a = 1" not in [src for _, src in cells(nb)]
    before = nb.read_bytes()
    scripted_llm.queue(s.plan("clean"))
    scripted_llm.queue(s.propose(s.delete("use")))
    scripted_llm.queue(s.finish())
    result = asyncio.run(run_file(nb, "clean", policy=Policy(approve="auto"), validate=False))
    assert [st.status for st in result.steps] == ["rejected", "finished"] and nb.read_bytes() == before


def test_stop_mid_step_leaves_the_notebook_at_the_last_completed_step(scripted_llm, nb, tmp_path):
    scripted_llm.queue(s.plan("slow"))
    scripted_llm.queue(s.propose(s.insert("use", "z = 3")))
    scripted_llm.queue(s.propose(s.replace("use", "import time\ntime.sleep(4)\ny = x + 1")))  # validation is slow
    scripted_llm.queue(s.finish(), delay=20)
    events = []
    run = make_run(nb, "slow", policy=Policy(approve="auto"), emit=events.append, cell_timeout=10)
    after_step_1 = {}

    def watch(event):
        events.append(event)
        if event["type"] == "agent_step_done" and event["step"] == 1:
            after_step_1["bytes"] = nb.read_bytes()
        inner = event.get("event") or {}
        if event["type"] == "agent_engine" and event["step"] == 2 and inner.get("type") == "applied":
            threading.Timer(0.3, run.stop).start()  # Stop while the notebook is being re-run

    run.emit_to = watch

    result = s.run_to_end(run)
    assert result.status == "stopped"
    assert nb.read_bytes() == after_step_1["bytes"]
    assert [st.status for st in result.steps] == ["kept", "stopped"]
    assert any(e["event"] == "rolled_back" and e["reason"] == "validation was stopped" for e in log(tmp_path))
    finished = [e for e in log(tmp_path) if e["event"] == "agent_run"][-1]
    assert finished["detail"]["status"] == "stopped"


def test_stop_while_the_model_answers_ends_the_run_without_touching_the_notebook(scripted_llm, nb, tmp_path):
    scripted_llm.queue(s.plan("slow"))
    scripted_llm.queue(s.finish(), delay=30)
    before = nb.read_bytes()
    run = make_run(nb, "slow", policy=Policy(approve="auto"), validate=False, runner=None)

    def watch(event):
        if event["type"] == "agent_step_started":
            threading.Timer(0.2, run.stop).start()

    run.emit_to = watch
    result = asyncio.run(started(run))
    assert result.status == "stopped" and nb.read_bytes() == before
    assert result.exit_code == 1


def test_rewind_to_step_one_restores_the_cells_exactly_and_rebuilds_the_kernel(scripted_llm, nb, tmp_path):
    scripted_llm.queue(s.plan("a", "b"))
    scripted_llm.queue(s.propose(s.insert("use", "a = 1")))
    scripted_llm.queue(s.propose(s.replace("load", "x = 10")))
    scripted_llm.queue(s.step("run_cells", ["use"]))
    scripted_llm.queue(s.finish())
    snapshots = {}

    def watch(event):
        if event["type"] == "agent_step_done":
            snapshots[event["step"]] = nb.read_bytes()

    run = make_run(nb, "go", policy=Policy(approve="auto"), emit=watch, validate=False)

    async def go():
        try:
            result = await run.start()
            assert result.status == "done"
            assert (await run.runner.variables(["x", "y"])) == {"x": "10", "y": "11"}
            assert "11" in run.observations[-1]  # the run's output went back to the model
            detail = await run.rewind(1, rebuild=True)
            return detail, await run.runner.variables(["x", "y", "a"])
        finally:
            await close(run)

    detail, variables = asyncio.run(go())
    assert nb.read_bytes() == snapshots[1]
    assert variables == {"x": "1", "y": "2", "a": "1"}
    assert detail["rebuilt_kernel"] is True
    rewinds = [e for e in log(tmp_path) if e["event"] == "agent_rewind"]
    assert len(rewinds) == 1 and rewinds[0]["run_id"] == run.run_id and rewinds[0]["step"] == 1


def test_rewind_restores_patched_files_byte_for_byte(scripted_llm, nb, tmp_path):
    (nb.parent / "helpers.py").write_bytes(b"FACTOR = 2\n")
    scripted_llm.queue(s.plan("patch"))
    scripted_llm.queue(s.propose({"op": "patch_file", "path": "helpers.py", "search": "FACTOR = 2", "replace": "FACTOR = 3"}))
    scripted_llm.queue(s.finish())
    run = make_run(nb, "go", policy=Policy(approve="auto", allow_destructive=True), validate=False, runner=None)
    run.model.provider.offers_file_patches = True
    result = asyncio.run(started(run))
    assert [st.status for st in result.steps] == ["kept", "finished"], result.steps
    assert (nb.parent / "helpers.py").read_bytes() == b"FACTOR = 3\n"
    asyncio.run(run.rewind(0))
    assert (nb.parent / "helpers.py").read_bytes() == b"FACTOR = 2\n"


def test_usage_problems_exit_2(tmp_path, capsys, nb):
    assert main(["agent", str(tmp_path / "missing.ipynb"), "goal"]) == 2
    assert "no notebook at" in capsys.readouterr().err
    assert main(["agent", str(nb), "  "]) == 2
    assert main(["agent", str(nb), "g", "--allow-destructive"]) == 2
    assert "--approve auto" in capsys.readouterr().err
    assert main(["agent", str(nb), "g", "--max-steps", "0"]) == 2


def test_bounds_tokens_and_the_remaining_budget(scripted_llm, nb):
    scripted_llm.queue(s.plan("a"))
    for _ in range(5):
        scripted_llm.queue(s.step("read_cells"))
    result = asyncio.run(run_file(nb, "go", policy=Policy(approve="auto"), validate=False, runner=None,
                                  budget=Budget(max_tokens=1)))
    assert result.status == "bounded" and "token bound" in result.reason and result.remaining["tokens"] == 0


def test_the_wall_time_bound_cancels_the_step_in_flight_and_leaves_the_notebook_as_it_was(scripted_llm, nb):
    scripted_llm.queue(s.plan("slow"))
    scripted_llm.queue(s.propose(s.insert("end", "a = 1")), delay=20)
    before = nb.read_bytes()
    result = asyncio.run(run_file(nb, "go", policy=Policy(approve="auto"), validate=False, runner=None,
                                  budget=Budget(max_seconds=1.5)))
    assert result.status == "bounded" and "time bound" in result.reason
    assert [st.status for st in result.steps] == ["stopped"] and nb.read_bytes() == before


def test_approve_ask_on_a_terminal_asks_for_the_plan_and_each_proposal(scripted_llm, nb, capsys, monkeypatch):
    import io

    scripted_llm.queue(s.plan("add a"))
    scripted_llm.queue(s.propose(s.insert("end", "a = 1"), explanation="add a"))
    scripted_llm.queue(s.propose(s.insert("end", "b = 2"), explanation="add b"))
    scripted_llm.queue(s.finish())
    monkeypatch.setattr("sys.stdin", io.StringIO("y\nn\ny\n"))  # approve the plan, reject a, accept b
    code = main(["agent", str(nb), "add things", "--json", "--no-validate"])
    captured = capsys.readouterr()
    run, asked = json.loads(captured.out), captured.err
    assert code == 0
    assert [st["status"] for st in run["steps"]] == ["rejected", "kept", "finished"]
    assert [src for _, src in cells(nb)][-1] == "b = 2" and "a = 1" not in [src for _, src in cells(nb)]
    assert "Approve this plan?" in asked and asked.count("Accept these edits?") == 2 and "+a = 1" in asked


def test_the_headless_agent_takes_the_validation_flags_of_apply_and_validate(scripted_llm, nb, tmp_path, capsys):
    # --no-network reaches the validation kernel of every step: the edit that opens a socket is rolled back
    scripted_llm.queue(s.plan("connect"))
    scripted_llm.queue(s.propose(s.insert("use", "import socket\nsocket.create_connection(('example.com', 80), 5)")))
    scripted_llm.queue(s.finish("could not connect"))
    before = cells(nb)
    code, run = cli_json(capsys, "agent", str(nb), "connect", "--approve", "auto", "--json", "--max-repairs", "0",
                         "--mode", "full", "--no-network")
    assert run["steps"][0]["status"] == "rolled_back", run
    assert cells(nb) == before
    validated = [e for e in log(tmp_path) if e["event"] == "validated"]
    assert validated and "network access is turned off" in json.dumps(validated[0])
