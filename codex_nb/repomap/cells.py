"""The notebook's own dependency graph, from the same def-use analysis targeted validation uses.

For each cell: what it defines and reads, and which cells an edit of it would re-run
(exactly what ``validate --mode targeted --changed CELL`` would select). Edges go from
the cell that binds a name to the cells that read it.
"""
from __future__ import annotations

from ..cellnames import cell_name
from ..validate.defuse import analyse_source
from ..validate.select import _may_bind, _reaching, runnable_cells, select_targeted

MAX_NAMES = 12  # per cell and list: the map is for reading, the analysis keeps everything


def cell_graph(nb) -> dict:
    """{"cells": [...], "edges": [{"source", "target", "names"}]} for an nbformat notebook."""
    runnable, skipped = runnable_cells(nb)
    facts = [analyse_source(c.get("source", "")) for _, c in runnable]
    may_bind = _may_bind(facts)
    deps, _inherited = _reaching(facts, may_bind)
    slot_of = {c["id"]: k for k, (_, c) in enumerate(runnable)}
    cells = []
    for position, cell in enumerate(nb.cells):
        cid = str(cell.get("id"))
        k = slot_of.get(cid)
        fact = facts[k] if k is not None else None
        entry = {"id": cid, "position": position, "label": cell_name(position, cell),
                 "kind": cell.get("cell_type"), "execution_count": cell.get("execution_count"),
                 "defines": [], "uses": [], "rerun": [], "skipped": skipped.get(cid)}
        if fact is not None:
            entry["defines"] = sorted(may_bind[k])[:MAX_NAMES]
            entry["uses"] = sorted(fact.uses | fact.deferred)[:MAX_NAMES]
            entry["opaque"] = fact.opaque
            entry["rerun"] = _rerun(nb, cid)
        cells.append(entry)
    edges = [{"source": runnable[j][1]["id"], "target": runnable[i][1]["id"], "names": sorted(names)[:MAX_NAMES]}
             for i, sources in enumerate(deps) for j, names in sorted(sources.items())]
    return {"cells": cells, "edges": edges}


def _rerun(nb, cell_id: str) -> list[str]:
    """The cells a targeted validation of an edit to ``cell_id`` runs (every cell when it widens)."""
    selection = select_targeted(nb, [cell_id])
    return list(selection.cell_ids)
