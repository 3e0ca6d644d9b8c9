"""The import graph of a repository's Python files, for choosing the tests a change can affect.

Why not the context index: the index is what the model may see, so it honours
``.codexignore``, size limits and the secret filters; the test gate must see every
file pytest would import, and it needs facts the index does not keep — imports by
computed name (``importlib.import_module(name)``), dotted names in strings
(``mock.patch("pkg.io.read")``, ``pytest_plugins = ["pkg.fixtures"]``) and pytest
hook definitions. Records are cached per file by (mtime, size), in memory and in
``.codex_nb/cache/`` (plain JSON with a schema number).

A file gets every module name it can be imported under: one per ancestor directory
that could be on ``sys.path`` (the first one without ``__init__.py``, and each one
above it up to the root). That covers src/ layouts, namespace packages and pytest's
"rootdir/first directory without __init__.py" rule without guessing; an extra name
can only add tests to a selection, never drop one.
"""
from __future__ import annotations

import ast
import json
import os
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA = 2
CACHE_NAME = f"imports-v{SCHEMA}.json"

# Directories pytest does not collect from by default (norecursedirs) and tools' own state.
SKIP_DIRS = frozenset({"__pycache__", "node_modules", "build", "dist", "venv", "site-packages", "CVS", "_darcs",
                       "{arch}", "htmlcov"})

# Calls that import a module named by their first argument.
_IMPORT_CALLS = frozenset({"import_module", "__import__", "importorskip", "run_module", "load_module"})
# Calls that load code from a path or a computed spec: the graph cannot follow them.
_LOAD_CALLS = frozenset({"spec_from_file_location", "load_source", "run_path", "SourceFileLoader"})


@dataclass
class FileRecord:
    """What one Python file says about its dependencies (JSON-able for the cache)."""

    imports: list[str] = field(default_factory=list)  # absolute dotted names, relative ones resolved
    dotted_strings: list[str] = field(default_factory=list)  # "a.b.c" string constants
    dynamic: list[list] = field(default_factory=list)  # [line, what] of imports the graph cannot resolve
    hooks: list[str] = field(default_factory=list)  # module-level pytest_* functions
    error: str = ""
    script_paths: list[str] = field(default_factory=list)  # "tools/deploy.py" strings: run as a script, read

    def to_json(self) -> list:
        return [self.imports, self.dotted_strings, self.dynamic, self.hooks, self.error, self.script_paths]

    @classmethod
    def from_json(cls, data: list) -> "FileRecord":
        return cls(*data)


def list_python_files(root: str) -> list[str]:
    """Repository-relative POSIX paths of the .py files pytest could import, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath != root and "pyvenv.cfg" in filenames:
            dirnames[:] = []  # a virtualenv: installed libraries, not the project
            continue
        dirnames[:] = sorted(d for d in dirnames if not (d.startswith(".") or d in SKIP_DIRS or d.endswith((".egg-info", ".egg"))))
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        prefix = "" if rel_dir == "." else rel_dir + "/"
        out.extend(prefix + f for f in filenames if f.endswith(".py"))
    return sorted(out)


def module_names(rel: str, is_dir_package) -> list[str]:
    """Every dotted name ``rel`` can be imported under (see the module docstring), most likely first."""
    parts = rel[:-3].split("/")
    is_init = parts[-1] == "__init__"
    if is_init:
        parts = parts[:-1]
    # the package chain: how many leading directories of the file are packages, counted from the file up
    dirs = rel.split("/")[:-1]
    first = len(dirs)
    while first > 0 and is_dir_package("/".join(dirs[:first])):
        first -= 1
    names = []
    for start in range(first, -1, -1):
        name = ".".join(parts[start:])
        if name and name not in names:
            names.append(name)
    return names


def parse_imports(source: bytes, module: str, is_package: bool) -> FileRecord:
    """The record of one file; never raises (a syntax error is kept in ``error``)."""
    rec = FileRecord()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        rec.error = f"does not parse: {str(exc)[:120]}"
        return rec
    imports: set[str] = set()
    strings: set[str] = set()
    scripts: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module or "", node.level, module, is_package)
            if base:
                imports.add(base)
            for alias in node.names:
                if alias.name != "*":
                    imports.add(f"{base}.{alias.name}" if base else alias.name)
        elif isinstance(node, ast.Call):
            _call(node, rec, imports, module, is_package)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 300:
            text = node.value
            if "." in text and all(p.isidentifier() for p in text.split(".")):
                strings.add(text)
            elif text.endswith(".py") and "\n" not in text:
                scripts.add(text.replace("\\", "/").removeprefix("./"))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("pytest_"):
            rec.hooks.append(node.name)
    rec.imports = sorted(imports)
    rec.dotted_strings = sorted(strings - imports)
    rec.script_paths = sorted(scripts)
    return rec


def _absolute(name: str, level: int, module: str, is_package: bool) -> str:
    if not level:
        return name
    pkg = module.split(".") if module else []
    drop = level - (1 if is_package else 0)
    if drop < 0 or drop > len(pkg):
        return ""
    anchor = pkg[: len(pkg) - drop]
    return ".".join(anchor + ([name] if name else []))


def _call(node: ast.Call, rec: FileRecord, imports: set[str], module: str, is_package: bool) -> None:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if name in _LOAD_CALLS:
        rec.dynamic.append([node.lineno, f"{name}(…) loads code from a path"])
        return
    if name not in _IMPORT_CALLS or not node.args:
        return
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        target = arg.value
        level = len(target) - len(target.lstrip("."))
        imports.add(_absolute(target[level:], level, module, is_package) if level else target)
    else:
        rec.dynamic.append([node.lineno, f"{name}(…) imports a module by computed name"])


class ImportGraph:
    """Files, their module names and import edges; ``importers_of`` walks the edges backwards."""

    def __init__(self, root: str, records: dict[str, FileRecord]):
        self.root = root
        self.records = records
        self.packages = {rel.rsplit("/", 1)[0] for rel in records if rel.endswith("/__init__.py")}
        self.names: dict[str, list[str]] = {}
        self.by_module: dict[str, list[str]] = {}
        self.by_basename: dict[str, list[str]] = {}
        for rel in records:
            self.by_basename.setdefault(rel.rsplit("/", 1)[-1], []).append(rel)
        for rel in records:
            names = module_names(rel, self.packages.__contains__)
            self.names[rel] = names
            for n in names:
                self.by_module.setdefault(n, []).append(rel)
        self.edges: dict[str, set[str]] = {rel: self._targets(rel) for rel in records}
        self._reverse: dict[str, set[str]] | None = None

    def _targets(self, rel: str) -> set[str]:
        rec = self.records[rel]
        out: set[str] = set()
        for name in rec.imports:
            out.update(self.resolve(name))
        for text in rec.dotted_strings:
            if text.split(".", 1)[0] in self.by_module:
                out.update(self.resolve(text))
        for text in rec.script_paths:
            # a test that runs or reads "tools/deploy.py" depends on it as much as an import would;
            # a string naming a test file is about collecting it (collect_ignore), not running it
            name = text.rsplit("/", 1)[-1]
            if name == "conftest.py" or name.startswith("test_") or name.endswith("_test.py"):
                continue
            same_name = self.by_basename.get(name, ())
            out.update(f for f in same_name if "/" not in text or f == text or f.endswith("/" + text))
        out.discard(rel)
        return out

    def resolve(self, dotted: str) -> set[str]:
        """Files executed by importing ``dotted`` (each package on the way runs its ``__init__``)."""
        parts = dotted.split(".")
        found: set[str] = set()
        for k in range(1, len(parts) + 1):
            found.update(self.by_module.get(".".join(parts[:k]), ()))
        return found

    def importers_of(self, targets: set[str]) -> dict[str, list[str]]:
        """Every file that imports one of ``targets`` directly or transitively -> the chain to it.

        The chain is ``[file, next, …, target]``: the shortest import path, for the report.
        """
        if self._reverse is None:
            rev: dict[str, set[str]] = {rel: set() for rel in self.records}
            for src, dsts in self.edges.items():
                for dst in dsts:
                    rev[dst].add(src)
            self._reverse = rev
        chains: dict[str, list[str]] = {t: [t] for t in targets if t in self.records}
        frontier = sorted(chains)
        while frontier:
            nxt = []
            for rel in frontier:
                for importer in sorted(self._reverse.get(rel, ())):
                    if importer not in chains:
                        chains[importer] = [importer] + chains[rel]
                        nxt.append(importer)
            frontier = nxt
        return chains


# ---- building, with the per-file cache -------------------------------------------------------

RACY_NS = 2_000_000_000
_memory: dict[str, dict[str, tuple[int, int, FileRecord, bool]]] = {}
_lock = threading.Lock()


def load_graph(root: str | os.PathLike, *, use_disk: bool = True) -> ImportGraph:
    """The import graph of ``root`` as the files are now; unchanged files are not parsed again."""
    root = os.path.realpath(os.fspath(root))
    with _lock:
        cached = _memory.get(root)
        if cached is None and use_disk:
            cached = _load_disk(root)
        cached = cached or {}
        fresh: dict[str, tuple[int, int, FileRecord, bool]] = {}
        parsed = 0
        rels = list_python_files(root)
        packages = {rel.rsplit("/", 1)[0] for rel in rels if rel.endswith("/__init__.py")}
        for rel in rels:
            path = os.path.join(root, rel)
            try:
                st = os.stat(path)
            except OSError:
                continue
            hit = cached.get(rel)
            if hit is not None and hit[0] == st.st_mtime_ns and hit[1] == st.st_size and hit[3]:
                fresh[rel] = hit
                continue
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError as exc:
                fresh[rel] = (st.st_mtime_ns, st.st_size, FileRecord(error=f"unreadable: {exc.strerror or exc}"), False)
                continue
            # relative imports are resolved against the most specific name (its own package chain)
            names = module_names(rel, packages.__contains__)
            record = parse_imports(data, names[0] if names else "", rel.endswith("__init__.py"))
            # Like git's "racily clean" entries: a file written moments ago may be written again
            # within the clock's granularity with the same size, so its record is not trusted later.
            settled = time.time_ns() - st.st_mtime_ns > RACY_NS
            fresh[rel] = (st.st_mtime_ns, st.st_size, record, settled)
            parsed += 1
        _memory[root] = fresh
        if use_disk and (parsed or set(fresh) != set(cached)):
            _save_disk(root, fresh)
    return ImportGraph(root, {rel: entry[2] for rel, entry in fresh.items()})


def _cache_file(root: str) -> Path:
    return Path(root) / ".codex_nb" / "cache" / CACHE_NAME


def _load_disk(root: str) -> dict | None:
    try:
        with open(_cache_file(root), encoding="utf-8") as fh:
            data = json.load(fh)
        if data.get("schema") != SCHEMA:
            return None
        return {rel: (int(m), int(s), FileRecord.from_json(r), bool(ok)) for rel, (m, s, r, ok) in data["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # a missing or foreign cache is rebuilt, never trusted


def _save_disk(root: str, files: dict) -> None:
    target = _cache_file(root)
    payload = json.dumps({"schema": SCHEMA, "files": {rel: [m, s, r.to_json(), ok] for rel, (m, s, r, ok) in files.items()}},
                         separators=(",", ":"))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        ignore = target.parent.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n")  # local state, never something to commit
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(payload)
        os.replace(tmp, target)
    except OSError:
        pass  # a read-only checkout still gets a graph, only not a cached one
