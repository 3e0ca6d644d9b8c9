"""Def-use analysis and targeted cell selection, checked against hand-computed sets (no kernel)."""
from __future__ import annotations

import nbformat
import pytest

from codex_nb.validate.defuse import analyse_source
from codex_nb.validate.select import SelectionError, select_full, select_targeted


def notebook(*sources, tags=None):
    """Cells c0, c1, … with the given sources; ``tags`` maps a position to its tag list."""
    nb = nbformat.v4.new_notebook()
    nb.cells = []
    for i, src in enumerate(sources):
        if isinstance(src, tuple):  # ("markdown", text)
            nb.cells.append(nbformat.v4.new_markdown_cell(src[1], id=f"c{i}"))
            continue
        cell = nbformat.v4.new_code_cell(src, id=f"c{i}")
        if tags and i in tags:
            cell.metadata["tags"] = tags[i]
        nb.cells.append(cell)
    return nb


def targeted(nb, changed, **kw):
    """A targeted selection whose edited cells read and bound, before the edit, what they do now."""
    return select_targeted(nb, changed, previous=nb, **kw)


def ids(*numbers):
    return [f"c{n}" for n in numbers]


# A small analysis notebook; the comments give each cell's reads and writes.
PIPELINE = notebook(
    "import numpy as np",        # 0  w: np
    "%matplotlib inline",        # 1  setup
    "a = np.ones(3)",            # 2  r: np        w: a
    "b = a * 2",                 # 3  r: a         w: b
    "c = 5",                     # 4               w: c
    "d = c + 1",                 # 5  r: c         w: d
    "print(b)",                  # 6  r: b
    "e = 7",                     # 7               w: e
    "b.sort()",                  # 8  r: b         mutates b
    "print(b, d)",               # 9  r: b, d
)


@pytest.mark.parametrize("changed, expected", [
    (["c3"], ids(0, 1, 2, 3, 4, 5, 6, 8, 9)),   # b's readers (6, 8, 9) and 9's other input d
    (["c5"], ids(0, 1, 2, 3, 4, 5, 8, 9)),      # d's reader 9 needs b (3, 8) and its inputs
    (["c7"], ids(1, 7)),                        # independent: only the set-up magic before it
    (["c4"], ids(0, 1, 2, 3, 4, 5, 8, 9)),      # c → d → 9
    (["c6"], ids(0, 1, 2, 3, 6)),               # a pure reader: its upstream only
])
def test_targeted_selection_matches_hand_computed_sets(changed, expected):
    selection = targeted(PIPELINE, changed)
    assert selection.cell_ids == expected
    assert selection.mode == "targeted" and selection.widened is None
    assert set(selection.reasons) == set(expected)
    assert all(selection.reasons[c] == "edited" for c in changed)


def test_reasons_say_which_names_link_the_cells():
    reasons = targeted(PIPELINE, ["c5"]).reasons
    assert reasons["c9"] == "reads d bound by cell [6]"
    assert reasons["c4"] == "binds c read by cell [6]"
    assert reasons["c8"] == "binds b read by cell [10]"
    assert reasons["c1"] == "sets up the kernel with %matplotlib"


def test_a_rebinding_stops_earlier_definitions_from_reaching():
    nb = notebook("x = 1", "x = 2", "print(x)", "y = x + 1")
    assert targeted(nb, ["c0"]).cell_ids == ids(0)  # cell 1 rebinds x: 2 and 3 never see cell 0
    assert targeted(nb, ["c3"]).cell_ids == ids(1, 3)


def test_conditional_and_augmented_bindings_keep_the_chain():
    nb = notebook("x = 1", "if flag:\n    x = 2", "x += 1", "print(x)", "flag = True")
    # 3 reads x from 2 (augmented: reads and rebinds), 2 reads x from 1 (conditional) and 0.
    assert targeted(nb, ["c3"]).cell_ids == ids(0, 1, 2, 3)
    assert targeted(nb, ["c0"]).cell_ids == ids(0, 1, 2, 3)


def test_functions_read_globals_at_call_time():
    nb = notebook("scale = 3", "def f(v):\n    return v * scale", "other = 1", "print(f(2))")
    assert targeted(nb, ["c0"]).cell_ids == ids(0, 1, 3)
    assert targeted(nb, ["c3"]).cell_ids == ids(0, 1, 3)


def test_subscript_and_attribute_stores_are_mutations():
    nb = notebook("d = {}", "d['k'] = 1", "d2 = 5", "print(d['k'])")
    assert targeted(nb, ["c3"]).cell_ids == ids(0, 1, 3)
    assert targeted(nb, ["c1"]).cell_ids == ids(0, 1, 3)


def test_method_calls_on_modules_are_not_mutations():
    nb = notebook("import math", "r = math.sqrt(4)", "s = math.floor(2.5)", "print(s)")
    assert targeted(nb, ["c1"]).cell_ids == ids(0, 1)


def test_ipython_syntax_goes_through_ipythons_transformers():
    nb = notebook(
        "files = !ls",                   # 0 binds files
        "pattern = '*.py'",              # 1
        "other = '-l'",                  # 2
        "!ls {pattern} $other",          # 3 reads pattern, other
        "%time total = len(files)",      # 4 binds total, reads files
        "%%capture cap\nprint(total)",   # 5 binds cap, reads total
        "cap.show()",                    # 6
    )
    assert targeted(nb, ["c6"]).cell_ids == ids(0, 4, 5, 6)
    assert targeted(nb, ["c0"]).cell_ids == ids(0, 4, 5, 6)
    assert targeted(nb, ["c1"]).cell_ids == ids(1, 2, 3)


@pytest.mark.parametrize("source, why", [
    ("exec('z = 1')", "calls exec()"),
    ("from os.path import *", "star import from os.path"),
    ("globals()['z'] = 1", "uses globals()"),
    ("%run helper.py", "%run runs another file"),
    ("%%writefile helper.py\nz = 1", "%writefile writes a file"),
    ("%unknownmagic x", "%unknownmagic is a magic whose effect"),
    ("vars()['z'] = 2", "calls vars()"),
    ("def broken(:\n    pass", "does not parse"),
])
def test_uncertain_cells_widen_to_a_full_run_and_say_why(source, why):
    nb = notebook("x = 1", source, "y = 2")
    selection = targeted(nb, ["c2"])
    assert selection.mode == "full" and selection.cell_ids == ids(0, 1, 2)
    assert why in selection.widened and "cell [2] “" in selection.widened
    assert all(r.startswith("full run:") for r in selection.reasons.values())


def test_skip_tagged_cells_never_run_and_bind_nothing():
    nb = notebook("x = 1", "x = 99\nraise SystemExit", "print(x)", tags={1: ["codex-skip"]})
    selection = targeted(nb, ["c2"])
    assert selection.cell_ids == ids(0, 2)
    assert selection.skipped == {"c1": "tagged codex-skip"}
    assert select_full(nb).cell_ids == ids(0, 2)
    assert select_full(nb, skip_tags=("slow",)).cell_ids == ids(0, 1, 2)


def test_the_parameters_cell_runs_before_selected_cells():
    nb = notebook("n = 10", "unrelated = 1", "print('hi')", tags={0: ["parameters"]})
    selection = targeted(nb, ["c2"])
    assert selection.cell_ids == ids(0, 2)
    assert selection.reasons["c0"] == "papermill parameters cell"


def test_markdown_edits_run_nothing_and_empty_cells_are_ignored():
    nb = notebook("x = 1", ("markdown", "# notes"), "", "y = 2")
    assert targeted(nb, ["c1"]).cell_ids == []
    assert select_full(nb).cell_ids == ids(0, 3)


def test_readers_of_names_the_edit_removed_run_when_the_old_notebook_is_known():
    # Without an earlier binding, the reader of df fails in a fresh kernel either way, so it runs.
    after = notebook("x = 1", "frame = x", "print(df)")
    assert targeted(after, ["c1"]).cell_ids == ids(0, 1, 2)
    # With an earlier binding, only the old notebook tells that cell 2's df came from cell 1.
    before = notebook("df = 0", "df = 1", "print(df)")
    after = notebook("df = 0", "frame = 1", "print(df)")
    assert targeted(after, ["c1"]).cell_ids == ids(1)  # as if cell 1 had always been "frame = 1"
    # Not knowing the old version, every later reader of a name passing the edited cell runs.
    unknown = select_targeted(after, ["c1"])
    assert unknown.cell_ids == ids(0, 1, 2) and "unknown" in unknown.reasons["c2"]
    selection = select_targeted(after, ["c1"], previous=before)
    assert selection.cell_ids == ids(0, 1, 2)
    assert selection.reasons["c2"] == "reads df, which the edit changed or removed"


def test_unknown_or_missing_changed_ids_are_usage_errors():
    with pytest.raises(SelectionError) as info:
        select_targeted(PIPELINE, ["nope"])
    assert info.value.fields["unknown"] == ["nope"] and info.value.exit_code == 2
    with pytest.raises(SelectionError):
        select_targeted(PIPELINE, [])


@pytest.mark.parametrize("source, defines, kills, uses", [
    ("x = 1\nprint(x)", {"x"}, {"x"}, {"print"}),
    ('df["a"] = 1', {"df"}, set(), {"df"}),
    ("a, (b, *c) = t", {"a", "b", "c"}, {"a", "b", "c"}, {"t"}),
    ("del x", {"x"}, {"x"}, {"x"}),
    ("[k * q for k in items]", set(), set(), {"items", "q"}),
    ("class A(Base):\n    v = w", {"A"}, {"A"}, {"Base", "w"}),
    ("def f():\n    global g\n    g = 1", {"f", "g"}, {"f"}, set()),
    ("import numpy as np, os.path", {"np", "os"}, {"np", "os"}, set()),
    ("%timeit -n 3 -r 1 f(x)", set(), set(), {"f", "x"}),
    ("%%bash --out listing\nls", {"listing"}, {"listing"}, set()),
    ("with open(p) as fh:\n    text = fh.read()", {"fh", "text"}, set(), {"open", "p", "fh"}),
])
def test_cell_facts(source, defines, kills, uses):
    facts = analyse_source(source)
    names = {n for n in facts.uses if not n.startswith("file:")}  # every string literal may name a file
    assert (facts.defines, facts.kills, names) == (defines, kills, uses)
    assert facts.opaque is None


def test_setup_magics_are_recognised():
    for line in ("%cd data", "%pip install tqdm", "%load_ext autoreload", "%env MODE=fast"):
        assert analyse_source(line).setup, line


def test_names_a_function_reads_are_resolved_where_it_is_called():
    nb = notebook(
        "def f():\n    return CONFIG['k']",   # 0 defers CONFIG
        "def g():\n    return f() + 1",       # 1 defers f
        "noise = 0",                          # 2
        "CONFIG = {'k': 1}",                  # 3
        "print(g())",                         # 4 calls g → f → CONFIG
        "CONFIG = {'k': 2}",                  # 5 after the call: irrelevant to 4
    )
    assert targeted(nb, ["c4"]).cell_ids == ids(0, 1, 3, 4)
    selection = targeted(nb, ["c3"])
    assert selection.cell_ids == ids(0, 1, 3, 4)
    assert selection.reasons["c4"] == "reads CONFIG bound by cell [4]"
    # Defining a function that reads a not-yet-bound name is fine; calling it is what counts.
    assert targeted(nb, ["c0"]).cell_ids == ids(0, 1, 3, 4)


# --- property: a targeted run reproduces the full run, and misses no cell the edit changes ---

import os  # noqa: E402

from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

NAMES = ["a", "b", "c", "d"]
name = st.sampled_from(NAMES)
small = st.integers(0, 3)
statement = st.one_of(
    st.builds("{} = {}".format, name, small),
    st.builds("{} = {} + {}".format, name, name, name),
    st.builds("{} += {}".format, name, name),
    st.builds("if {} > {}:\n    {} = {}".format, name, small, name, name),
    st.builds("box.append({})".format, name),
    st.builds("def f_{0}():\n    return {0} * 2".format, name),
    st.builds("{} = f_{}()".format, name, name),
    st.builds("for _ in range(2):\n    {} += {}".format, name, name),
    st.builds("{} = sum(box) + {}".format, name, name),
    st.builds("box[:] = [{}]".format, name),
    st.builds("g_{0} = lambda: {0} + {1}".format, name, name),
    st.builds("{} = g_{}()".format, name, name),
)


def _immediate_reads(node) -> set[str]:
    """Names read when the code runs; function and lambda bodies run later, when called."""
    import ast

    if isinstance(node, (ast.FunctionDef, ast.Lambda)):
        return set()
    reads = {node.id} if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) else set()
    if isinstance(node, ast.AugAssign):
        reads.add(node.target.id)
    for child in ast.iter_child_nodes(node):
        reads |= _immediate_reads(child)
    return reads


def run(sources, only=None):
    """Execute cells like a kernel would; per executed cell, the values it reads (or its error).

    A cell's behaviour is a function of what it reads, so equal inputs mean equal behaviour.
    """
    import ast

    ns, seen = {}, {}
    for i, src in enumerate(sources):
        if only is not None and f"c{i}" not in only:
            continue
        reads = _immediate_reads(ast.parse(src))
        inputs = {k: (list(ns[k]) if isinstance(ns[k], list) else ns[k]) for k in sorted(reads)
                  if k in ns and not callable(ns[k])}
        # Functions read their globals when called: include what the called functions read.
        inputs.update({f"{k}()": ns[k].__code__.co_names and {g: ns.get(g) for g in ns[k].__code__.co_names}
                       for k in sorted(reads) if k in ns and callable(ns[k])})
        try:
            exec(src, ns)
        except Exception as exc:  # noqa: BLE001 - the error itself is the observed behaviour
            seen[i] = (inputs, type(exc).__name__)
            break
        seen[i] = (inputs, None)
    return seen


@settings(max_examples=int(os.environ.get("CODEX_NB_PROPERTY_EXAMPLES", 300)), deadline=None)
@given(body=st.lists(statement, min_size=1, max_size=8), data=st.data())
def test_targeted_selection_is_sound_on_random_programs(body, data):
    cells = ["a = b = c = d = 1\nbox = []", *body]
    full = run(cells)
    assume(all(error is None for _, error in full.values()))  # notebooks that run top to bottom
    k = data.draw(st.integers(1, len(cells) - 1), label="edited cell")
    edited = list(cells)
    edited[k] = data.draw(statement, label="new source")
    before, after = notebook(*cells), notebook(*edited)
    selection = select_targeted(after, [f"c{k}"], previous=before)
    # 1. Every selected cell behaves in the subset run exactly as in the full run of the edited notebook.
    full_after = run(edited)
    subset = run(edited, only=set(selection.cell_ids))
    for i, observed in subset.items():
        assert observed == full_after[i], (i, edited, selection.cell_ids)
    # 2. Every cell (after the edit) whose behaviour the edit changed was selected.
    for i in range(k, len(cells)):
        if full.get(i) != full_after.get(i) and i in full_after:
            assert f"c{i}" in selection.cell_ids, (i, cells, edited, selection.cell_ids)


def test_codex_magic_cells_never_run_in_validation():
    from codex_nb.validate.select import runnable_cells

    nb = nbformat.v4.new_notebook()
    cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("%%codex\nfix the merge"),
             nbformat.v4.new_code_cell("  %codex ask why?"), nbformat.v4.new_code_cell("print(x)")]
    for i, cell in enumerate(cells):
        cell["id"] = f"c{i}"
    nb.cells = cells
    runnable, skipped = runnable_cells(nb)
    assert [c["id"] for _, c in runnable] == ["c0", "c3"]
    assert skipped == {"c1": "a %codex cell", "c2": "a %codex cell"}


def test_an_object_passed_to_a_function_may_be_changed_by_it():
    # drop_missing() changes df in place: a new cell-1 edit must re-run the cells that read df after it
    nb = notebook("df = {'a': 1, 'b': None}",
                  "def drop_missing(d):\n    for k in [k for k, v in d.items() if v is None]:\n        del d[k]",
                  "drop_missing(df)",
                  "total = len(df)",
                  "print(total)")
    assert targeted(nb, ["c1"]).cell_ids == ids(0, 1, 2, 3, 4)
    # read-only builtins do not count as changes: editing what print shows re-runs nothing else
    nb = notebook("df = [1, 2]", "print(df)", "n = len(df)", "print(n)")
    assert targeted(nb, ["c1"]).cell_ids == ids(0, 1)


def test_a_file_written_by_one_cell_links_the_cells_that_read_it():
    nb = notebook("rows = [3, 1, 2]",
                  "with open('sorted_rows.txt', 'w') as f:\n    f.write(','.join(map(str, sorted(rows))))",
                  "unrelated = 1",
                  "text = open('sorted_rows.txt').read()",
                  "!wc -c sorted_rows.txt")
    # an edit to the writer re-runs every cell that reads the file
    assert targeted(nb, ["c1"]).cell_ids == ids(0, 1, 3, 4)
    # an edit to a reader runs the writer first, so the file is there and current
    assert targeted(nb, ["c3"]).cell_ids == ids(0, 1, 3)
    assert "file sorted_rows" in " ".join(targeted(nb, ["c1"]).reasons.values())
