"""Reading, normalising and atomically writing notebook files.

Every front door reads notebooks through here so that cell ids are always
present (nbformat 4.5) and a write never leaves a half-written file behind.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path

import nbformat

from .errors import NotebookError


def source_hash(source: str) -> str:
    """Short content hash of a cell (or file) source, used to refuse stale edits."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def parse_notebook(text: str, origin: str = "<notebook>") -> nbformat.NotebookNode:
    """Parse notebook JSON text, upgrade it to nbformat 4.5 and give every cell an id."""
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types for bad JSON
        raise NotebookError(
            f"{origin} is not a valid notebook: {exc}",
            hint="open it in JupyterLab to repair it, or pass the path of a .ipynb file",
        ) from exc
    return ensure_cell_ids(nb)


def ensure_cell_ids(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Upgrade to nbformat 4.5 so that cells are addressable by id (older files have none)."""
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) < (4, 5):
        nb["nbformat_minor"] = 5
    seen: set[str] = set()
    for cell in nb.cells:
        cid = cell.get("id")
        if not cid or cid in seen:
            cid = _fresh_id(seen)
            cell["id"] = cid
        seen.add(cid)
    return nb


def _fresh_id(taken: set[str]) -> str:
    while True:
        cid = os.urandom(4).hex()
        if cid not in taken:
            return cid


def read_notebook(path: str | os.PathLike) -> nbformat.NotebookNode:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise NotebookError(f"{p} does not exist", hint="check the path of the notebook") from None
    except OSError as exc:
        raise NotebookError(f"{p} cannot be read: {exc}", hint="check the file's permissions") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotebookError(f"{p} is not UTF-8 text", hint="notebooks are UTF-8 JSON; is this the right file?") from exc
    return parse_notebook(text, origin=str(p))


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """Serialise the way Jupyter does (indent 1, trailing newline) so diffs stay small."""
    return nbformat.writes(nb) + "\n"


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write through a temporary file in the same directory, then rename over the target.

    The rename is atomic on POSIX, so a reader (or a crash) sees either the old
    file or the new one, never a mix. The original file mode is kept.
    """
    p = Path(path)
    mode = p.stat().st_mode & 0o7777 if p.exists() else None
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_notebook(path: str | os.PathLike, nb: nbformat.NotebookNode) -> None:
    atomic_write_text(path, notebook_text(nb))


_scope = threading.local()


def confine_repo_roots(root: str | os.PathLike | None) -> None:
    """In this thread, never look for (or return) a repository root above ``root`` (a server's root_dir)."""
    _scope.ceiling = Path(root).resolve() if root is not None else None


def find_repo_root(start: str | os.PathLike) -> Path:
    """The nearest ancestor that looks like a project root; else the start directory.

    `.codex_nb/` alone does not count: codex-nb creates it (audit log, caches) wherever it
    works, and a stray one in /tmp would make every notebook below it one "repository".
    In a thread confined by ``confine_repo_roots`` the search stops at that directory, so a
    server never reads or writes outside its root.
    """
    here = Path(start).resolve()
    if here.is_file():
        here = here.parent
    ceiling = getattr(_scope, "ceiling", None)
    if ceiling is not None and here != ceiling and ceiling not in here.parents:
        return ceiling
    for d in (here, *here.parents):
        if any((d / marker).exists() for marker in (".git", "pyproject.toml", "setup.py", "setup.cfg", ".codexignore")):
            return d
        if d == ceiling:
            return ceiling
    return here
