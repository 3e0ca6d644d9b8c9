"""The JSON schema the model must answer in, built per request.

Cell ids are an enum of the notebook's real ids, edit kinds an enum, strings
bounded: with constrained decoding even a 135M model cannot name a cell that
does not exist, and every answer parses. The stored proposal format (with
hashes and new ids) lives in model.py; parse.py converts one into the other.
"""
from __future__ import annotations

END = "end"  # the insert anchor meaning "append at the end of the notebook"


def edit_item_schema(cell_ids: list[str], *, file_paths: list[str] | None = None, max_source: int = 4000) -> dict:
    """One edit as the model writes it: a cell edit, or (when ``file_paths`` is not None) a repository
    file patch — to one of ``file_paths``, or to any path when that list is empty.

    Shared by the proposal schema below and the agent's step schema (agent/schema.py).
    """
    cell_edit = {
        "type": "object",
        "properties": {
            "op": {"type": "string", "enum": ["insert", "replace", "delete"]},
            # insert: the cell to insert after ("end" appends); replace/delete: the cell to change
            "cell_id": {"type": "string", "enum": [*cell_ids, END]},
            "cell_type": {"type": "string", "enum": ["code", "markdown"]},
            "source": {"type": "string", "maxLength": max_source},
        },
        "required": ["op", "cell_id", "cell_type", "source"],
        "additionalProperties": False,
    }
    if file_paths is None:
        return cell_edit
    file_edit = {
        "type": "object",
        "properties": {
            "op": {"type": "string", "enum": ["patch_file"]},
            "path": {"type": "string", "enum": list(file_paths)} if file_paths else {"type": "string", "maxLength": 300},
            "search": {"type": "string", "maxLength": max_source},
            "replace": {"type": "string", "maxLength": max_source},
        },
        "required": ["op", "path", "search", "replace"],
        "additionalProperties": False,
    }
    return {"anyOf": [cell_edit, file_edit]}


def answer_schema(cell_ids: list[str], *, file_paths: list[str] | None = None, max_edits: int = 6,
                  max_source: int = 4000, max_explanation: int = 1200) -> dict:
    """Schema for {"explanation", "edits": [...]}; `file_paths` enables repository file patches."""
    item = edit_item_schema(cell_ids, file_paths=file_paths, max_source=max_source)
    return {
        "type": "object",
        "properties": {
            "explanation": {"type": "string", "maxLength": max_explanation},
            "edits": {"type": "array", "items": item, "maxItems": max_edits},
        },
        "required": ["explanation", "edits"],
        "additionalProperties": False,
    }
