"""The wire contract: the schema generated from the data classes, the TypeScript types generated from it,
and real messages of every root checked against it."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from codex_nb.edits.live_ops import inverse_ops, proposal_ops
from codex_nb.edits.model import Proposal, proposal_json_schema
from codex_nb.edits.parse import parse_answer
from codex_nb.engine.gates import GateResult
from codex_nb.validate.api import validate_notebook
from codex_nb.wire.registry import ROOTS, schema_roots
from codex_nb.wire.schema import root_schema, schema_text, wire_schema

ROOT = Path(__file__).resolve().parents[1]
LABEXTENSION = ROOT / "labextension"
SCHEMA_FILE = LABEXTENSION / "src" / "wire.schema.json"
TYPES_FILE = LABEXTENSION / "src" / "wire.ts"
STALE = "is stale: run `jlpm gen:types` in labextension/ and commit the result"


def validator(root: str):
    return jsonschema.Draft202012Validator(root_schema(root))


def test_checked_in_schema_is_generated_from_the_data_classes():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), f"{SCHEMA_FILE.name} {STALE}"


def test_checked_in_typescript_types_are_generated_from_the_schema(tmp_path):
    node = shutil.which("node")
    if node is None or not (LABEXTENSION / "node_modules").is_dir():
        reason = "node and labextension/node_modules are needed (run .ci/setup)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    run = subprocess.run([node, "scripts/gen-types.mjs", "--python", sys.executable, "--out-dir", str(tmp_path)],
                         cwd=LABEXTENSION, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    for name in ("wire.schema.json", "wire.ts"):
        fresh = (tmp_path / name).read_text(encoding="utf-8")
        assert (LABEXTENSION / "src" / name).read_text(encoding="utf-8") == fresh, f"{name} {STALE}"


def test_schema_output_is_deterministic_and_a_valid_2020_12_schema():
    assert schema_text() == schema_text()
    schema = json.loads(schema_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert list(schema["$defs"]) == sorted(schema["$defs"])


def test_every_root_is_a_named_definition_and_a_named_typescript_type():
    schema = wire_schema()
    types = TYPES_FILE.read_text(encoding="utf-8")
    assert types.startswith("/* eslint-disable */") and "do not edit" in types.splitlines()[3]
    names = [*ROOTS, *schema_roots()]
    assert [ref["$ref"] for ref in schema["anyOf"]] == [f"#/$defs/{name}" for name in names]
    for name in names:
        assert name in schema["$defs"]
        assert re.search(rf"^export (type|interface) {name}\b", types, re.M), f"wire.ts has no type {name}"
    assert "export type WireMessage = " + " | ".join(names) + ";" in re.sub(r"=\s+", "= ", types)


def test_the_contract_has_no_any():
    for path in (TYPES_FILE, LABEXTENSION / "src" / "ops.ts"):
        code = path.read_text(encoding="utf-8")
        assert not re.search(r"(:\s*any\b|\bas any\b|<any>)", code), f"{path.name} uses `any` at the wire contract"
    ops_ts = (LABEXTENSION / "src" / "ops.ts").read_text(encoding="utf-8")
    assert "export type { LiveOp } from './wire';" in ops_ts


# -- real messages of every root against the schema -------------------------------------------------

def notebook():
    nb = new_notebook()
    cells = [new_markdown_cell("# Title"), new_code_cell("x = 1"), new_code_cell("print(x)")]
    for cid, cell in zip(["m1", "c1", "c2"], cells):
        cell["id"] = cid
    cells[2]["outputs"] = [new_output("stream", name="stdout", text="1\n"),
                           new_output("display_data", data={"text/plain": "fig", "image/png": "iVBOR"})]
    cells[2]["execution_count"] = 3
    cells[1]["metadata"] = {"tags": ["setup"]}
    nb.cells = cells
    return nb


def model_answer():
    return json.dumps({"explanation": "square it", "edits": [
        {"op": "replace", "cell_id": "c2", "cell_type": "code", "source": "print(x ** 2)"},
        {"op": "insert", "cell_id": "m1", "cell_type": "markdown", "source": "Squares"},
        {"op": "delete", "cell_id": "c1", "cell_type": "code", "source": ""},
        {"op": "patch_file", "path": "pkg/io.py", "search": "return 1", "replace": "return 2"}]})


def test_proposals_and_their_ops_match_the_schema():
    nb = notebook()
    proposal = parse_answer(model_answer(), nb, model="local:smollm2", file_hash=lambda path: "0" * 64)
    assert [e.op for e in proposal.edits] == ["replace", "insert", "delete", "patch_file"]
    data = proposal.to_json()
    validator("Proposal").validate(data)
    jsonschema.validate(data, proposal_json_schema())
    assert Proposal.from_json(json.loads(json.dumps(data))) == proposal
    ops = proposal_ops(nb, proposal)
    undo = inverse_ops(nb, ops)
    assert {op["op"] for op in ops + undo} == {"insert", "replace", "delete", "restore", "remove"}
    ops_validator = validator("LiveOp")
    for op in ops + undo:
        ops_validator.validate(op)


def test_the_schema_rejects_what_the_appliers_refuse():
    ops_validator = validator("LiveOp")
    good = {"op": "insert", "new_id": "n1", "after": None, "before": None, "cell_type": "code", "source": ""}
    assert ops_validator.is_valid(good)
    for bad in ({**good, "new_id": "a b"}, {**good, "new_id": "x" * 65}, {**good, "cell_type": "heading"},
                {k: v for k, v in good.items() if k != "after"}, {**good, "op": "move"}):
        assert not ops_validator.is_valid(bad), bad
    proposal = Proposal("p").to_json()
    assert not validator("Proposal").is_valid({**proposal, "version": 2})
    assert not validator("Proposal").is_valid({**proposal, "edits": [{"op": "rename", "path": "a"}]})


def test_gate_results_match_the_schema():
    result = GateResult("tests", False, "1 test failed", seconds=1.23456, detail={"failed": ["test_a"]},
                        repair_text="AssertionError")
    validator("GateResult").validate(result.to_json())
    validator("GateResult").validate(GateResult("notebook", True, "ok").to_json())


def test_validation_reports_match_the_schema(tmp_path):
    bad = tmp_path / "broken.ipynb"
    bad.write_text("{not json")
    validator("ValidationReport").validate(validate_notebook(bad).to_json())
    nb = new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("1 / 0"), new_code_cell("y = 2", metadata={"tags": ["codex-skip"]})])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "fails.ipynb"
    nbformat.write(nb, path)
    report = validate_notebook(path, cell_timeout=60, total_timeout=120)
    assert not report.ok and report.failed["ename"] == "ZeroDivisionError"
    validator("ValidationReport").validate(json.loads(json.dumps(report.to_json())))
