"""The notebook's own dependency graph, from the same def-use analysis targeted validation uses.

For each cell: what it defines and reads, and which cells an edit of it would re-run —
the cells ``validate --mode targeted --changed CELL`` selects, asked of
:func:`codex_nb.validate.select.select_targeted` itself so that the map can never
disagree with validation (about 13 ms a cell on a 100-cell notebook). Edges go from
the cell that binds a name to the cells that read it.
"""
from __future__ import annotations


from ..cellnames import cell_name
from ..validate.defuse import analyse_source
from ..validate.select import SelectionError, _may_bind, _reaching, runnable_cells, select_targeted

MAX_NAMES = 12  # per cell and list: the map is for reading, the analysis keeps everything


def cell_graph(nb) -> dict:
    """{"cells": [...], "edges": [{"source", "target", "names"}]} for an nbformat notebook."""
    runnable, skipped = runnable_cells(nb)
    facts = [analyse_source(c.get("source", "")) for _, c in runnable]
    may_bind = _may_bind(facts)
    deps, _inherited = _reaching(facts, may_bind)
    widened = _widened(runnable, facts)
    all_ids = [c["id"] for _, c in runnable]
    slot_of = {c["id"]: k for k, (_, c) in enumerate(runnable)}
    cells = []
    for position, cell in enumerate(nb.cells):
        cid = str(cell.get("id"))
        k = slot_of.get(cid)
        entry = {"id": cid, "position": position, "label": cell_name(position, cell),
                 "kind": cell.get("cell_type"), "execution_count": cell.get("execution_count"),
                 "defines": [], "uses": [], "rerun": [], "skipped": skipped.get(cid)}
        if k is not None:
            fact = facts[k]
            entry.update(defines=sorted(may_bind[k])[:MAX_NAMES], uses=sorted(fact.uses | fact.deferred)[:MAX_NAMES],
                         opaque=fact.opaque, rerun=_rerun(nb, cid, all_ids, widened))
        cells.append(entry)
    edges = [{"source": runnable[j][1]["id"], "target": runnable[i][1]["id"], "names": sorted(names)[:MAX_NAMES]}
             for i, sources in enumerate(deps) for j, names in sorted(sources.items())]
    return {"cells": cells, "edges": edges, "widened": widened}


def _widened(runnable, facts) -> str | None:
    """Why every edit re-runs everything (a cell the analysis cannot see through), or None."""
    return next((f"{cell_name(i, c, with_source=False)} {f.opaque}"
                 for (i, c), f in zip(runnable, facts) if f.opaque), None)


def _rerun(nb, cell_id: str, all_ids: list[str], widened: str | None) -> list[str]:
    """What ``validate --mode targeted --changed CELL`` runs: the validator's own selection, not a copy of it."""
    if widened:
        return list(all_ids)
    try:
        return list(select_targeted(nb, [cell_id]).cell_ids)
    except SelectionError:
        return list(all_ids)
