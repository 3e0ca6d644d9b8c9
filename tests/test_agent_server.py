"""The panel's Agent mode over real HTTP: a run streamed from POST /codex-nb/agent with the page (played by the
test, answering apply requests on the accept reply route) as the applier, real validation (a fresh kernel, whose
progress events come from worker threads); questions answered, one step accepted,
one rejected, Stop, rewind over the same stream, and the run audited under its id."""
from __future__ import annotations

import asyncio
import json

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

import agent_script as s
from codex_nb import audit
from codex_nb.edits.live_ops import apply_ops
from codex_nb.errors import CodexError
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


class AgentPage:
    """The panel in Agent mode: applies the engine's requests to its notebook and answers the run's questions."""

    def __init__(self, jp_fetch, nb, decisions):
        self.jp_fetch, self.nb = jp_fetch, nbformat.reads(nbformat.writes(nb), as_version=4)
        self.decisions = list(decisions)  # per proposal: True accept, False reject
        self.events: list[tuple[str, dict]] = []
        self.tasks: list[asyncio.Task] = []
        self.run_id = None
        self.finished = asyncio.Event()
        self._buffer = ""

    def _on_chunk(self, chunk: bytes) -> None:
        self._buffer += chunk.decode()
        while "\n\n" in self._buffer:
            block, self._buffer = self._buffer.split("\n\n", 1)
            for name, data in events((block + "\n\n").encode()):
                self.events.append((name, data))
                if name == "agent":
                    self.run_id = data["run_id"]
                elif name == "apply_request":
                    self.tasks.append(asyncio.ensure_future(self._apply(data)))
                elif name == "agent_question":
                    self.tasks.append(asyncio.ensure_future(self._decide(data)))
                elif name == "agent_finished":
                    self.finished.set()

    async def _apply(self, request):
        ok, reason = True, None
        if request["action"] == "apply":
            try:
                self.nb = apply_ops(self.nb, request["ops"])
            except CodexError as exc:
                ok, reason = False, exc.message
        await post(self.jp_fetch, f"accept/{self.run_id}/reply", {"request_id": request["request_id"], "ok": ok,
                                                                   "reason": reason, "notebook": json.loads(nbformat.writes(self.nb))})

    async def _decide(self, q):
        if q["kind"] == "plan":
            value = q["steps"]
        elif q["kind"] == "proposal":
            value = {"indexes": [0] if self.decisions.pop(0) else []}
        else:
            value = True
        await self.control("answer", {"question_id": q["question_id"], "value": value})

    async def control(self, action, body=None):
        reply = await post(self.jp_fetch, f"agent/{self.run_id}/{action}", body or {})
        return json.loads(reply.body)

    def sources(self):
        return [c.source for c in self.nb.cells]

    def of(self, name):
        return [d for n, d in self.events if n == name]


async def test_a_panel_run_one_step_accepted_one_rejected_then_rewind(jp_fetch, jp_root_dir, project, scripted_llm,
                                                                     tmp_path):
    scripted_llm.queue(s.plan("add a", "add b"))
    scripted_llm.queue(s.propose(s.insert("use", "a = 1"), explanation="add a"))
    scripted_llm.queue(s.propose(s.insert("end", "b = 2"), explanation="add b"))
    scripted_llm.queue(s.finish())
    page = AgentPage(jp_fetch, project, [True, False])
    stream = asyncio.ensure_future(post(jp_fetch, "agent", {"path": "nb.ipynb", "goal": "add a"},
                                        streaming_callback=page._on_chunk, request_timeout=120))
    await asyncio.wait_for(page.finished.wait(), 60)
    await asyncio.gather(*page.tasks)
    finished = page.of("agent_finished")[0]
    assert finished["status"] == "done" and [st["status"] for st in finished["steps"]] == ["kept", "rejected", "finished"]
    assert page.sources() == ["x = 1", "y = x + 1", "a = 1"]
    assert page.of("agent_plan")[0]["steps"] == ["add a", "add b"]
    assert [q["kind"] for q in page.of("agent_question")] == ["plan", "proposal", "proposal"]
    assert nbformat.read(jp_root_dir / "nb.ipynb", as_version=4).cells[-1].source == "y = x + 1"  # the page, not the file
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
    page = AgentPage(jp_fetch, project, [])
    stream = asyncio.ensure_future(post(jp_fetch, "agent", {"path": "nb.ipynb", "goal": "slow", "approve": "auto",
                                                            "settings": {"validate": False}},
                                        streaming_callback=page._on_chunk, request_timeout=120))
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
