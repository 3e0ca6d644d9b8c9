"""Per-edit diffs of a proposal: data for every renderer (widgets, panel, terminal).

Computing the diff lives here; drawing it lives with each front end.
"""
from __future__ import annotations

import difflib
import os

import nbformat

from .files import apply_search_replace, apply_unified_diff, confined_path
from .model import DeleteCell, InsertCell, PatchFile, Proposal, ReplaceCell


def unified(old: str, new: str, old_name: str, new_name: str) -> str:
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name, n=3)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _cell_label(nb, cell_id: str, with_source: bool = True) -> str:
    """How a person finds the cell (position, prompt, first line); the id stays in ``cell_id``."""
    from ..cellnames import cell_label

    return cell_label(nb, cell_id, with_source=with_source)


def proposal_diffs(nb: nbformat.NotebookNode | None, proposal: Proposal, repo_root: str | os.PathLike | None = None) -> list[dict]:
    """One entry per edit: {"edit_index", "op", "cell_id", "path", "title", "old", "new", "unified"}."""
    cells = {c["id"]: c for c in nb.cells} if nb is not None else {}
    out = []
    for i, edit in enumerate(proposal.edits):
        entry = {"edit_index": i, "op": edit.op, "cell_id": None, "path": None}
        if isinstance(edit, InsertCell):
            where = f"after {_cell_label(nb, edit.after)}" if edit.after else (
                f"before {_cell_label(nb, edit.before)}" if edit.before else "at the end")
            entry.update(cell_id=edit.new_id, title=f"New {edit.cell_type} cell {where}", old="", new=edit.source)
        elif isinstance(edit, ReplaceCell):
            old = cells.get(edit.cell_id, {}).get("source", "")
            kind = f" (now {edit.cell_type})" if edit.cell_type else ""
            entry.update(cell_id=edit.cell_id, title=f"Change {_cell_label(nb, edit.cell_id)}{kind}", old=old, new=edit.source)
        elif isinstance(edit, DeleteCell):
            old = cells.get(edit.cell_id, {}).get("source", "")
            entry.update(cell_id=edit.cell_id, title=f"Delete {_cell_label(nb, edit.cell_id)}", old=old, new="")
        elif isinstance(edit, PatchFile):
            old, new = _file_texts(edit, repo_root)
            entry.update(path=edit.path, title=f"Patch {edit.path}", old=old, new=new)
        # the header is read by people (the panel shows it): the cell's position, not its id
        name = entry["path"] or ("new cell" if isinstance(edit, InsertCell) else _cell_label(nb, entry["cell_id"], False))
        entry["unified"] = unified(entry["old"], entry["new"], f"a/{name}", f"b/{name}")
        out.append(entry)
    return out


def _file_texts(edit: PatchFile, repo_root) -> tuple[str, str]:
    """Old and new text of a patched file; the raw patch text when it cannot be applied here."""
    if repo_root is not None:
        try:
            path = confined_path(repo_root, edit.path)
            old = path.read_text(encoding="utf-8") if path.exists() else ""
            if edit.diff is not None:
                return old, apply_unified_diff(old, edit.diff, edit.path)
            return old, apply_search_replace(old, edit.search or "", edit.replace or "", edit.path, creating=not path.exists())
        except Exception:
            pass  # shown as the raw patch below; applying will report the exact problem
    if edit.diff is not None:
        return "", edit.diff
    return edit.search or "", edit.replace or ""


def render_text(diffs: list[dict], color: bool = False) -> str:
    """Plain-text rendering for terminals and the CLI."""
    red, green, cyan, bold, reset = ("\x1b[31m", "\x1b[32m", "\x1b[36m", "\x1b[1m", "\x1b[0m") if color else ("",) * 5
    chunks = []
    for d in diffs:
        chunks.append(f"{bold}[{d['edit_index'] + 1}] {d['title']}{reset}")
        for line in d["unified"].splitlines():
            if line.startswith(("+++", "---")):
                continue
            if line.startswith("+"):
                chunks.append(f"{green}{line}{reset}")
            elif line.startswith("-"):
                chunks.append(f"{red}{line}{reset}")
            elif line.startswith("@@"):
                chunks.append(f"{cyan}{line}{reset}")
            else:
                chunks.append(line)
        chunks.append("")
    return "\n".join(chunks)
