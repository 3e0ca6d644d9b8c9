"""Signatures of the repository symbols a cell imports, read through the repository index.

``from shop.pricing import apply_discount`` in a notebook makes
``def apply_discount(price, rate=0.1)`` worth showing to the completion model:
with it, the model calls the function the project has rather than one it
invents. Only modules the index knows (the repository's own code, never
site-packages) are looked at; the signature lines come from ``ast`` over the
file's source, so nothing is executed.
"""
from __future__ import annotations

import ast
import os
import re
import threading
import time
from pathlib import Path

from ..context.index import load_index
from ..context.snippets import read_source

_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import\s+\(?([\w, \t]+)\)?|import\s+([\w., \t]+))", re.M)
MAX_PER_MODULE = 12
# Completions are asked for on every typing pause; the index walk (a stat per file) is not
# worth repeating more often than this for the same imports. An older answer is still
# served at once, and refreshed in the background: no request waits for a walk it has
# already had the answer of (only the first one for a set of imports does).
FRESH_SECONDS = 15.0

_signatures_cache: dict[tuple[str, str, int, int], dict[str, str]] = {}
_recent: dict[tuple, tuple[float, str]] = {}
_cache_lock = threading.Lock()


def imported_names(code: str) -> list[tuple[str, str | None]]:
    """(module, name) pairs: ``from m import a, b`` gives (m, a), (m, b); ``import m as x`` gives (m, None)."""
    found: list[tuple[str, str | None]] = []
    for frm, names, plain in _IMPORT.findall(code):
        if frm:
            for part in names.split(","):
                name = part.strip().split(" as ")[0].strip()
                if name and name != "*":
                    found.append((frm, name))
        else:
            for part in plain.split(","):
                mod = part.strip().split(" as ")[0].strip()
                if mod:
                    found.append((mod, None))
    return found


def _signature(node: ast.AST, source: str) -> str:
    """The header line of a def or class, without its body (decorators left out)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
        args = ast.unparse(node.args)
        returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
        text = f"{prefix} {node.name}({args}){returns}"
    else:
        bases = ", ".join(ast.unparse(b) for b in node.bases)
        text = f"class {node.name}({bases})" if bases else f"class {node.name}"
        init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        if init is not None:
            text += f"  # __init__({ast.unparse(init.args)})"
    doc = ast.get_docstring(node)
    if doc:
        text += f"  # {doc.strip().splitlines()[0][:80]}"
    return text[:300]


def module_signatures(root: str, rel: str) -> dict[str, str]:
    """Top-level name -> signature line for one repository file (cached by mtime and size)."""
    path = os.path.join(root, rel)
    try:
        st = os.stat(path)
    except OSError:
        return {}
    key = (root, rel, st.st_mtime_ns, st.st_size)
    with _cache_lock:
        hit = _signatures_cache.get(key)
    if hit is not None:
        return hit
    source = read_source(root, rel) or ""
    out: dict[str, str] = {}
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        tree = None
    for node in tree.body if tree is not None else ():
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            out[node.name] = _signature(node, source)
    with _cache_lock:
        if len(_signatures_cache) > 512:
            _signatures_cache.clear()
        _signatures_cache[key] = out
    return out


def repo_signatures(code: str, repo_root: str | os.PathLike | None, *, cached_only: bool = False) -> str | None:
    """Comment lines ``# module: signature`` for the repository symbols ``code`` imports ("" when none).

    ``cached_only``: answer only from the recent answers (no walk of the repository); None when
    that is not enough.
    """
    pairs = imported_names(code)
    if not pairs or repo_root is None or not Path(repo_root).is_dir():
        return ""
    key = (str(repo_root), tuple(pairs))
    with _cache_lock:
        hit = _recent.get(key)
    if hit is not None:
        if time.monotonic() - hit[0] >= FRESH_SECONDS:
            _refresh_later(key, pairs, repo_root)
        return hit[1]
    if cached_only:
        return None
    return _refresh(key, pairs, repo_root)


_refreshing: set[tuple] = set()


def _refresh(key: tuple, pairs, repo_root) -> str:
    try:
        text = _signatures_for(pairs, repo_root)
        with _cache_lock:
            if len(_recent) > 256:
                _recent.clear()
            _recent[key] = (time.monotonic(), text)
        return text
    finally:
        with _cache_lock:
            _refreshing.discard(key)


def _refresh_later(key: tuple, pairs, repo_root) -> None:
    """Walk the index again in a thread of its own (one per key at a time), off the request's path."""
    with _cache_lock:
        if key in _refreshing:
            return
        _refreshing.add(key)
    threading.Thread(target=_refresh_quietly, args=(key, pairs, repo_root), name="codex-nb-repo-signatures",
                     daemon=True).start()


def _refresh_quietly(key: tuple, pairs, repo_root) -> None:
    try:
        _refresh(key, pairs, repo_root)
    except Exception:  # noqa: BLE001 - the old answer stays; the next request after FRESH_SECONDS tries again
        with _cache_lock:
            old = _recent.get(key)
            if old is not None:
                _recent[key] = (time.monotonic(), old[1])


def _signatures_for(pairs: list[tuple[str, str | None]], repo_root) -> str:
    index = load_index(repo_root)
    lines: list[str] = []
    seen: set[tuple[str, str]] = set()
    for module, name in pairs:
        if name is not None and f"{module}.{name}" in index.modules:
            # `from pkg import mod` names a module, not a symbol
            module, name = f"{module}.{name}", None
        target = index.modules.get(module)
        if target is None:
            continue
        sigs = module_signatures(index.root, index.paths[target])
        chosen = [name] if name is not None else list(sigs)[:MAX_PER_MODULE]
        for sym in chosen:
            sig = sigs.get(sym)
            if sig and (module, sym) not in seen:
                seen.add((module, sym))
                lines.append(f"# {module}: {sig}")
    return "\n".join(lines)
