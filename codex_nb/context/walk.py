"""Finding the files of a repository that may be indexed.

Respects .gitignore (every level) and .codexignore, never descends into VCS,
virtualenv, build or vendored directories, never follows a directory symlink
(so symlink loops cannot happen) and never reads credential files. Problems are
collected as :class:`Skipped` entries instead of raising: a broken file must
not break the context of the rest of the repository.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import NamedTuple

import pathspec

from .redact import never_read

INDEXED_SUFFIXES = (".py", ".pyi", ".ipynb")
MAX_FILE_BYTES = 1_000_000  # bigger files are generated or data, not code to read
MAX_NOTEBOOK_BYTES = 5_000_000  # notebooks carry outputs; their code is extracted
DEFAULT_MAX_FILES = 20_000
MAX_DIRS = 50_000  # a home directory or data lake is not a repository: stop listing, say so

SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", ".bzr", "__pycache__", "node_modules", ".venv", "venv", ".tox", ".nox",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", ".codex_nb", "site-packages",
    "build", "dist", ".eggs", "vendor", "vendored", "_vendor", "third_party", "thirdparty",
    ".idea", ".vscode", ".cache", "htmlcov",
}) | frozenset(
    # never even list credential directories
    {".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker"})


class FileEntry(NamedTuple):
    rel: str  # posix path relative to the root
    mtime_ns: int
    size: int


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass
class WalkResult:
    files: list[FileEntry] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    truncated: bool = False


def _read_ignore(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read().splitlines()
    except OSError:
        return []


def codexignored(root: str, path: str) -> bool:
    """True when ``path`` (absolute, or relative to ``root``) is listed in ``root``'s .codexignore."""
    lines = _read_ignore(os.path.join(root, ".codexignore"))
    if not lines:
        return False
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(root, path))
    if real != real_root and not real.startswith(real_root + os.sep):
        return False
    rel = os.path.relpath(real, real_root).replace(os.sep, "/")
    return pathspec.PathSpec.from_lines("gitwildmatch", lines).match_file(rel)


class IgnoreRules:
    """.gitignore files (each applies below its own directory) plus the root .codexignore."""

    def __init__(self, root: str):
        self.root = root
        self._specs: list[tuple[str, pathspec.PathSpec]] = []  # (dir prefix, spec)
        codex = _read_ignore(os.path.join(root, ".codexignore"))
        self.codex = pathspec.PathSpec.from_lines("gitwildmatch", codex) if codex else None

    def add_text(self, rel_dir: str, text: str | None) -> None:
        lines = text.split("\n") if text else []
        if lines:
            prefix = rel_dir + "/" if rel_dir else ""
            self._specs.append((prefix, pathspec.PathSpec.from_lines("gitwildmatch", lines)))

    def ignored(self, rel: str, is_dir: bool) -> bool:
        if self.codex is None and not self._specs:
            return False
        probe = rel + "/" if is_dir else rel
        if self.codex is not None and self.codex.match_file(probe):
            return True
        for prefix, spec in self._specs:
            if probe.startswith(prefix) and spec.match_file(probe[len(prefix):]):
                return True
        return False


@dataclass
class DirListing:
    """What one directory contributed, reusable while its mtime (and .gitignore) is unchanged."""
    mtime_ns: int
    gitignore: str | None  # its .gitignore text, None when it has none
    files: list[tuple[str, bool]]  # (name, is_symlink) that passed the name-based filters
    subdirs: list[str]
    skipped: list[Skipped]

    def to_json(self) -> list:
        return [self.mtime_ns, self.gitignore, [list(f) for f in self.files], self.subdirs,
                [[s.path, s.reason] for s in self.skipped]]

    @classmethod
    def from_json(cls, data: list) -> "DirListing":
        return cls(int(data[0]), data[1], [(str(n), bool(link)) for n, link in data[2]], list(data[3]),
                   [Skipped(p, r) for p, r in data[4]])


def _gitignore_text(abs_dir: str) -> str | None:
    path = os.path.join(abs_dir, ".gitignore")
    return "\n".join(_read_ignore(path)) if os.path.exists(path) else None


def _list_dir(rel_dir: str, abs_dir: str, mtime_ns: int, rules: IgnoreRules, real_root: str,
              gitignore: str | None) -> DirListing:
    """Read a directory and apply every check that depends only on names (not on file contents)."""
    listing = DirListing(mtime_ns, gitignore, [], [], [])
    with os.scandir(abs_dir) as it:
        entries = list(it)
    if rel_dir and any(e.name == "pyvenv.cfg" for e in entries):
        return listing  # a virtualenv: installed libraries, not the project
    for entry in entries:
        name = entry.name
        rel = f"{rel_dir}/{name}" if rel_dir else name
        try:
            if entry.is_dir(follow_symlinks=False):
                if not (name in SKIP_DIRS or name.endswith(".egg-info") or rules.ignored(rel, True)):
                    listing.subdirs.append(name)
                continue
            is_link = entry.is_symlink()
            if is_link and entry.is_dir():
                # directory symlinks are not followed: that is how loops and escapes are avoided
                listing.skipped.append(Skipped(rel, "directory symlink not followed"))
                continue
        except OSError as exc:
            listing.skipped.append(Skipped(rel, f"cannot stat: {exc.strerror or exc}"))
            continue
        if not name.endswith(INDEXED_SUFFIXES):
            continue
        if never_read(rel):
            listing.skipped.append(Skipped(rel, "credential file never read"))
            continue
        if rules.ignored(rel, False):
            continue
        if is_link:
            target = os.path.realpath(entry.path)
            if not target.startswith(real_root + os.sep):
                listing.skipped.append(Skipped(rel, "symlink points outside the repository"))
                continue
            target_rel = os.path.relpath(target, real_root).replace(os.sep, "/")
            # a harmless name must not open a credential file or an ignored one: judge the target too
            if never_read(target_rel) or rules.ignored(target_rel, False):
                listing.skipped.append(Skipped(rel, "symlink to a file that is never read"))
                continue
        listing.files.append((name, is_link))
    listing.files.sort()
    listing.subdirs.sort()
    return listing


def walk_repo(root: str, *, max_files: int = DEFAULT_MAX_FILES,
              dir_cache: dict[str, DirListing] | None = None) -> WalkResult:
    """List indexable files under ``root``, best-effort and bounded.

    With ``dir_cache`` (updated in place), a directory whose mtime is unchanged is
    not listed again: adding, removing or renaming an entry changes the mtime of
    its directory, so only the files themselves need a stat.
    """
    result = WalkResult()
    rules = IgnoreRules(root)
    cache = dir_cache if dir_cache is not None else {}
    codex_sig = "\0".join(_read_ignore(os.path.join(root, ".codexignore")))
    force_all = cache.get("\0codexignore") is None or cache["\0codexignore"].gitignore != codex_sig
    if force_all:
        cache.clear()
        cache["\0codexignore"] = DirListing(0, codex_sig, [], [], [])
    seen_dirs = {"\0codexignore"}
    real_root = os.path.realpath(root)
    stack = [("", root, False)]
    visited = 0
    while stack:
        rel_dir, abs_dir, force = stack.pop()
        visited += 1
        if visited > MAX_DIRS:
            result.truncated = True
            result.skipped.append(Skipped(rel_dir, f"not listed: more than {MAX_DIRS} directories"))
            break
        try:
            mtime = os.stat(abs_dir).st_mtime_ns
            listing = cache.get(rel_dir)
            fresh = listing is not None and not force and listing.mtime_ns == mtime
            gitignore = listing.gitignore if listing is not None else None
            if fresh and gitignore is not None and _gitignore_text(abs_dir) != gitignore:
                fresh = False  # edited in place: the directory's mtime does not show it
            if not fresh:
                gitignore = _gitignore_text(abs_dir)
                if listing is not None and gitignore != listing.gitignore:
                    force = True  # the rules changed for every directory below too
                rules.add_text(rel_dir, gitignore)
                listing = _list_dir(rel_dir, abs_dir, mtime, rules, real_root, gitignore)
                cache[rel_dir] = listing
            else:
                rules.add_text(rel_dir, gitignore)
        except OSError as exc:
            result.skipped.append(Skipped(rel_dir or ".", f"unreadable directory: {exc.strerror or exc}"))
            cache.pop(rel_dir, None)
            continue
        seen_dirs.add(rel_dir)
        result.skipped.extend(listing.skipped)
        prefix = f"{rel_dir}/" if rel_dir else ""
        base = abs_dir + os.sep
        for name, _is_link in listing.files:
            rel = prefix + name
            try:
                st = os.stat(base + name)
            except OSError as exc:
                result.skipped.append(Skipped(rel, f"cannot stat: {exc.strerror or exc}"))
                continue
            if not stat.S_ISREG(st.st_mode):
                # a FIFO or device named *.py would block or never end when read
                result.skipped.append(Skipped(rel, "not a regular file"))
                continue
            limit = MAX_NOTEBOOK_BYTES if name.endswith(".ipynb") else MAX_FILE_BYTES
            if st.st_size > limit:
                result.skipped.append(Skipped(rel, f"too large ({st.st_size} bytes)"))
                continue
            if len(result.files) >= max_files:
                result.truncated = True
                break
            result.files.append(FileEntry(rel, st.st_mtime_ns, st.st_size))
        if result.truncated:
            break
        for sub in reversed(listing.subdirs):
            stack.append((prefix + sub, base + sub, force))
    for gone in set(cache) - seen_dirs:
        if not result.truncated:
            del cache[gone]
    result.files.sort(key=lambda f: f.rel)
    result.skipped.sort(key=lambda s: s.path)
    return result
