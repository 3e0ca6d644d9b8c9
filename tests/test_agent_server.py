"""The panel's Agent mode over real HTTP: a run streamed from POST /codex-nb/agent with the page (played by the
test, answering apply requests on the accept reply route) as the applier, real validation (a fresh kernel, whose
progress events come from worker threads); questions answered, one step accepted,
one rejected, Stop, rewind over the same stream, and the run audited under its id."""
from __future__ import annotations

import asyncio

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

import agent_script as s
from codex_nb import audit
from panel_page import AgentPanelPage
from test_server import events, in_loop, post  # noqa: F401
from pytest_jupyter.jupyter_server import *  # noqa: E402,F401,F403


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"codex_nb": True}}}


@pytest.fixture
def project(jp_root_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("CODEX_NB_HISTORY_DIR", str(tmp_path / "history"))
    (jp_root_dir / ".git").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x = 1", id="load"), nbformat.v4.new_code_cell("y = x + 1", id="use")]
    nbformat.write(nb, jp_root_dir / "nb.ipynb")
    return nb


async def test_a_panel_run_one_step_accepted_one_rejected_then_rewind(jp_fetch, jp_root_dir, project, scripted_llm,
                                                                     tmp_path):
    scripted_llm.queue(s.plan("add a", "add b"))
    scripted_llm.queue(s.propose(s.insert("use", "a = 1"), explanation="add a"))
    scripted_llm.queue(s.propose(s.insert("end", "b = 2"), explanation="add b"))
    scripted_llm.queue(s.finish())
    page = AgentPanelPage(jp_fetch, project, [True, False])
    stream = asyncio.ensure_future(post(jp_fetch, "agent", {"path": "nb.ipynb", "goal": "add a"},
                                        streaming_callback=page.on_chunk, request_timeout=120))
    await asyncio.wait_for(page.finished.wait(), 60)
    await asyncio.gather(*page.tasks)
    finished = page.of("agent_finished")[0]
    assert finished["status"] == "done" and [st["status"] for st in finished["steps"]] == ["kept", "rejected", "finished"]
    assert page.sources() == ["x = 1", "y = x + 1", "a = 1"]
    assert page.of("agent_plan")[0]["steps"] == ["add a", "add b"]
    assert [q["kind"] for q in page.of("agent_question")] == ["plan", "proposal", "proposal"]
    assert nbformat.read(jp_root_dir / "nb.ipynb", as_version=4).cells[-1].source == "y = x + 1"  # the page, not the file
    # the page had no kernel to run the kept cell in: the run used a fresh one of its own and said so once
    notices = page.of("agent_notice")
    assert len(notices) == 1 and "fresh kernel" in notices[0]["text"] and "no running kernel" in notices[0]["text"]
    rewind = asyncio.ensure_future(page.control("rewind", {"step": 0}))
    while not rewind.done():  # the page answers the rewind's apply request on the same stream
        await asyncio.sleep(0.02)
        await asyncio.gather(*page.tasks)
    assert (await rewind)["to_step"] == 0
    assert page.sources() == ["x = 1", "y = x + 1"]
    with pytest.raises(HTTPClientError) as bad:
        await page.control("rewind", {"step": 7})
    assert bad.value.code == 400
    await page.control("close")
    await stream
    assert page.events[-1][0] == "agent_closed"
    entries = audit.read_log(tmp_path / "audit.jsonl")
    run_events = [e for e in entries if e.get("run_id") == page.run_id]
    assert {e["event"] for e in run_events} == {"agent_run", "agent_step", "agent_rewind"}
    decided = [e for e in entries if e["event"] == "decided"]
    assert [e["decision"] for e in decided] == ["accepted", "rejected"] and all(e["source"] == "agent" for e in decided)


async def test_stop_from_the_panel_ends_the_run(jp_fetch, jp_root_dir, project, scripted_llm):
    scripted_llm.queue(s.plan("slow"))
    scripted_llm.queue(s.finish(), delay=30)
    page = AgentPanelPage(jp_fetch, project, [])
    stream = asyncio.ensure_future(post(jp_fetch, "agent", {"path": "nb.ipynb", "goal": "slow", "approve": "auto",
                                                            "settings": {"validate": False}},
                                        streaming_callback=page.on_chunk, request_timeout=120))
    while not page.of("agent_step_started"):
        await asyncio.sleep(0.02)
    await page.control("stop")
    await asyncio.wait_for(page.finished.wait(), 10)
    assert page.of("agent_finished")[0]["status"] == "stopped"
    await page.control("close")
    await stream


async def test_bad_agent_requests_are_4xx(jp_fetch, project):
    with pytest.raises(HTTPClientError) as bad:
        await post(jp_fetch, "agent", {"path": "nb.ipynb", "goal": "x", "approve": "yolo"})
    assert bad.value.code == 400
    with pytest.raises(HTTPClientError) as missing:
        await post(jp_fetch, "agent/run-0123/stop", {})
    assert missing.value.code == 404


for _name, _fn in list(globals().items()):
    if _name.startswith("test_") and asyncio.iscoroutinefunction(_fn):
        globals()[_name] = in_loop(_fn)
