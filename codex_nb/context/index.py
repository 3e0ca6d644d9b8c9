"""The repository index: records per file, an inverted index and a file graph.

Built from :func:`walk_repo` + :func:`parse_file`, kept on disk under
``<repo>/.codex_nb/cache/`` (JSON with a schema version: a cache file found in
a cloned repository is data, never code) and in memory per process. Updates
are incremental: a file whose mtime and size are unchanged is not read; one
whose content hash is unchanged is not parsed.
"""
from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .parse import SCHEMA, content_hash, parse_file
from .walk import DEFAULT_MAX_FILES, DirListing, Skipped, walk_repo

CACHE_NAME = f"index-v{SCHEMA}.json"

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
    postings: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    defines: dict[str, list[int]] = field(default_factory=dict)  # symbol name -> files defining it
    modules: dict[str, int] = field(default_factory=dict)
    edges: list[dict[int, float]] = field(default_factory=list)  # file -> {neighbour: weight}
    dir_cache: dict[str, DirListing] = field(default_factory=dict)  # for walk_repo

    # ---- building -------------------------------------------------------------------------
    def update(self, *, max_files: int = DEFAULT_MAX_FILES) -> bool:
        """Bring the index up to date with the files on disk; return True if anything changed."""
        walked = walk_repo(self.root, max_files=max_files, dir_cache=self.dir_cache)
        old = dict(zip(self.paths, self.records))
        stats = IndexStats(cache=self.stats.cache, truncated=walked.truncated)
        skipped = list(walked.skipped)
        paths, records, stat_map = [], [], {}
        changed = len(walked.files) != len(self.paths)
        for entry in walked.files:
            prev = old.get(entry.rel)
            st = (entry.mtime_ns, entry.size)
            if prev is not None and self.stats_by_path.get(entry.rel) == st:
                rec = prev
                stats.reused += 1
            else:
                try:
                    with open(os.path.join(self.root, entry.rel), "rb") as fh:
                        data = fh.read()
                except OSError as exc:
                    skipped.append(Skipped(entry.rel, f"unreadable: {exc.strerror or exc}"))
                    changed = True
                    continue
                stats.read += 1
                if prev is not None and prev.get("hash") == content_hash(data):
                    rec = prev  # touched but not modified
                    stats.reused += 1
                else:
                    rec = parse_file(entry.rel, data)
                    stats.parsed += 1
                    changed = True
            if rec.get("error"):
                skipped.append(Skipped(entry.rel, rec["error"]))
            paths.append(entry.rel)
            records.append(rec)
            stat_map[entry.rel] = st
        changed = changed or paths != self.paths
        stats.files = len(paths)
        self.stats = stats
        self.skipped = sorted(skipped, key=lambda s: s.path)
        stat_changed = stat_map != self.stats_by_path
        self.paths, self.records, self.stats_by_path = paths, records, stat_map
        if changed or not self.postings:
            self._derive()
        return changed or stat_changed

    def _derive(self) -> None:
        n = len(self.records)
        avg = {}
        for f in FIELDS:
            total = sum(sum(r["fields"][f].values()) for r in self.records)
            avg[f] = max(total / n, 1.0) if n else 1.0
        acc: dict[str, dict[int, float]] = {}
        for i, rec in enumerate(self.records):
            for f, (w, b) in FIELDS.items():
                counts = rec["fields"][f]
                if not counts:
                    continue
                norm = w / (1.0 - b + b * (sum(counts.values()) / avg[f]))
                for term, tf in counts.items():
                    slot = acc.get(term)
                    if slot is None:
                        acc[term] = {i: tf * norm}
                    else:
                        slot[i] = slot.get(i, 0.0) + tf * norm
        self.postings = {t: list(d.items()) for t, d in acc.items()}
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


def _save_disk(index: RepoIndex, dirs: list[Path]) -> str | None:
    payload = json.dumps(index.to_cache(), separators=(",", ":"))
    for d in dirs:
        try:
            d.mkdir(parents=True, exist_ok=True)
            gi = d.parent / ".gitignore"
            if d.parent.name == ".codex_nb" and not gi.exists():
                gi.write_text("*\n")  # the cache is local state, never something to commit
            fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(payload)
            os.replace(tmp, d / CACHE_NAME)
            return str(d)
        except OSError:
            continue
    return None


_memory: dict[str, RepoIndex] = {}
_memory_lock = threading.Lock()


def load_index(root: str | os.PathLike, *, use_memory: bool = True, use_disk: bool = True,
               max_files: int = DEFAULT_MAX_FILES, cache_dir: str | os.PathLike | None = None) -> RepoIndex:
    """The up-to-date index of ``root``: from memory, else from the disk cache, else built."""
    root = os.path.realpath(os.fspath(root))
    dirs = [Path(cache_dir)] if cache_dir else cache_dirs(root)
    with _memory_lock:
        index = _memory.get(root) if use_memory else None
        source = "memory"
        if index is None and use_disk:
            index = _load_disk(root, dirs)
            source = "disk"
        if index is None:
            index = RepoIndex(root=root)
            source = "none"
        index.stats.cache = source
        changed = index.update(max_files=max_files)
        if use_disk and (changed or source == "none"):
            _save_disk(index, dirs)
        if use_memory:
            _memory[root] = index
        return index
