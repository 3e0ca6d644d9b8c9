"""Route tests for the codex-nb server extension (pytest-jupyter's jp_fetch, a real server in-process).

The model is the scripted OpenAI-compatible server on loopback (the `scripted_llm` fixture).
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import json

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

# pytest-jupyter's fixtures are imported into this module rather than loaded as a plugin:
# its autouse fixtures (an event loop per test, server clean-up) then apply to these tests
# only, not to every test of the session. Its async-test runner is a plugin hook, so the
# async tests below are run through `in_loop` instead.
from pytest_jupyter.jupyter_server import *  # noqa: E402,F401,F403


def in_loop(fn):
    """Run an async test on pytest-jupyter's loop (the fixture `jp_asyncio_loop`)."""
    sig = inspect.signature(fn)
    own = "jp_asyncio_loop" in sig.parameters

    @functools.wraps(fn)
    def run(*args, **kwargs):
        loop = kwargs["jp_asyncio_loop"] if own else kwargs.pop("jp_asyncio_loop")
        return loop.run_until_complete(fn(*args, **kwargs))

    params = list(sig.parameters.values())
    if not own:
        params.append(inspect.Parameter("jp_asyncio_loop", inspect.Parameter.KEYWORD_ONLY))
    run.__signature__ = sig.replace(parameters=params)
    del run.__wrapped__  # pytest must see the sync signature above, not the coroutine's
    return run


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"codex_nb": True}}}


@pytest.fixture
def notebook(jp_root_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("CODEX_NB_HISTORY_DIR", str(tmp_path / "history"))
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x = 1", id="c1"), nbformat.v4.new_code_cell("print(x)", id="c2")]
    (jp_root_dir / ".git").mkdir()  # the repository root: the context engine stops here
    (jp_root_dir / "sub").mkdir()
    nbformat.write(nb, jp_root_dir / "sub" / "nb.ipynb")
    (jp_root_dir / "helper.py").write_text("def helper():\n    return 42\n")
    return nb


def events(body: bytes) -> list[tuple[str, dict]]:
    out = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        name = next(line[6:].strip() for line in block.splitlines() if line.startswith("event:"))
        data = json.loads("".join(line[5:].strip() for line in block.splitlines() if line.startswith("data:")))
        out.append((name, data))
    return out


async def post(jp_fetch, route, body, **kw):
    return await jp_fetch("codex-nb", *route.split("/"), method="POST", body=json.dumps(body), **kw)


# -- authentication ----------------------------------------------------------

@pytest.mark.parametrize("method,route,body", [
    ("GET", "models", None), ("GET", "schema", None), ("POST", "chat", "{}"), ("POST", "accept", "{}"),
    ("GET", "audit?path=sub/nb.ipynb", None), ("GET", "history?path=sub/nb.ipynb", None), ("POST", "reject", "{}"),
    ("POST", "repair", "{}"), ("POST", "accept/run-01/reply", "{}"), ("POST", "commit", "{}"), ("POST", "undo", "{}"),
    ("POST", "context", "{}"), ("GET", "files?prefix=", None), ("POST", "chat/c-1/cancel", "{}"),
])
async def test_every_route_requires_the_token(jp_serverapp, http_server_client, jp_base_url, method, route, body):
    url = f"{jp_base_url}codex-nb/{route}"
    with pytest.raises(HTTPClientError) as exc:
        await http_server_client.fetch(url, method=method, body=body)
    assert exc.value.code == 403


# -- schemas and errors ------------------------------------------------------

async def test_schema_lists_every_route(jp_fetch):
    schema = json.loads((await jp_fetch("codex-nb", "schema")).body)
    assert schema["version"] == 1
    for route in ("POST /codex-nb/chat", "POST /codex-nb/accept", "GET /codex-nb/models", "POST /codex-nb/reject",
                  "POST /codex-nb/repair"):
        assert route in schema["routes"]


async def test_models_lists_the_configured_default(jp_fetch, scripted_llm):
    data = json.loads((await jp_fetch("codex-nb", "models")).body)
    assert data["default"] == "openai:scripted-model"
    openai = [m for m in data["models"] if m["provider"] == "openai"]
    assert openai and openai[0]["configured"] is True


@pytest.mark.parametrize("body,status,needle", [
    ({"kind": "propose", "path": "sub/nb.ipynb"}, 400, "instruction"),
    ({"kind": "dance", "instruction": "x", "path": "sub/nb.ipynb"}, 400, "kind"),
    ({"instruction": "x"}, 400, "path"),
    ({"instruction": "x", "path": "sub/missing.ipynb"}, 404, "does not exist"),
    ({"instruction": "x", "path": "helper.py"}, 400, ".ipynb"),
    ({"instruction": "x", "path": "sub/nb.ipynb", "context": [{"type": "file", "path": "nope.py"}]}, 404, "does not exist"),
    ({"instruction": "x", "path": "sub/nb.ipynb", "notebook": {"cells": "no"}}, 400, "nbformat"),
    ({"instruction": "x", "path": "sub/nb.ipynb", "chat_id": "bad id!"}, 400, "chat_id"),
])
async def test_chat_rejects_bad_requests_before_streaming(jp_fetch, notebook, body, status, needle):
    with pytest.raises(HTTPClientError) as exc:
        await post(jp_fetch, "chat", body)
    assert exc.value.code == status
    assert needle in json.loads(exc.value.response.body)["message"]


async def test_body_must_be_a_json_object(jp_fetch, notebook):
    with pytest.raises(HTTPClientError) as exc:
        await jp_fetch("codex-nb", "chat", method="POST", body="[1, 2]")
    assert exc.value.code == 400


# -- paths outside the root are refused, never read ---------------------------

@pytest.mark.parametrize("path", ["../outside.ipynb", "/etc/passwd", "sub/../../outside.ipynb", "~/x.ipynb", "link/secret.ipynb"])
async def test_paths_outside_the_root_are_refused(jp_fetch, jp_root_dir, notebook, tmp_path, path):
    outside = tmp_path / "outside"
    outside.mkdir()
    nbformat.write(notebook, outside / "secret.ipynb")
    (jp_root_dir / "link").symlink_to(outside)
    requests = [
        ("chat", {"instruction": "x", "path": path}),
        ("chat", {"instruction": "x", "path": "sub/nb.ipynb", "context": [{"type": "file", "path": path}]}),
        ("accept", {"path": path, "proposal": {}}),
        ("context", {"path": path, "query": "x"}),
        ("reject", {"path": path, "proposal": {}}),
        ("repair", {"path": path, "outcome_id": "a-1"}),
    ]
    for route, body in requests:
        with pytest.raises(HTTPClientError) as exc:
            await post(jp_fetch, route, body)
        assert exc.value.code in (400, 403), (route, exc.value.code)
    for route in ("audit", "history"):
        with pytest.raises(HTTPClientError) as exc:
            await jp_fetch("codex-nb", route, params={"path": path})
        assert exc.value.code in (400, 403)
    with pytest.raises(HTTPClientError) as exc:
        await jp_fetch("codex-nb", "files", params={"prefix": "../"})
    assert exc.value.code in (400, 403)


# -- streaming ---------------------------------------------------------------

async def test_ask_streams_deltas_and_keeps_history(jp_fetch, notebook, scripted_llm):
    answer = "The variable **x** is one, and the second cell prints it."
    scripted_llm.queue(answer, chunk_size=4, chunk_delay=0.03)  # paced, so deltas are not all coalesced
    resp = await post(jp_fetch, "chat", {"kind": "ask", "instruction": "what does this do?", "path": "sub/nb.ipynb",
                                         "context": [{"type": "file", "path": "helper.py"}]})
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    evs = events(resp.body)
    names = [n for n, _ in evs]
    assert names[0] == "start" and names[-1] == "done"
    deltas = [d["text"] for n, d in evs if n == "delta"]
    assert len(deltas) > 1 and "".join(deltas) == answer
    assert evs[-1][1]["text"] == answer
    assert "def helper" in scripted_llm.all_request_text()  # the @file attachment reached the model

    history = json.loads((await jp_fetch("codex-nb", "history", params={"path": "sub/nb.ipynb"})).body)
    roles = [m["role"] for m in history["messages"]]
    assert roles == ["user", "assistant"]
    assert history["messages"][1]["text"] == answer


async def test_propose_streams_a_proposal_with_diffs(jp_fetch, notebook, scripted_llm):
    live = nbformat.from_dict(json.loads(nbformat.writes(notebook)))
    live.cells[1].source = "print(x + 1)"  # the unsaved live content wins over the file
    scripted_llm.queue({"explanation": "Print twice.", "edits": [
        {"op": "replace", "cell_id": "c2", "cell_type": "code", "source": "print(x * 2)"}]})
    resp = await post(jp_fetch, "chat", {"kind": "propose", "instruction": "double it", "path": "sub/nb.ipynb",
                                         "notebook": live})
    streamed = "".join(d["text"] for n, d in events(resp.body) if n == "delta")
    assert streamed == "Print twice."  # the explanation streams, not the proposal's JSON
    evs = dict(events(resp.body))
    proposal, diffs = evs["proposal"]["proposal"], evs["proposal"]["diffs"]
    assert proposal["edits"][0]["cell_id"] == "c2"
    assert diffs[0]["old"] == "print(x + 1)" and diffs[0]["new"] == "print(x * 2)"
    assert evs["done"]["text"] == "Print twice."



async def test_a_proposal_starts_its_validation_kernel_before_accept(jp_fetch, jp_root_dir, notebook, scripted_llm):
    from codex_nb.validate import kernels

    kernels.shutdown_all()
    scripted_llm.queue("x is one.")
    resp = await post(jp_fetch, "chat", {"kind": "ask", "instruction": "what is x?", "path": "sub/nb.ipynb"})
    assert dict(events(resp.body))["done"]
    await asyncio.sleep(0.3)
    assert kernels.spare_keys() == []  # an answer without edits needs no validation kernel
    scripted_llm.queue({"explanation": "Print twice.", "edits": [
        {"op": "replace", "cell_id": "c2", "cell_type": "code", "source": "print(x * 2)"}]})
    resp = await post(jp_fetch, "chat", {"kind": "propose", "instruction": "double it", "path": "sub/nb.ipynb"})
    assert dict(events(resp.body))["proposal"]
    wanted = str((jp_root_dir / "sub").resolve())
    try:
        for _ in range(100):  # the spare is registered from a worker thread right after the proposal
            if any(key.directory == wanted for key in kernels.spare_keys()):
                break
            await asyncio.sleep(0.05)
        assert [key.kernel_name for key in kernels.spare_keys() if key.directory == wanted] == ["python3"]
    finally:
        kernels.shutdown_all()


async def test_provider_failure_is_an_error_event(jp_fetch, notebook, scripted_llm):
    for _ in range(6):
        scripted_llm.queue(status=401, content="bad key")
    resp = await post(jp_fetch, "chat", {"kind": "ask", "instruction": "hi", "path": "sub/nb.ipynb"})
    evs = events(resp.body)
    assert evs[-1][0] == "error" and evs[-1][1]["message"]


# -- cancellation ------------------------------------------------------------

async def start_chat(jp_fetch, jp_serverapp, scripted_llm, chat_id: str) -> asyncio.Future:
    """Start a chat; return its pending response once the server has it running and the model has the request."""
    chats = jp_serverapp.web_app.settings["codex_nb"].chats
    task = asyncio.ensure_future(post(jp_fetch, "chat", {"kind": "ask", "instruction": "go", "path": "sub/nb.ipynb",
                                                          "chat_id": chat_id}))
    for _ in range(500):
        if chat_id in chats and scripted_llm.requests:
            break
        await asyncio.sleep(0.02)
    return task


async def test_cancel_stops_a_running_chat(jp_fetch, jp_serverapp, notebook, scripted_llm):
    scripted_llm.queue("slow " * 200, chunk_size=5, chunk_delay=0.05)  # ~10 s if never cancelled
    chats = jp_serverapp.web_app.settings["codex_nb"].chats
    task = await start_chat(jp_fetch, jp_serverapp, scripted_llm, "c-cancel-me")
    await asyncio.sleep(0.5)  # the model is streaming: let some text through first
    resp = await post(jp_fetch, "chat/c-cancel-me/cancel", {})
    assert json.loads(resp.body) == {"chat_id": "c-cancel-me", "cancelled": True}
    started = asyncio.get_running_loop().time()
    body = (await asyncio.wait_for(task, timeout=5)).body
    assert asyncio.get_running_loop().time() - started < 3
    names = [n for n, _ in events(body)]
    assert "delta" in names and names[-1] == "cancelled"
    assert "c-cancel-me" not in chats
    with pytest.raises(HTTPClientError) as exc:
        await post(jp_fetch, "chat/c-cancel-me/cancel", {})
    assert exc.value.code == 404


async def test_cancel_stops_a_chat_whose_model_has_not_answered_yet(jp_fetch, jp_serverapp, notebook, scripted_llm):
    scripted_llm.queue("late", delay=8)  # the model takes 8 s to send its first byte
    task = await start_chat(jp_fetch, jp_serverapp, scripted_llm, "c-silent")
    started = asyncio.get_running_loop().time()
    await post(jp_fetch, "chat/c-silent/cancel", {})
    body = (await asyncio.wait_for(task, timeout=5)).body
    assert asyncio.get_running_loop().time() - started < 2  # not the model's 8 s
    assert [n for n, _ in events(body)][-1] == "cancelled"
    history = json.loads((await jp_fetch("codex-nb", "history", params={"path": "sub/nb.ipynb"})).body)
    assert history["messages"][-1]["status"] == "cancelled"


async def test_a_client_that_goes_away_stops_its_chat(jp_fetch, jp_serverapp, jp_http_port, jp_base_url, notebook,
                                                      scripted_llm):
    scripted_llm.queue("slow " * 200, chunk_size=5, chunk_delay=0.05)  # ~10 s if nobody stops it
    chats = jp_serverapp.web_app.settings["codex_nb"].chats
    body = json.dumps({"kind": "ask", "instruction": "go", "path": "sub/nb.ipynb", "chat_id": "c-gone"}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    writer.write(f"POST {jp_base_url}codex-nb/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 f"Authorization: token {jp_serverapp.identity_provider.token}\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    seen = b""
    while b"event: delta" not in seen:  # the answer is streaming …
        seen += await asyncio.wait_for(reader.read(4096), timeout=30)
    writer.close()  # … and the client leaves
    started = asyncio.get_running_loop().time()
    while "c-gone" in chats and asyncio.get_running_loop().time() - started < 5:
        await asyncio.sleep(0.05)
    assert "c-gone" not in chats  # stopped well before the model's 10 s
    history = json.loads((await jp_fetch("codex-nb", "history", params={"path": "sub/nb.ipynb"})).body)
    last = history["messages"][-1]
    assert last["status"] == "cancelled" and last["text"].startswith("slow")  # what the user saw is kept


async def test_concurrent_chats_do_not_block_each_other(jp_fetch, notebook, scripted_llm, monkeypatch):
    import gc

    from codex_nb.server import heap

    freezes = []
    monkeypatch.setattr(heap, "_frozen", False)  # as in a fresh server: no chat has finished yet
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append(1))
    for i in range(8):
        scripted_llm.queue(f"answer {i} " * 6, chunk_size=6, chunk_delay=0.1)  # ~1 s each
    started = asyncio.get_running_loop().time()
    bodies = await asyncio.gather(*[post(jp_fetch, "chat", {"kind": "ask", "instruction": f"q{i}", "path": "sub/nb.ipynb"})
                                    for i in range(8)])
    elapsed = asyncio.get_running_loop().time() - started
    texts = sorted(dict(events(b.body))["done"]["text"] for b in bodies)
    assert texts == sorted((f"answer {i} " * 6).strip() for i in range(8))
    # One after the other this is 8 x ~1 s; in parallel it is about one stream long.
    assert elapsed < 5
    # The loop answers other requests while the chats stream.
    await jp_fetch("codex-nb", "schema")
    # After the first finished chat the server's long-lived objects are put out of the collector's way, once.
    assert freezes == [1]


# -- validate, audit, history, files, context -------------------------------

async def test_history_can_be_cleared(jp_fetch, notebook, scripted_llm):
    scripted_llm.queue("an answer")
    await post(jp_fetch, "chat", {"kind": "ask", "instruction": "q", "path": "sub/nb.ipynb"})
    await jp_fetch("codex-nb", "history", params={"path": "sub/nb.ipynb"}, method="DELETE")
    history = json.loads((await jp_fetch("codex-nb", "history", params={"path": "sub/nb.ipynb"})).body)
    assert history["messages"] == []


async def test_files_completion_lists_matching_files(jp_fetch, notebook):
    data = json.loads((await jp_fetch("codex-nb", "files", params={"prefix": "he"})).body)
    assert [f["path"] for f in data["files"]] == ["helper.py"]
    data = json.loads((await jp_fetch("codex-nb", "files", params={"prefix": "sub/n"})).body)
    assert [f["path"] for f in data["files"]] == ["sub/nb.ipynb"]


async def test_context_preview(jp_fetch, notebook):
    data = json.loads((await post(jp_fetch, "context", {"path": "sub/nb.ipynb", "query": "print x"})).body)
    assert set(data["context"]["cell_ids"]) == {"c1", "c2"}
    assert data["context"]["total_tokens"] > 0


async def test_a_looping_answer_is_stopped_and_kept_once_in_the_panel(jp_fetch, notebook, scripted_llm):
    from codex_nb.providers.repetition import NOTE

    head, loop = "x is one.\n", "- x is an int\n- print shows it\n"
    scripted_llm.queue(head + loop * 300, chunk_size=8, chunk_delay=0.002)
    resp = await post(jp_fetch, "chat", {"kind": "ask", "instruction": "what is x?", "path": "sub/nb.ipynb"})
    evs = events(resp.body)
    assert evs[-1][0] == "done" and evs[-1][1]["text"] == f"{(head + loop).rstrip()}\n\n{NOTE}"
    assert "".join(d["text"] for n, d in evs if n == "delta").count(loop) < 8
    history = json.loads((await jp_fetch("codex-nb", "history", params={"path": "sub/nb.ipynb"})).body)
    assert history["messages"][-1]["text"] == evs[-1][1]["text"]  # what the person reads again is the cut answer
    stream = scripted_llm.chat_streams[-1]
    for _ in range(200):
        if stream["ended"]:
            break
        await asyncio.sleep(0.02)
    assert not stream["completed"] and stream["sent"] < stream["total"] // 2  # the model was stopped


for _name, _fn in list(globals().items()):
    if _name.startswith("test_") and inspect.iscoroutinefunction(_fn):
        globals()[_name] = in_loop(_fn)
