"""The notebook's own dependency graph, from the same def-use analysis targeted validation uses.

For each cell: what it defines and reads, and which cells an edit of it would re-run —
the cells ``validate --mode targeted --changed CELL`` selects. The selection rules are
those of :func:`codex_nb.validate.select.select_targeted`, applied here to one shared
analysis of the notebook so that mapping every cell costs one pass, not one per cell
(the tests hold both to the same answers). Edges go from the cell that binds a name to
the cells that read it.
"""
from __future__ import annotations

from collections import deque

from ..cellnames import cell_name
from ..validate.defuse import analyse_source
from ..validate.select import KERNEL_NAMES, PARAMETERS_TAG, _may_bind, _reaching, _tags, runnable_cells

MAX_NAMES = 12  # per cell and list: the map is for reading, the analysis keeps everything


def cell_graph(nb) -> dict:
    """{"cells": [...], "edges": [{"source", "target", "names"}]} for an nbformat notebook."""
    runnable, skipped = runnable_cells(nb)
    facts = [analyse_source(c.get("source", "")) for _, c in runnable]
    may_bind = _may_bind(facts)
    deps, inherited = _reaching(facts, may_bind)
    rerun = _Rerun(runnable, facts, may_bind, deps, inherited)
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
                         opaque=fact.opaque, rerun=rerun.of(k))
        cells.append(entry)
    edges = [{"source": runnable[j][1]["id"], "target": runnable[i][1]["id"], "names": sorted(names)[:MAX_NAMES]}
             for i, sources in enumerate(deps) for j, names in sorted(sources.items())]
    return {"cells": cells, "edges": edges, "widened": rerun.widened}


class _Rerun:
    """The targeted selection for an edit of one runnable cell, from one shared analysis."""

    def __init__(self, runnable, facts, may_bind, deps, inherited):
        self.ids = [c["id"] for _, c in runnable]
        self.index = [i for i, _ in runnable]
        self.deps = deps
        self.widened = next((f"{cell_name(i, c, with_source=False)} {f.opaque}"
                             for (i, c), f in zip(runnable, facts) if f.opaque), None)
        self.readers: dict[int, list[int]] = {}
        for reader, sources in enumerate(deps):
            for source in sources:
                self.readers.setdefault(source, []).append(reader)
        bound_before: set[str] = set()
        self.unbound = []  # cells that read a name no earlier cell binds: they fail in a full run too
        for p, fact in enumerate(facts):
            reads = fact.uses | inherited[p]
            self.unbound.append(bool(reads - KERNEL_NAMES - bound_before))
            bound_before |= may_bind[p]
        self.setup = [PARAMETERS_TAG in _tags(c) or bool(f.setup) for (_, c), f in zip(runnable, facts)]

    def of(self, k: int) -> list[str]:
        if self.widened:
            return list(self.ids)  # a cell the analysis cannot see through: validation runs everything
        chosen = {k} | {p for p in range(len(self.ids)) if self.index[p] >= self.index[k] and self.unbound[p]}
        queue = deque(sorted(chosen))
        while queue:
            for reader in self.readers.get(queue.popleft(), []):
                if reader not in chosen:
                    chosen.add(reader)
                    queue.append(reader)
        last = max(chosen)
        chosen |= {p for p in range(last) if self.setup[p]}
        queue = deque(sorted(chosen))
        while queue:
            for source in self.deps[queue.popleft()]:
                if source not in chosen:
                    chosen.add(source)
                    queue.append(source)
        return [self.ids[p] for p in sorted(chosen)]
