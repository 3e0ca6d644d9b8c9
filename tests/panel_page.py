"""The test double of the panel's page: the open notebook in a browser tab.

It reads the engine's event stream as the panel does, applies each ``apply_request`` to its own
copy of the notebook with the real live-edit code and answers on the reply route. ``AgentPanelPage``
also answers an agent run's questions, and its ``run_request`` as a page whose notebook has no kernel
(the run then falls back to a fresh kernel of its own and says so). Shared by the accept and agent server tests.
"""
from __future__ import annotations

import asyncio
import json

import nbformat

from codex_nb.edits.live_ops import apply_ops
from codex_nb.errors import CodexError
from test_server import events, post


class PanelPage:
    run_event = "accept"  # the event that names the run the replies belong to

    def __init__(self, jp_fetch, nb):
        self.jp_fetch = jp_fetch
        self.nb = nbformat.reads(nbformat.writes(nb), as_version=4)
        self.events: list[tuple[str, dict]] = []
        self.tasks: list[asyncio.Task] = []  # replies and answers still being sent
        self.run_id = None
        self._buffer = ""

    def on_chunk(self, chunk: bytes) -> None:
        self._buffer += chunk.decode()
        while "\n\n" in self._buffer:
            block, self._buffer = self._buffer.split("\n\n", 1)
            for name, data in events((block + "\n\n").encode()):
                self.events.append((name, data))
                if name == self.run_event:
                    self.run_id = data["run_id"]
                elif name == "apply_request":
                    self.tasks.append(asyncio.ensure_future(self._apply(data)))
                else:
                    self.on_event(name, data)

    def on_event(self, name: str, data: dict) -> None:
        """Any other event (subclasses answer theirs)."""

    async def _apply(self, request: dict) -> None:
        ok, reason = True, None
        if request["action"] == "apply":
            try:
                self.nb = apply_ops(self.nb, request["ops"])
            except CodexError as exc:
                ok, reason = False, exc.message
        await post(self.jp_fetch, f"accept/{self.run_id}/reply", {
            "request_id": request["request_id"], "ok": ok, "reason": reason,
            "notebook": json.loads(nbformat.writes(self.nb))})

    async def stream(self, route: str, body: dict) -> list[tuple[str, dict]]:
        await post(self.jp_fetch, route, body, streaming_callback=self.on_chunk, request_timeout=300)
        await asyncio.gather(*self.tasks)
        return self.events

    def names(self) -> list[str]:
        return [n for n, _ in self.events]

    def of(self, name: str) -> list[dict]:
        return [d for n, d in self.events if n == name]

    def last(self, name: str) -> dict:
        return self.of(name)[-1]

    def sources(self) -> list[str]:
        return [c.source for c in self.nb.cells]


class AgentPanelPage(PanelPage):
    """The panel in Agent mode: also answers the run's questions (plan kept, proposals per ``decisions``)."""

    run_event = "agent"

    def __init__(self, jp_fetch, nb, decisions):
        super().__init__(jp_fetch, nb)
        self.decisions = list(decisions)  # per proposal: True accept, False reject
        self.finished = asyncio.Event()

    def on_event(self, name: str, data: dict) -> None:
        if name == "agent_question":
            self.tasks.append(asyncio.ensure_future(self._decide(data)))
        elif name == "run_request":  # this page has no kernel, as a notebook open without one
            self.tasks.append(asyncio.ensure_future(post(self.jp_fetch, f"accept/{self.run_id}/reply", {
                "request_id": data["request_id"], "ok": False, "reason": "the notebook has no running kernel",
                "notebook": json.loads(nbformat.writes(self.nb))})))
        elif name == "agent_finished":
            self.finished.set()

    async def _decide(self, q: dict) -> None:
        if q["kind"] == "plan":
            value = q["steps"]
        elif q["kind"] == "proposal":
            value = {"indexes": [0] if self.decisions.pop(0) else []}
        else:
            value = True
        await self.control("answer", {"question_id": q["question_id"], "value": value})

    async def control(self, action: str, body: dict | None = None) -> dict:
        reply = await post(self.jp_fetch, f"agent/{self.run_id}/{action}", body or {})
        return json.loads(reply.body)
