"""Large request bodies are parsed in slices (codex_nb/server/sliced_json.py) with the result json.loads gives.

A tiny window makes every kind of cut happen (numbers, escapes, surrogate pairs, containers,
whitespace); the server test sends a live notebook far larger than one window through a real chat.
"""
from __future__ import annotations

import inspect
import json
import random

import nbformat
import pytest

from pytest_jupyter.jupyter_server import *  # noqa: F401,F403
from test_server import events, in_loop, jp_server_config, notebook, post  # noqa: F401 (fixtures)

from codex_nb.limits import TooDeep, TooManyValues
from codex_nb.server import sliced_json

SCALARS = [0, 1, -2.5e10, 1.5, 1e-7, 12345678901234567890, True, False, None, "", "plain text",
           'quote " backslash \\ newline \n tab \t', "é ☃ \u2028", "😀 astral", "x" * 70, "\\u00e9 literal"]
KEYS = ["k", "é", 'q"', ""]


def _document(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth > 5 or roll < 0.35:
        return rng.choice(SCALARS)
    if roll < 0.65:
        return [_document(rng, depth + 1) for _ in range(rng.randint(0, 6))]
    return {rng.choice(KEYS) + str(i): _document(rng, depth + 1) for i in range(rng.randint(0, 6))}


def _parse(text: str):
    result = sliced_json.SlicedResult()
    for _ in sliced_json.parse_sliced(text, "the test document", result):
        pass
    return result.value


@pytest.fixture
def tiny_window(monkeypatch):
    def use(size):
        monkeypatch.setattr(sliced_json, "WINDOW", size)
    return use


@pytest.mark.parametrize("window", [16, 17, 23, 64, 8192])
def test_every_cut_gives_what_json_loads_gives(tiny_window, window):
    tiny_window(window)
    rng = random.Random(window)
    for _ in range(150):
        doc = _document(rng)
        for text in (json.dumps(doc), json.dumps(doc, indent=2), json.dumps(doc, ensure_ascii=False),
                     json.dumps(doc, separators=(",", ":"))):
            assert _parse(text) == json.loads(text)


@pytest.mark.parametrize("text", ['[1,]', '{"a" 1}', '{"a":1,}', '[1 2]', '"abc', '["\\x"]', '{1:2}', '[1]x', '',
                                  '["a\x01"]', 'tru', '[-]', '[' + '"long", ' * 20 + '"unterminated]'])
@pytest.mark.parametrize("window", [16, 8192])
def test_malformed_json_is_reported_as_json_loads_reports_it(tiny_window, window, text):
    tiny_window(window)
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        _parse(text)
    assert (got.value.msg, got.value.pos) == (expected.value.msg, expected.value.pos)


@pytest.mark.parametrize("piece", [1, 5, 64])
def test_a_document_in_pieces_gives_what_json_loads_gives(tiny_window, piece):
    # the server decodes a body 64 KB at a time and never joins it: every read may cross a piece's end
    tiny_window(17)
    rng = random.Random(piece)
    for _ in range(100):
        text = json.dumps(_document(rng), ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 1]))
        assert _parse([text[i:i + piece] for i in range(0, len(text), piece)]) == json.loads(text)
    for bad in ('[1,\n 2,\n]', '{"a": "unterminated', '[' + '1' * 40 + 'x]'):
        with pytest.raises(json.JSONDecodeError) as expected:
            json.loads(bad)
        with pytest.raises(json.JSONDecodeError) as got:
            _parse([bad[i:i + piece] for i in range(0, len(bad), piece)])
        assert str(got.value) == str(expected.value)  # same message, line, column and position


@pytest.mark.parametrize("window", [16, 8192])
def test_values_are_counted_as_they_are_read(tiny_window, window):
    tiny_window(window)
    text = json.dumps({"rows": [[i, {"k": "v"}] for i in range(300)]})
    result = sliced_json.SlicedResult()
    for _ in sliced_json.parse_sliced(text, "the test document", result, max_values=1 + 1 + 300 * 4):
        pass
    assert result.value == json.loads(text)  # exactly at the limit: allowed
    with pytest.raises(TooManyValues) as exc:
        for _ in sliced_json.parse_sliced(text, "the test document", sliced_json.SlicedResult(), max_values=500):
            pass
    assert exc.value.limit == 500 and 500 < exc.value.count < 500 + window


def test_deep_nesting_stops_at_the_depth_limit(tiny_window):
    tiny_window(64)
    with pytest.raises(TooDeep):
        _parse("[" * 5000 + "]" * 5000)
    assert _parse("[" * 90 + "]" * 90) == json.loads("[" * 90 + "]" * 90)


async def test_a_live_notebook_of_megabytes_reaches_the_model_intact(jp_fetch, notebook, scripted_llm):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"value_{i} = {i}  # é ☃ \\ \"quoted\"", id=f"c{i}") for i in range(8_000)]
    nb.cells.append(nbformat.v4.new_code_cell("the_last_cell = 'tail marker'", id="last"))
    body = {"kind": "ask", "instruction": "what does the last cell do?", "path": "sub/nb.ipynb",
            "active_cell": "last", "notebook": json.loads(nbformat.writes(nb))}
    assert len(json.dumps(body)) > 1_000_000
    scripted_llm.queue("It sets a marker.")
    evs = events((await post(jp_fetch, "chat", body)).body)
    assert evs[-1][0] == "done", evs[-1]
    sent = json.dumps(scripted_llm.requests[-1])
    assert "the_last_cell = 'tail marker'" in sent


for _name, _fn in list(globals().items()):
    if _name.startswith("test_") and inspect.iscoroutinefunction(_fn):
        globals()[_name] = in_loop(_fn)
