"""Which cells a validation runs, and why.

A fresh kernel has none of the state the user's kernel built up, so a targeted
run needs three kinds of cells, in notebook order:

* the edited cells;
* *downstream* cells: those that read a name an edited cell binds (or mutates),
  and, transitively, the readers of whatever those bind;
* *upstream* cells: every cell whose bindings reach a cell in the two groups
  above, transitively, plus the cells that set up the kernel (``%matplotlib``,
  ``%cd``, ``%pip``, the papermill ``parameters`` cell) before them.

A definition of ``x`` in cell *j* reaches cell *i > j* unless a cell between
them certainly rebinds ``x``. Conditional bindings, ``del``, subscript and
attribute stores and method calls (``df.dropna(inplace=True)``) count as
bindings that do not stop earlier definitions from reaching. Names a function
body reads are resolved where the function is used, not where it is defined. When a cell's
effect cannot be known, the whole notebook runs and the reason is reported.
"""
from __future__ import annotations

import builtins
from collections import deque
from dataclasses import dataclass, field

from ..errors import UsageProblem
from .defuse import CellFacts, analyse_source

PARAMETERS_TAG = "parameters"
# Names an IPython kernel provides before any cell runs.
KERNEL_NAMES = frozenset(dir(builtins)) | {
    "get_ipython", "display", "In", "Out", "exit", "quit", "_", "__", "___",
    "_i", "_ii", "_iii", "_ih", "_oh", "_dh", "__name__", "__doc__", "__builtins__",
    "__spec__", "__loader__", "__package__", "__builtin__",
}


class SelectionError(UsageProblem):
    """A targeted run was asked for cells the notebook does not have."""


@dataclass
class Selection:
    """The cells to execute (ids in notebook order) and the reason for each."""

    mode: str
    cell_ids: list[str]
    reasons: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # code cells never executed, and why
    widened: str | None = None  # why a targeted request became a full run


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []) or [])


def runnable_cells(nb, skip_tags=("codex-skip",)) -> tuple[list[tuple[int, dict]], dict[str, str]]:
    """Code cells a validation may execute (index, cell), and skipped ones with the reason."""
    runnable, skipped = [], {}
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        hit = [t for t in _tags(cell) if t in skip_tags]
        if hit:
            skipped[cell["id"]] = f"tagged {hit[0]}"
        elif _asks_the_model(cell.get("source", "")):
            # Re-running a %codex cell would call the model again, and its result is not code the edit changed.
            skipped[cell["id"]] = "a %codex cell"
        elif not cell.get("source", "").strip():
            continue
        else:
            runnable.append((index, cell))
    return runnable, skipped


def _asks_the_model(source: str) -> bool:
    return any(line.lstrip().startswith(("%%codex", "%codex")) for line in source.splitlines())


def _label(index: int, cell) -> str:
    return f"cell #{index + 1} ({cell['id']})"


def select_full(nb, skip_tags=("codex-skip",), widened: str | None = None) -> Selection:
    cells, skipped = runnable_cells(nb, skip_tags)
    reason = f"full run: {widened}" if widened else "full run"
    return Selection(
        mode="full",
        cell_ids=[c["id"] for _, c in cells],
        reasons={c["id"]: reason for _, c in cells},
        skipped=skipped,
        widened=widened,
    )


def select_targeted(nb, changed, skip_tags=("codex-skip",), *, previous=None,
                    predefined=()) -> Selection:
    """Edited cells, the cells they depend on and the cells that depend on them.

    ``previous`` is the notebook before the edit, if known: names its edited or
    deleted cells bound may now be missing, so later readers of those names run
    too. ``predefined`` names exist before any cell (papermill parameters).
    """
    if not changed:
        raise SelectionError(
            "targeted validation needs the ids of the edited cells",
            hint="pass --changed CELL_ID (repeatable), or use --mode full",
        )
    known = {c["id"]: (i, c) for i, c in enumerate(nb.cells)}
    unknown = [cid for cid in changed if cid not in known]
    if unknown:
        raise SelectionError(
            f"no cell with id {', '.join(unknown)} in the notebook",
            hint="cell ids are listed by `codex-nb context NOTEBOOK`; deleted cells have no id left",
            unknown=unknown,
        )
    cells, skipped = runnable_cells(nb, skip_tags)
    facts = [analyse_source(c["source"]) for _, c in cells]
    for (index, cell), fact in zip(cells, facts):
        if fact.opaque:
            return select_full(nb, skip_tags, widened=f"{_label(index, cell)} {fact.opaque}")

    pos_of = {c["id"]: p for p, (_, c) in enumerate(cells)}
    reasons: dict[int, str] = {pos_of[cid]: "edited" for cid in changed if cid in pos_of}
    may_bind = _may_bind(facts)
    deps, inherited = _reaching(facts, may_bind)

    # Readers of names no earlier cell binds fail in a full run, so they must fail here too;
    # so may readers of names the edit took away (known when the old notebook is given).
    removed = _removed_names(previous, changed, nb) if previous is not None else set()
    first_index = min(known[cid][0] for cid in changed)
    for p, ((index, _), fact) in enumerate(zip(cells, facts)):
        if p in reasons or index < first_index:
            continue
        reads = fact.uses | inherited[p]
        unbound = {n for n in reads - KERNEL_NAMES - set(predefined)
                   if not any(n in may_bind[j] for j in range(p))}
        lost = reads & removed
        if unbound:
            reasons[p] = f"reads {_names(unbound)}, which no earlier cell binds"
        elif lost:
            reasons[p] = f"reads {_names(lost)}, which the edit changed or removed"
    if not reasons:
        return Selection(mode="targeted", cell_ids=[], skipped=skipped)

    # Downstream: readers of what the selected cells bind, transitively.
    readers: dict[int, list[tuple[int, set[str]]]] = {}
    for reader, sources in enumerate(deps):
        for source, names in sources.items():
            readers.setdefault(source, []).append((reader, names))
    queue = deque(sorted(reasons))
    while queue:
        source = queue.popleft()
        for reader, names in readers.get(source, []):
            if reader not in reasons:
                reasons[reader] = f"reads {_names(names)} bound by {_label(*cells[source])}"
                queue.append(reader)

    # Kernel set-up cells (and the parameters cell) run before anything selected.
    last = max(reasons)
    for p, ((index, cell), fact) in enumerate(zip(cells, facts)):
        if p < last and p not in reasons:
            if PARAMETERS_TAG in _tags(cell):
                reasons[p] = "papermill parameters cell"
            elif fact.setup:
                reasons[p] = fact.setup

    # Upstream: whatever the selected cells read must be bound first, transitively.
    queue = deque(sorted(reasons))
    while queue:
        reader = queue.popleft()
        for source, names in deps[reader].items():
            if source not in reasons:
                reasons[source] = f"binds {_names(names)} read by {_label(*cells[reader])}"
                queue.append(source)

    order = sorted(reasons)
    return Selection(
        mode="targeted",
        cell_ids=[cells[p][1]["id"] for p in order],
        reasons={cells[p][1]["id"]: reasons[p] for p in order},
        skipped=skipped,
    )


def _removed_names(previous, changed, nb) -> set[str]:
    """Names the old versions of edited cells, and deleted cells, bound or mutated."""
    now = {c["id"] for c in nb.cells}
    gone = set(changed)
    old = [c for c in previous.cells if c.get("cell_type") == "code"]
    facts = [analyse_source(c.get("source", "")) for c in old]
    may_bind = _may_bind(facts)
    return set().union(*(bound for c, bound in zip(old, may_bind) if c["id"] in gone or c["id"] not in now))


def _names(names: set[str], limit: int = 4) -> str:
    ordered = sorted(names)
    shown = ", ".join(ordered[:limit])
    return shown + (f" (+{len(ordered) - limit} more)" if len(ordered) > limit else "")


def _may_bind(facts: list[CellFacts]) -> list[set[str]]:
    """Names each cell may bind or mutate.

    A method call on a name counts as a possible mutation, except on imported
    modules: ``np.mean(x)`` must not make every cell a writer of ``np``.
    """
    imported = set().union(*(f.imports for f in facts)) if facts else set()
    return [f.defines | (f.called_on - imported) for f in facts]


def _reaching(facts: list[CellFacts], may_bind: list[set[str]]) -> tuple[list[dict[int, set[str]]], list[set[str]]]:
    """For each cell, the earlier cells whose bindings it may read (with the names).

    Names read inside a function body are read when the function is called, so
    a cell that uses a function (or anything) from an earlier cell also reads
    that cell's deferred names, resolved at the calling cell; this repeats until
    nothing new is inherited (functions calling functions). Also returns, per
    cell, the names inherited that way.
    """
    inherited: list[set[str]] = [set() for _ in facts]
    deps: list[dict[int, set[str]]] = [{} for _ in facts]
    grew = True
    while grew:
        grew = False
        for i, fact in enumerate(facts):
            deps[i] = _sources(i, fact.uses | fact.deferred | inherited[i], facts, may_bind)
            new = set().union(*(facts[j].deferred for j in deps[i])) - fact.uses - inherited[i]
            if new:
                inherited[i] |= new
                grew = True
    return deps, inherited


def _sources(i: int, names: set[str], facts: list[CellFacts], may_bind: list[set[str]]) -> dict[int, set[str]]:
    sources: dict[int, set[str]] = {}
    for name in names:
        for j in range(i - 1, -1, -1):
            if name in may_bind[j]:
                sources.setdefault(j, set()).add(name)
            if name in facts[j].kills:
                break
    return sources
