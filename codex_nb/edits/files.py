"""Repository file patches: confined to the repository root, applied in memory first.

A patch is a unified diff or one search/replace pair. ``plan_file_edits``
computes every new file content (or raises) before anything is written, so a
proposal with one bad patch changes nothing.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import EditRefused
from ..notebook_io import source_hash
from .model import PatchFile

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_NEVER_WRITE = (".git", ".codex_nb")  # at any depth: a nested repository's .git is as protected as the top one


def confined_path(root: str | os.PathLike, relative: str) -> Path:
    """Resolve ``relative`` under ``root``; refuse anything that escapes it (.., absolute, symlinks)."""
    root_real = Path(root).resolve()
    if not relative or Path(relative).is_absolute() or "\x00" in relative:
        raise EditRefused(f"file path {relative!r} is not relative to the repository", hint="give a path inside the repository")
    target = (root_real / relative).resolve()
    if target != root_real and root_real not in target.parents:
        raise EditRefused(f"file path {relative!r} is outside the repository root {root_real}",
                          hint="only files inside the repository can be patched", path=relative)
    parts = target.relative_to(root_real).parts
    if parts and (any(part in _NEVER_WRITE for part in parts) or parts[-1].startswith(".env")):
        raise EditRefused(f"{relative} is protected", hint="codex-nb never edits .git, .env or its own files", path=relative)
    return target


def plan_file_edits(root: str | os.PathLike, edits: tuple[PatchFile, ...] | list[PatchFile]) -> dict[Path, tuple[bytes | None, bytes]]:
    """{path: (old bytes or None if new, new bytes)} for every patched file, or EditRefused."""
    plan: dict[Path, tuple[bytes | None, bytes]] = {}
    for i, edit in enumerate(edits):
        path = confined_path(root, edit.path)
        if path in plan:
            old_bytes, current_bytes = plan[path]
        else:
            old_bytes = path.read_bytes() if path.exists() else None
            current_bytes = old_bytes or b""
            if edit.base_hash is not None and source_hash(_text(current_bytes, edit.path)) != edit.base_hash:
                raise EditRefused(f"edit {i} is stale: {edit.path} changed since the proposal",
                                  hint="ask again so the patch is made against the current file", path=edit.path)
        text = _text(current_bytes, edit.path)
        if edit.diff is not None:
            new_text = apply_unified_diff(text, edit.diff, edit.path)
        else:
            new_text = apply_search_replace(text, edit.search or "", edit.replace or "", edit.path, creating=old_bytes is None)
        plan[path] = (old_bytes, new_text.encode("utf-8"))
    return plan


def _text(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise EditRefused(f"{name} is not UTF-8 text", hint="codex-nb only patches text files", path=name) from None


def apply_search_replace(text: str, search: str, replace: str, name: str = "file", creating: bool = False) -> str:
    if not search:
        if text and not creating:
            raise EditRefused(f"the patch for {name} has an empty search string", hint="quote the exact lines to replace")
        return replace
    count = text.count(search)
    if count == 0:
        raise EditRefused(f"the search text was not found in {name}", hint="quote lines that exist in the file exactly", path=name)
    if count > 1:
        raise EditRefused(f"the search text occurs {count} times in {name}", hint="quote more lines so the match is unique", path=name)
    return text.replace(search, replace, 1)


def apply_unified_diff(text: str, diff: str, name: str = "file") -> str:
    """Apply a unified diff strictly: every context and removed line must match."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    pos = 0
    diff_lines = diff.splitlines(keepends=True)
    i = 0
    saw_hunk = False
    while i < len(diff_lines):
        match = _HUNK.match(diff_lines[i])
        if not match:
            i += 1
            continue
        saw_hunk = True
        start = int(match.group(1)) - (1 if int(match.group(2) or 1) else 0)
        if start < pos:
            raise EditRefused(f"the diff for {name} has overlapping hunks", hint="send hunks in file order")
        out.extend(lines[pos:start])
        pos = start
        i += 1
        while i < len(diff_lines) and not _HUNK.match(diff_lines[i]):
            line = diff_lines[i]
            tag, body = line[:1], line[1:]
            if tag in (" ", "-"):
                if pos >= len(lines) or lines[pos].rstrip("\r\n") != body.rstrip("\r\n"):
                    raise EditRefused(f"the diff for {name} does not match the file at line {pos + 1}",
                                      hint="make the diff against the current file", path=name)
                if tag == " ":
                    out.append(lines[pos])
                pos += 1
            elif tag == "+":
                out.append(body if body.endswith("\n") else body + "\n")
            elif line.startswith("\\"):
                if out and out[-1].endswith("\n"):
                    out[-1] = out[-1][:-1]
            i += 1
    if not saw_hunk:
        raise EditRefused(f"the diff for {name} has no hunks", hint="send a unified diff with @@ hunk headers")
    out.extend(lines[pos:])
    return "".join(out)
