"""Every /codex-nb/ route bounds its body as it arrives (413 that names the limit, what was sent and the
setting), bounds the JSON values in it (400), and a big body that is allowed is parsed without full
garbage collections walking it, then freed, with the server answering /api/status throughout.

A real Jupyter server on 127.0.0.1 (pytest-jupyter); raw sockets where the test must control how
the body is sent (a declared size with no body behind it, a chunked body that never ends).
"""
from __future__ import annotations

import asyncio
import gc
import inspect
import json
import os
import time

import pytest
from tornado.httpclient import HTTPClientError

from pytest_jupyter.jupyter_server import *  # noqa: F401,F403
from test_server import events, in_loop, jp_server_config, notebook, post  # noqa: F401 (fixtures)

from codex_nb.server import base, heap
from codex_nb.server.body_caps import ROUTE_LIMITS_KB

KB, MB = 1024, 1024 * 1024


_BEFORE = {"holds": 0, "freeing": set()}


@pytest.fixture(autouse=True)
def jupyter_files_decide(monkeypatch):
    # An in-process IPython shell left by an earlier test module would otherwise supply the config.
    monkeypatch.setattr("codex_nb.config._ipython_config", lambda: None)
    # A server of an earlier test module may have left a free pending on its own event loop, closed when that
    # test ended (a real server's loop lives as long as the server): what this test checks is its own bodies.
    _BEFORE["holds"], _BEFORE["freeing"] = heap.holds(), set(base._freeing)


def configure(jp_config_dir, **traits) -> None:
    (jp_config_dir / "codex_nb_config.json").write_text(json.dumps({"CodexNB": traits}))


def notebook_body(size: int, path: str = "sub/nb.ipynb") -> dict:
    cells, total, i = [], 0, 0
    while total < size:
        cell = {"cell_type": "code", "id": f"c{i}", "source": f"value_{i} = {i}  # é ☃", "metadata": {},
                "execution_count": i, "outputs": [{"output_type": "stream", "name": "stdout", "text": f"{i}\n"}]}
        cells.append(cell)
        total += len(json.dumps(cell))
        i += 1
    cells.append({"cell_type": "code", "id": "last", "source": "the_last_cell = 'tail marker'", "metadata": {},
                  "execution_count": None, "outputs": []})
    return {"kind": "ask", "instruction": "what does the last cell do?", "path": path, "active_cell": "last",
            "notebook": {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}}


async def raw_request(port: int, target: str, headers: dict, body_chunks=None, content_length: int | None = None):
    """Send a request by hand; returns (status, json body, bytes of the body sent before the answer came)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"POST {target} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    lines.append(f"Content-Length: {content_length}" if content_length is not None else "Transfer-Encoding: chunked")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    sent = 0
    answer = asyncio.ensure_future(reader.read(1 << 20))
    for chunk in body_chunks or ():
        if answer.done():
            break
        writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        try:
            await writer.drain()
        except ConnectionError:
            break
        sent += len(chunk)
        await asyncio.sleep(0.001)
    data = await asyncio.wait_for(answer, 20)
    writer.close()
    head, _, payload = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    if b"chunked" in head.lower():
        size, _, rest = payload.partition(b"\r\n")
        payload = rest[:int(size, 16)]
    return status, json.loads(payload), sent


async def status_answers(jp_fetch) -> float:
    started = time.monotonic()
    assert "started" in json.loads((await jp_fetch("api", "status")).body)
    return time.monotonic() - started


async def settled():
    """Wait until every big body has been freed and every hold on full collections has ended."""
    for _ in range(400):
        mine = base._freeing - _BEFORE["freeing"]
        if heap.holds() <= _BEFORE["holds"] and not mine:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{heap.holds() - _BEFORE['holds']} holds and {len(mine)} frees still running")


ROUTES = [  # (route, limit's name, a body the route would take)
    ("chat", None, {"kind": "ask", "instruction": "x", "path": "sub/nb.ipynb"}),
    ("context", None, {"path": "sub/nb.ipynb"}),
    ("map", None, {"path": "sub/nb.ipynb"}),
    ("snippet", None, {"path": "sub/nb.ipynb", "action": "insert", "code": "x = 1"}),
    ("agent", None, {"path": "sub/nb.ipynb", "goal": "x"}),
    ("accept/run-00/reply", None, {"request_id": "r", "ok": True}),
    ("accept", "accept", {"path": "sub/nb.ipynb"}),
    ("reject", "reject", {"path": "sub/nb.ipynb"}),
    ("undo", "undo", {"path": "sub/nb.ipynb", "outcome_id": "o"}),
    ("repair", "repair", {"path": "sub/nb.ipynb", "outcome_id": "o"}),
    ("complete", "complete", {"editor_id": "e", "prefix": "x"}),
    ("complete/stats", "complete/stats", {"event": "shown"}),
    ("chat/c-1/cancel", "chat/cancel", {}),
    ("agent/run-00/stop", "agent/control", {}),
]


@pytest.mark.parametrize("route,limit_name,fields", ROUTES, ids=[r[0] for r in ROUTES])
async def test_an_oversize_body_gets_a_413_that_says_the_limit_and_how_to_raise_it(
        jp_fetch, jp_config_dir, notebook, route, limit_name, fields):
    configure(jp_config_dir, max_request_mb=1)  # the notebook routes' limit comes from the setting
    limit = ROUTE_LIMITS_KB[limit_name] * KB if limit_name else MB
    body = json.dumps({**fields, "padding": "p" * limit}).encode()
    with pytest.raises(HTTPClientError) as exc:
        await jp_fetch("codex-nb", *route.split("/"), method="POST", body=body)
    answer = json.loads(exc.value.response.body)
    assert exc.value.code == 413, answer
    assert answer["limit"] == limit and answer["sent"] == len(body)
    assert f"{len(body):,} bytes" in answer["message"] and f"the limit is {limit:,}" in answer["message"]
    setting = "c.CodexNB.max_request_mb = 2" if limit_name is None else f"c.CodexNB.request_limits_kb = {{{limit_name!r}:"
    assert setting in answer["hint"] and answer["setting"] in answer["hint"]
    assert await status_answers(jp_fetch) < 1.0


async def test_the_limits_can_be_raised(jp_fetch, jp_config_dir, notebook):
    configure(jp_config_dir, max_request_mb=1, request_limits_kb={"reject": 4096})
    body = {"path": "sub/nb.ipynb", "proposal": {"edits": []}, "edit_indexes": [], "padding": "p" * (3 * MB)}
    try:
        await post(jp_fetch, "reject", body)
    except HTTPClientError as exc:
        assert exc.code != 413, exc.response.body  # read and parsed: judged for what it says, not for its size
    configure(jp_config_dir, max_request_mb=4)
    scripted = notebook_body(2 * MB)
    with pytest.raises(HTTPClientError) as exc:
        await post(jp_fetch, "accept/run-00/reply", scripted)
    assert exc.value.code == 404  # no such acceptance: the 2 MB body was taken
    await settled()


async def test_a_declared_size_over_the_limit_is_refused_before_the_body_is_sent(jp_http_port, jp_base_url,
                                                                                jp_auth_header, jp_fetch, notebook):
    # 100 MB declared, nothing sent: the answer comes at once, so the body was never waited for
    started = time.monotonic()
    status, answer, _ = await raw_request(jp_http_port, f"{jp_base_url}codex-nb/chat", jp_auth_header,
                                          content_length=100 * MB)
    assert status == 413 and answer["sent"] == 100 * MB and answer["limit"] == 8 * MB
    assert time.monotonic() - started < 5
    assert await status_answers(jp_fetch) < 1.0


async def test_a_chunked_body_is_refused_as_it_passes_the_limit(jp_http_port, jp_base_url, jp_auth_header,
                                                               jp_fetch, notebook):
    chunk = b" " * (16 * KB)
    endless = (chunk for _ in range(10_000))  # 160 MB if it were all read
    status_checks = []

    async def meanwhile():
        for _ in range(5):
            status_checks.append(await status_answers(jp_fetch))
            await asyncio.sleep(0.02)

    checking = asyncio.ensure_future(meanwhile())
    status, answer, sent = await raw_request(jp_http_port, f"{jp_base_url}codex-nb/undo", jp_auth_header,
                                             body_chunks=endless)
    await checking
    limit = ROUTE_LIMITS_KB["undo"] * KB
    assert status == 413 and answer["limit"] == limit
    assert "reading stopped" in answer["message"] and limit < answer["sent"] <= limit + len(chunk)
    assert sent < 4 * MB  # the client learnt of it while sending, long before 160 MB
    assert status_checks and max(status_checks) < 1.0


@pytest.mark.parametrize("size", ["small", "large"])
async def test_too_many_json_values_is_a_400_naming_the_count_and_the_limit(jp_fetch, jp_config_dir, notebook, size):
    configure(jp_config_dir, max_request_values=1000)
    values = 1500 if size == "small" else 200_000  # parsed at once / in slices (stops soon after 1,000)
    body = json.dumps({"path": "sub/nb.ipynb", "kind": "ask", "instruction": "x", "numbers": [0] * values})
    assert (len(body) > base._PARSE_AT_ONCE_CHARS) == (size == "large")
    with pytest.raises(HTTPClientError) as exc:
        await jp_fetch("codex-nb", "chat", method="POST", body=body)
    message = json.loads(exc.value.response.body)["message"]
    assert exc.value.code == 400 and "too many JSON values" in message and "the limit is 1,000" in message
    read = int(message.split(": ")[1].split(" read")[0].replace(",", ""))
    assert 1000 < read <= (values + 5 if size == "small" else 20_000)


async def test_a_large_allowed_notebook_reaches_the_model_and_leaves_nothing_held(jp_fetch, notebook, scripted_llm):
    threshold = gc.get_threshold()
    body = notebook_body(6 * MB)
    # a first chat imports the model's SDK on the loop (hundreds of ms, once per process): not what is measured here
    scripted_llm.queue("warm")
    assert events((await post(jp_fetch, "chat", {"kind": "ask", "instruction": "hi", "path": "sub/nb.ipynb"})).body)[-1][0] == "done"
    scripted_llm.queue("It sets a marker.")
    raw = json.dumps(body).encode()  # the client shares the server's loop: it must not encode 6 MB while it is timed
    answer = asyncio.ensure_future(jp_fetch("codex-nb", "chat", method="POST", body=raw, request_timeout=120))
    waits = []
    while not answer.done():
        waits.append(await status_answers(jp_fetch))
        await asyncio.sleep(0.02)
    evs = events((await answer).body)
    assert evs[-1][0] == "done", evs[-1]
    assert "the_last_cell = 'tail marker'" in json.dumps(scripted_llm.requests[-1])
    assert waits and max(waits) < 1.0
    await settled()  # the body is freed in slices after the answer, then the hold ends
    assert gc.get_threshold() == threshold


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


async def test_memory_returns_after_many_big_bodies(jp_fetch, notebook):
    body = json.dumps(notebook_body(4 * MB)).encode()  # about 130,000 objects once parsed

    async def send(n: int):
        for _ in range(n):
            with pytest.raises(HTTPClientError) as exc:  # parsed whole, then: no such acceptance
                await jp_fetch("codex-nb", "accept", "run-00", "reply", method="POST", body=body, request_timeout=60)
            assert exc.value.code == 404

    await send(3)
    await settled()
    gc.collect()
    before = _rss_mb()
    await asyncio.gather(send(10), send(10))  # two at a time: their holds overlap
    await settled()
    gc.collect()
    grown = _rss_mb() - before
    assert grown < 60, f"{grown:.0f} MB more after 20 bodies of 4 MB"  # a kept body would be ~40 MB each
    assert heap.holds() <= _BEFORE["holds"]  # every hold this test took has ended


for _name, _fn in list(globals().items()):
    if _name.startswith("test_") and inspect.iscoroutinefunction(_fn):
        globals()[_name] = in_loop(_fn)
