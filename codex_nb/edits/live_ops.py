"""Cell operations: the one format in which notebook changes are applied anywhere.

A proposal becomes a list of ops (``proposal_ops``); its exact inverse is
another list of ops (``inverse_ops``). The Python side applies them to
nbformat objects (``apply_ops``); the lab extension applies the same ops to
the live notebook model. Ops:

    {"op": "insert", "new_id", "after": id|None, "before": id|None, "cell_type", "source"}
    {"op": "replace", "cell_id", "source", "cell_type": str|None, "expected_source"}
    {"op": "delete", "cell_id", "expected_source"}
    {"op": "restore", "index", "cell": <full nbformat cell>}  # put back exactly (in place if the id exists)
    {"op": "remove", "cell_id"}
"""
from __future__ import annotations

import copy

import nbformat

from ..errors import EditRefused
from ..notebook_io import source_hash
from .model import DeleteCell, InsertCell, PatchFile, Proposal, ReplaceCell


def proposal_ops(nb: nbformat.NotebookNode, proposal: Proposal) -> list[dict]:
    """Forward ops for the notebook edits of a proposal; refuses stale or dangling edits."""
    ids = {c["id"]: c for c in nb.cells}
    pending_new: set[str] = set()
    ops: list[dict] = []
    for i, edit in enumerate(proposal.edits):
        if isinstance(edit, PatchFile):
            continue
        if isinstance(edit, InsertCell):
            for anchor in (edit.after, edit.before):
                if anchor is not None and anchor not in ids and anchor not in pending_new:
                    raise EditRefused(f"edit {i}: cell {anchor} is gone", hint="ask again: the notebook changed", cell_id=anchor)
            if edit.new_id in ids or edit.new_id in pending_new:
                raise EditRefused(f"edit {i}: cell id {edit.new_id} already exists", hint="ask again for a fresh proposal")
            pending_new.add(edit.new_id)
            ops.append({"op": "insert", "new_id": edit.new_id, "after": edit.after, "before": edit.before,
                        "cell_type": edit.cell_type, "source": edit.source})
            continue
        cell = ids.get(edit.cell_id)
        if cell is None:
            raise EditRefused(f"edit {i}: cell {edit.cell_id} is gone", hint="ask again: the notebook changed", cell_id=edit.cell_id)
        if source_hash(cell["source"]) != edit.base_hash:
            raise EditRefused(f"edit {i} is stale: cell {edit.cell_id} changed since the proposal",
                              hint="ask again so the proposal is made against the current cell", cell_id=edit.cell_id)
        if isinstance(edit, ReplaceCell):
            ops.append({"op": "replace", "cell_id": edit.cell_id, "source": edit.source,
                        "cell_type": edit.cell_type, "expected_source": cell["source"]})
        elif isinstance(edit, DeleteCell):
            ops.append({"op": "delete", "cell_id": edit.cell_id, "expected_source": cell["source"]})
    return ops


def inverse_ops(nb_before: nbformat.NotebookNode, ops: list[dict] | Proposal) -> list[dict]:
    """Ops that take the notebook after ``ops`` (or a proposal's ops) back to ``nb_before`` exactly."""
    if isinstance(ops, Proposal):
        ops = proposal_ops(nb_before, ops)
    work = copy.deepcopy(nb_before)
    undo: list[dict] = []
    for op in ops:
        kind = op["op"]
        if kind == "insert":
            undo.append({"op": "remove", "cell_id": op["new_id"]})
        elif kind in ("replace", "delete", "remove"):
            index = _index(work, op["cell_id"])
            undo.append({"op": "restore", "index": index, "cell": copy.deepcopy(work.cells[index])})
        elif kind == "restore":
            existing = _find(work, op["cell"]["id"])
            if existing is None:
                undo.append({"op": "remove", "cell_id": op["cell"]["id"]})
            else:
                undo.append({"op": "restore", "index": existing, "cell": copy.deepcopy(work.cells[existing])})
        work = apply_ops(work, [op])
    return list(reversed(undo))


def apply_ops(nb: nbformat.NotebookNode, ops: list[dict]) -> nbformat.NotebookNode:
    """Apply ops to a copy of ``nb``; all or nothing (the input is never modified)."""
    out = copy.deepcopy(nb)
    for n, op in enumerate(ops):
        kind = op.get("op")
        if kind == "insert":
            out.cells.insert(_insert_index(out, op, n), _new_cell(op["cell_type"], op["source"], op["new_id"]))
        elif kind == "replace":
            cell = out.cells[_checked_index(out, op, n)]
            _replace(cell, op["source"], op.get("cell_type"))
        elif kind == "delete":
            del out.cells[_checked_index(out, op, n)]
        elif kind == "remove":
            index = _find(out, op["cell_id"])
            if index is None:
                raise EditRefused(f"op {n}: cell {op['cell_id']} to remove is gone", hint="the notebook changed meanwhile")
            del out.cells[index]
        elif kind == "restore":
            cell = nbformat.from_dict(copy.deepcopy(op["cell"]))
            index = _find(out, cell["id"])
            if index is not None:
                out.cells[index] = cell
            else:
                out.cells.insert(min(op["index"], len(out.cells)), cell)
        else:
            raise EditRefused(f"op {n} has unknown kind {kind!r}", hint="this is a bug in the caller")
    return out


def _replace(cell, source: str, new_type: str | None) -> None:
    cell["source"] = source
    if new_type and new_type != cell["cell_type"]:
        cell["cell_type"] = new_type
        if new_type == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        else:
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    elif cell["cell_type"] == "code":
        # Outputs belong to the old source; keeping them would show results the new code never produced.
        cell["outputs"] = []
        cell["execution_count"] = None


def _new_cell(cell_type: str, source: str, cell_id: str):
    maker = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
             "raw": nbformat.v4.new_raw_cell}.get(cell_type)
    if maker is None:
        raise EditRefused(f"unknown cell type {cell_type!r}", hint="cell types are code, markdown and raw")
    cell = maker(source)
    cell["id"] = cell_id
    return cell


def _find(nb, cell_id) -> int | None:
    for i, cell in enumerate(nb.cells):
        if cell.get("id") == cell_id:
            return i
    return None


def _index(nb, cell_id) -> int:
    index = _find(nb, cell_id)
    if index is None:
        raise EditRefused(f"cell {cell_id} is gone", hint="ask again: the notebook changed", cell_id=cell_id)
    return index


def _checked_index(nb, op, n) -> int:
    index = _index(nb, op["cell_id"])
    expected = op.get("expected_source")
    if expected is not None and nb.cells[index]["source"] != expected:
        raise EditRefused(f"op {n}: cell {op['cell_id']} changed since the proposal",
                          hint="ask again so the proposal is made against the current cell", cell_id=op["cell_id"])
    return index


def _insert_index(nb, op, n) -> int:
    if op.get("after") is not None:
        return _index(nb, op["after"]) + 1
    if op.get("before") is not None:
        return _index(nb, op["before"])
    return len(nb.cells)


def apply_proposal(nb: nbformat.NotebookNode, proposal: Proposal) -> tuple[nbformat.NotebookNode, list[dict]]:
    """The edited notebook and the ops that undo it: ``apply_ops(new, undo) == nb``."""
    ops = proposal_ops(nb, proposal)
    return apply_ops(nb, ops), inverse_ops(nb, ops)


def touched_cell_ids(nb_before: nbformat.NotebookNode, proposal: Proposal) -> list[str]:
    """Cells a re-run must cover: inserted and replaced ones, and the cell after each deleted one."""
    ids: list[str] = []
    before_ids = [c["id"] for c in nb_before.cells]
    deleted = {e.cell_id for e in proposal.cell_edits if isinstance(e, DeleteCell)}
    for edit in proposal.cell_edits:
        if isinstance(edit, InsertCell):
            ids.append(edit.new_id)
        elif isinstance(edit, ReplaceCell):
            ids.append(edit.cell_id)
        elif isinstance(edit, DeleteCell) and edit.cell_id in before_ids:
            following = before_ids[before_ids.index(edit.cell_id) + 1:]
            ids.extend(next(([c] for c in following if c not in deleted), []))
    return [cid for cid in dict.fromkeys(ids) if cid not in deleted]
