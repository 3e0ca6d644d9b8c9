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
from .defuse import FILE_PREFIX, CellFacts, analyse_source
from .libstate import RNG_PREFIX

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


def leading_imports(nb, skip_tags=("codex-skip",)) -> tuple[str | None, str]:
    """(id of the first cell a run executes, the imports that open it), for warming a spare kernel.

    Only the opening block counts: import statements (and ``%matplotlib`` lines) before the
    cell's first other statement. Running them early, silently, changes nothing the cell can
    observe except how long its imports take.
    """
    import ast

    cells, _ = runnable_cells(nb, skip_tags)
    if not cells:
        return None, ""
    cell = cells[0][1]
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        tree = ast.parse(TransformerManager().transform_cell(cell["source"]))
    except Exception:  # the transformers and the parser raise assorted types on odd input
        return cell["id"], ""
    block = []
    for stmt in tree.body:
        plain_import = isinstance(stmt, ast.Import) or (
            isinstance(stmt, ast.ImportFrom) and stmt.module != "__future__" and stmt.level == 0)
        magic = isinstance(stmt, ast.Expr) and "run_line_magic('matplotlib'" in ast.unparse(stmt)
        if not (plain_import or magic):
            break
        block.append(ast.unparse(stmt))
    return cell["id"], "\n".join(block)


def _asks_the_model(source: str) -> bool:
    return any(line.lstrip().startswith(("%%codex", "%codex")) for line in source.splitlines())


def _label(index: int, cell, with_source: bool = False) -> str:
    from ..cellnames import cell_name

    return cell_name(index, cell, with_source=with_source)  # as people see it; the id stays in the JSON


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


def changed_from(previous, nb, changed=()) -> list[str]:
    """``changed`` plus every cell of ``nb`` whose source differs from ``previous`` (or is new there)."""
    old = {c.get("id"): c.get("source", "") for c in previous.cells}
    found = list(dict.fromkeys(changed))
    for cell in nb.cells:
        cid = cell.get("id")
        if cid not in found and (cid not in old or old[cid] != cell.get("source", "")):
            found.append(cid)
    return found


def select_targeted(nb, changed, skip_tags=("codex-skip",), *, previous=None,
                    predefined=()) -> Selection:
    """Edited cells, the cells they depend on and the cells that depend on them.

    Dependents are computed from the edited cells as they are and, with
    ``previous`` (the notebook before the edit), as they were: readers of names
    or files an old version bound run too, as do every cell after an edited
    cell that set library-wide state. Cells whose source differs from
    ``previous`` count as edited. Without ``previous`` the old versions are
    unknown, so every later cell that reads anything an edited cell could have
    rebound runs. ``predefined`` names exist before any cell (papermill parameters).
    """
    if not changed and previous is not None:
        changed = changed_from(previous, nb)
        if not changed and not _deleted(previous, nb):
            return Selection(mode="targeted", cell_ids=[], skipped=runnable_cells(nb, skip_tags)[1])
    if not changed and (previous is None or not _deleted(previous, nb)):
        raise SelectionError(
            "targeted validation needs the ids of the edited cells",
            hint="name the edited cells, give the notebook as it was before the edit, or validate in full",
        )
    known = {c["id"]: (i, c) for i, c in enumerate(nb.cells)}
    unknown = [cid for cid in changed if cid not in known]
    if unknown:
        raise SelectionError(
            f"no cell with id {', '.join(unknown)} in the notebook",
            hint="cell ids are listed by `codex-nb context NOTEBOOK`; deleted cells have no id left",
            unknown=unknown,
        )
    if previous is not None:
        changed = changed_from(previous, nb, changed)
    cells, skipped = runnable_cells(nb, skip_tags)
    facts = [analyse_source(c["source"]) for _, c in cells]
    for (index, cell), fact in zip(cells, facts):
        if fact.opaque:
            return select_full(nb, skip_tags, widened=f"{_label(index, cell, with_source=True)} {fact.opaque}")
    old_facts = {}
    if previous is not None:
        for cell in previous.cells:
            if cell.get("cell_type") == "code" and cell.get("id") in set(changed):
                old_facts[cell["id"]] = analyse_source(cell.get("source", ""))
        for cid, fact in old_facts.items():
            if fact.opaque:
                return select_full(nb, skip_tags, widened=f"the edited cell {cid} was one that {fact.opaque}")

    pos_of = {c["id"]: p for p, (_, c) in enumerate(cells)}
    reasons: dict[int, str] = {pos_of[cid]: "edited" for cid in changed if cid in pos_of}
    may_bind = _may_bind(facts)
    _expand_wildcards(facts, may_bind)
    deps, inherited = _reaching(facts, may_bind)
    setup = _setup_reasons(facts)

    # Readers of names no earlier cell binds fail in a full run, so they must fail here too;
    # so may readers of names the edit took away.
    positions = [known[cid][0] for cid in changed]
    deleted_at = _deleted_positions(previous, nb) if previous is not None else []
    first_index = min(positions + deleted_at)
    removed = _removed_names(previous, changed, nb, now_bound={
        cells[p][1]["id"]: may_bind[p] for p in reasons}) if previous is not None else set()
    edited_setup = {cid: f.setup for cid, f in old_facts.items() if f.setup}
    edited_setup.update({cells[p][1]["id"]: setup[p] for p in reasons if setup.get(p)})
    setup_from = min((known[cid][0] for cid in edited_setup if cid in known), default=None)
    for p, ((index, cell), fact) in enumerate(zip(cells, facts)):
        if p in reasons or index < first_index:
            continue
        reads = fact.uses | inherited[p]
        unbound = {n for n in reads - KERNEL_NAMES - set(predefined)
                   if not n.startswith((FILE_PREFIX, RNG_PREFIX)) and not any(n in may_bind[j] for j in range(p))}
        lost = reads & removed
        if unbound:
            reasons[p] = f"reads {_names(unbound)}, which no earlier cell binds"
        elif lost:
            reasons[p] = f"reads {_names(lost)}, which the edit changed or removed"
        elif setup_from is not None and index > setup_from:
            reasons[p] = "runs after an edited cell that sets library-wide state"
        elif previous is None:
            crossing = _read_across(p, reads, positions, cells, facts)
            if crossing:
                reasons[p] = (f"reads {_names(crossing)}, which the edited cell may have bound before the edit "
                              "(the notebook before the edit is unknown)")
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

    # Kernel set-up cells (library state, magics, the parameters cell) run before anything selected.
    last = max(reasons)
    for p, (index, cell) in enumerate(cells):
        if p < last and p not in reasons:
            if PARAMETERS_TAG in _tags(cell):
                reasons[p] = "papermill parameters cell"
            elif setup.get(p):
                reasons[p] = setup[p]

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


def _deleted(previous, nb) -> list[str]:
    now = {c.get("id") for c in nb.cells}
    return [c.get("id") for c in previous.cells if c.get("cell_type") == "code" and c.get("id") not in now]


def _deleted_positions(previous, nb) -> list[int]:
    """Where in ``nb`` each deleted cell used to be (the index of the cell that now follows it)."""
    now = {c.get("id"): i for i, c in enumerate(nb.cells)}
    found, following = [], len(nb.cells)
    for cell in reversed(previous.cells):
        if cell.get("id") in now:
            following = now[cell.get("id")]
        elif cell.get("cell_type") == "code":
            found.append(following)
    return found


def _setup_reasons(facts: list[CellFacts]) -> dict[int, str]:
    """Cells that set up kernel or library state, including those calling a function that does."""
    reasons: dict[int, str] = {}
    setters: set[str] = set()
    for p, fact in enumerate(facts):
        called = (fact.uses | fact.deferred) & setters
        if fact.setup:
            reasons[p] = fact.setup
        elif called:
            reasons[p] = f"calls {_names(called)}, which sets library-wide state"
        setters = (setters - fact.kills) | fact.setting_functions
    return reasons


def _read_across(p: int, reads: set[str], positions: list[int], cells, facts) -> set[str]:
    """Names cell ``p`` reads that no cell between an edited cell and ``p`` certainly rebinds."""
    index_of = [index for index, _ in cells]
    found: set[str] = set()
    for edited in positions:
        if edited >= index_of[p]:
            continue
        between = [f for (index, _), f in zip(cells, facts) if edited < index < index_of[p]]
        killed = set().union(*(f.kills for f in between)) if between else set()
        found |= {n for n in reads - killed if n not in KERNEL_NAMES or n in set().union(*(f.defines for f in facts))}
    return found


def _removed_names(previous, changed, nb, now_bound: dict[str, set[str]]) -> set[str]:
    """Names and files the old versions of edited cells, and deleted cells, bound or mutated, and no longer do."""
    now = {c["id"] for c in nb.cells}
    gone = set(changed)
    old = [c for c in previous.cells if c.get("cell_type") == "code"]
    facts = [analyse_source(c.get("source", "")) for c in old]
    may_bind = _may_bind(facts)
    _expand_wildcards(facts, may_bind)
    return set().union(*(bound - now_bound.get(c["id"], set()) for c, bound in zip(old, may_bind)
                         if c["id"] in gone or c["id"] not in now))


def _names(names: set[str], limit: int = 4) -> str:
    ordered = sorted(f"file {n[len(FILE_PREFIX):]}" if n.startswith(FILE_PREFIX) else n for n in names)
    shown = ", ".join(ordered[:limit])
    return shown + (f" (+{len(ordered) - limit} more)" if len(ordered) > limit else "")


def _may_bind(facts: list[CellFacts]) -> list[set[str]]:
    """Names each cell may bind or mutate.

    A method call on a name counts as a possible mutation, except on imported
    modules: ``np.mean(x)`` must not make every cell a writer of ``np``. A
    mutation reaches every name bound to the same object (``tmp = states``
    anywhere in the notebook makes ``tmp.drop(inplace=True)`` a change of
    ``states`` too, and the other way round).
    """
    imported = set().union(*(f.imports for f in facts)) if facts else set()
    aliases: dict[str, set[str]] = {}
    for fact in facts:
        for name, roots in fact.aliases.items():
            for root in roots - imported:
                aliases.setdefault(name, set()).add(root)
                aliases.setdefault(root, set()).add(name)
    result = []
    for fact in facts:
        bound = fact.defines | (fact.called_on - imported)
        stack = list((fact.mutates - imported) & set(aliases))
        shared: set[str] = set()
        while stack:
            name = stack.pop()
            for other in aliases.get(name, ()):
                if other not in shared:
                    shared.add(other)
                    stack.append(other)
        result.append(bound | shared)
    return result


def _expand_wildcards(facts: list[CellFacts], may_bind: list[set[str]]) -> None:
    """Cells that write or read a file by a computed name link to every file the notebook names.

    ``%whos``-like cells read every name; they are given every name bound anywhere.
    """
    named = set().union(*(f.uses | f.defines for f in facts)) if facts else set()
    files = {n for n in named if n.startswith(FILE_PREFIX)}
    written = set().union(*may_bind) if may_bind else set()
    for fact, bound in zip(facts, may_bind):
        if fact.files_any_write:
            bound |= files
        if fact.files_any_read:
            fact.uses |= {n for n in written if n.startswith(FILE_PREFIX)} - fact.defines
        if fact.reads_all:
            fact.uses |= {n for n in written if not n.startswith(FILE_PREFIX)} - fact.kills


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
