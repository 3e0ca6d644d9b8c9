"""The repository index: records per file, an inverted index and a file graph.

Built from :func:`walk_repo` + :func:`parse_file`, kept on disk under
``<repo>/.codex_nb/cache/`` (JSON with a schema version: a cache file found in
a cloned repository is data, never code) and in memory per process. Updates
are incremental: a file whose mtime and size are unchanged is not read; one
whose content hash is unchanged is not parsed.
"""
from __future__ import annotations

import gc
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .parse import SCHEMA, content_hash, parse_file
from .walk import DEFAULT_MAX_FILES, DirListing, Skipped, walk_repo

CACHE_NAME = f"index-v{SCHEMA}.json"
PARALLEL_MIN_FILES = 400  # below this a helper process costs more than it saves

# BM25F: field weight and length normalisation. Names (path, definitions) and quoted
# phrases are what people cite, so they weigh more than body text.
FIELDS = {"path": (3.0, 0.3), "defs": (2.5, 0.5), "doc": (1.0, 0.75), "text": (1.0, 0.75), "phrase": (4.0, 0.3)}


@dataclass
class IndexStats:
    files: int = 0
    parsed: int = 0  # files parsed in this update
    read: int = 0  # files whose bytes were read (stat changed) in this update
    reused: int = 0
    cache: str = ""  # "memory", "disk", "none"
    truncated: bool = False


@dataclass
class RepoIndex:
    root: str
    paths: list[str] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    stats_by_path: dict[str, tuple[int, int]] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    stats: IndexStats = field(default_factory=IndexStats)
    # derived, rebuilt after every change
    postings: dict[str, dict[int, float]] = field(default_factory=dict)  # term -> {file: weighted tf}
    defines: dict[str, list[int]] = field(default_factory=dict)  # symbol name -> files defining it
    modules: dict[str, int] = field(default_factory=dict)
    edges: list[dict[int, float]] = field(default_factory=list)  # file -> {neighbour: weight}
    dir_cache: dict[str, DirListing] = field(default_factory=dict)  # for walk_repo
    _last_walk: list = field(default_factory=list, repr=False)
    walk_started: float = field(default=-1.0, repr=False)  # when the walk behind this state began (monotonic)

    # ---- building -------------------------------------------------------------------------
    def update(self, *, max_files: int = DEFAULT_MAX_FILES, workers: int | None = None) -> bool:
        """Bring the index up to date with the files on disk; return True if anything changed.

        ``workers``: helper processes for parsing new files (None: automatic, used only
        for big cold builds; 0: parse everything in this process).
        """
        walked = walk_repo(self.root, max_files=max_files, dir_cache=self.dir_cache)
        if self.postings and walked.files == self._last_walk:
            # same paths, mtimes and sizes as last time: nothing to read, parse or rebuild
            self.stats = IndexStats(files=len(self.paths), reused=len(self.paths), cache=self.stats.cache,
                                    truncated=walked.truncated)
            problems = list(walked.skipped)
            problems.extend(Skipped(p, r["error"]) for p, r in zip(self.paths, self.records) if r.get("error"))
            self.skipped = sorted(problems, key=lambda s: s.path)
            return False
        old = dict(zip(self.paths, self.records))
        stats = IndexStats(cache=self.stats.cache, truncated=walked.truncated)
        skipped = list(walked.skipped)
        by_path: dict[str, dict] = {}
        new_files = [e for e in walked.files if e.rel not in old]
        by_path.update(self._parse_new(new_files, workers, stats, skipped))
        for entry in walked.files:
            prev = old.get(entry.rel)
            if prev is None:
                continue
            if self.stats_by_path.get(entry.rel) == (entry.mtime_ns, entry.size):
                by_path[entry.rel] = prev
                stats.reused += 1
                continue
            data = self._read(entry.rel, skipped)
            if data is None:
                continue
            stats.read += 1
            if prev.get("hash") == content_hash(data):
                by_path[entry.rel] = prev  # touched but not modified
                stats.reused += 1
            else:
                by_path[entry.rel] = parse_file(entry.rel, data)
                stats.parsed += 1
        paths, records, stat_map = [], [], {}
        for entry in walked.files:
            rec = by_path.get(entry.rel)
            if rec is None:
                continue
            if rec.get("error"):
                skipped.append(Skipped(entry.rel, rec["error"]))
            paths.append(entry.rel)
            records.append(rec)
            stat_map[entry.rel] = (entry.mtime_ns, entry.size)
        changed = paths != self.paths or any(r is not old.get(p) for p, r in zip(paths, records))
        stats.files = len(paths)
        self.stats = stats
        self.skipped = sorted(skipped, key=lambda s: s.path)
        stat_changed = stat_map != self.stats_by_path
        self.paths, self.records, self.stats_by_path = paths, records, stat_map
        # problems found while reading (unreadable files) must be looked at again next time
        self._last_walk = walked.files if len(walked.files) == len(paths) else []
        if changed or not self.postings:
            self._derive()
        return changed or stat_changed

    def _read(self, rel: str, skipped: list[Skipped]) -> bytes | None:
        try:
            with open(os.path.join(self.root, rel), "rb") as fh:
                return fh.read()
        except OSError as exc:
            skipped.append(Skipped(rel, f"unreadable: {exc.strerror or exc}"))
            return None

    def _parse_new(self, entries: list, workers: int | None, stats: IndexStats,
                   skipped: list[Skipped]) -> dict[str, dict]:
        """Parse files the index has never seen; a big batch is shared with helper processes."""
        if workers is None:
            env = os.environ.get("CODEX_NB_INDEX_WORKERS", "").strip()
            workers = int(env) if env.isdigit() else _idle_cpus()
            if len(entries) < PARALLEL_MIN_FILES:
                workers = 0
        out: dict[str, dict] = {}
        mine = entries
        procs = []
        if workers > 0 and len(entries) > 1:
            # share by bytes: parse time follows file size, not file count
            shares: list[list] = [[] for _ in range(workers + 1)]
            loads = [0] * (workers + 1)
            for e in sorted(entries, key=lambda e: -e.size):
                k = loads.index(min(loads))
                shares[k].append(e)
                loads[k] += e.size + 2000
            mine = shares[0]
            procs = [p for p in (_start_worker(self.root, share) for share in shares[1:] if share) if p]
            if len(procs) < len([s for s in shares[1:] if s]):
                mine = entries  # could not start a helper: parse everything here
                for proc, _share in procs:
                    proc.kill()
                procs = []
        for e in mine:
            data = self._read(e.rel, skipped)
            if data is not None:
                out[e.rel] = parse_file(e.rel, data)
                stats.read += 1
                stats.parsed += 1
        for proc, share in procs:
            got = _finish_worker(proc)
            for e in share:
                rec = got.get(e.rel) if got is not None else None
                if rec is None:  # the helper failed: parse its share here
                    data = self._read(e.rel, skipped)
                    if data is None:
                        continue
                    rec = parse_file(e.rel, data)
                elif "unreadable" in rec:
                    skipped.append(Skipped(e.rel, f"unreadable: {rec['unreadable']}"))
                    continue
                out[e.rel] = rec
                stats.read += 1
                stats.parsed += 1
        return out

    def _derive(self) -> None:
        n = len(self.records)
        avg = {}
        for f in FIELDS:
            total = sum(sum(r["fields"][f].values()) for r in self.records)
            avg[f] = max(total / n, 1.0) if n else 1.0
        acc: dict[str, dict[int, float]] = {}
        get = acc.get
        for i, rec in enumerate(self.records):
            for f, (w, b) in FIELDS.items():
                counts = rec["fields"][f]
                if not counts:
                    continue
                norm = w / (1.0 - b + b * (sum(counts.values()) / avg[f]))
                for term, tf in counts.items():
                    slot = get(term)
                    if slot is None:
                        acc[term] = {i: tf * norm}
                    elif i in slot:
                        slot[i] += tf * norm
                    else:
                        slot[i] = tf * norm
        self.postings = acc
        self.modules = {}
        self.defines = {}
        for i, rec in enumerate(self.records):
            if rec["kind"] == "py" and rec["module"]:
                self.modules.setdefault(rec["module"], i)
            for name, _kind, _s, _e, parent in rec["defs"]:
                if not parent or _kind == "class":
                    self.defines.setdefault(name, []).append(i)
        self._graph()

    def _graph(self) -> None:
        """Edges: A imports B (weight 1) and A uses a name that only a few files define (0.5)."""
        edges: list[dict[int, float]] = [dict() for _ in self.records]
        for i, rec in enumerate(self.records):
            out = edges[i]
            for imp in rec["imports"]:
                j = self.modules.get(imp)
                if j is None and "." in imp:
                    j = self.modules.get(imp.rsplit(".", 1)[0])
                if j is not None and j != i:
                    out[j] = max(out.get(j, 0.0), 1.0)
            for ident in rec["idents"]:
                targets = self.defines.get(ident)
                if targets and len(targets) <= 3 and not ident.startswith("__"):
                    for j in targets:
                        if j != i and j not in out:
                            out[j] = 0.5
        self.edges = edges

    # ---- cache ----------------------------------------------------------------------------
    def to_cache(self) -> dict:
        return {"schema": SCHEMA, "root": self.root,
                "dirs": {k: v.to_json() for k, v in self.dir_cache.items()},
                "files": {p: [self.stats_by_path[p][0], self.stats_by_path[p][1], r]
                          for p, r in zip(self.paths, self.records)}}

    @classmethod
    def from_cache(cls, root: str, data: dict) -> "RepoIndex":
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ValueError("cache schema mismatch")
        idx = cls(root=root)
        for p, (mtime, size, rec) in sorted(data["files"].items()):
            idx.paths.append(p)
            idx.records.append(rec)
            idx.stats_by_path[p] = (mtime, size)
        idx.dir_cache = {k: DirListing.from_json(v) for k, v in data.get("dirs", {}).items()}
        return idx


def _idle_cpus() -> int:
    """Helper processes worth starting: one per idle CPU beyond ours (none on a busy machine)."""
    cpus = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):
        busy = 0.0
    return max(0, min(cpus - 1, int(cpus - busy - 1), 3))


def _start_worker(root: str, share: list):
    import subprocess
    import sys

    try:
        proc = subprocess.Popen([sys.executable, "-m", "codex_nb.context._parse_worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_worker_env())
    except OSError:
        return None
    payload = json.dumps({"root": root, "paths": [e.rel for e in share]}).encode()
    # write from a thread: the helper may fill its stdout before it has read all of stdin
    threading.Thread(target=_feed, args=(proc, payload), daemon=True).start()
    return proc, share


def _feed(proc, payload: bytes) -> None:
    try:
        proc.stdin.write(payload)
        proc.stdin.close()
    except OSError:
        pass


def _worker_env() -> dict:
    # the helper must import this very copy of codex_nb, installed or not
    package_parent = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = package_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _finish_worker(proc) -> dict | None:
    try:
        out = proc.stdout.read()
        proc.wait(timeout=60)
        return json.loads(out) if proc.returncode == 0 else None
    except (OSError, ValueError, Exception):  # noqa: BLE001 - any failure means "parse here instead"
        proc.kill()
        return None


def cache_dirs(root: str) -> list[Path]:
    """Where the cache may live: the repository first, then the user's cache directory."""
    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "codex-nb" / "index"
    key = content_hash(os.path.realpath(root).encode())
    return [Path(root) / ".codex_nb" / "cache", user / key]


def _load_disk(root: str, dirs: list[Path]) -> RepoIndex | None:
    for d in dirs:
        try:
            with open(d / CACHE_NAME, encoding="utf-8") as fh:
                return RepoIndex.from_cache(root, json.load(fh))
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            continue
    return None


LOCAL_STATE_GITIGNORE = """\
# codex-nb: the index cache, the conversation histories and saved before-states are local state.
# The audit log (audit.jsonl and its head file audit.head) is meant to be committed.
cache/
history/
undo/
*.tmp
"""
_OLD_GITIGNORES = ("*\n",)  # what earlier versions wrote: it hid the audit log from git


def ensure_local_state_ignored(codex_dir: Path) -> None:
    """Write ``.codex_nb/.gitignore`` ignoring only local state; replace the old ignore-everything one."""
    gi = Path(codex_dir) / ".gitignore"
    try:
        current = gi.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = None
    except OSError:
        return
    if current is None or current in _OLD_GITIGNORES:
        gi.write_text(LOCAL_STATE_GITIGNORE, encoding="utf-8")


def _save_disk(index: RepoIndex, dirs: list[Path]) -> str | None:
    payload = json.dumps(index.to_cache(), separators=(",", ":"))
    for d in dirs:
        try:
            d.mkdir(parents=True, exist_ok=True)
            if d.parent.name == ".codex_nb":
                ensure_local_state_ignored(d.parent)
            fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(payload)
            os.replace(tmp, d / CACHE_NAME)
            return str(d)
        except OSError:
            continue
    return None


MEMORY_SLOTS = 4  # repositories kept in memory per process (a server may serve several)
_memory: dict[str, RepoIndex] = {}
_memory_lock = threading.Lock()


def load_index(root: str | os.PathLike, *, use_memory: bool = True, use_disk: bool = True,
               max_files: int = DEFAULT_MAX_FILES, cache_dir: str | os.PathLike | None = None,
               workers: int | None = None) -> RepoIndex:
    """The up-to-date index of ``root``: from memory, else from the disk cache, else built."""
    root = os.path.realpath(os.fspath(root))
    asked = time.monotonic()
    dirs = [Path(cache_dir)] if cache_dir else cache_dirs(root)
    with _memory_lock:
        index = _memory.get(root) if use_memory else None
        if index is not None and index.walk_started >= asked:
            # Another caller walked the repository after this one asked (while it waited for
            # the lock): that walk saw every change made before this request. Many chats
            # arriving together share one walk instead of each stat-ing every file again.
            index.stats.cache = "memory"
            return index
        source = "memory"
        if index is None and use_disk:
            index = _load_disk(root, dirs)
            source = "disk"
        if index is None:
            index = RepoIndex(root=root)
            source = "none"
        index.stats.cache = source
        # building allocates millions of small objects that all stay alive: cyclic GC passes
        # over them would only cost time (a large share of a cold build)
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            started = time.monotonic()
            changed = index.update(max_files=max_files, workers=workers)
            index.walk_started = started
            if use_disk and (changed or source == "none"):
                _save_disk(index, dirs)
        finally:
            if gc_was_enabled:
                gc.enable()
        if use_memory:
            _memory.pop(root, None)
            _memory[root] = index  # most recent last
            while len(_memory) > MEMORY_SLOTS:
                _memory.pop(next(iter(_memory)))
        return index
