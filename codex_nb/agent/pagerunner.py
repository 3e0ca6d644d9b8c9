"""Running the agent's cells in the notebook's own kernel from the panel (the server's agent run).

The panel's agent runs on the Jupyter server; the notebook's kernel belongs to the
page. So cells are run by the page, as the person's Shift+Enter would run them
(``run_request`` events on the run's stream, answered on the same reply route as
an acceptance's ``apply_request``): outputs land in the notebook, and the page's
notebook with those outputs comes back in the reply. Interrupt (Stop, the cell
timeout) and a rewind's rebuild (``reset`` the namespace, then re-run) go the same
way. Where the page has no kernel to run them in, the run falls back to a fresh
``KernelRunner`` and says so once.
"""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from .liverunner import _error, _plain_output, _runnable
from .runner import KernelRunner, _unquote

Ask = Callable[..., Awaitable[dict]]  # PageBridge.run


class PageRunner:
    """``run`` / ``rebuild`` / ``interrupt`` / ``variables`` / ``close`` of ``KernelRunner``, through the page."""

    runs_kept = True  # the notebook the person sees should show the outputs of the cells the agent kept

    def __init__(self, ask: Ask, fallback: Callable[[], KernelRunner], notice: Callable[[str], None] | None = None,
                 cell_timeout: float = 120.0):
        self.ask = ask
        self._make_fallback = fallback
        self.fallback: KernelRunner | None = None
        self.notice = notice or (lambda text: None)
        self.cell_timeout = cell_timeout

    async def run(self, nb, cell_ids: list[str]) -> dict[str, list[dict]]:
        """Outputs of ``cell_ids`` (code cells, in notebook order) after the page ran them in the live kernel."""
        if self.fallback is None:
            wanted = set(cell_ids)
            results = await self._run([c["id"] for c in nb.cells if c["id"] in wanted and _runnable(c)], wanted)
            if results is not None:
                return results
        return await self.fallback.run(nb, cell_ids)

    async def rebuild(self, cells) -> dict[str, list[dict]]:
        """The live kernel with the state the code cells ``cells`` leave: the namespace reset, then re-run."""
        if self.fallback is None:
            results = await self._run([c["id"] for c in cells if _runnable(c)], set(), reset=True)
            if results is not None:
                return results
        return await self.fallback.rebuild(cells)

    async def interrupt(self) -> None:
        if self.fallback is not None:
            await self.fallback.interrupt()
            return
        await self.ask("interrupt", timeout=5)

    async def variables(self, names: list[str]) -> dict[str, str | None]:
        if self.fallback is not None:
            return await self.fallback.variables(names)
        reply = await self.ask("variables", names=[n for n in names if n.isidentifier()], timeout=30)
        values = reply.get("values") or {}
        return {n: (None if values.get(n) in (None, "None") else _unquote(values[n])) for n in names}

    async def close(self) -> None:
        """The person's kernel stays as it is; only a fallback kernel of the run's own is shut down."""
        if self.fallback is not None:
            await self.fallback.close()

    async def _run(self, ids: list[str], report: set[str], reset: bool = False) -> dict[str, list[dict]] | None:
        """None when the page cannot run cells (``self.fallback`` is then set)."""
        if not ids and not reset:
            return {}
        # The page answers once the cells ran; each may take the cell timeout.
        timeout = self.cell_timeout * max(1, len(ids)) + 10
        try:
            reply = await self.ask("run", cell_ids=ids, reset=reset, timeout=timeout)
        except asyncio.CancelledError:
            # Stop, or the run's time bound: the person's kernel must not go on running the agent's cell.
            asyncio.ensure_future(self.ask("interrupt", timeout=5))
            raise
        if reply.get("timeout"):
            await self.ask("interrupt", timeout=5)
            return {ids[-1]: [_error("TimeoutError", f"the cells did not finish within {timeout:g} s and were "
                                                     "interrupted")]}
        if not reply.get("ok"):
            self.fallback = self._make_fallback()
            self.notice(f"Cells run in a fresh kernel of this run, not in the notebook's kernel: "
                        f"{reply.get('reason') or 'the page could not run them'}.")
            return None
        cells = {c.get("id"): c for c in (reply.get("notebook") or {}).get("cells") or []}
        results = {}
        for cid in reply.get("ran") or []:
            outputs = [_plain_output(o) for o in (cells.get(cid) or {}).get("outputs", [])]
            if cid in report or any(o.get("output_type") == "error" for o in outputs):
                results[cid] = outputs
        return results
