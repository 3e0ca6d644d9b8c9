"""Proposal functions: parse, ops, apply, rollback, diffs, file patches — pure, no kernel."""
import copy
import json

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from codex_nb.edits.diff import proposal_diffs, render_text
from codex_nb.edits.files import apply_unified_diff, confined_path, plan_file_edits
from codex_nb.edits.live_ops import apply_ops, apply_proposal, inverse_ops, proposal_ops
from codex_nb.edits.model import DeleteCell, InsertCell, PatchFile, Proposal, ReplaceCell, proposal_json_schema
from codex_nb.edits.parse import parse_answer
from codex_nb.edits.schema import answer_schema
from codex_nb.errors import EditRefused, NotebookError, ProposalError
from codex_nb.notebook_io import parse_notebook, source_hash


def make_nb():
    nb = new_notebook()
    cells = [new_markdown_cell("# Title"), new_code_cell("x = 1\ny = 2"), new_code_cell("print(x + y)")]
    for cid, cell in zip(["m1", "c1", "c2"], cells):
        cell["id"] = cid
    cells[2]["outputs"] = [new_output("stream", name="stdout", text="3\n")]
    cells[2]["execution_count"] = 2
    cells[1]["metadata"] = {"tags": ["setup"]}
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def answer(*edits, explanation="because"):
    return json.dumps({"explanation": explanation, "edits": list(edits)})


def test_parse_structured_answer_fills_hashes_and_new_ids():
    nb = make_nb()
    p = parse_answer(answer({"op": "replace", "cell_id": "c2", "cell_type": "code", "source": "print(x * y)"},
                            {"op": "insert", "cell_id": "end", "cell_type": "markdown", "source": "done"}), nb, model="m")
    replace, insert = p.edits
    assert isinstance(replace, ReplaceCell) and replace.base_hash == source_hash("print(x + y)")
    assert replace.cell_type is None  # unchanged type is not recorded as a change
    assert isinstance(insert, InsertCell) and insert.after is None and insert.new_id not in {"m1", "c1", "c2"}
    assert p.explanation == "because" and p.model == "m"


def test_parse_falls_back_to_fenced_code_blocks():
    text = "Here you go:\n```python\nimport matplotlib.pyplot as plt\nplt.plot(df.x, df.y)\n```\nEnjoy."
    p = parse_answer(text, make_nb())
    assert [e.op for e in p.edits] == ["insert"]
    assert p.edits[0].source.startswith("import matplotlib")
    assert "Enjoy" in p.explanation


def test_parse_finds_json_inside_prose_and_fences():
    wrapped = "Sure!\n```json\n" + answer({"op": "delete", "cell_id": "c1", "cell_type": "code", "source": ""}) + "\n```"
    assert [e.op for e in parse_answer(wrapped, make_nb()).edits] == ["delete"]


@pytest.mark.parametrize("text, needle", [
    ("not json and no code", "not valid JSON"),
    (answer({"op": "replace", "cell_id": "nope", "cell_type": "code", "source": "1"}), "unknown cell id 'nope'"),
    (answer({"op": "insert", "cell_id": "ghost", "cell_type": "code", "source": "1"}), "unknown cell id 'ghost'"),
    (answer({"op": "explode", "cell_id": "c1", "cell_type": "code", "source": "1"}), "unknown op"),
    (answer({"op": "replace", "cell_id": "c1", "cell_type": "html", "source": "1"}), "cell_type"),
    ('{"explanation": "x", "edits": "all of them"}', "must be a list"),
    ("x" * 300_000, "too long"),
    (b"\xff\xfe{}", "not UTF-8"),
])
def test_parse_rejects_bad_answers_with_a_hint(text, needle):
    with pytest.raises(ProposalError) as info:
        parse_answer(text, make_nb())
    assert needle in str(info.value)
    assert info.value.hint


def test_truncated_answer_is_reported_as_truncated():
    with pytest.raises(ProposalError, match="cut off"):
        parse_answer('{"explanation": "x", "edits": [{"op": "ins', make_nb(), finish_reason="length")


def test_unknown_cell_hint_lists_real_ids():
    with pytest.raises(ProposalError) as info:
        parse_answer(answer({"op": "delete", "cell_id": "zz", "cell_type": "code", "source": ""}), make_nb())
    assert "m1, c1, c2" in info.value.hint


def test_answer_schema_enumerates_real_ids_and_bounds_strings():
    schema = answer_schema(["a", "b"])
    item = schema["properties"]["edits"]["items"]
    assert item["properties"]["cell_id"]["enum"] == ["a", "b", "end"]
    assert item["properties"]["source"]["maxLength"] > 0
    assert schema["properties"]["edits"]["maxItems"] > 0
    with_files = answer_schema(["a"], file_paths=["pkg/io.py"])
    assert with_files["properties"]["edits"]["items"]["anyOf"][1]["properties"]["path"]["enum"] == ["pkg/io.py"]


def test_apply_replace_clears_outputs_and_keeps_metadata_and_rollback_is_exact():
    nb = make_nb()
    p = Proposal("x", (ReplaceCell("c2", "print(x * y)", source_hash("print(x + y)")),))
    new, undo = apply_proposal(nb, p)
    cell = new.cells[2]
    assert cell["source"] == "print(x * y)" and cell["outputs"] == [] and cell["execution_count"] is None
    assert cell["id"] == "c2"
    assert nb.cells[2]["source"] == "print(x + y)"  # input untouched
    assert apply_ops(new, undo) == nb


def test_apply_is_all_or_nothing_when_one_edit_is_stale():
    nb = make_nb()
    before = copy.deepcopy(nb)
    p = Proposal("x", (InsertCell("a = 1", after="c1"), ReplaceCell("c2", "zzz", base_hash="0000000000000000")))
    with pytest.raises(EditRefused, match="stale"):
        apply_proposal(nb, p)
    assert nb == before


def test_insert_before_after_end_and_type_change():
    nb = make_nb()
    p = Proposal("x", (
        InsertCell("first", cell_type="markdown", before="m1", new_id="n0"),
        InsertCell("middle", after="c1", new_id="n1"),
        InsertCell("last", new_id="n2"),
        InsertCell("after new", after="n1", new_id="n3"),
        ReplaceCell("c1", "# now prose", source_hash("x = 1\ny = 2"), cell_type="markdown"),
        DeleteCell("m1", source_hash("# Title")),
    ))
    new, undo = apply_proposal(nb, p)
    assert [c["id"] for c in new.cells] == ["n0", "c1", "n1", "n3", "c2", "n2"]
    assert new.cells[1]["cell_type"] == "markdown" and "outputs" not in new.cells[1]
    nbformat.validate(new)
    assert apply_ops(new, undo) == nb


def test_refuses_unknown_anchor_and_duplicate_new_id():
    nb = make_nb()
    with pytest.raises(EditRefused, match="gone"):
        proposal_ops(nb, Proposal("x", (InsertCell("a", after="ghost"),)))
    with pytest.raises(EditRefused, match="already exists"):
        proposal_ops(nb, Proposal("x", (InsertCell("a", new_id="c1"),)))


@pytest.mark.parametrize("edit, needle, hint", [
    (InsertCell("a", new_id="has space"), "new_id", "nbformat's rule"),
    (InsertCell("a", new_id="x" * 65), "new_id", "nbformat's rule"),
    (InsertCell("a", cell_type="heading"), "cell_type", "code, markdown and raw"),
    (ReplaceCell("c1", "b", source_hash("x = 1\ny = 2"), cell_type="python"), "cell_type", "code, markdown and raw"),
    (InsertCell("a", after="m1", before="c1"), "both", "not both"),
])
def test_hand_edited_proposals_that_would_make_an_invalid_notebook_are_refused(edit, needle, hint, tmp_path):
    from codex_nb.engine import accept_file

    nb = make_nb()
    proposal = Proposal.from_json(Proposal("x", (edit,)).to_json())  # as read back from a hand-edited file
    with pytest.raises(EditRefused, match=needle) as refused:
        proposal_ops(nb, proposal)
    assert hint in refused.value.hint
    path = tmp_path / "a.ipynb"
    nbformat.write(nb, path)
    before = path.read_bytes()
    outcome = accept_file(path, proposal, repo_root=tmp_path, validate=False)
    assert outcome.status == "refused" and needle in outcome.reason
    assert path.read_bytes() == before


def test_an_undo_that_could_not_be_applied_refuses_the_edit_up_front():
    nb = make_nb()
    nb.cells[2]["metadata"] = {"tags": "not-a-list"}  # nbformat wants a list: restoring it would be refused
    with pytest.raises(EditRefused, match="could not be put back exactly"):
        inverse_ops(nb, Proposal("x", (ReplaceCell("c2", "print(0)", source_hash("print(x + y)")),)))


def test_proposal_json_round_trip_and_schema():
    p = Proposal("x", (InsertCell("a", after="c1"), ReplaceCell("c1", "b", "h"), DeleteCell("c2", "h"),
                       PatchFile("pkg/a.py", search="a", replace="b")), model="local:smollm2")
    again = Proposal.from_json(json.loads(json.dumps(p.to_json())))
    assert again == p
    import jsonschema  # installed with nbformat
    jsonschema.validate(p.to_json(), proposal_json_schema())


def test_from_json_rejects_future_versions_and_unknown_ops():
    with pytest.raises(ProposalError, match="version 9"):
        Proposal.from_json({"version": 9, "explanation": "", "edits": []})
    with pytest.raises(ProposalError, match="unknown op"):
        Proposal.from_json({"version": 1, "explanation": "", "edits": [{"op": "rm -rf"}]})


def test_diffs_are_data_and_render_as_text():
    nb = make_nb()
    p = Proposal("x", (ReplaceCell("c2", "print(x * y)", source_hash("print(x + y)")), InsertCell("z = 3", after="c2")))
    diffs = proposal_diffs(nb, p)
    assert diffs[0]["title"] == "Change cell [3] (In [2]) “print(x + y)”"
    assert "c2" not in diffs[0]["title"] and diffs[0]["cell_id"] == "c2"  # the id is data, not text
    assert diffs[0]["unified"].startswith("--- a/cell [3] (In [2])\n+++ b/cell [3] (In [2])\n")
    assert "-print(x + y)" in diffs[0]["unified"] and "+print(x * y)" in diffs[0]["unified"]
    assert diffs[1]["old"] == "" and diffs[1]["new"] == "z = 3" and "after cell [3]" in diffs[1]["title"]
    text = render_text(diffs)
    assert "[1] Change cell [3]" in text and "+z = 3" in text


def test_notebooks_without_ids_are_upgraded():
    old = {"nbformat": 4, "nbformat_minor": 2, "metadata": {},
           "cells": [{"cell_type": "code", "metadata": {}, "source": "1", "outputs": [], "execution_count": None}]}
    nb = parse_notebook(json.dumps(old))
    assert nb.nbformat_minor == 5 and nb.cells[0]["id"]
    with pytest.raises(NotebookError, match="not a valid notebook"):
        parse_notebook("{not json")


# -- file patches ---------------------------------------------------------------------------------------

def test_file_patch_confined_to_repository(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("def f():\n    return 1\n")
    outside = tmp_path.parent / "outside.py"
    (tmp_path / "link").symlink_to(tmp_path.parent)
    for bad in ("../outside.py", str(outside), "link/outside.py", ".git/config", ".env", ""):
        with pytest.raises(EditRefused):
            confined_path(tmp_path, bad)
    plan = plan_file_edits(tmp_path, [PatchFile("pkg/a.py", search="return 1", replace="return 2")])
    (path, (old, new)), = plan.items()
    assert old == b"def f():\n    return 1\n" and new == b"def f():\n    return 2\n"


def test_search_replace_must_match_exactly_once(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\nx = 1\n")
    with pytest.raises(EditRefused, match="2 times"):
        plan_file_edits(tmp_path, [PatchFile("a.py", search="x = 1", replace="y")])
    with pytest.raises(EditRefused, match="not found"):
        plan_file_edits(tmp_path, [PatchFile("a.py", search="z", replace="y")])


def test_unified_diff_applies_strictly():
    text = "a\nb\nc\nd\n"
    diff = "--- a/f\n+++ b/f\n@@ -2,2 +2,2 @@\n b\n-c\n+C\n"
    assert apply_unified_diff(text, diff) == "a\nb\nC\nd\n"
    with pytest.raises(EditRefused, match="does not match"):
        apply_unified_diff("a\nX\nc\n", diff)
    assert apply_unified_diff("", "@@ -0,0 +1,2 @@\n+new\n+file\n") == "new\nfile\n"


# -- property: rollback gives back the original exactly ---------------------------------------------

sources = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@st.composite
def notebooks_and_proposals(draw):
    nb = new_notebook()
    n = draw(st.integers(1, 6))
    for i in range(n):
        cell = draw(st.sampled_from([new_code_cell, new_markdown_cell]))(draw(sources))
        cell["id"] = f"cell{i}"
        if cell["cell_type"] == "code" and draw(st.booleans()):
            cell["outputs"] = [new_output("stream", name="stdout", text=draw(sources))]
            cell["execution_count"] = draw(st.integers(1, 99))
        cell["metadata"] = draw(st.sampled_from([{}, {"tags": ["t"]}, {"collapsed": True}]))
        nb.cells.append(cell)
    ids = [c["id"] for c in nb.cells]
    live = list(ids)
    edits = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["insert", "replace", "delete"]))
        if kind == "insert":
            where = draw(st.sampled_from(["after", "before", "end"]))
            anchor = draw(st.sampled_from(live)) if live and where != "end" else None
            edit = InsertCell(draw(sources), draw(st.sampled_from(["code", "markdown"])),
                              after=anchor if where == "after" else None, before=anchor if where == "before" else None)
            live.append(edit.new_id)
        else:
            original = [c for c in ids if c in live]
            if not original:
                continue
            target = draw(st.sampled_from(original))
            base = source_hash(nb.cells[ids.index(target)]["source"])
            if kind == "replace":
                edit = ReplaceCell(target, draw(sources), base, draw(st.sampled_from([None, "code", "markdown"])))
            else:
                edit = DeleteCell(target, base)
                live.remove(target)
            ids = [c if c != target else f"edited:{c}" for c in ids]
        edits.append(edit)
    return nb, Proposal("p", tuple(edits))


@settings(max_examples=200, deadline=None)
@given(notebooks_and_proposals())
def test_rollback_of_an_applied_proposal_is_the_original(case):
    nb, proposal = case
    original = copy.deepcopy(nb)
    new, undo = apply_proposal(nb, proposal)
    nbformat.validate(new)
    assert nb == original
    assert apply_ops(new, undo) == original
    assert nbformat.writes(apply_ops(new, undo)) == nbformat.writes(original)
    # The undo of the undo re-applies the change.
    redo = inverse_ops(new, undo)
    assert apply_ops(apply_ops(new, undo), redo) == new


def test_touched_cells_cover_inserts_replaces_and_what_follows_a_delete():
    from codex_nb.edits.live_ops import touched_cell_ids

    nb = make_nb()
    p = Proposal("x", (InsertCell("z = 0", after="m1", new_id="n1"), DeleteCell("c1", source_hash("x = 1\ny = 2")),
                       ReplaceCell("m1", "# T", source_hash("# Title"))))
    assert touched_cell_ids(nb, p) == ["n1", "c2", "m1"]
    both = Proposal("x", (DeleteCell("c1", source_hash("x = 1\ny = 2")), DeleteCell("c2", source_hash("print(x + y)"))))
    assert touched_cell_ids(nb, both) == []
