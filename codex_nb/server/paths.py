"""Map request paths (relative to the server root) to files, refusing anything outside the root.

A path is checked before anything touches the disk: absolute paths, ``..``
segments that climb out, and symlinks that resolve outside the root are all
refused with 403. The check uses the resolved path so a symlink inside the root
cannot be used to read a file elsewhere.
"""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from tornado.web import HTTPError


def resolve_in_root(root_dir: str | os.PathLike, rel: object, *, must_exist: bool = False) -> Path:
    """The absolute path of ``rel`` inside ``root_dir``; HTTP 400/403/404 when it is not acceptable."""
    if not isinstance(rel, str) or not rel.strip():
        raise HTTPError(400, "'path' must be a non-empty string relative to the server root")
    if "\x00" in rel:
        raise HTTPError(400, "'path' contains a NUL byte")
    posix = PurePosixPath(rel.replace("\\", "/"))
    if posix.is_absolute() or rel.startswith("~") or (len(rel) > 1 and rel[1] == ":"):
        raise HTTPError(403, f"{rel!r} is not relative to the server root")
    if ".." in posix.parts:
        raise HTTPError(403, f"{rel!r} points outside the server root")
    root = Path(root_dir).resolve()
    target = (root / Path(*posix.parts)).resolve()
    if target != root and root not in target.parents:
        raise HTTPError(403, f"{rel!r} resolves outside the server root")
    if must_exist and not target.exists():
        raise HTTPError(404, f"{rel!r} does not exist")
    return target


def relative_to_root(root_dir: str | os.PathLike, path: Path) -> str:
    return Path(path).resolve().relative_to(Path(root_dir).resolve()).as_posix()
