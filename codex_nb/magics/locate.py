"""Which notebook is this kernel running, when nobody said so?

A Jupyter server tells each kernel its notebook (``JPY_SESSION_NAME``); papermill,
``jupyter nbconvert --execute`` and a plain nbclient script do not. What such a kernel
does know is what it has executed: every cell's source is in its input history, the
cell running now last. A notebook file whose code cells hold the running cell, and
as many of the cells run before it as possible, is its notebook.

Where to look: the runner is the kernel's parent process, and its command line
usually names the notebook (``papermill IN OUT``, ``nbconvert --execute NB``; read from
``/proc`` where there is one); then the kernel's working directory (nbconvert starts
the kernel in the notebook's directory, papermill's ``--cwd`` too) and the folders
below it, a bounded walk. papermill writes its output notebook while it runs, cell by
cell, with the same cells: the input wins over a file that records itself as
papermill's output.

When no file holds the running cell (a notebook built in memory, a file moved away),
``history_notebook`` turns the input history itself into a notebook.
"""
from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import nbformat

MAX_DEPTH = 2  # folders below the working directory that are searched
MAX_CANDIDATES = 200  # notebook files read at most per search
MAX_BYTES = 20_000_000  # larger files are output-heavy; a runner's notebook is named on its command line
SKIP_DIRS = {"node_modules", "__pycache__", "site-packages", ".ipynb_checkpoints"}


@dataclass
class Candidate:
    path: Path
    rank: int  # 0 named by the runner, 1 in the working directory, 2 below it


def executed_sources(shell) -> list[str]:
    """The sources this kernel has run, oldest first, the running cell last (IPython stores it before running)."""
    manager = getattr(shell, "history_manager", None)
    raw = list(getattr(manager, "input_hist_raw", None) or [])
    return [s for s in raw[1:] if s and s.strip()]  # In[0] is IPython's empty placeholder


def find_notebook(executed: list[str], *, cwd: Path | None = None, runner_pid: int | None = None) -> Path | None:
    """The notebook holding the running cell (``executed[-1]``) and most of the others, or None."""
    if not executed or not _norm(executed[-1]):
        return None
    best = None
    for cand in candidates(cwd or Path.cwd(), runner_pid if runner_pid is not None else os.getppid()):
        found = score(cand.path, executed)
        if found is None:
            continue
        matched, is_output = found
        # papermill's output (it records being one) loses to its input; then most cells matched,
        # then where it was found, then the newest file.
        key = (is_output, -matched, cand.rank, -_mtime(cand.path))
        if best is None or key < best[0]:
            best = (key, cand.path)
    return best[1] if best else None


def candidates(cwd: Path, runner_pid: int | None):
    """Notebook files worth reading, most likely first, each once, at most MAX_CANDIDATES."""
    seen: set[Path] = set()
    ranked = itertools.chain(((p, 0) for p in runner_notebooks(runner_pid)),
                             ((p, 1 if p.parent == cwd else 2) for p in _walk(cwd)))
    for path, rank in ranked:
        if len(seen) >= MAX_CANDIDATES:
            return
        try:
            real = path.resolve()
        except OSError:
            continue
        if real not in seen and real.is_file():
            seen.add(real)
            yield Candidate(real, rank)


def runner_notebooks(pid: int | None) -> list[Path]:
    """The ``.ipynb`` arguments on the command line of the process that started this kernel (Linux /proc)."""
    if not pid or pid <= 1:
        return []
    proc = Path("/proc") / str(pid)
    try:
        args = (proc / "cmdline").read_bytes().split(b"\0")
        base = Path(os.readlink(proc / "cwd"))
    except OSError:
        return []  # no /proc (macOS, Windows) or not ours to read
    out = []
    for arg in args:
        text = arg.decode("utf-8", "surrogateescape")
        # --output=x.ipynb style options count too
        text = text.split("=", 1)[1] if text.startswith("--") and "=" in text else text
        if text.endswith(".ipynb"):
            path = Path(text).expanduser()
            out.append(path if path.is_absolute() else base / path)
    return out


def _walk(root: Path):
    """Notebooks in ``root`` first, then in its folders, breadth first, skipping hidden and tool folders."""
    level = [root]
    for depth in range(MAX_DEPTH + 1):
        below = []
        for folder in level:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                try:
                    if entry.is_file() and entry.name.endswith(".ipynb"):
                        yield Path(entry.path)
                    elif entry.is_dir() and entry.name not in SKIP_DIRS and depth < MAX_DEPTH:
                        below.append(Path(entry.path))
                except OSError:
                    continue
        level = below


def holds(path: Path, executed: list[str]) -> bool:
    """Does this file hold the running cell?"""
    return bool(executed) and score(path, executed) is not None


def score(path: Path, executed: list[str]) -> tuple[int, bool] | None:
    """(how many executed sources the notebook holds, whether it is papermill's output), or None if it does not
    hold the running cell (``executed[-1]``)."""
    wanted = _norm(executed[-1])
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not any(p in text for p in _probes(wanted)):
        return None  # cheap test before parsing: the running cell's first line is not in the file
    try:
        nb = json.loads(text)  # papermill may be half-way through writing its output: then this fails
        cells = nb.get("cells") or []
        sources = {_norm(c.get("source", "")) for c in cells if c.get("cell_type") == "code"}
    except (ValueError, AttributeError, TypeError):
        return None
    if wanted not in sources:
        return None
    meta = (nb.get("metadata") or {}).get("papermill") or {}
    # papermill records input_path and output_path in every notebook it writes
    is_output = bool(meta.get("input_path")) and meta.get("input_path") != meta.get("output_path")
    return len({_norm(s) for s in executed} & sources), is_output


def history_notebook(shell) -> nbformat.NotebookNode:
    """A notebook of the cells this kernel has run (In[1], In[2], …), with their displayed results."""
    manager = getattr(shell, "history_manager", None)
    raw = list(getattr(manager, "input_hist_raw", None) or [])
    results = getattr(manager, "output_hist", None) or {}
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for n, source in enumerate(raw[1:], start=1):
        if not source or not source.strip():
            continue
        cell = nbformat.v4.new_code_cell(source, execution_count=n)
        cell["id"] = f"in-{n}"
        if n in results:
            cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": _short_repr(results[n])},
                                                   execution_count=n)]
        nb.cells.append(cell)
    return nb


def _short_repr(value, limit: int = 2000) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # noqa: BLE001 - a broken __repr__ must not stop the request
        text = f"<{type(value).__name__}: repr failed with {type(exc).__name__}>"
    return text if len(text) <= limit else text[:limit] + "…"


def _norm(source) -> str:
    if isinstance(source, list):
        source = "".join(source)
    return source.strip() if isinstance(source, str) else ""


def _probes(running: str) -> tuple[str, ...]:
    """How the running cell's first line looks inside a notebook file's JSON (either escaping of non-ASCII)."""
    first = running.strip().splitlines()[0] if running.strip() else ""
    return tuple({json.dumps(first, ensure_ascii=False)[1:-1], json.dumps(first)[1:-1]})


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
