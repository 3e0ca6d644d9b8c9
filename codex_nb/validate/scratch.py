"""A scratch copy of the notebook's directory for validation to run in.

Cells write, overwrite and delete files; after a failed validation the notebook
is rolled back, but nothing would roll those files back. So by default the
validation kernel runs in a copy of the notebook's directory in the system's
temporary directory, and the copy is removed afterwards.

What is copied: everything, up to a size limit (``DEFAULT_LIMIT_MB``, per
validation). Tool directories (``.git``, virtual environments,
``node_modules``, caches) and whatever does not fit in the limit are not
copied but *linked*: the copy holds a symbolic link to the original, so cells
can still read them, and the kernel's write guard (see ``guard``) refuses any
write that resolves into the original directory, links included. The report
lists what was linked.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_LIMIT_MB = 200.0
MAX_FILES = 20_000  # entries walked per validation; beyond that, directories are linked whole
_LINKED_DIRS = {".codex_nb", ".git", ".hg", ".svn", "node_modules", ".venv", "venv", "env", ".tox", ".nox", "__pycache__",
                ".mypy_cache", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", ".cache", "site-packages"}


@dataclass
class Scratch:
    """A scratch copy: where the kernel runs, what it came from, and what is shared with the original."""

    source: Path
    path: Path
    limit_bytes: int
    linked: list[str] = field(default_factory=list)  # relative paths linked to the original, not copied
    copied_bytes: int = 0
    fingerprint: tuple = ()
    notebooks: dict = field(default_factory=dict)  # relative path of each .ipynb copied -> (size, mtime_ns)

    def is_current(self) -> bool:
        """Whether the original directory still looks as it did when it was copied (see ``refresh_notebooks``)."""
        return _fingerprint(self.source) == self.fingerprint

    def refresh_notebooks(self) -> None:
        """Copy again the notebooks saved since the copy was made.

        Accepting an edit saves the notebook being validated (and Jupyter saves checkpoints): that alone
        must not make a spare kernel's scratch copy stale, so notebooks count in the fingerprint by
        name only, and their copies are brought up to date here when the kernel is taken.
        """
        for rel, stamp in self.notebooks.items():
            source, target = self.source / rel, self.path / rel
            try:
                info = source.stat()
                if (info.st_size, info.st_mtime_ns) != stamp and not target.is_symlink():
                    shutil.copy2(source, target)
            except OSError:
                continue  # removed meanwhile: a cell reading it fails as it would in place

    def cleanup(self) -> None:
        shutil.rmtree(self.path.parent, ignore_errors=True)


def make_scratch(source, limit_mb: float = DEFAULT_LIMIT_MB) -> Scratch:
    """Copy ``source`` into a new temporary directory (linking what is too large) and return it."""
    source = Path(source).resolve()
    holder = Path(tempfile.mkdtemp(prefix="codex-nb-scratch-"))
    # The copy keeps the directory's own name: code that looks at its working directory's name still sees it.
    path = holder / (source.name or "root")
    path.mkdir()
    scratch = Scratch(source=source, path=path, limit_bytes=int(limit_mb * 1024 * 1024))
    scratch.fingerprint = _fingerprint(source)
    scratch.notebooks = _notebook_stamps(source, scratch.fingerprint)
    budget = [scratch.limit_bytes, MAX_FILES]
    try:
        for entry in _entries(source):
            _place(scratch, entry, path / entry.name, budget)
    except BaseException:
        scratch.cleanup()
        raise
    return scratch


def _entries(directory: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(directory) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError:
        return []


def _size(entry: os.DirEntry, limit: int, max_files: int) -> tuple[int, int] | None:
    """(bytes, files) of an entry, or None as soon as it exceeds either bound."""
    if entry.is_symlink() or not entry.is_dir(follow_symlinks=False):
        try:
            return (0 if entry.is_symlink() else entry.stat(follow_symlinks=False).st_size), 1
        except OSError:
            return 0, 1
    total, files = 0, 1
    for child in _entries(Path(entry.path)):
        part = _size(child, limit - total, max_files - files)
        if part is None:
            return None
        total, files = total + part[0], files + part[1]
        if total > limit or files > max_files:
            return None
    return total, files


def _place(scratch: Scratch, entry: os.DirEntry, target: Path, budget: list[int]) -> None:
    rel = os.path.relpath(entry.path, scratch.source)
    if entry.is_symlink():
        os.symlink(os.readlink(entry.path), target)
        return
    is_dir = entry.is_dir(follow_symlinks=False)
    if is_dir and entry.name in _LINKED_DIRS:
        _link(scratch, entry, target, rel)
        return
    size = _size(entry, budget[0], budget[1])
    if size is not None and size[0] <= budget[0] and size[1] <= budget[1]:
        try:
            if is_dir:
                shutil.copytree(entry.path, target, symlinks=True)
            else:
                shutil.copy2(entry.path, target)
        except OSError:
            _link(scratch, entry, target, rel)  # unreadable (a socket, a file being replaced): share it
            return
        budget[0] -= size[0]
        budget[1] -= size[1]
        scratch.copied_bytes += size[0]
        return
    if is_dir and budget[1] > 0:
        target.mkdir()
        budget[1] -= 1
        for child in _entries(Path(entry.path)):
            _place(scratch, child, target / child.name, budget)
        return
    _link(scratch, entry, target, rel)


def _link(scratch: Scratch, entry: os.DirEntry, target: Path, rel: str) -> None:
    os.symlink(entry.path, target)
    scratch.linked.append(rel)


def _fingerprint(source: Path, max_entries: int = MAX_FILES) -> tuple:
    """Names, sizes and modification times under ``source`` (tool directories skipped), bounded."""
    seen = []
    stack = [source]
    while stack and len(seen) < max_entries:
        for entry in _entries(stack.pop()):
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if _save_in_progress(entry.name):
                continue  # a notebook being written beside itself: gone once the save ends
            if _saved_by_jupyter(entry):
                seen.append((entry.path, -1, -1))  # name only: see Scratch.refresh_notebooks
            else:
                seen.append((entry.path, info.st_size, info.st_mtime_ns))
            if entry.is_dir(follow_symlinks=False) and not entry.is_symlink() and entry.name not in _LINKED_DIRS:
                stack.append(Path(entry.path))
    return tuple(seen)


def _save_in_progress(name: str) -> bool:
    """The temporary files an atomic notebook save writes (codex-nb's ``.nb.ipynb.*.tmp``, Jupyter's ``.~nb.ipynb``)."""
    return name.startswith(".") and ((".ipynb." in name and name.endswith(".tmp")) or
                                     (name.startswith(".~") and name.endswith(".ipynb")))


def _saved_by_jupyter(entry: os.DirEntry) -> bool:
    """Entries every accepted edit changes: the notebook, Jupyter's checkpoints, codex-nb's audit log."""
    return entry.name in (".ipynb_checkpoints", ".codex_nb") or (entry.name.endswith(".ipynb") and entry.is_file(follow_symlinks=False))


def _notebook_stamps(source: Path, fingerprint: tuple) -> dict:
    stamps = {}
    for path, size, _mtime in fingerprint:
        if size == -1 and path.endswith(".ipynb"):
            try:
                info = os.stat(path)
            except OSError:
                continue
            stamps[os.path.relpath(path, source)] = (info.st_size, info.st_mtime_ns)
    return stamps
