"""Running cells for the agent, and rebuilding kernel state at a checkpoint.

``KernelRunner`` owns one kernel for the run (a fresh one: ``run`` restarts it
and executes the notebook's code cells from the top up to the last cell asked
for, as a person's "run all above" would), so outputs never depend on state the
notebook does not show. ``interrupt`` is what Stop calls. Outputs are read back
as data for the model, never written into the notebook behind the person.
"""
from __future__ import annotations

from typing import Any


class KernelRunner:
    def __init__(self, kernel_name: str | None = None, cwd=None, cell_timeout: float = 120.0):
        self.kernel_name = kernel_name or "python3"
        self.cwd = str(cwd) if cwd else None
        self.cell_timeout = cell_timeout
        self._km = None
        self._kc = None

    async def _ensure(self, fresh: bool) -> None:
        from jupyter_client.manager import AsyncKernelManager

        if self._km is None:
            self._km = AsyncKernelManager(kernel_name=self.kernel_name)
            await self._km.start_kernel(cwd=self.cwd)
        elif fresh:
            await self._km.restart_kernel(now=True)
            if self._kc is not None:
                self._kc.stop_channels()
                self._kc = None
        if self._kc is None:
            self._kc = self._km.client()
            self._kc.start_channels()
            await self._kc.wait_for_ready(timeout=60)

    async def run(self, nb, cell_ids: list[str]) -> dict[str, list[dict]]:
        """Outputs (nbformat output dicts) of ``cell_ids`` after a fresh run of the code cells up to them."""
        order = [c["id"] for c in nb.cells]
        wanted = [i for i in cell_ids if i in order]
        last = max((order.index(i) for i in wanted), default=len(order) - 1)
        return await self._execute(nb.cells[: last + 1], set(wanted) if wanted else set(order))

    async def rebuild(self, cells) -> dict[str, list[dict]]:
        """A fresh kernel with the state the code cells ``cells`` leave behind (a rewind's kernel rebuild)."""
        return await self._execute(cells, set())

    async def _execute(self, cells, report: set[str]) -> dict[str, list[dict]]:
        await self._ensure(fresh=True)
        results: dict[str, list[dict]] = {}
        for cell in cells:
            if cell.get("cell_type") != "code" or not cell.get("source", "").strip():
                continue
            outputs: list[dict] = []
            reply = await self._kc.execute_interactive(cell["source"], output_hook=_collector(outputs),
                                                       timeout=self.cell_timeout, allow_stdin=False)
            if cell["id"] in report:
                results[cell["id"]] = outputs
            if reply["content"].get("status") != "ok":
                results.setdefault(cell["id"], outputs)
                break  # cells below an error would run on state the error left half-made
        return results

    async def variables(self, names: list[str]) -> dict[str, Any]:
        """``repr`` of each name in the kernel (None when it is not defined)."""
        await self._ensure(fresh=False)
        expressions = {n: f"repr({n}) if {n!r} in globals() else None" for n in names}
        reply = await self._kc.execute_interactive("", user_expressions=expressions, timeout=30, allow_stdin=False)
        found = reply["content"].get("user_expressions", {})
        out = {}
        for name in names:
            value = found.get(name, {})
            text = value.get("data", {}).get("text/plain") if value.get("status") == "ok" else None
            out[name] = None if text in (None, "None") else _unquote(text)
        return out

    async def interrupt(self) -> None:
        if self._km is not None and await self._km.is_alive():
            await self._km.interrupt_kernel()

    async def close(self) -> None:
        if self._kc is not None:
            self._kc.stop_channels()
            self._kc = None
        if self._km is not None:
            await self._km.shutdown_kernel(now=True)
            self._km = None


def _collector(outputs: list[dict]):
    def hook(msg):
        kind = msg["header"]["msg_type"]
        content = msg["content"]
        if kind == "stream":
            outputs.append({"output_type": "stream", "name": content["name"], "text": content["text"]})
        elif kind in ("execute_result", "display_data"):
            outputs.append({"output_type": kind, "data": content.get("data", {})})
        elif kind == "error":
            outputs.append({"output_type": "error", "ename": content["ename"], "evalue": content["evalue"],
                            "traceback": content.get("traceback", [])})
    return hook


def _unquote(text: str) -> str:
    # user_expressions give the repr of repr(): take the outer quotes off
    import ast

    try:
        value = ast.literal_eval(text)
        return value if isinstance(value, str) else text
    except (ValueError, SyntaxError):
        return text

