"""Running the agent's cells in the person's own kernel, through the notebook page (``%codex agent``).

The magic runs inside the live kernel and the agent proceeds on the kernel's
background loop, so a cell cannot simply be executed here: the page is asked to
run it (the ``{"type": "run"}`` request of the lab extension's comm target), so
that it executes as if the person had pressed Shift+Enter and its outputs land
in the notebook. Completion is seen in the kernel through IPython's
``pre_run_cell`` / ``post_run_cell`` events, matched by the cell id the page
sends with the execute request; the outputs are then read back from the page's
notebook (the same nbformat output dicts ``KernelRunner`` returns).

Cells are asked for one at a time: the page would otherwise queue them with
``stop_on_error`` and the kernel would abort the rest after an error without
any event to see. The page answers a run request only after the cell ran (its
reply is handled when the kernel is idle again); an answer that comes while the
cell never started means the page did not run it.

Stop interrupts the running cell with SIGINT to this process (what the server's
interrupt does). Rewind's rebuild resets the namespace (``reset(new_session=False)``:
codex-nb stays loaded) on the main thread just before the first cell re-runs.

Where the page cannot run cells (no lab extension, a page that does not know
``run``) the run falls back to a fresh ``KernelRunner`` and says so once.
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from typing import Callable

from .runner import KernelRunner

CODEX_CELL = ("%codex", "%%codex")
QUEUE_GRACE = 3.0  # seconds of an idle kernel after which a cell the page queued is taken as never run
KEEP_ON_RESET = ("__session__", "__vsc_ipynb_file__")  # how the magics find the notebook; not the person's state


def _is_codex_cell(source: str) -> bool:
    # Re-running the agent's own cell (or any %codex cell) would start another run or ask the model.
    return source.lstrip().startswith(CODEX_CELL)


class LiveKernelRunner:
    """``run`` / ``rebuild`` / ``interrupt`` / ``variables`` / ``close`` of ``KernelRunner``, in the live kernel."""

    runs_kept = True  # AgentRun runs the cells of kept edits here: the live notebook should show their outputs

    def __init__(self, shell, channel, fallback: Callable[[], KernelRunner], notice: Callable[[str], None] | None = None,
                 cell_timeout: float = 120.0, say: Callable[[str], None] | None = None,
                 on_interrupted: Callable[[], None] | None = None, running: Callable[[bool], None] | None = None):
        self.shell = shell
        self.channel = channel
        self._make_fallback = fallback
        self.fallback: KernelRunner | None = None
        self.notice = notice or (lambda text: None)  # said once, kept in view
        self.say = say or (lambda text: None)  # the run's status line
        # The person interrupted the kernel while the run's cell ran: that is their Stop. (A widget's Stop
        # button cannot reach a kernel busy with a cell: its click is a message handled between cells.)
        self.on_interrupted = on_interrupted or (lambda: None)
        # Told when one of the run's cells starts and ends in this kernel: the widget marks itself, so that the
        # page can make its Stop button interrupt the kernel (the click's comm message would wait for the cell).
        self.running = running or (lambda on: None)
        self.cell_timeout = cell_timeout
        self._lock = threading.Lock()
        self._hooked = False
        self._asked: str | None = None  # the cell the page was asked to run, until it starts
        self._running: str | None = None  # the cell running now (between its pre and post events)
        self._done: asyncio.Future | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reset_before: str | None = None  # rebuild: reset the namespace when this cell starts
        self.interrupted = False

    # -- the interface AgentRun uses ------------------------------------------------------
    async def run(self, nb, cell_ids: list[str]) -> dict[str, list[dict]]:
        """Outputs of ``cell_ids`` (code cells, in notebook order) after running them in the live kernel."""
        if self.fallback is not None:
            return await self.fallback.run(nb, cell_ids)
        wanted = set(cell_ids)
        cells = [c for c in nb.cells if c["id"] in wanted and _runnable(c)]
        results = await self._run_each([c["id"] for c in cells], report=wanted)
        if results is None:
            return await self.fallback.run(nb, cell_ids)
        return results

    async def rebuild(self, cells) -> dict[str, list[dict]]:
        """The live kernel with the state the code cells ``cells`` leave behind: reset, then re-run them."""
        if self.fallback is not None:
            return await self.fallback.rebuild(cells)
        ids = [c["id"] for c in cells if _runnable(c)]
        if not ids:
            self._reset()  # nothing will run on the main thread; the kernel is idle while the agent waits
            return {}
        self._reset_before = ids[0]
        results = await self._run_each(ids, report=set())
        if results is None:
            return await self.fallback.rebuild(cells)
        return results

    async def interrupt(self) -> None:
        if self.fallback is not None:
            await self.fallback.interrupt()
        self._interrupt_running()

    async def variables(self, names: list[str]) -> dict[str, str | None]:
        if self.fallback is not None:
            return await self.fallback.variables(names)
        ns = self.shell.user_ns
        return {n: (repr(ns[n]) if n in ns else None) for n in names}

    async def close(self) -> None:
        """Nothing of the person's kernel is closed: only the hooks go, and a fallback kernel."""
        self._unhook()
        if self.fallback is not None:
            await self.fallback.close()

    # -- running one cell at a time ------------------------------------------------------
    async def _run_each(self, ids: list[str], report: set[str]) -> dict[str, list[dict]] | None:
        """None when the page cannot run cells (``self.fallback`` is then set)."""
        self._hook()
        self._loop = asyncio.get_running_loop()
        ran: list[str] = []
        errors: dict[str, list[dict]] = {}
        try:
            for cid in ids:
                failure = await self._run_one(cid)
                if failure == "fallback":
                    return None
                ran.append(cid)
                if failure:
                    errors[cid] = failure
                    break  # cells below an error would run on state the error left half-made
        finally:
            self._reset_before = None
            with self._lock:
                self._asked, self._done = None, None
            self._unhook()  # the events are watched only while the run waits for a cell of its own
        outputs = await self._outputs(ran)
        results = {}
        for cid in ran:
            if cid in report or cid in errors:
                outs = outputs.get(cid, [])
                if cid in errors and not any(o.get("output_type") == "error" for o in outs):
                    outs = [*outs, *errors[cid]]  # the page's copy did not have it yet: say it from here
                results[cid] = outs
        return results

    async def _run_one(self, cid: str):
        """"" when the cell ran cleanly, [error output] when it raised, "fallback" when the page did not run it."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        with self._lock:
            self._asked, self._done = cid, done
        answered = loop.create_future()

        def on_reply(reply: dict) -> None:
            loop.call_soon_threadsafe(lambda: answered.done() or answered.set_result(reply))

        # No resend on a fresh comm: a page that got the first request would run the cell twice.
        self.channel.request({"type": "run", "cell_ids": [cid]}, on_reply, resend=False)
        try:
            while not done.done():
                await asyncio.wait([done, answered], timeout=self.cell_timeout, return_when=asyncio.FIRST_COMPLETED)
                if done.done():
                    break
                if not answered.done():  # neither finished nor answered within the cell timeout
                    if self._running == cid:
                        self._interrupt_running()
                        await asyncio.wait([done], timeout=5)
                        return [_error("TimeoutError", f"the cell ran longer than {self.cell_timeout:g} s and was "
                                                       "interrupted")]
                    if self.channel.cell_running:
                        continue  # queued behind the person's cells: it has not had its turn yet
                    return self._fall_back("the notebook page did not run the cell")
                reply = answered.result()
                answered = loop.create_future()  # a real answer may still follow a local timeout
                queued = reply.get("ok") or (reply.get("timeout") and self.channel.status == "available")
                if self._running == cid or (queued and await self._starts(cid, done)):
                    continue  # it runs (or ran): wait for its end
                if queued:
                    return self._fall_back("the notebook page said it would run the cell, but it never started"
                                           if reply.get("ok") else reply.get("reason") or "the notebook page did not answer")
                if reply.get("no_frontend") or "unknown message type" in (reply.get("reason") or ""):
                    return self._fall_back(reply.get("reason") or "the notebook page did not run the cell")
                return [_error("CellNotRun", reply.get("reason") or "the notebook page refused to run the cell")]
        except asyncio.CancelledError:
            self._interrupt_running()  # Stop, or the run's time bound: the person's kernel must not keep running it
            raise
        err = done.result()
        return [] if err is None else [_error(type(err).__name__, str(err))]

    async def _starts(self, cid: str, done: asyncio.Future) -> bool:
        """Whether the cell the page queued starts. The kernel may take the page's answer before the cell's
        execute request, or be busy with the person's cells: only an idle stretch without it means no."""
        idle_since = None
        while not done.done() and self._running != cid:
            now = asyncio.get_running_loop().time()
            if self.channel.cell_running:
                idle_since = None
            elif idle_since is None:
                idle_since = now
            elif now - idle_since > QUEUE_GRACE:
                return False
            await asyncio.sleep(0.05)
        return True

    def _fall_back(self, reason: str) -> str:
        self.fallback = self._make_fallback()
        self._unhook()
        self.notice(f"Cells run in a fresh kernel of this run, not in the notebook's kernel: {reason}. "
                    "Open the notebook in JupyterLab with the codex-nb extension to run them in your kernel.")
        return "fallback"

    async def _outputs(self, ids: list[str]) -> dict[str, list[dict]]:
        if not ids:
            return {}
        loop = asyncio.get_running_loop()
        got = loop.create_future()
        self.channel.request({"type": "snapshot"}, lambda r: loop.call_soon_threadsafe(
            lambda: got.done() or got.set_result(r)))
        reply = await got
        cells = {c.get("id"): c for c in ((reply.get("notebook") or {}).get("cells") or [])} if reply.get("ok") else {}
        return {cid: [_plain_output(o) for o in cells.get(cid, {}).get("outputs", [])] for cid in ids}

    # -- the kernel's events (main thread) -----------------------------------------------
    def _hook(self) -> None:
        if not self._hooked:
            self.shell.events.register("pre_run_cell", self._pre_run_cell)
            self.shell.events.register("post_run_cell", self._post_run_cell)
            self._hooked = True

    def _unhook(self) -> None:
        if self._hooked:
            for event, callback in (("pre_run_cell", self._pre_run_cell), ("post_run_cell", self._post_run_cell)):
                try:
                    self.shell.events.unregister(event, callback)
                except ValueError:
                    pass
            self._hooked = False
        with self._lock:
            self._running = None

    def _pre_run_cell(self, info) -> None:
        cid = _cell_id(self.shell, info)
        with self._lock:
            if cid is None or cid != self._asked:
                return
            self._asked, self._running = None, cid
            self.interrupted = False
            reset = self._reset_before == cid
        if reset:
            self._reset()
        self.running(True)
        self.say(f"Running cell {cid} in this kernel — Stop (or the kernel's ■) interrupts it.")

    def _post_run_cell(self, result) -> None:
        cid = _cell_id(self.shell, getattr(result, "info", None))
        with self._lock:
            if cid is None or cid != self._running:
                return
            self._running = None
            done, loop = self._done, self._loop
            ours = self.interrupted
        self.running(False)
        for stream in (sys.stdout, sys.stderr):  # its outputs go out before the snapshot is asked for
            try:
                stream.flush()
            except Exception:
                pass
        err = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        if isinstance(err, KeyboardInterrupt) and not ours:
            self.on_interrupted()  # before the cell's end is delivered: the run stops instead of reading it
        if done is not None and loop is not None:
            loop.call_soon_threadsafe(lambda: done.done() or done.set_result(err))

    def _interrupt_running(self) -> None:
        with self._lock:
            if self._running is None or self.interrupted:
                return
            self.interrupted = True
            # SIGINT is what the server's interrupt sends: ipykernel turns it into KeyboardInterrupt in the cell.
            os.kill(os.getpid(), signal.SIGINT)

    def _reset(self) -> None:
        ns = self.shell.user_ns
        kept = {k: ns[k] for k in KEEP_ON_RESET if k in ns}
        self.shell.reset(new_session=False)
        ns.update(kept)


def _runnable(cell) -> bool:
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else source
    return cell.get("cell_type") == "code" and bool(source.strip()) and not _is_codex_cell(source)


def _cell_id(shell, info) -> str | None:
    cid = getattr(info, "cell_id", None)
    if cid:
        return cid
    kernel = getattr(shell, "kernel", None)  # an older IPython: the id is in the execute request's metadata
    try:
        parent = kernel.get_parent() if kernel is not None else None
    except Exception:
        parent = None
    return ((parent or {}).get("metadata") or {}).get("cellId")


def _error(ename: str, evalue: str) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": []}


def _plain_output(out: dict) -> dict:
    kind = out.get("output_type")
    if kind == "stream":
        text = out.get("text", "")
        return {"output_type": "stream", "name": out.get("name", "stdout"),
                "text": "".join(text) if isinstance(text, list) else text}
    if kind in ("execute_result", "display_data"):
        return {"output_type": kind, "data": dict(out.get("data") or {})}
    if kind == "error":
        return {"output_type": "error", "ename": out.get("ename"), "evalue": out.get("evalue"),
                "traceback": list(out.get("traceback") or [])}
    return dict(out)


def live_runner(session, engine, cwd, **callbacks):
    """The runner for ``%codex agent`` in this kernel: the live one, with a fresh kernel to fall back to."""
    def fresh() -> KernelRunner:
        return KernelRunner(engine.settings.kernel_name, cwd=cwd, cell_timeout=engine.settings.cell_timeout)

    return LiveKernelRunner(session.shell, session.channel, fresh, cell_timeout=engine.settings.cell_timeout,
                            **callbacks)

