"""Route tests for inline completion: a real Jupyter server in-process (pytest-jupyter), the model a
scripted OpenAI-compatible server on loopback answering ``/completions``."""
from __future__ import annotations

import asyncio
import inspect
import json
import time

import pytest
from tornado.httpclient import HTTPClientError

from pytest_jupyter.jupyter_server import *  # noqa: E402,F401,F403
from test_server import events, in_loop, post


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"codex_nb": True}}}


@pytest.fixture(autouse=True)
def close_clients(jp_asyncio_loop):
    """The backends' HTTP session belongs to the test's loop: close it before the loop goes."""
    yield
    from codex_nb.providers.clients import close_async_clients

    jp_asyncio_loop.run_until_complete(close_async_clients())


@pytest.fixture
def repo(jp_root_dir, monkeypatch, tmp_path):
    """A repository root with a module the notebook imports; stats go to a temporary file."""
    monkeypatch.setenv("CODEX_NB_COMPLETION_STATS", str(tmp_path / "stats.json"))
    (jp_root_dir / ".git").mkdir()
    (jp_root_dir / "shop").mkdir()
    (jp_root_dir / "shop" / "__init__.py").write_text("")
    (jp_root_dir / "shop" / "pricing.py").write_text(
        'def apply_discount(price: float, rate: float = 0.1) -> float:\n    """Price after the discount."""\n'
        "    return price * (1 - rate)\n\n\ndef _private():\n    pass\n")
    return jp_root_dir


def body(**kw) -> dict:
    base = {"editor_id": "nb.ipynb/cell-1", "path": "nb.ipynb", "prefix": "total = ", "suffix": ""}
    return {**base, **kw}


@pytest.mark.parametrize("method,route,payload", [
    ("POST", "complete", json.dumps(body())), ("GET", "complete/settings", None),
    ("GET", "complete/stats", None), ("POST", "complete/stats", '{"event": "shown"}'),
])
async def test_completion_routes_require_the_token(jp_serverapp, http_server_client, jp_base_url, method, route, payload):
    with pytest.raises(HTTPClientError) as exc:
        await http_server_client.fetch(f"{jp_base_url}codex-nb/{route}", method=method, body=payload)
    assert exc.value.code == 403


@pytest.mark.parametrize("payload,needle", [
    ({"editor_id": "e1"}, "prefix"),
    (body(editor_id="has space"), "editor_id"),
    (body(editor_id=""), "editor_id"),
    (body(max_lines=0), "max_lines"),
    (body(max_lines="3"), "max_lines"),
    (body(cells_above="x = 1"), "cells_above"),
    (body(cells_above=[{"source": 5}]), "cells_above"),
    (body(kernel_state=[1]), "kernel_state"),
    (body(prefix="x" * 60_000), "longer than"),
    (body(context="yes"), "context"),
    (body(suggestions=4), "suggestions"),
    (body(suggestions=True), "suggestions"),
])
async def test_bad_input_is_refused_with_a_reason(jp_fetch, repo, scripted_llm, payload, needle):
    with pytest.raises(HTTPClientError) as exc:
        await post(jp_fetch, "complete", payload)
    assert exc.value.code == 400
    assert needle in json.loads(exc.value.response.body)["message"]
    assert not scripted_llm.requests  # nothing reached the model


async def test_stats_refuse_unknown_events(jp_fetch, repo):
    with pytest.raises(HTTPClientError) as exc:
        await post(jp_fetch, "complete/stats", {"event": "liked"})
    assert exc.value.code == 400 and "event" in json.loads(exc.value.response.body)["message"]
    with pytest.raises(HTTPClientError) as exc:
        await post(jp_fetch, "complete/stats", {"event": "accepted", "chars": -3})
    assert exc.value.code == 400


async def test_completion_streams_with_notebook_kernel_and_repository_context(jp_fetch, repo, scripted_llm):
    scripted_llm.queue_completion("apply_discount(price, rate=0.2)\nprint(total)\nextra = 1\nmore = 2", chunk_size=5, chunk_delay=0.01)
    kernel_state = {"variables": [{"name": "prices", "type": "pandas.DataFrame", "shape": [120, 2],
                                   "columns": {"item": "object", "price": "float64"}}]}
    resp = await post(jp_fetch, "complete", body(
        prefix="from shop.pricing import apply_discount\nprice = prices.price.sum()\ntotal = ",
        suffix="\n", max_lines=2, kernel_state=kernel_state,
        cells_above=[{"cell_type": "code", "source": "import pandas as pd\nprices = pd.read_csv('p.csv')",
                      "outputs": [{"output_type": "stream", "name": "stdout", "text": "loaded 120 rows\n"}]}],
        cells_below=[{"cell_type": "markdown", "source": "## Plot the totals"}]))
    evs = events(resp.body)
    assert [n for n, _ in evs][0] == "start" and evs[-1][0] == "done"
    deltas = [d["text"] for n, d in evs if n == "delta"]
    assert len(deltas) > 1  # streamed, not one block
    assert evs[-1][1]["text"] == "apply_discount(price, rate=0.2)\nprint(total)"  # cut at max_lines
    assert "".join(deltas) == evs[-1][1]["text"]
    sent = scripted_llm.requests[-1]
    assert sent["stream"] is True and sent["suffix"].startswith("\n")
    prompt = sent["prompt"]
    assert prompt.endswith("price = prices.price.sum()\ntotal = ")
    assert "prices: pandas.DataFrame shape=(120, 2)" in prompt and "price:float64" in prompt  # kernel names
    assert "def apply_discount(price: float, rate: float=0.1) -> float" in prompt  # repository signature
    assert "_private" not in prompt
    assert "# loaded 120 rows" in prompt  # the output of the cell above, trimmed, as a comment
    assert "## Plot the totals" in sent["suffix"]  # the cell below follows the cursor


async def test_without_context_only_the_cell_is_sent(jp_fetch, repo, scripted_llm):
    scripted_llm.queue_completion("1")
    await post(jp_fetch, "complete", body(prefix="from shop.pricing import apply_discount\nx = ", context=False,
                                          cells_above=[{"cell_type": "code", "source": "secret_cell = 1"}]))
    prompt = scripted_llm.requests[-1]["prompt"]
    assert prompt == "from shop.pricing import apply_discount\nx = "


async def test_secrets_in_the_context_are_redacted(jp_fetch, repo, scripted_llm):
    scripted_llm.queue_completion("2")
    key = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"
    await post(jp_fetch, "complete", body(cells_above=[{"cell_type": "code", "source": f"client = make('{key}')"}]))
    assert key not in scripted_llm.all_request_text()
    assert "[REDACTED]" in scripted_llm.requests[-1]["prompt"]


async def test_repeated_and_typed_through_requests_are_served_from_the_cache(jp_fetch, repo, scripted_llm):
    scripted_llm.queue_completion("compute_total(items)")
    first = events((await post(jp_fetch, "complete", body(prefix="result = "))).body)
    assert first[-1][1] == {**first[-1][1], "text": "compute_total(items)", "cached": False}
    again = events((await post(jp_fetch, "complete", body(prefix="result = "))).body)
    assert again[-1][1]["text"] == "compute_total(items)" and again[-1][1]["cached"] is True
    typed = events((await post(jp_fetch, "complete", body(prefix="result = compute_"))).body)
    assert typed[-1][1]["text"] == "total(items)" and typed[-1][1]["cached"] is True
    asked = [r for r in scripted_llm.requests if r["prompt"].endswith("result = ")]
    assert len(asked) == 1  # one model call for three answers (the others are speculation, below)
    stats = json.loads((await jp_fetch("codex-nb", "complete", "stats")).body)
    assert stats["server"]["hits"] == 2 and stats["server"]["type_through"] == 1


async def test_a_local_server_gets_the_next_completion_prepared_before_it_is_asked_for(jp_fetch, repo, scripted_llm):
    scripted_llm.queue_completion("load_orders(path)")
    scripted_llm.queue_completion("\nprint(len(orders))")  # what follows once the first suggestion is accepted
    await post(jp_fetch, "complete", body(prefix="orders = "))
    deadline = time.monotonic() + 10
    while len(scripted_llm.requests) < 2 or not all(s["ended"] for s in scripted_llm.streams):
        assert time.monotonic() < deadline, "no speculative request was made"
        await asyncio.sleep(0.02)
    assert scripted_llm.requests[1]["prompt"].endswith("orders = load_orders(path)")
    nxt = events((await post(jp_fetch, "complete", body(prefix="orders = load_orders(path)"))).body)
    assert nxt[-1][1]["text"] == "\nprint(len(orders))" and nxt[-1][1]["cached"] is True
    assert all(not r["prompt"].endswith("orders = load_orders(path)") for r in scripted_llm.requests[2:])


async def test_a_newer_request_from_the_same_editor_stops_the_model(jp_fetch, repo, scripted_llm):
    scripted_llm.queue_completion("x" * 400, chunk_size=2, chunk_delay=0.02)  # 200 chunks, about four seconds
    scripted_llm.queue_completion("fast_answer()")
    slow = asyncio.ensure_future(post(jp_fetch, "complete", body(prefix="slow = ")))
    deadline = time.monotonic() + 10
    while not (scripted_llm.streams and scripted_llm.streams[0]["sent"] >= 3):
        assert time.monotonic() < deadline, "the first stream never started"
        await asyncio.sleep(0.02)
    fast = await post(jp_fetch, "complete", body(prefix="fast = "))
    assert events(fast.body)[-1] == ("done", {"text": "fast_answer()", "cached": False, "speculated": False,
                                              "model": "openai:scripted-model", "alternatives": []})
    first = events((await slow).body)
    assert first[-1][0] == "cancelled"
    while not scripted_llm.streams[0]["ended"]:
        assert time.monotonic() < deadline, "the cancelled stream was never closed"
        await asyncio.sleep(0.02)
    cut = scripted_llm.streams[0]
    assert not cut["completed"] and cut["sent"] < cut["total"] // 2  # the model stopped, it did not run to the end


async def test_a_request_can_yield_several_distinct_suggestions(jp_fetch, repo, scripted_llm):
    # choice 2 repeats choice 0 and choice 1 runs past the line limit: one distinct alternative, cut like the first
    scripted_llm.queue_completion("compute_total(items)", chunk_size=4, chunk_delay=0.01,
                                  alternatives=("sum(items)\nprint(total)", " compute_total(items) "))
    first = events((await post(jp_fetch, "complete", body(prefix="total = ", max_lines=1, suggestions=3))).body)
    assert first[0] == ("start", {**first[0][1], "alternatives": 2})
    sent = scripted_llm.requests[0]
    assert sent["n"] == 3 and sent["temperature"] > 0  # one request, sampled so that the choices can differ
    assert "".join(d["text"] for n, d in first if n == "delta") == "compute_total(items)"  # only the first streams
    assert first[-1][0] == "done" and first[-1][1]["text"] == "compute_total(items)"
    assert first[-1][1]["alternatives"] == ["sum(items)"]
    # the answer is cached with its alternatives
    again = events((await post(jp_fetch, "complete", body(prefix="total = ", max_lines=1, suggestions=3))).body)
    assert again[-1][1]["cached"] is True and again[-1][1]["alternatives"] == ["sum(items)"]
    # a loopback server gets the continuation of an answer speculated (after the first request, and again after
    # the cached one): the next answer is for the next request's prompt only, so no speculation can take it
    scripted_llm.queue_completion("a + b", alternatives=("a - b", "a * b"), for_prompt_ending="delta = ")
    other = events((await post(jp_fetch, "complete", body(prefix="delta = ", max_lines=1, suggestions=3))).body)
    assert other[-1][1]["text"] == "a + b" and other[-1][1]["alternatives"] == ["a - b", "a * b"]


async def test_one_suggestion_unless_more_are_asked_for(jp_fetch, repo, scripted_llm):
    scripted_llm.queue_completion("value")
    done = events((await post(jp_fetch, "complete", body(prefix="v = "))).body)[-1]
    assert done[1]["alternatives"] == [] and "n" not in scripted_llm.requests[0]
    assert scripted_llm.requests[0]["temperature"] == 0.0


async def test_other_editors_are_not_cancelled(jp_fetch, repo, scripted_llm):
    scripted_llm.queue_completion("a_value", chunk_size=1, chunk_delay=0.03)
    scripted_llm.queue_completion("b_value")
    one = asyncio.ensure_future(post(jp_fetch, "complete", body(editor_id="nb.ipynb/cell-A", prefix="a = ")))
    deadline = time.monotonic() + 10
    while not (scripted_llm.streams and scripted_llm.streams[0]["sent"] >= 1):
        assert time.monotonic() < deadline, "the first stream never started"
        await asyncio.sleep(0.02)
    two = await post(jp_fetch, "complete", body(editor_id="nb.ipynb/cell-B", prefix="b = "))
    assert events(two.body)[-1][1]["text"] == "b_value"
    assert events((await one).body)[-1][1]["text"] == "a_value"


async def test_stats_are_kept_locally(jp_fetch, repo, tmp_path):
    await post(jp_fetch, "complete/stats", {"event": "shown", "model": "openai:scripted-model"})
    await post(jp_fetch, "complete/stats", {"event": "shown", "model": "openai:scripted-model"})
    await post(jp_fetch, "complete/stats", {"event": "accepted", "chars": 20, "model": "openai:scripted-model"})
    await post(jp_fetch, "complete/stats", {"event": "dismissed", "model": "openai:scripted-model"})
    data = json.loads((await post(jp_fetch, "complete/stats", {"event": "retained", "chars": 15,
                                                                "model": "openai:scripted-model"})).body)
    assert (data["shown"], data["accepted"], data["dismissed"], data["accepted_chars"], data["retained_chars"]) == (2, 1, 1, 20, 15)
    assert data["acceptance_rate"] == 0.5 and data["retention_rate"] == 0.75
    assert json.loads((tmp_path / "stats.json").read_text())["by_model"]["openai:scripted-model"]["accepted"] == 1


async def test_settings_turn_completion_on_for_an_openai_compatible_server(jp_fetch, repo, scripted_llm):
    data = json.loads((await jp_fetch("codex-nb", "complete", "settings")).body)
    assert data["model"] == "openai:scripted-model" and data["backend"] == "completions"
    assert data["enabled"] is True and data["demonstration"] is False


async def test_the_schema_documents_the_completion_routes(jp_fetch):
    schema = json.loads((await jp_fetch("codex-nb", "schema")).body)
    assert {"POST /codex-nb/complete", "GET /codex-nb/complete/settings", "POST /codex-nb/complete/stats"} <= set(schema["routes"])


for _name, _fn in list(globals().items()):
    if _name.startswith("test_") and inspect.iscoroutinefunction(_fn):
        globals()[_name] = in_loop(_fn)
