"""Names for notebook cells as a person sees them, for every human-facing text.

nbformat cell ids (``eda5c9bd-0bf1-…``) are what edits and JSON carry, but nobody can
see them in JupyterLab. People find a cell by where it is, by the ``[3]:`` prompt
left of it, and by what its first line says, so that is how a cell is named:

    cell [5] (In [3]) “df = load_orders(path)”

The position is 1-based, counting every cell as JupyterLab's cell list does. The id
belongs on hover (a ``title`` attribute) or in JSON, never in the text itself.
"""
from __future__ import annotations

FIRST_LINE_CHARS = 40


def first_line(source, limit: int = FIRST_LINE_CHARS) -> str:
    """The first non-blank line of a cell's source, trimmed to ``limit`` characters."""
    text = "".join(source) if isinstance(source, list) else (source or "")
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


def cell_name(position: int, cell=None, *, with_source: bool = True) -> str:
    """``cell [N]`` for the cell at 0-based ``position``, its execution count and first line.

    ``cell`` is an nbformat cell (or a plain dict); without it only the position is named.
    """
    name = f"cell [{position + 1}]"
    if cell is None:
        return name
    count = cell.get("execution_count") if cell.get("cell_type", "code") == "code" else None
    if isinstance(count, int):
        name += f" (In [{count}])"
    if with_source:
        line = first_line(cell.get("source", ""))
        name += f" “{line}”" if line else " (empty)"
    return name


def _cells(nb) -> list:
    if nb is None:
        return []
    return list((nb.get("cells") if hasattr(nb, "get") else getattr(nb, "cells", None)) or [])


def cell_label(nb, cell_id: str | None, *, with_source: bool = True) -> str:
    """The name of the cell with ``cell_id`` in ``nb``; a plain description when it is not there."""
    cells = _cells(nb)
    for position, cell in enumerate(cells):
        if cell.get("id") == cell_id:
            return cell_name(position, cell, with_source=with_source)
    return "a cell that is no longer in the notebook"


def cell_labels(nb, *, with_source: bool = True) -> dict[str, str]:
    """Every cell's name by id, for texts that mention many cells (progress, reports)."""
    cells = _cells(nb)
    return {str(c.get("id")): cell_name(k, c, with_source=with_source) for k, c in enumerate(cells)}
