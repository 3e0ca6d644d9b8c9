"""Targeted selection misses no cell a full run shows is affected: one test per class of miss found on
real notebooks, and a property over generated notebooks (no kernel: the analysis alone)."""
from __future__ import annotations

import ast
import copy
import os
import random as random_module

import nbformat
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from codex_nb.validate.defuse import analyse_source
from codex_nb.validate.select import select_targeted


def notebook(*sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src, id=f"c{i}") for i, src in enumerate(sources)]
    return nb


def edited(nb, index, source):
    after = copy.deepcopy(nb)
    after.cells[index].source = source
    return after


def ids(*numbers):
    return [f"c{n}" for n in numbers]


# --- shadowed rebinding: an edit stops binding a name an earlier cell also binds ---

def test_a_name_the_edit_stops_binding_reruns_its_readers_with_the_earlier_binding():
    before = notebook("load_xy = 1", "load_xy = 2", "unrelated = 0", "print(load_xy)")
    after = edited(before, 1, "load_xy_renamed = 2")
    selection = select_targeted(after, ["c1"], previous=before)
    assert selection.cell_ids == ids(0, 1, 3)  # 3 now reads cell 0's stale value: it must run, after 0
    assert "changed or removed" in selection.reasons["c3"]
    # The old notebook alone is enough: the cells that differ are the edited ones.
    assert select_targeted(after, [], previous=before).cell_ids == ids(0, 1, 3)
    # Not knowing the old version, the reader runs too (anything passing the edited cell may have changed).
    assert set(ids(0, 1, 3)) <= set(select_targeted(after, ["c1"]).cell_ids)


def test_cli_validate_reads_the_old_notebook_and_fails_where_a_full_run_fails(tmp_path, capsys, monkeypatch):
    import json

    from codex_nb.cli.main import main

    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    before = notebook("value = [1]", "value = [1, 2, 3]", "assert len(value) == 3, value")
    before.metadata["kernelspec"] = kernel
    after = edited(before, 1, "renamed = [1, 2, 3]")
    nbformat.write(before, tmp_path / "old.ipynb")
    nbformat.write(after, tmp_path / "new.ipynb")
    code = main(["validate", str(tmp_path / "new.ipynb"), "--changed", "c1", "--mode", "targeted",
                 "--previous", str(tmp_path / "old.ipynb"), "--json", "-q"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["failed"]["cell_id"] == "c2" and report["failed"]["ename"] == "AssertionError"
    assert report["cells_run"] == ["c0", "c1", "c2"]
    assert report["failed"]["cell"].startswith("cell [3] “assert len(value)")


# --- aliasing: a change through an alias changes the original ---

@pytest.mark.parametrize("alias, mutation", [
    ("tmp = states", "tmp.drop(columns=['x'], inplace=True)"),
    ("tmp = states", "tmp.append(4)"),
    ("tmp, other = states, 0", "tmp[0] = 9"),
    ("view = states[:2]", "view[0] = 9"),
])
def test_a_mutation_through_an_alias_reaches_readers_of_the_original(alias, mutation):
    nb = notebook("states = [1, 2, 3]", f"{alias}\n{mutation}", "print(states)")
    assert "states" in analyse_source(f"{alias}\n{mutation}").aliases.get(alias.split()[0].rstrip(","), set())
    selection = select_targeted(nb, ["c1"], previous=nb)
    assert selection.cell_ids == ids(0, 1, 2)
    # The alias bound in one cell and changed in another: still linked.
    nb = notebook("states = [1, 2, 3]", alias, "unrelated = 1", mutation, "print(states)")
    assert select_targeted(nb, ["c3"], previous=nb).cell_ids == ids(0, 1, 3, 4)


# --- file names with or without an extension, literal or computed ---

@pytest.mark.parametrize("writer, reader", [
    ("df.to_pickle('examples/frame_pickle')", "x = pd.read_pickle('examples/frame_pickle')"),
    ("np.save('arrays', a)", "b = np.load('arrays.npy')"),
    ("df.to_csv(os.path.join('out', 'Table.CSV'))", "t = open('out/table.csv').read()"),
    ("np.savetxt(NAME, a)", "b = np.loadtxt(NAME)"),  # a computed name on both sides
    ("os.remove('data_file')", "print(open('data_file').read())"),
])
def test_a_file_written_by_one_cell_links_its_readers_whatever_its_name(writer, reader):
    nb = notebook("import numpy as np, pandas as pd, os\nNAME = 'n'\na = df = 1", writer, "other = 2", reader)
    assert select_targeted(nb, ["c1"], previous=nb).cell_ids == ids(0, 1, 3)
    assert select_targeted(nb, ["c3"], previous=nb).cell_ids == ids(0, 1, 3)  # the writer runs first


def test_a_file_nobody_writes_is_an_input_not_an_unbound_name():
    nb = notebook("import pandas as pd", "df = pd.read_csv('input.csv')", "x = 1", "print(x)")
    assert select_targeted(nb, ["c2"], previous=nb).cell_ids == ids(2, 3)


# --- cells that set library-wide state are set-up cells of every targeted run ---

@pytest.mark.parametrize("setup", [
    "plt.style.use('fivethirtyeight')",
    "plt.rcParams['figure.autolayout'] = True",
    "plt.rcParams.update({'figure.autolayout': True})",
    "pd.set_option('display.max_rows', 5)",
    "pd.options.display.precision = 2",
    "np.random.seed(0)",
    "warnings.filterwarnings('ignore')",
    "from sklearn import set_config\nset_config(display='text')",
    "sns.set_theme()",
    "torch.manual_seed(0)",
    "np.set_printoptions(precision=3)",
    "def configure():\n    plt.style.use('ggplot')\nconfigure()",
])
def test_library_state_cells_run_before_every_targeted_selection(setup):
    nb = notebook("import numpy as np, pandas as pd, warnings\nimport matplotlib.pyplot as plt",
                  setup, "data = [1, 2]", "print(data)")
    selection = select_targeted(nb, ["c3"], previous=nb)
    # the set-up cell runs (with the imports it reads, if any) although cell 3 names nothing it binds
    assert [c for c in selection.cell_ids if c != "c0"] == ids(1, 2, 3)
    assert "library-wide" in selection.reasons["c1"]


def test_a_function_that_sets_library_state_makes_its_callers_set_up_cells():
    nb = notebook("import matplotlib.pyplot as plt", "def configure():\n    plt.style.use('ggplot')",
                  "configure()", "data = [1]", "print(data)")
    selection = select_targeted(nb, ["c4"], previous=nb)
    assert selection.cell_ids == ids(0, 1, 2, 3, 4) and "configure" in selection.reasons["c2"]


def test_editing_a_set_up_cell_reruns_everything_after_it():
    before = notebook("import matplotlib.pyplot as plt", "plt.style.use('ggplot')", "x = 1", "print(2)")
    after = edited(before, 1, "plt.style.use('classic')")
    assert select_targeted(after, ["c1"], previous=before).cell_ids == ids(0, 1, 2, 3)
    # also when the edit removes the setting: the old version set library state
    after = edited(before, 1, "pass")
    assert select_targeted(after, ["c1"], previous=before).cell_ids == ids(1, 2, 3)  # nothing reads plt now


def test_namespace_listings_read_every_name():
    nb = notebook("x = 1", "%whos", "y = 2", "%who")
    assert select_targeted(nb, ["c2"], previous=nb).cell_ids == ids(0, 2, 3)
    assert select_targeted(nb, ["c0"], previous=nb).cell_ids == ids(0, 1, 2, 3)  # %who lists y too


def test_a_comment_only_edit_selects_the_edited_cell_and_its_set_up():
    nb = notebook("import matplotlib.pyplot as plt", "plt.style.use('ggplot')", "fig, ax = plt.subplots()",
                  "print(fig.canvas.get_supported_filetypes())")
    after = edited(nb, 3, "# reviewed\n" + nb.cells[3].source)
    assert select_targeted(after, ["c3"], previous=nb).cell_ids == ids(0, 1, 2, 3)


# --- property: on generated notebooks, targeted ⊇ what a full run shows necessary ---

NAMES = ["a", "b", "c"]
name = st.sampled_from(NAMES)
small = st.integers(0, 3)
FILES = ["f_one", "f_two.txt", "sub/f_one"]
statement = st.one_of(
    st.builds("{} = {}".format, name, small),
    st.builds("{} = {} + {}".format, name, name, name),
    st.builds("box.append({})".format, name),
    st.builds("alias = box".format),
    st.builds("alias.append({})".format, name),
    st.builds("alias = [{}]".format, name),
    st.builds("{} = len(box)".format, name),
    st.builds("if {} > {}:\n    del {}".format, name, small, name),
    st.builds("open({!r}, 'w').write(str({}))".format, st.sampled_from(FILES), name),
    st.builds("{} = int(open({!r}).read() or 0) if os.path.exists({!r}) else -1".format,
              name, st.sampled_from(FILES), st.sampled_from(FILES)),
    st.builds("os.remove({0!r}) if os.path.exists({0!r}) else None".format, st.sampled_from(FILES)),
    st.builds("random.seed({})".format, small),
    st.builds("{} = random.randint(0, 9)".format, name),
    st.builds("STATE['scale'] = {}".format, small),
    st.builds("{} = {} * STATE['scale']".format, name, name),
)
PROLOGUE = "import os, random\nos.makedirs('sub', exist_ok=True)\na = b = c = 1\nbox = []\nSTATE = {'scale': 1}"


def _observe(sources, only=None):
    """Run cells like a kernel would, in a fresh namespace; per cell, what it read and whether it raised.

    A cell's behaviour is a function of what it reads (names, the files it names, the module RNG's
    state if it draws from it), so equal inputs mean equal behaviour.
    """
    ns = {}
    seen = {}
    random_module.seed(12345)  # the module-level RNG stands for library-wide state
    for i, src in enumerate(sources):
        if only is not None and f"c{i}" not in only:
            continue
        tree = ast.parse(src)
        reads = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        named = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in FILES}
        inputs = {k: (list(ns[k]) if isinstance(ns[k], list) else ns[k]) for k in sorted(reads)
                  if k in ns and k not in ("os", "random")}
        files = {f: (open(f).read() if os.path.exists(f) else None) for f in sorted(named)}
        rng = random_module.getstate() if "random.randint" in src else None  # seeding reads no state
        try:
            exec(src, ns)
            outcome = None
        except Exception as exc:  # noqa: BLE001 - the error itself is the observed behaviour
            outcome = type(exc).__name__
        seen[i] = (outcome, repr(inputs), repr(files), rng)
        if outcome:
            break
    return seen


@settings(max_examples=int(os.environ.get("CODEX_NB_PROPERTY_EXAMPLES", 200)), deadline=None)
@given(body=st.lists(statement, min_size=2, max_size=7), data=st.data())
def test_targeted_covers_every_cell_a_full_run_shows_changed(tmp_path_factory, body, data):
    workdir = tmp_path_factory.mktemp("cells")
    cells = [PROLOGUE, *body]
    k = data.draw(st.integers(1, len(cells) - 1), label="edited cell")
    new = list(cells)
    new[k] = data.draw(statement, label="new source")
    before, after = notebook(*cells), notebook(*new)
    cwd = os.getcwd()
    try:
        for run_dir in ("before", "after", "subset"):
            (workdir / run_dir).mkdir()
        os.chdir(workdir / "before")
        full_before = _observe(cells)
        assume(all(outcome is None for outcome, *_ in full_before.values()))
        os.chdir(workdir / "after")
        full_after = _observe(new)
        selection = select_targeted(after, [f"c{k}"], previous=before)
        os.chdir(workdir / "subset")
        subset = _observe(new, only=set(selection.cell_ids))
    finally:
        os.chdir(cwd)
    # 1. Every cell whose behaviour the edit changed is selected.
    for i in range(k, len(cells)):
        if i in full_after and full_before.get(i) != full_after[i]:
            assert f"c{i}" in selection.cell_ids, (i, cells, new, selection.reasons)
    # 2. Each selected cell fails in the targeted run exactly when it fails in the full run.
    for i, observed in subset.items():
        if i in full_after:
            assert observed[0] == full_after[i][0], (i, cells, new, selection.reasons)
    first_failure = next((i for i, o in full_after.items() if o[0]), None)
    if first_failure is not None and f"c{first_failure}" in selection.cell_ids:
        assert subset.get(first_failure, (None,))[0] == full_after[first_failure][0]
