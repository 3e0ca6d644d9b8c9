"""Kernel side of live apply: ask the front end to change the open notebook.

The lab extension registers the comm target ``codex_nb.live_apply`` for the
notebook whose session owns this kernel. We send

    {"type": "apply", "request_id", "proposal_id", "ops": [...]}   # ops from edits.live_ops
    {"type": "snapshot", "request_id"}

and it answers ``{"type": "result", "request_id", "ok", "reason", "notebook", "path"}``.

Replies are comm messages, so they are only handled when the kernel is idle:
everything here is callback based and nothing ever waits for a reply. A
request that gets no answer within ``timeout`` seconds while no cell runs is
sent once more on a freshly opened comm (the page may have been reloaded: its
old comm is gone); if that is not answered either, it is answered locally with
``{"ok": False, "no_frontend": True, ...}`` and a reason that says what to do.
A real reply arriving later is still delivered.

A reloaded page also opens a comm of its own to the ``codex_nb.live_apply``
target that ``listen`` registers in the kernel; the channel adopts it, so
Accept on a card drawn before the reload reaches the new page at once.
"""
from __future__ import annotations

import threading
import time
import uuid
from typing import Callable

TARGET = "codex_nb.live_apply"
NO_EXTENSION = ("the codex-nb JupyterLab extension did not answer in this front end "
                "(classic Notebook, VS Code, a terminal, or the extension is not installed/enabled)")
PAGE_GONE = ("the notebook page did not answer (it was reloaded or closed): run any cell in the notebook "
             "so the page reconnects, then try again")


class LiveChannel:
    """One comm to the front end per kernel; requests matched to replies by request_id."""

    def __init__(self, comm_factory: Callable | None = None, timeout: float = 2.0, patience: float = 600.0):
        self._factory = comm_factory
        self.timeout = timeout
        # Once the extension has answered, a slow reply means a busy kernel, not a missing front end.
        self.patience = patience
        self.status = "unknown"  # unknown | available | absent
        self.snapshot: dict | None = None  # {"notebook", "path", "time"} from the newest reply
        self._comm = None
        self._pending: dict[str, dict] = {}
        self._lock = threading.Lock()
        self.ping_execution_count: int | None = None
        self.cell_running = False  # a reply cannot come while a cell runs: wait patiently then

    def listen(self) -> None:
        """Let pages open the comm themselves (a reloaded page does, as soon as it sees the kernel)."""
        try:
            from comm import get_comm_manager

            get_comm_manager().register_target(TARGET, lambda comm, _msg: self.adopt(comm))
        except Exception:  # no kernel here (a terminal IPython): requests open comms as before
            pass

    def adopt(self, comm) -> None:
        """Use a comm the page opened; requests still waiting are sent on it again."""
        comm.on_msg(self._on_msg)
        if hasattr(comm, "on_close"):
            comm.on_close(self._on_close)
        self._comm = comm
        self.status = "available"
        with self._lock:
            waiting = [(rid, e) for rid, e in self._pending.items() if not e["answered"] and e.get("message")]
        for rid, entry in waiting:
            self._send(rid, entry["message"])

    # -- requests ------------------------------------------------------------
    def request(self, message: dict, on_reply: Callable[[dict], None] | None = None, resend: bool = True) -> str:
        """Send ``message`` (a request_id is added); ``on_reply(reply)`` runs once per real or timed-out reply.

        ``resend=False`` for requests that must not reach a page twice (running a cell): no second try on
        a fresh comm after a timeout.
        """
        rid = uuid.uuid4().hex
        entry = {"callback": on_reply, "answered": False, "sent": time.monotonic(), "message": message,
                 "resent": not resend}
        with self._lock:
            self._pending[rid] = entry
        if self._send(rid, message):
            self._arm(rid, self.timeout)
        return rid

    def _send(self, rid: str, message: dict) -> bool:
        try:
            comm = self._open()
            comm.send({**message, "request_id": rid})
        except Exception as exc:  # no kernel, or the comm cannot be opened here
            self.status = "absent"
            self._finish(rid, {"ok": False, "no_frontend": True, "reason": f"{NO_EXTENSION}: {exc}"})
            return False
        return True

    def apply(self, ops: list[dict], proposal_id: str, on_reply=None) -> str:
        return self.request({"type": "apply", "proposal_id": proposal_id, "ops": ops}, on_reply)

    def ping(self, execution_count: int | None = None) -> str:
        """Ask for a snapshot: detects the extension and refreshes the cached live notebook."""
        self.ping_execution_count = execution_count
        return self.request({"type": "snapshot"})

    def status_at(self, execution_count: int | None) -> str:
        """The status as seen from a cell: a ping unanswered across an idle kernel means no extension."""
        if (self.status == "unknown" and self.ping_execution_count is not None and execution_count is not None
                and execution_count > self.ping_execution_count):
            self.status = "absent"
        return self.status

    # -- comm plumbing ----------------------------------------------------------
    def _open(self):
        if self._comm is None:
            if self._factory is not None:
                comm = self._factory()
            else:
                from comm import create_comm

                comm = create_comm(target_name=TARGET, data={})
            comm.on_msg(self._on_msg)
            if hasattr(comm, "on_close"):
                comm.on_close(self._on_close)
            self._comm = comm
        return self._comm

    def _on_msg(self, msg: dict) -> None:
        data = (msg.get("content") or {}).get("data") or {}
        if data.get("type") != "result":
            return
        self.status = "available"
        if data.get("notebook"):
            self.snapshot = {"notebook": data["notebook"], "path": data.get("path"), "time": time.time()}
        rid = data.get("request_id")
        if rid:
            self._finish(rid, data)

    def _on_close(self, _msg=None) -> None:
        # JupyterLab closes a comm at once when no target of that name is registered.
        self._comm = None
        if self.status != "available":
            self.status = "absent"
        with self._lock:
            waiting = [rid for rid, e in self._pending.items() if not e["answered"]]
        for rid in waiting:
            self._finish(rid, {"ok": False, "no_frontend": True, "reason": NO_EXTENSION})

    def _arm(self, rid: str, delay: float) -> None:
        timer = threading.Timer(delay, self._expire, args=(rid,))
        timer.daemon = True
        timer.start()

    def _expire(self, rid: str) -> None:
        with self._lock:
            entry = self._pending.get(rid)
        if entry is None or entry["answered"]:
            return
        waited = time.monotonic() - entry["sent"]
        if self.cell_running and waited < self.patience:
            self._arm(rid, self.timeout)  # the kernel answers comms only between cells
            return
        if self.status == "available" and not entry["resent"]:
            # The page answered before: it was probably reloaded, and its comm is gone. Open a new one.
            entry["resent"] = True
            self._comm = None
            if self._send(rid, entry["message"]):
                self._arm(rid, self.timeout)
            return
        reason = PAGE_GONE if self.status == "available" else NO_EXTENSION
        if self.status == "unknown":
            self.status = "absent"
        self._finish(rid, {"ok": False, "no_frontend": True, "timeout": True, "reason": reason})

    def _finish(self, rid: str, reply: dict) -> None:
        real = not reply.get("no_frontend")
        with self._lock:
            entry = self._pending.get(rid)
            if entry is None:
                return
            if real:
                self._pending.pop(rid)  # final; a local timeout answer may still be followed by it
            elif entry["answered"]:
                return
            entry["answered"] = True
        if entry["callback"] is not None:
            entry["callback"](reply)

    def close(self) -> None:
        if self._comm is not None and hasattr(self._comm, "close"):
            try:
                self._comm.close()
            except Exception:
                pass  # the kernel may already be shutting down
        self._comm = None
