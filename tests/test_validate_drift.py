"""Output drift comparison (no kernel)."""
from __future__ import annotations

import base64
import struct
import zlib

import nbformat

from codex_nb.validate.drift import compare_cell, output_drift, summarise

new_output = nbformat.v4.new_output


def png(width: int, height: int) -> str:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    body = (chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + body).decode()


def result(text, **data):
    return new_output("execute_result", data={"text/plain": text, **data}, execution_count=1)


def kinds(stored, new, **kw):
    return [d["kind"] for d in compare_cell(stored, new, **kw)]


def test_identical_outputs_and_memory_addresses_do_not_drift():
    a = [result("<Foo object at 0x7f3a2b4c5d60>"), new_output("stream", name="stdout", text="hi\n")]
    b = [result("<Foo object at 0x7f99aa11bb22>"), new_output("stream", name="stdout", text="hi  \n")]
    assert compare_cell(a, b) == []


def test_error_appearing_disappearing_or_changing():
    err = new_output("error", ename="KeyError", evalue="'x'", traceback=[])
    other = new_output("error", ename="ValueError", evalue="", traceback=[])
    assert kinds([], [err]) == ["error_appeared"]
    assert kinds([err], []) == ["error_gone"]
    assert kinds([err], [other]) == ["error_changed"]


def test_text_mime_count_and_image_size_changes():
    assert kinds([result("1")], [result("2")]) == ["text_changed"]
    assert kinds([result("1")], [result("1"), result("1")]) == ["output_count"]
    assert kinds([result("1", **{"text/html": "<b>1</b>"})], [result("1")]) == ["mime_changed"]
    small = [new_output("display_data", data={"image/png": png(3, 2), "text/plain": "<Figure>"})]
    big = [new_output("display_data", data={"image/png": png(6, 4), "text/plain": "<Figure>"})]
    assert summarise(small)["results"][0]["png"] == (3, 2)
    details = compare_cell(small, big)
    assert [d["kind"] for d in details] == ["shape_changed"] and "3×2 px, now 6×4 px" in details[0]["detail"]


def test_timing_cells_compare_structure_but_not_text():
    nb = nbformat.v4.new_notebook()
    timed = nbformat.v4.new_code_cell("%time f()", id="timed", execution_count=1,
                                      outputs=[new_output("stream", name="stdout", text="Wall time: 1 s\n")])
    never_run = nbformat.v4.new_code_cell("print(1)", id="fresh")
    edited = nbformat.v4.new_code_cell("print(2)", id="edited", execution_count=2,
                                       outputs=[new_output("stream", name="stdout", text="1\n")])
    nb.cells = [timed, never_run, edited]
    new = {"timed": [new_output("stream", name="stdout", text="Wall time: 3 s\n")],
           "fresh": [new_output("stream", name="stdout", text="1\n")],
           "edited": [new_output("stream", name="stdout", text="2\n")]}
    assert output_drift(nb, new, edited={"edited"}) == []
    new["timed"] = [new_output("error", ename="NameError", evalue="f", traceback=[])]
    assert output_drift(nb, new, edited={"edited"}) == [
        {"cell_id": "timed", "index": 0, "kind": "error_appeared", "detail": "now raises NameError"}]
