"""Cell operations: the one format in which notebook changes are applied anywhere.

A proposal becomes a list of ops (``proposal_ops``); its exact inverse is
another list of ops (``inverse_ops``). The Python side applies them to
nbformat objects (``apply_ops``); the lab extension applies the same ops to
the live notebook model (``labextension/src/ops.ts``). On the wire an op is the
JSON object of one of the data classes below (``asdict``); the lab extension's
types and its op checks come from the schema generated from them (see README,
"Wire contract"), and ``tests/data/ops_cases.json`` runs through both appliers.

What the ops mean, on both sides:

- ``insert``: a new cell after ``after``, or before ``before``, or at the end
  when both are null (giving both is refused); its id must be new.
- ``replace``: new source and maybe a new type; the cell keeps its id and
  metadata (and attachments unless it becomes code); a code cell loses its
  outputs and execution count, which belonged to the old source.
- ``delete``: remove a cell whose source is still ``expected_source``.
- ``restore``: put a cell back exactly (source, outputs, metadata, execution
  count) at ``index`` — clamped to the end — replacing any cell with its id
  wherever that cell is.
- ``remove``: remove a cell without checking its source (the undo of an insert).

``expected_source`` (null: no check) refuses an op whose cell changed since
the op was planned. Applying is all or nothing: every op is checked against
the schema first, and any refusal leaves the notebook as it was.
"""
from __future__ import annotations

import copy
import functools
import json
from dataclasses import asdict, dataclass
from typing import Annotated, Literal, Union

import nbformat

from ..errors import EditRefused
from ..notebook_io import source_hash
from ..wire.fields import CELL_ID_MAX, CellId, CellRef, CellType, Count, Tagged
from ..wire.notebook import NotebookCell
from .model import DeleteCell, InsertCell, PatchFile, Proposal, ReplaceCell


@dataclass(frozen=True)
class InsertOp:
    """Insert a new cell after ``after``, before ``before``, or at the end when both are null."""

    new_id: CellId
    after: CellRef | None
    before: CellRef | None
    cell_type: CellType
    source: str
    op: Literal["insert"] = "insert"


@dataclass(frozen=True)
class ReplaceOp:
    """Give a cell new source (and, when ``cell_type`` is not null, a new type)."""

    cell_id: CellRef
    source: str
    cell_type: CellType | None
    expected_source: str | None
    op: Literal["replace"] = "replace"


@dataclass(frozen=True)
class DeleteOp:
    """Delete a cell whose source is still ``expected_source`` (null: whatever it is)."""

    cell_id: CellRef
    expected_source: str | None
    op: Literal["delete"] = "delete"


@dataclass(frozen=True)
class RestoreOp:
    """Put ``cell`` back exactly at ``index`` (clamped), replacing any cell with its id."""

    index: Count
    cell: NotebookCell
    op: Literal["restore"] = "restore"


@dataclass(frozen=True)
class RemoveOp:
    """Remove a cell whatever its source (the undo of an insert)."""

    cell_id: CellRef
    op: Literal["remove"] = "remove"


LiveOp = Annotated[Union[InsertOp, ReplaceOp, DeleteOp, RestoreOp, RemoveOp], Tagged("op")]
_ID_HINT = f"a cell id is 1 to {CELL_ID_MAX} characters from a-z, A-Z, 0-9, '-' and '_' (nbformat's rule)"


def proposal_ops(nb: nbformat.NotebookNode, proposal: Proposal) -> list[dict]:
    """Forward ops for the notebook edits of a proposal; refuses stale, dangling or malformed edits."""
    ids = {c["id"]: c for c in nb.cells}
    pending_new: set[str] = set()
    ops: list[dict] = []
    for i, edit in enumerate(proposal.edits):
        if isinstance(edit, PatchFile):
            continue
        if isinstance(edit, InsertCell):
            if edit.after is not None and edit.before is not None:
                raise EditRefused(f"edit {i}: insert names both a cell to follow and a cell to precede",
                                  hint="give after or before, not both")
            for anchor in (edit.after, edit.before):
                if anchor is not None and anchor not in ids and anchor not in pending_new:
                    raise EditRefused(f"edit {i}: cell {anchor} is gone", hint="ask again: the notebook changed", cell_id=anchor)
            if edit.new_id in ids or edit.new_id in pending_new:
                raise EditRefused(f"edit {i}: cell id {edit.new_id} already exists", hint="ask again for a fresh proposal")
            pending_new.add(edit.new_id)
            op = {"op": "insert", "new_id": edit.new_id, "after": edit.after, "before": edit.before,
                  "cell_type": edit.cell_type, "source": edit.source}
        else:
            cell = ids.get(edit.cell_id)
            if cell is None:
                raise EditRefused(f"edit {i}: cell {edit.cell_id} is gone", hint="ask again: the notebook changed", cell_id=edit.cell_id)
            if source_hash(cell["source"]) != edit.base_hash:
                raise EditRefused(f"edit {i} is stale: cell {edit.cell_id} changed since the proposal",
                                  hint="ask again so the proposal is made against the current cell", cell_id=edit.cell_id)
            if isinstance(edit, ReplaceCell):
                op = {"op": "replace", "cell_id": edit.cell_id, "source": edit.source,
                      "cell_type": edit.cell_type, "expected_source": cell["source"]}
            else:
                op = {"op": "delete", "cell_id": edit.cell_id, "expected_source": cell["source"]}
        ops.append(asdict(parse_op(op, f"edit {i}")))
    return ops


def inverse_ops(nb_before: nbformat.NotebookNode, ops: list[dict] | Proposal) -> list[dict]:
    """Ops that take the notebook after ``ops`` (or a proposal's ops) back to ``nb_before`` exactly.

    Refuses (before anything is applied) when a cell the ops change could not be put back exactly.
    """
    if isinstance(ops, Proposal):
        ops = proposal_ops(nb_before, ops)
    parsed = _parse_all(ops)
    work = copy.deepcopy(nb_before)
    undo: list[dict] = []
    for n, op in enumerate(parsed):
        if isinstance(op, InsertOp):
            undo.append(asdict(RemoveOp(op.new_id)))
        else:
            cell_id = op.cell["id"] if isinstance(op, RestoreOp) else op.cell_id
            index = _find(work, cell_id)
            if index is None and isinstance(op, RestoreOp):
                undo.append(asdict(RemoveOp(cell_id)))
            elif index is not None:
                undo.append(_restore_of(work, index))
        _apply_in_place(work, [op], first=n)
    return list(reversed(undo))


def apply_ops(nb: nbformat.NotebookNode, ops: list[dict]) -> nbformat.NotebookNode:
    """Apply ops to a copy of ``nb``; all or nothing (the input is never modified)."""
    return _apply(nb, _parse_all(ops))


def parse_op(raw, label: str = "op"):
    """The op data class for one wire op (a dict), or EditRefused saying which field is wrong."""
    from pydantic import ValidationError

    try:
        text = json.dumps(raw)
    except (TypeError, ValueError) as exc:
        raise EditRefused(f"{label} is not JSON: {exc}", hint="ops are JSON objects (see the wire schema)") from exc
    try:
        return _op_adapter().validate_json(text, strict=True)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"][1:]) or "op"
        kind = raw.get("op") if isinstance(raw, dict) else None
        if "cell_type" in where or "cell_type" in str(first.get("ctx", {}).get("discriminator", "")):
            hint = "cell types are code, markdown and raw"
        elif where.endswith("id") and first["type"].startswith("string"):
            hint = _ID_HINT
        else:
            hint = "ops follow the wire schema: python -m codex_nb.wire schema"
        raise EditRefused(f"{label} ({kind or 'no op'}): {where}: {first['msg']}", hint=hint) from None


@functools.cache
def _op_adapter():
    from pydantic import TypeAdapter

    return TypeAdapter(LiveOp)


def _parse_all(ops) -> list:
    if not isinstance(ops, (list, tuple)):
        raise EditRefused("ops must be a list", hint="send a JSON list of op objects")
    return [parse_op(op, f"op {n}") for n, op in enumerate(ops)]


def _apply(nb, parsed: list) -> nbformat.NotebookNode:
    out = copy.deepcopy(nb)
    _apply_in_place(out, parsed)
    return out


def _apply_in_place(out, parsed: list, first: int = 0) -> None:
    for n, op in enumerate(parsed, start=first):
        if isinstance(op, InsertOp):
            if op.after is not None and op.before is not None:
                raise EditRefused(f"op {n}: insert names both a cell to follow and a cell to precede",
                                  hint="give after or before, not both")
            if _find(out, op.new_id) is not None:
                raise EditRefused(f"op {n}: cell id {op.new_id} already exists", hint="ask again for a fresh proposal")
            out.cells.insert(_insert_index(out, op), _new_cell(op.cell_type, op.source, op.new_id))
        elif isinstance(op, ReplaceOp):
            _replace(out.cells[_checked_index(out, op, n)], op.source, op.cell_type)
        elif isinstance(op, DeleteOp):
            del out.cells[_checked_index(out, op, n)]
        elif isinstance(op, RemoveOp):
            index = _find(out, op.cell_id)
            if index is None:
                raise EditRefused(f"op {n}: cell {op.cell_id} to remove is gone", hint="the notebook changed meanwhile",
                                  cell_id=op.cell_id)
            del out.cells[index]
        else:
            cell = _restorable(op.cell, f"op {n}")
            existing = _find(out, cell["id"])
            if existing is not None:
                del out.cells[existing]
            out.cells.insert(min(op.index, len(out.cells)), cell)


def _restore_of(nb, index: int) -> dict:
    """The op that puts cell ``index`` of ``nb`` back, checked now so that an undo can never be refused later."""
    cell = nb.cells[index]
    op = {"op": "restore", "index": index, "cell": copy.deepcopy(cell)}
    try:
        _restorable(parse_op(op).cell, "restore")
    except EditRefused as exc:
        raise EditRefused(f"cell {cell.get('id')} could not be put back exactly: {exc.message}",
                          hint="repair the notebook first (nbformat.validate or re-save it in JupyterLab), then apply again",
                          cell_id=cell.get("id")) from None
    return op


def _restorable(cell: dict, label: str) -> nbformat.NotebookNode:
    """The cell as it goes into the notebook: lines joined like nbformat's reader, checked by nbformat's schema."""
    from nbformat.validator import ValidationError, validate

    node = nbformat.from_dict(_joined(cell))
    try:
        # The wire schema leaves metadata open; nbformat's own schema knows its reserved keys.
        validate(node, ref=f"{node['cell_type']}_cell", version=4, version_minor=5)
    except ValidationError as exc:
        raise EditRefused(f"{label}: cell {node['id']} is not a valid nbformat cell: {exc.message}",
                          hint="restore only cells taken from a valid notebook", cell_id=node["id"]) from None
    return node


def _joined(cell: dict) -> dict:
    """nbformat's in-memory form: multi-line strings as one string (what both appliers store)."""
    cell = copy.deepcopy(cell)
    cell["source"] = _text(cell["source"])
    if "attachments" in cell:
        cell["attachments"] = {name: _bundle(bundle) for name, bundle in cell["attachments"].items()}
    for output in cell.get("outputs", ()):
        if output["output_type"] == "stream":
            output["text"] = _text(output["text"])
        if "data" in output:
            output["data"] = _bundle(output["data"])
    return cell


def _bundle(bundle: dict) -> dict:
    return {mime: value if _is_json_mime(mime) else _text(value) for mime, value in bundle.items()}


def _is_json_mime(mime: str) -> bool:
    return mime == "application/json" or mime.endswith("+json")


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else value


def _replace(cell, source: str, new_type: str | None) -> None:
    cell["source"] = source
    if new_type is not None and new_type != cell["cell_type"]:
        cell["cell_type"] = new_type
        if new_type == "code":
            cell.pop("attachments", None)  # nbformat allows attachments on markdown and raw cells only
    if cell["cell_type"] == "code":
        # Outputs belong to the old source; keeping them would show results the new code never produced.
        cell["outputs"] = []
        cell["execution_count"] = None
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


def _new_cell(cell_type: str, source: str, cell_id: str):
    maker = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
             "raw": nbformat.v4.new_raw_cell}[cell_type]
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
    index = _index(nb, op.cell_id)
    if op.expected_source is not None and nb.cells[index]["source"] != op.expected_source:
        raise EditRefused(f"op {n}: cell {op.cell_id} changed since the proposal",
                          hint="ask again so the proposal is made against the current cell", cell_id=op.cell_id)
    return index


def _insert_index(nb, op: InsertOp) -> int:
    if op.after is not None:
        return _index(nb, op.after) + 1
    if op.before is not None:
        return _index(nb, op.before)
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
