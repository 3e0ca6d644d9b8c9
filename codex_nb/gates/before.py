"""The before-state of a kept change that was not committed, so that it can be undone later.

``snapshot`` stores the bytes each file had before the change (None: it did not
exist) under ``.codex_nb/undo/<proposal id>/`` and returns a small record for the
audit log's "kept" event: file paths, where their old bytes are, and a hash of what
the change left. ``restore`` puts the old bytes back only if every file is still
exactly what the change left — anything else would throw away later work.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from ..errors import CodexError

UNDO_DIR = Path(".codex_nb") / "undo"


class UndoRefused(CodexError):
    """The recorded before-state cannot be put back safely."""


def _digest(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def _safe_name(proposal_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", proposal_id)[:80] or "proposal"


def snapshot(repo_root: str | os.PathLike, proposal_id: str,
             files: dict[str, tuple[bytes | None, bytes | None]]) -> dict:
    """Keep ``{path: (bytes before, bytes after)}``; return the record to store with the "kept" event.

    Paths are relative to ``repo_root`` (or absolute, for a notebook outside it).
    """
    root = Path(repo_root)
    store = root / UNDO_DIR / _safe_name(proposal_id)
    store.mkdir(parents=True, exist_ok=True)
    from ..context.index import ensure_local_state_ignored

    ensure_local_state_ignored(root / ".codex_nb")  # saved before-states are local state; the audit log is not
    record: dict = {"dir": (UNDO_DIR / _safe_name(proposal_id)).as_posix(), "files": {}}
    for n, (path, (old, new)) in enumerate(sorted(files.items())):
        blob = None
        if old is not None:
            blob = f"{n}.before"
            (store / blob).write_bytes(old)
        record["files"][path] = {"before": blob, "after_sha256": _digest(new)}
    return record


def restore(repo_root: str | os.PathLike, record: dict) -> list[str]:
    """Put every file back as it was before the change; return the paths restored."""
    root = Path(repo_root)
    store = root / record["dir"]
    plan: list[tuple[Path, bytes | None, str]] = []
    moved = []
    for path, entry in sorted(record["files"].items()):
        target = Path(path) if os.path.isabs(path) else root / path
        current = target.read_bytes() if target.exists() else None
        if _digest(current) != entry.get("after_sha256"):
            moved.append(path)
            continue
        old = None
        if entry.get("before"):
            try:
                old = (store / entry["before"]).read_bytes()
            except OSError as exc:
                raise UndoRefused(f"the saved copy of {path} is missing ({exc.strerror})",
                                  hint=f"it was kept in {store}; restore the file by hand") from None
        plan.append((target, old, path))
    if moved:
        raise UndoRefused(f"{', '.join(moved)} changed after the change was kept: undoing it would lose that work",
                          hint="undo by hand, or put the files back as the change left them first", files=moved)
    for target, old, _path in plan:  # every check passed: now write, each file atomically
        if old is None:
            target.unlink(missing_ok=True)
            continue
        if not target.exists():  # removed by the change: created again with the usual permissions
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "xb") as fh:
                fh.write(old)
            continue
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        with os.fdopen(fd, "wb") as fh:
            fh.write(old)
        os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    return [p for _t, _o, p in plan]
