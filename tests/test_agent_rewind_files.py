"""Rewind takes repository files back through the engine's own record of what each kept step wrote.

Step 1 patches a repository file; step 2's edit fails validation (it imports a module that does not
exist) and the engine's repair creates that module. Rewinding to step 1 must remove the created file
(which the step's first proposal never named) and leave the patch; rewinding to 0 must put the patched
file back byte for byte. The notebook is re-run in a real fresh kernel at every step.
"""
from __future__ import annotations

import asyncio

import agent_script as s
from codex_nb.agent import Budget, Policy
from codex_nb.agent.headless import close, make_run

HELPERS = b"FACTOR = 2\r\n# kept exactly: CRLF, no final newline"  # bytes a text round trip could change
USES_EXTRA = "from extra import VALUE\nv = VALUE * 2"


def test_rewind_removes_a_file_a_repair_created_and_restores_a_patched_file_byte_for_byte(scripted_llm, tmp_path):
    nb = s.project(tmp_path / "repo")
    repo = nb.parent
    (repo / "helpers.py").write_bytes(HELPERS)
    original = nb.read_bytes()
    scripted_llm.queue(s.plan("patch helpers", "use extra"))
    scripted_llm.queue(s.propose({"op": "patch_file", "path": "helpers.py", "search": "FACTOR = 2", "replace": "FACTOR = 3"}))
    scripted_llm.queue(s.propose(s.insert("use", USES_EXTRA)))  # ModuleNotFoundError: rolled back, repaired
    scripted_llm.queue(s.repair_answer({"op": "patch_file", "path": "extra.py", "search": "", "replace": "VALUE = 7\n"},
                                       s.insert("use", USES_EXTRA), explanation="create the module"))
    scripted_llm.queue(s.finish())
    snapshots = {}

    def watch(event):
        if event["type"] == "agent_step_done" and event["status"] == "kept":
            snapshots[event["step"]] = (nb.read_bytes(), (repo / "helpers.py").read_bytes(), (repo / "extra.py").exists())

    run = make_run(nb, "go", policy=Policy(approve="auto", allow_destructive=True), emit=watch, runner=None,
                   budget=Budget(max_repairs=1))
    run.model.provider.offers_file_patches = True

    async def go():
        try:
            result = await run.start()
            assert [st.status for st in result.steps] == ["kept", "kept", "finished"], result.steps
            assert (repo / "extra.py").read_bytes() == b"VALUE = 7\n"
            assert len(run.engine.history) == 2
            one = await run.rewind(1)
            at_one = (nb.read_bytes(), (repo / "helpers.py").read_bytes(), (repo / "extra.py").exists())
            zero = await run.rewind(0)
            return one, at_one, zero
        finally:
            await close(run)

    one, at_one, zero = asyncio.run(go())
    assert at_one == snapshots[1]  # the notebook and helpers.py as after step 1, extra.py gone
    assert at_one[2] is False and snapshots[2][2] is True
    assert one["files"] == [str((repo / "extra.py").resolve())]
    assert nb.read_bytes() == original
    assert (repo / "helpers.py").read_bytes() == HELPERS
    assert not (repo / "extra.py").exists()
    assert zero["files"] == [str((repo / "helpers.py").resolve())]
    assert run.engine.history == []  # taken back by the rewinds: `%codex undo` has nothing left to undo twice


def test_a_repair_that_patches_a_file_is_held_for_a_person_when_the_policy_says_so(scripted_llm, tmp_path):
    """--approve auto without allow_destructive: a file patch in a *repair* does not pass unasked either."""
    nb = s.project(tmp_path / "repo")
    repo = nb.parent
    original = nb.read_bytes()
    scripted_llm.queue(s.plan("use extra"))
    scripted_llm.queue(s.propose(s.insert("use", USES_EXTRA)))  # ModuleNotFoundError: rolled back
    scripted_llm.queue(s.repair_answer({"op": "patch_file", "path": "extra.py", "search": "", "replace": "VALUE = 7\n"},
                                       s.insert("use", USES_EXTRA), explanation="create the module"))
    scripted_llm.queue(s.finish())
    notices = []

    def watch(event):
        inner = event.get("event") if event.get("type") == "agent_engine" else None
        if inner and inner.get("type") == "status" and inner.get("notice"):
            notices.append(inner["text"])

    run = make_run(nb, "go", policy=Policy(approve="auto"), emit=watch, runner=None, budget=Budget(max_repairs=1))
    run.model.provider.offers_file_patches = True

    result = s.run_to_end(run)
    assert result.steps[0].status == "rolled_back", result.steps
    assert not (repo / "extra.py").exists()  # the repair's file patch was never written
    assert nb.read_bytes() == original
    assert any("repair was not applied" in text and "a person must approve" in text for text in notices), notices
