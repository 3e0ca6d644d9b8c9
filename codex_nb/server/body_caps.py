"""How much each ``/codex-nb/`` route may receive, checked as the body arrives.

A route that carries the live notebook (chat, context, map, snippet, the page's replies
during an acceptance, agent) may receive ``c.CodexNB.max_request_mb``; the others carry a
proposal, an id or a few fields and get limits that fit that, with room to spare
(``ROUTE_LIMITS_KB``; ``c.CodexNB.request_limits_kb`` replaces any of them). Every route
also bounds the JSON values in its body (``c.CodexNB.max_request_values``): each
container is an object that the parser builds and the garbage collector walks, so the
count bounds that work whatever the size in bytes. The settings are read for every
request (``load_config`` is cached on the files' state), so no restart is needed.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..limits import InputTooLarge

NOTEBOOK = "notebook"  # a route whose body carries the live notebook: c.CodexNB.max_request_mb

#: default limits of the routes that do not carry a notebook, in KB
ROUTE_LIMITS_KB = {
    "accept": 2048,  # a proposal (answers stop at 200,000 characters) and settings
    "reject": 2048,
    "repair": 64,  # a path and an outcome id
    "undo": 64,
    "chat/cancel": 16,
    "agent/control": 256,  # an answer to the agent's question
    "complete": 1024,  # the cell, its trimmed neighbours and the kernel's variable summary
    "complete/stats": 16,
    "history": 16,
    "other": 64,  # GET routes and anything not listed: they read no body
}


@dataclass(frozen=True)
class BodyCap:
    route: str  # the name used in the message and in c.CodexNB.request_limits_kb
    limit: int  # bytes
    values: int  # JSON values
    setting: str  # the line that raises the limit

    def refusal(self, sent: int, complete: bool) -> "BodyTooLarge":
        return BodyTooLarge(self, sent, complete)


class BodyTooLarge(InputTooLarge):
    def __init__(self, cap: BodyCap, sent: int, complete: bool):
        what = f"the request body for /codex-nb/{cap.route}"
        super().__init__(what, sent, cap.limit, unit="bytes", hint=(
            f"send less, or raise the limit: {cap.setting} in codex_nb_config.py (any Jupyter config directory, "
            "e.g. ~/.jupyter); it is read for every request, no restart needed"))
        if not complete:  # a chunked body is refused as soon as it passes the limit: the rest is not read
            self.message = (f"{what} is too large (more than {cap.limit:,} bytes: {sent:,} had arrived when "
                            f"reading stopped; the limit is {cap.limit:,})")
        self.cap, self.sent = cap, sent

    def to_json(self) -> dict:
        return {"error": "BodyTooLarge", "message": self.message, "hint": self.hint, "route": self.cap.route,
                "limit": self.cap.limit, "sent": self.sent, "setting": self.cap.setting}


def _mb(n: float) -> str:
    return f"{n:g}"


def body_cap(route: str, config=None) -> BodyCap:
    """The limits of ``route`` (a name from ROUTE_LIMITS_KB, or NOTEBOOK's routes) under the current settings."""
    if config is None:
        from ..config import load_config

        config = load_config()
    overrides = config.request_limits_kb or {}
    values = int(config.max_request_values)
    if route in overrides:
        kb = float(overrides[route])
        return BodyCap(route, int(kb * 1024), values,
                       f"c.CodexNB.request_limits_kb = {{{route!r}: {_mb(kb * 2)}}} (now {_mb(kb)} KB)")
    if route in ROUTE_LIMITS_KB:
        kb = ROUTE_LIMITS_KB[route]
        return BodyCap(route, kb * 1024, values, f"c.CodexNB.request_limits_kb = {{{route!r}: {kb * 2}}} (now {kb} KB)")
    mb = float(config.max_request_mb)
    return BodyCap(route, int(mb * 1024 * 1024), values, f"c.CodexNB.max_request_mb = {_mb(mb * 2)} (now {_mb(mb)} MB)")
