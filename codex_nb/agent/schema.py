"""The JSON schemas the agent's model answers in, built per request like the proposal schema.

Cell ids are an enum of the notebook's real ids, the tools a small fixed enum,
every string bounded: the model can only name cells that exist and can only ask
for the notebook tools below. Text it reads from outputs or files never widens
this vocabulary — it is data in the next request, not a new action.
"""
from __future__ import annotations

from ..edits.schema import END, edit_item_schema

TOOLS = ("read_cells", "read_outputs", "propose_edits", "run_cells", "finish")
TOOL_HELP = {
    "read_cells": "read the sources of cell_ids (all cells when empty)",
    "read_outputs": "read the outputs and errors of cell_ids",
    "propose_edits": "change the notebook: edits (insert/replace/delete); a person or the policy decides",
    "run_cells": "run cell_ids and read their outputs",
    "finish": "the goal is reached (or cannot be): say why in summary",
}


def plan_schema(*, max_steps: int = 8, max_title: int = 200) -> dict:
    """{"steps": [{"title"}]}: the numbered plan a person edits, approves or cancels."""
    return {
        "type": "object",
        "properties": {
            "steps": {
                "type": "array", "minItems": 1, "maxItems": max_steps,
                "items": {"type": "object", "properties": {"title": {"type": "string", "maxLength": max_title}},
                          "required": ["title"], "additionalProperties": False},
            },
        },
        "required": ["steps"],
        "additionalProperties": False,
    }


def step_schema(cell_ids: list[str], *, file_paths: list[str] | None = None, max_edits: int = 6,
                max_source: int = 4000, max_text: int = 800) -> dict:
    """One action: a tool, the cells it is about, and (for propose_edits) the edits in the proposal format."""
    ids = {"type": "string", "enum": list(cell_ids) or [END]}
    # an empty list of files means no file patches here (for a proposal it means any path)
    item = edit_item_schema(cell_ids, file_paths=file_paths or None, max_source=max_source)
    return {
        "type": "object",
        "properties": {
            "tool": {"type": "string", "enum": list(TOOLS)},
            "cell_ids": {"type": "array", "items": ids, "maxItems": 20},
            "edits": {"type": "array", "items": item, "maxItems": max_edits},
            "explanation": {"type": "string", "maxLength": max_text},
        },
        "required": ["tool", "cell_ids", "edits", "explanation"],
        "additionalProperties": False,
    }
