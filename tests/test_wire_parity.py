"""The op-parity fixture (tests/data/ops_cases.json) through both appliers.

Python: ``codex_nb.edits.live_ops.apply_ops`` on nbformat objects. TypeScript: the lab
extension's ``applySharedOps`` (labextension/src/ops.ts) on real ``@jupyter/ydoc``
notebooks in Node. Both must refuse a case, or both must give the same cells; every
accepted case is then undone with the inverse ops the Python side computes, on both sides.
"""
import copy
import functools
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from codex_nb.edits.live_ops import apply_ops, inverse_ops, proposal_ops
from codex_nb.edits.model import DeleteCell, InsertCell, Proposal, ReplaceCell
from codex_nb.errors import EditRefused
from codex_nb.notebook_io import source_hash

ROOT = Path(__file__).resolve().parents[1]
LABEXTENSION = ROOT / "labextension"
FIXTURE = json.loads((ROOT / "tests" / "data" / "ops_cases.json").read_text(encoding="utf-8"))
CASES = FIXTURE["cases"]
BY_NAME = {case["name"]: case for case in CASES}


def notebook_of(case) -> nbformat.NotebookNode:
    # Read as a file would be read: nbformat's reader gives the in-memory form both appliers keep.
    return nbformat.reads(json.dumps(FIXTURE["notebooks"][case["notebook"]]), as_version=4)


def cells(nb) -> list[dict]:
    return json.loads(json.dumps(nb["cells"]))


@functools.cache
def python_run(name: str) -> dict:
    """What the Python applier makes of a case: the cells after the ops, and after their inverse."""
    case = BY_NAME[name]
    nb = notebook_of(case)
    original = copy.deepcopy(nb)
    try:
        after = apply_ops(nb, case["ops"])
    except EditRefused as exc:
        assert nb == original, "a refused apply changed its input"
        return {"ok": False, "reason": str(exc)}
    assert nb == original, "apply_ops changed its input"
    undo = inverse_ops(nb, case["ops"])
    return {"ok": True, "after": after, "undo": undo, "back": apply_ops(after, undo)}




def test_fixture_covers_every_op_both_ways():
    kinds = {}
    for case in CASES:
        for op in case["ops"] if isinstance(case["ops"], list) else []:
            if isinstance(op, dict) and op.get("op") in ("insert", "replace", "delete", "restore", "remove"):
                kinds.setdefault(op["op"], set()).add(case["expect"])
    assert kinds == {kind: {"ok", "refused"} for kind in ("insert", "replace", "delete", "restore", "remove")}
    assert len({case["name"] for case in CASES}) == len(CASES), "case names must be unique"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_python_applier(case):
    result = python_run(case["name"])
    assert result["ok"] == (case["expect"] == "ok"), result.get("reason")
    if not result["ok"]:
        return
    nbformat.validate(result["after"])  # every notebook an apply produces is a valid notebook
    if "expect_ids" in case:
        assert [c["id"] for c in result["after"].cells] == case["expect_ids"]
    assert cells(result["back"]) == cells(notebook_of(case)), "the inverse ops did not give back the original"
    nbformat.validate(result["back"])


def random_cases(count: int, seed: int = 11) -> list[dict]:
    """Seeded random batches over the fixture's notebooks, as a proposal would make them plus moves and removes
    (what the fixture does not think of, the random batches may)."""
    rng = random.Random(seed)
    cases = []
    for k in range(count):
        name = rng.choice(["basic", "basic without c1", "one cell"])
        nb = nbformat.reads(json.dumps(FIXTURE["notebooks"][name]), as_version=4)
        ids = [c["id"] for c in nb.cells]
        edits = []
        for j in range(rng.randint(1, 5)):
            kind = rng.choice(["insert", "insert", "replace", "delete"])
            if kind == "insert" or not ids:
                anchor = rng.choice(ids + [None]) if ids else None
                where = rng.choice(["after", "before"])
                edits.append(InsertCell(rng.choice(["a = 1", "# note", "", "ünï"]), rng.choice(["code", "markdown", "raw"]),
                                        after=anchor if where == "after" else None,
                                        before=anchor if where == "before" else None, new_id=f"r{k}-{j}"))
                continue
            target = ids.pop(rng.randrange(len(ids)))
            base = source_hash(next(c for c in nb.cells if c["id"] == target)["source"])
            edits.append(ReplaceCell(target, rng.choice(["b = 2", "## head", "raw"]), base,
                                     rng.choice([None, "code", "markdown", "raw"])) if kind == "replace"
                         else DeleteCell(target, base))
        ops = proposal_ops(nb, Proposal("random", tuple(edits)))
        if nb.cells and rng.random() < 0.5:  # move an existing cell somewhere else, exactly
            cell = rng.choice(nb.cells)
            ops.append({"op": "restore", "index": rng.randint(0, len(nb.cells) + 1), "cell": json.loads(json.dumps(cell))})
        cases.append({"name": f"random {k}", "notebook": name, "ops": ops, "expect": "ok"})
    return cases


RANDOM = random_cases(120)
BY_NAME.update({case["name"]: case for case in RANDOM})


@pytest.mark.parametrize("case", RANDOM, ids=[c["name"] for c in RANDOM])
def test_python_applier_on_random_batches(case):
    test_python_applier(case)


@pytest.fixture(scope="module")
def typescript_results(tmp_path_factory):
    """Every case through the TypeScript applier: one Node process for the whole fixture."""
    node = shutil.which("node")
    if node is None or not (LABEXTENSION / "node_modules").is_dir():
        reason = "node and labextension/node_modules are needed (run .ci/setup)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    jlpm = Path(sys.executable).with_name("jlpm")
    build = subprocess.run([str(jlpm) if jlpm.exists() else "jlpm", "build:test"], cwd=LABEXTENSION,
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, f"jlpm build:test failed:\n{build.stdout}\n{build.stderr}"
    runs = []
    for case in CASES + RANDOM:
        steps = [case["ops"]]
        if python_run(case["name"])["ok"]:
            steps.append(python_run(case["name"])["undo"])
        runs.append({"name": case["name"], "notebook": FIXTURE["notebooks"][case["notebook"]], "steps": steps})
    path = tmp_path_factory.mktemp("parity") / "runs.json"
    path.write_text(json.dumps(runs), encoding="utf-8")
    out = subprocess.run([node, "test/parity.mjs", str(path)], cwd=LABEXTENSION, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, f"the Node runner failed:\n{out.stderr}"
    return {run["name"]: run["steps"] for run in json.loads(out.stdout)}


@pytest.mark.parametrize("case", CASES + RANDOM, ids=[c["name"] for c in CASES + RANDOM])
def test_typescript_applier_gives_the_python_notebook(case, typescript_results):
    python, steps = python_run(case["name"]), typescript_results[case["name"]]
    original = cells(notebook_of(case))
    applied = steps[0]
    assert applied["ok"] == python["ok"], (
        f"Python {'applied' if python['ok'] else 'refused: ' + python['reason']}; "
        f"TypeScript {'applied' if applied['ok'] else 'refused: ' + str(applied['reason'])}")
    if not python["ok"]:
        assert applied["cells"] == original, "a refused batch changed the live notebook"
        return
    assert applied["cells"] == cells(python["after"])
    undone = steps[1]
    assert undone["ok"], undone["reason"]
    assert undone["cells"] == original
