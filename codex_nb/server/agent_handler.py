"""The panel's Agent mode: ``POST /codex-nb/agent`` streams one agent run; the page is the applier.

The run uses the same page bridge as an acceptance: the engine's ``apply_request``
events go to the page, which answers on ``POST /codex-nb/accept/<run_id>/reply``;
so do the runner's ``run_request`` events: the page runs the agent's cells in the
notebook's own kernel (``agent/pagerunner.py``).
The run's questions (``agent_question``: the plan, a step's proposal, a run of
cells) are answered on ``POST /codex-nb/agent/<run_id>/answer``; ``…/stop`` is
Stop, ``…/rewind`` rewinds to a completed step (the stream stays open after the
run ends for that, until ``…/close`` or ``IDLE_AFTER_RUN`` seconds pass).
"""
from __future__ import annotations

import asyncio
import os

import tornado.web
from tornado.web import HTTPError

from .accept import PageBridge, panel_engine
from .base import CodexHandler, SSEMixin, error_json
from .requests import _str

IDLE_AFTER_RUN = 600.0  # seconds a finished run stays open for a rewind


class AgentControl:
    def __init__(self, run, decider, handler):
        self.run = run
        self.handler = handler  # the streaming request that carries the run
        self.decider = decider
        self.closed = asyncio.Event()
        self.busy = False  # a rewind is in progress


def _agents(state) -> dict:
    agents = getattr(state, "agents", None)
    if agents is None:
        agents = state.agents = {}
    return agents


def _int(body: dict, name: str, default: int, low: int = 0) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise HTTPError(400, f"'{name}' must be an integer ≥ {low}")
    return value


class AgentHandler(SSEMixin, CodexHandler):
    body_route = "agent"  # carries the live notebook: c.CodexNB.max_request_mb

    @tornado.web.authenticated
    async def post(self):
        from ..agent import Budget, PendingDecider, Policy
        from ..agent.headless import close
        from ..agent.model import AgentModel
        from ..agent.run import AgentRun
        from ..agent.pagerunner import PageRunner
        from ..agent.runner import KernelRunner
        from ..engine import RemoteApplier
        from ..errors import CodexError

        body = self.json_body()
        path = self.resolve(_str(body, "path", required=True))
        goal = _str(body, "goal", required=True).strip()
        if not goal:
            raise HTTPError(400, "'goal' is empty: say what the agent should do")
        approve = _str(body, "approve") or "ask"
        if approve not in ("ask", "auto"):
            raise HTTPError(400, "'approve' must be ask or auto")
        budget = Budget(max_steps=_int(body, "max_steps", 12, 1), max_tokens=_int(body, "max_tokens", 60_000, 1),
                        max_seconds=float(_int(body, "max_seconds", 900, 1)), max_repairs=_int(body, "max_repairs", 2))
        policy = Policy(approve=approve, ask_before_run=bool(body.get("ask_before_run")),
                        allow_destructive=bool(body.get("allow_destructive")) and approve == "auto")
        engine = panel_engine(self, path, body)
        engine.source = "agent"
        run_id = "run-" + os.urandom(6).hex()
        bridge = PageBridge(lambda data: self.send_event(data["type"], data))
        loop = asyncio.get_running_loop()

        def emit(event: dict) -> None:
            # Gates report progress from worker threads: events are written on the loop, in order.
            loop.call_soon_threadsafe(self.queue_event, event["type"], event)

        decider = PendingDecider(on_question=emit)
        try:
            model = AgentModel(_str(body, "model") or engine.settings.model, repo_root=engine._root(path))
        except CodexError as exc:
            return self.fail(exc)
        settings = engine.settings
        # Cells run in the notebook's own kernel, by the page; a fresh kernel only when the page has none.
        runner = PageRunner(bridge.run, lambda: KernelRunner(settings.kernel_name, cwd=path.parent,
                                                             cell_timeout=settings.cell_timeout),
                            notice=lambda text: emit({"type": "agent_notice", "run_id": run_id, "text": text}),
                            cell_timeout=settings.cell_timeout)
        run = AgentRun(goal, applier=RemoteApplier("panel", bridge.request, notebook_path=path), engine=engine,
                       model=model, runner=runner, policy=policy, budget=budget, decider=decider,
                       emit=emit, run_id=run_id)
        control = AgentControl(run, decider, self)
        self.codex.accepts[run_id] = bridge
        _agents(self.codex)[run_id] = control
        self.start_events()
        await self.send_event("agent", {"run_id": run_id})
        try:
            await run.start()
            try:
                await asyncio.wait_for(control.closed.wait(), IDLE_AFTER_RUN)
            except asyncio.TimeoutError:
                pass
        except Exception as exc:  # noqa: BLE001 - reported to the panel as an event
            await self.send_event("error", error_json(exc))
        finally:
            self.codex.accepts.pop(run_id, None)
            _agents(self.codex).pop(run_id, None)
            await close(run)
        await self.send_event("agent_closed", {"run_id": run_id})
        self.finish()

    def on_connection_close(self):
        for control in list(_agents(self.codex).values()):
            if control.handler is self:  # the page went away: Stop, and end the stream
                control.run.stop()
                control.closed.set()
        super().on_connection_close()


class AgentControlHandler(CodexHandler):
    body_route = "agent/control"  # body_caps.ROUTE_LIMITS_KB

    @tornado.web.authenticated
    async def post(self, run_id: str, action: str):
        control = _agents(self.codex).get(run_id)
        if control is None:
            raise HTTPError(404, f"no agent run {run_id}; start one with POST /codex-nb/agent")
        body = self.json_body()
        if action == "answer":
            if not control.decider.answer(_str(body, "question_id", required=True), body.get("value")):
                raise HTTPError(409, "that question is not waiting for an answer")
            return self.write_json({"ok": True})
        if action == "stop":
            control.run.stop()
            return self.write_json({"ok": True})
        if action == "close":
            control.run.stop()
            control.closed.set()
            return self.write_json({"ok": True})
        step = body.get("step")
        if not isinstance(step, int) or isinstance(step, bool):
            raise HTTPError(400, "'step' must be the number of a completed step (0: before the run)")
        if control.busy or (control.run._task is not None and not control.run._task.done()):
            raise HTTPError(409, "the run is still going: Stop it first, then rewind")
        from ..errors import CodexError

        control.busy = True
        try:
            detail = await control.run.rewind(step, rebuild=bool(body.get("rebuild")))
        except CodexError as exc:
            return self.fail(exc)
        finally:
            control.busy = False
        self.write_json(detail)


def agent_handlers(base: str) -> list:
    from jupyter_server.utils import url_path_join

    return [(url_path_join(base, "agent"), AgentHandler),
            (url_path_join(base, "agent", r"(run-[0-9a-f]+)", r"(answer|stop|rewind|close)"), AgentControlHandler)]
