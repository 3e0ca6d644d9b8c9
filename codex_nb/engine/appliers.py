"""Appliers: the only thing a front door chooses. Each one reads and changes one notebook somewhere.

- ``FileApplier``: the ``.ipynb`` file on disk (the CLI, the terminal review, ``%codex notebook``).
- ``RemoteApplier``: a live notebook in a JupyterLab page, reached through a request function —
  the kernel comm for the ``%%codex`` widget (``comm_request``), the SSE stream + reply route for the panel.

Every applier returns the notebook as it is *after* its change, read back, so the
engine reports an edit as done only when it is really there.
"""
from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Awaitable, Callable

import nbformat

from ..edits.live_ops import apply_ops
from ..errors import EditRefused
from ..notebook_io import atomic_write_bytes, notebook_text, parse_notebook


def checked_notebook(nb) -> None:
    """Refuse a notebook nbformat would not accept (bad ids, cell types, fields): nothing is written."""
    try:
        nbformat.validate(nb, relax_add_props=True)
    except nbformat.ValidationError as exc:
        raise EditRefused(f"the edited notebook would not be valid: {exc.message}",
                          hint="check the proposal's cell ids (letters, digits, - and _) and cell types") from None


def clean_stale_temporaries(path: Path) -> None:
    """Remove what a killed write left beside ``path`` (called under the notebook's lock, so none is live)."""
    try:
        for entry in path.parent.iterdir():
            if entry.name.startswith(f".{path.name}.") and entry.name.endswith(".tmp"):
                entry.unlink(missing_ok=True)
    except OSError:
        pass


def empty_notebook():
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


class FileApplier:
    kind = "file"

    def __init__(self, path, create: bool = False):
        self.path = Path(path)
        self.create = create  # a new notebook: reading a missing file gives an empty one; reverting deletes it
        self._before: bytes | None = None  # the file before this applier's last write (None: it did not exist)
        self._written: bytes | None = None  # what that write put there

    @property
    def notebook_path(self) -> Path:
        return self.path

    @property
    def written(self) -> tuple[bytes | None, bytes] | None:
        """(the file before, after) of this applier's last write, while it stands; None if it wrote nothing."""
        return (self._before, self._written) if self._written is not None else None

    @property
    def lock_paths(self) -> list[Path]:
        return [self.path]

    async def read(self):
        return self._read()

    def _read(self):
        if self.create and not self.path.exists():
            return empty_notebook()
        from ..notebook_io import read_notebook

        return read_notebook(self.path)

    async def apply(self, ops: list[dict]):
        clean_stale_temporaries(self.path)
        current = self._read()
        new = apply_ops(current, ops)
        checked_notebook(new)
        before = self.path.read_bytes() if self.path.exists() else None
        data = notebook_text(new).encode("utf-8")
        atomic_write_bytes(self.path, data)
        self._before, self._written = before, data
        return parse_notebook(data.decode("utf-8"), origin=str(self.path))

    async def revert(self, undo_ops: list[dict]):
        """Byte for byte when the file is still as this applier wrote it; otherwise by the undo ops."""
        now = self.path.read_bytes() if self.path.exists() else None
        if self._written is None or now != self._written:
            return await self.apply(undo_ops)  # an undo after other changes: invert only this change's cells
        if self._before is None:
            self.path.unlink(missing_ok=True)
            self._written = None
            return empty_notebook()
        atomic_write_bytes(self.path, self._before)
        if self.path.read_bytes() != self._before:
            raise EditRefused(f"{self.path} could not be restored exactly", hint="restore it from version control")
        self._written = None
        return self._read()


Request = Callable[[dict], Awaitable[dict]]  # {"type": "snapshot"|"apply", "ops"?} -> the page's reply


class RemoteApplier:
    """A notebook open in a JupyterLab page; ``request`` carries a message there and returns the reply.

    Replies are ``{"ok", "reason", "notebook", "no_frontend"?}``; a refusal becomes EditRefused with
    ``no_frontend`` set when the page (or the extension) is not there at all.
    """

    def __init__(self, kind: str, request: Request, notebook_path=None, initial: dict | None = None):
        self.kind = kind
        self._request = request
        self._notebook_path = Path(notebook_path) if notebook_path else None
        self._initial = initial  # the page's notebook sent with the accept itself: no round trip for the first read

    @property
    def notebook_path(self) -> Path | None:
        return self._notebook_path

    @property
    def lock_paths(self) -> list[Path]:
        return [self._notebook_path] if self._notebook_path else []

    async def read(self):
        if self._initial is not None:
            nb, self._initial = self._initial, None
            return notebook_from_json(nb)
        return self._notebook(await self._ask({"type": "snapshot"}))

    async def apply(self, ops: list[dict]):
        return self._notebook(await self._ask({"type": "apply", "ops": ops}))

    async def revert(self, undo_ops: list[dict]):
        return await self.apply(undo_ops)

    async def _ask(self, message: dict) -> dict:
        reply = await self._request(message)
        if not reply.get("ok"):
            raise EditRefused(reply.get("reason") or "the notebook page refused the change",
                              hint=reply.get("hint") or "", no_frontend=bool(reply.get("no_frontend")))
        return reply

    @staticmethod
    def _notebook(reply: dict):
        if not reply.get("notebook"):
            raise EditRefused("the notebook page did not send the notebook back",
                              hint="update the codex-nb JupyterLab extension and reload the page")
        return notebook_from_json(reply["notebook"])


def notebook_from_json(data: dict):
    """A page's notebook JSON as a NotebookNode with cell ids (sources as text, as hashes expect)."""
    from ..notebook_io import ensure_cell_ids

    nb = nbformat.from_dict(data)
    for cell in nb.get("cells", []):
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return ensure_cell_ids(nb)


def comm_request(channel, loop: asyncio.AbstractEventLoop) -> Request:
    """Adapt the kernel's callback-based LiveChannel to an awaitable request on ``loop``."""

    async def request(message: dict) -> dict:
        future = loop.create_future()

        def done(reply: dict) -> None:
            def settle():
                if not future.done():
                    future.set_result(reply)
            loop.call_soon_threadsafe(settle)

        channel.request(message, done)
        return await future

    return request


def path_or_none(value) -> Path | None:
    return Path(os.fspath(value)) if value else None
