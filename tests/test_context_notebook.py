"""Notebook rendering: ids, trimmed outputs, placeholders, errors, execution order, focus."""
from __future__ import annotations

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from codex_nb.context import build_context
from codex_nb.context.notebook import render_notebook, render_output, trim_text
from codex_nb.context.tokens import count_tokens


def nb_with(*cells):
    nb = new_notebook(cells=list(cells))
    for k, c in enumerate(nb.cells):
        c["id"] = f"id{k:02d}"
    return nb


def test_cells_are_rendered_with_ids_types_and_execution_counts():
    nb = nb_with(new_markdown_cell("# Sales"), new_code_cell("x = 1", execution_count=5), new_code_cell("y = 2"))
    text = render_notebook(nb)
    assert "# cell 1 id=id00 [markdown]\n# Sales" in text
    assert "# cell 2 id=id01 [code] In[5]\nx = 1" in text
    assert "# cell 3 id=id02 [code] In[ ]" in text


def test_long_text_keeps_head_and_tail():
    text = "\n".join(f"line {k}" for k in range(1000))
    out = trim_text(text, max_lines=10)
    assert out.startswith("line 0\n") and out.endswith("line 999")
    assert "[990 lines omitted]" in out
    assert "line 500" not in out


def test_ansi_is_stripped_from_streams_and_tracebacks():
    stream = new_output("stream", name="stdout", text="\x1b[1;31mred alert\x1b[0m\n")
    err = new_output("error", ename="ValueError", evalue="bad \x1b[32mvalue\x1b[0m",
                     traceback=["\x1b[0;31m---------\x1b[0m", "\x1b[0;32m----> 3\x1b[0m raise ValueError('bad')"])
    assert render_output(stream) == "red alert\n"
    rendered = render_output(err)
    assert "\x1b" not in rendered
    assert rendered.startswith("ValueError: bad value") and "----> 3 raise ValueError('bad')" in rendered


def test_images_html_and_widgets_become_placeholders():
    img = new_output("display_data", data={"image/png": "iVBORw0KGgo" * 1000, "text/plain": "<Figure size 640x480>"},
                     metadata={"image/png": {"width": 640, "height": 480}})
    widget = new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "abc"},
                                              "text/plain": "IntSlider(value=3)"})
    html = new_output("display_data", data={"text/html": "<table>" + "<tr></tr>" * 500 + "</table>"})
    assert render_output(img) == "[image/png image 640x480]"
    assert render_output(widget) == "[widget]"
    assert render_output(html) == "[html output]"


def test_errors_with_traceback_are_kept_in_the_cell():
    nb = nb_with(new_code_cell("df['amount']", execution_count=2, outputs=[
        new_output("error", ename="KeyError", evalue="'amount'", traceback=["Traceback", "KeyError: 'amount'"])]))
    text = render_notebook(nb)
    assert "# error:\nKeyError: 'amount'\nTraceback\nKeyError: 'amount'" in text


def test_out_of_order_execution_and_unexecuted_cells_are_noted():
    nb = nb_with(new_code_cell("a = 1", execution_count=7), new_code_cell("b = a", execution_count=3),
                 new_code_cell("c = b"))
    text = render_notebook(nb)
    assert "out of order: cell 2 (In[3]) ran before cell 1 (In[7])" in text
    assert "not executed in this session: 3" in text


def test_cells_near_the_active_one_keep_their_outputs_under_a_tight_budget():
    cells = [new_code_cell(f"step_{k} = compute({k})", execution_count=k + 1, outputs=[
        new_output("stream", name="stdout", text="\n".join(f"result {k}.{j}" for j in range(30)))]) for k in range(20)]
    nb = nb_with(*cells)
    text = render_notebook(nb, active_cell="id15", budget=900)
    assert count_tokens(text) <= 900
    assert "(active: the user is here)" in text
    assert "result 15.29" in text  # the active cell's output survives
    assert "result 0.29" not in text  # a far cell lost its output
    for k in range(20):
        assert f"id=id{k:02d}" in text  # but every cell keeps its id


def test_build_context_reports_cell_ids_and_a_notebook_section(tmp_path):
    nb = nb_with(new_markdown_cell("hello"), new_code_cell("print(1)"))
    ctx = build_context(notebook=nb, query="explain", repo=tmp_path, use_cache=False)
    assert ctx.cell_ids == ["id00", "id01"]
    section = ctx.section("notebook")
    assert section.tokens == count_tokens(section.text) > 0
    assert ctx.render().startswith("=== notebook ===\nNotebook: 2 cells")
    # deterministic: the same input gives the same text
    assert build_context(notebook=nb, query="explain", repo=tmp_path, use_cache=False).render() == ctx.render()


def test_a_huge_notebook_keeps_the_active_cell_and_drops_far_cells():
    cells = [new_code_cell(f"value_{k} = {k}  # step {k}", execution_count=k + 1) for k in range(600)]
    nb = nb_with(*cells)
    nb.cells[590]["id"] = "here"
    nb.cells[590]["source"] = "the_cell_the_user_is_editing = True"
    text = render_notebook(nb, active_cell="here", budget=400)
    assert count_tokens(text) <= 400
    assert "the_cell_the_user_is_editing = True" in text and "(active: the user is here)" in text
    assert "cells omitted" in text


def test_a_notebook_node_without_ids_gets_ids_that_the_context_reports(tmp_path):
    nb = new_notebook(cells=[new_code_cell("a = 1"), new_code_cell("b = 2")])
    nb["nbformat_minor"] = 4
    for c in nb.cells:
        c.pop("id", None)
    ctx = build_context(notebook=nb, query="", repo=tmp_path, use_cache=False)
    assert ctx.cell_ids == [c["id"] for c in nb.cells] and all(ctx.cell_ids)
    for cid in ctx.cell_ids:
        assert f"id={cid}" in ctx.render()
