"""Model output → Proposal.

The model answers in the request schema (schema.py). Models without native
structured output answer in free text; we then look for a JSON object (fenced
or bare) and, failing that, turn fenced code blocks into new cells. Every
error message is written for the model to read when it is sent back for a retry.
"""
from __future__ import annotations

import json
import re
from typing import Callable

import nbformat

from ..errors import ProposalError
from ..notebook_io import source_hash
from .model import DeleteCell, InsertCell, PatchFile, Proposal, ReplaceCell
from .schema import END

MAX_OUTPUT_CHARS = 200_000
_FENCE = re.compile(r"```([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.S)


def parse_answer(text: str | bytes, nb: nbformat.NotebookNode | None, *, model: str = "", notebook: str | None = None,
                 finish_reason: str = "stop", file_hash: Callable[[str], str | None] | None = None) -> Proposal:
    """Turn the model's raw answer into a validated Proposal (or raise ProposalError)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProposalError("the answer is not UTF-8 text", hint="answer with UTF-8 JSON") from exc
    if len(text) > MAX_OUTPUT_CHARS:
        raise ProposalError(f"the answer is too long ({len(text):,} characters, limit {MAX_OUTPUT_CHARS:,})",
                            hint="propose fewer, smaller edits")
    data = _find_json(text)
    if data is None:
        if finish_reason == "length":
            raise ProposalError("the answer was cut off before it was complete (token limit)",
                                hint="answer with fewer or shorter edits")
        blocks = [(lang, body) for lang, body in _FENCE.findall(text) if lang.lower() in ("", "python", "py", "ipython")]
        if not blocks:
            raise ProposalError("the answer is not valid JSON and holds no code block",
                                hint='answer with JSON: {"explanation": "...", "edits": [...]}')
        edits = [{"op": "insert", "cell_id": END, "cell_type": "code", "source": body.strip("\n")} for _, body in blocks]
        explanation = _FENCE.sub("", text).strip()
        data = {"explanation": explanation, "edits": edits}
    return build_proposal(data, nb, model=model, notebook=notebook, file_hash=file_hash)


def _find_json(text: str) -> dict | None:
    candidates = [body for lang, body in _FENCE.findall(text) if lang.lower() in ("json", "")]
    stripped = text.strip()
    candidates.insert(0, stripped)
    if "{" in stripped:
        candidates.append(stripped[stripped.index("{"): stripped.rfind("}") + 1])
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except RecursionError:
            raise ProposalError("the answer is JSON nested too deeply to read",
                                hint='answer with flat JSON: {"explanation": "...", "edits": [...]}') from None
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(data, dict) and ("edits" in data or "explanation" in data):
            return data
    return None


def build_proposal(data: dict, nb: nbformat.NotebookNode | None, *, model: str = "", notebook: str | None = None,
                   file_hash: Callable[[str], str | None] | None = None) -> Proposal:
    """Check the answer against the notebook and fill in hashes and new cell ids."""
    if not isinstance(data.get("edits", []), list):
        raise ProposalError('"edits" must be a list', hint='answer with {"explanation": "...", "edits": [...]}')
    cells = {c["id"]: c for c in nb.cells} if nb is not None else {}
    known = list(cells)
    new_ids: list[str] = []
    edits = []
    for i, raw in enumerate(data.get("edits") or []):
        if not isinstance(raw, dict):
            raise ProposalError(f"edit {i} is not an object", hint="each edit is an object with op, cell_id, cell_type, source")
        op = raw.get("op")
        cell_type = raw.get("cell_type") or "code"
        if cell_type not in ("code", "markdown", "raw"):
            raise ProposalError(f"edit {i} has cell_type {cell_type!r}", hint="cell_type is code or markdown")
        source = raw.get("source", "")
        if not isinstance(source, str):
            raise ProposalError(f"edit {i}: source must be a string", hint="give the cell's full new source as one string")
        cell_id = raw.get("cell_id")
        if op == "patch_file":
            path = raw.get("path")
            if not isinstance(path, str) or not path:
                raise ProposalError(f"edit {i}: patch_file needs a path", hint="give the file path relative to the repository root")
            if raw.get("diff") is None and raw.get("search") is None:
                raise ProposalError(f"edit {i}: patch_file needs a diff or search/replace", hint="give search and replace strings")
            edits.append(PatchFile(path=path, diff=raw.get("diff"), search=raw.get("search"), replace=raw.get("replace"),
                                   base_hash=file_hash(path) if file_hash else None))
            continue
        if op == "insert":
            anchor = None if cell_id in (None, "", END) else cell_id
            if anchor is not None and anchor not in cells and anchor not in new_ids:
                raise ProposalError(f"edit {i} inserts after unknown cell id {anchor!r}", hint=_known_ids_hint(known))
            edit = InsertCell(source=source, cell_type=cell_type, after=anchor)
            new_ids.append(edit.new_id)
            edits.append(edit)
        elif op in ("replace", "delete"):
            if cell_id not in cells:
                raise ProposalError(f"edit {i} ({op}) names unknown cell id {cell_id!r}", hint=_known_ids_hint(known))
            base = source_hash(cells[cell_id]["source"])
            if op == "replace":
                new_type = cell_type if cell_type != cells[cell_id]["cell_type"] else None
                edits.append(ReplaceCell(cell_id=cell_id, source=source, base_hash=base, cell_type=new_type))
            else:
                edits.append(DeleteCell(cell_id=cell_id, base_hash=base))
        else:
            raise ProposalError(f"edit {i} has unknown op {op!r}", hint="op is insert, replace or delete")
    edits = _last_edit_per_cell(edits)
    explanation = data.get("explanation", "")
    if not isinstance(explanation, str):
        explanation = json.dumps(explanation)
    return Proposal(explanation=explanation.strip(), edits=tuple(edits), model=model, notebook=notebook)


def _last_edit_per_cell(edits: list) -> list:
    """A cell edited twice in one answer keeps only its last edit (models repeat themselves)."""
    last = {}
    for i, edit in enumerate(edits):
        key = getattr(edit, "cell_id", None) or getattr(edit, "path", None) or f"new:{i}"
        if isinstance(edit, InsertCell):
            key = ("insert", edit.after, edit.cell_type, edit.source)  # identical inserts are one
        last[key] = i
    return [e for i, e in enumerate(edits) if i in set(last.values())]


def _known_ids_hint(known: list[str]) -> str:
    shown = ", ".join(known[:40]) + (" …" if len(known) > 40 else "")
    return f"use one of the notebook's cell ids: {shown or '(the notebook has no cells; insert at end)'}"
