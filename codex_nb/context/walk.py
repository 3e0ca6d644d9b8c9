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


class IgnoreRules:
    """.gitignore files (each applies below its own directory) plus the root .codexignore."""

    def __init__(self, root: str):
        self.root = root
        self._specs: list[tuple[str, pathspec.PathSpec]] = []  # (dir prefix, spec)
        codex = _read_ignore(os.path.join(root, ".codexignore"))
        self.codex = pathspec.PathSpec.from_lines("gitwildmatch", codex) if codex else None

    def add_dir(self, rel_dir: str, abs_dir: str) -> None:
        lines = _read_ignore(os.path.join(abs_dir, ".gitignore"))
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

    def codex_ignored(self, rel: str) -> bool:
        return self.codex is not None and self.codex.match_file(rel)


def walk_repo(root: str, *, max_files: int = DEFAULT_MAX_FILES) -> WalkResult:
    """List indexable files under ``root``, best-effort and bounded."""
    result = WalkResult()
    rules = IgnoreRules(root)
    real_root = os.path.realpath(root)
    stack = [("", root)]
    while stack:
        rel_dir, abs_dir = stack.pop()
        try:
            with os.scandir(abs_dir) as it:
                entries = list(it)
        except OSError as exc:
            result.skipped.append(Skipped(rel_dir or ".", f"unreadable directory: {exc.strerror or exc}"))
            continue
        names = {e.name for e in entries}
        if rel_dir and "pyvenv.cfg" in names:
            continue  # a virtualenv: installed libraries, not the project
        if ".gitignore" in names:
            rules.add_dir(rel_dir, abs_dir)
        for entry in entries:
            name = entry.name
            rel = f"{rel_dir}/{name}" if rel_dir else name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if name in SKIP_DIRS or name.endswith(".egg-info") or rules.ignored(rel, True):
                        continue
                    stack.append((rel, entry.path))
                    continue
                is_link = entry.is_symlink()
                if is_link and entry.is_dir():
                    # directory symlinks are not followed: that is how loops and escapes are avoided
                    result.skipped.append(Skipped(rel, "directory symlink not followed"))
                    continue
                if not name.endswith(INDEXED_SUFFIXES):
                    continue
                if never_read(rel):
                    result.skipped.append(Skipped(rel, "credential file never read"))
                    continue
                if rules.ignored(rel, False):
                    continue
                if is_link:
                    target = os.path.realpath(entry.path)
                    if not target.startswith(real_root + os.sep):
                        result.skipped.append(Skipped(rel, "symlink points outside the repository"))
                        continue
                st = entry.stat()
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
    result.files.sort(key=lambda f: f.rel)
    result.skipped.sort(key=lambda s: s.path)
    return result
