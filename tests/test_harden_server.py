"""The server under hostile input: big bodies and answers, deep nesting, bad UTF-8, surrogates,
secrets in panel attachments, credential files, and a repository root above its root_dir."""
from __future__ import annotations

import asyncio
import inspect
import json
import random
import string
import time

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

from pytest_jupyter.jupyter_server import *  # noqa: F401,F403
from harden_secrets import FORMS, VALUES
from test_server import events, in_loop, jp_server_config, notebook, post  # noqa: F401 (fixtures)

FIVE_MB = 5 * 1024 * 1024


async def test_status_answers_while_a_5mb_attachment_and_a_5mb_answer_are_in_flight(jp_fetch, notebook, scripted_llm):
    # text that never repeats itself (an answer that loops is stopped early instead: test_repetition.py)
    rng = random.Random(0)
    scripted_llm.queue("".join(rng.choices(string.ascii_lowercase + " .,", k=FIVE_MB)), chunk_size=16_384,
                       chunk_delay=0.002)
    answer = asyncio.ensure_future(post(jp_fetch, "chat", {"kind": "ask", "instruction": "go", "path": "sub/nb.ipynb"}))
    attachment = asyncio.ensure_future(post(jp_fetch, "chat", {
        "kind": "ask", "instruction": "look", "path": "sub/nb.ipynb",
        "context": [{"type": "variable", "name": "big", "summary": "z" * FIVE_MB}]}))
    answered_while_running = 0
    while not answer.done():
        started = time.monotonic()
        status = json.loads((await jp_fetch("api", "status")).body)
        assert "started" in status and time.monotonic() - started < 1.0
        answered_while_running += not answer.done()
        await asyncio.sleep(0.05)
    assert answered_while_running >= 1
    evs = events((await answer).body)
    assert evs[-1][0] == "error" and "reading stopped there" in evs[-1][1]["message"]
    with pytest.raises(HTTPClientError) as exc:
        await attachment
    assert exc.value.code == 413 and "summary of @big" in json.loads(exc.value.response.body)["message"]
    assert len(scripted_llm.requests) == 1  # the oversize answer was not retried


@pytest.mark.parametrize("body,needle", [
    (b"[" * 100_000 + b"]" * 100_000, "nested more than"),
    (b'{"a": ' * 200 + b"1" + b"}" * 200, "nested more than"),
    (b'{"instruction": "\xff\xfe", "path": "sub/nb.ipynb"}', "not UTF-8"),
])
async def test_unreadable_bodies_are_clear_400s(jp_fetch, notebook, body, needle):
    with pytest.raises(HTTPClientError) as exc:
        await jp_fetch("codex-nb", "chat", method="POST", body=body)
    assert exc.value.code == 400 and needle in json.loads(exc.value.response.body)["message"]


async def test_a_body_over_the_limit_is_refused(jp_fetch, notebook):
    from codex_nb.config import CodexNB

    limit = int(CodexNB().max_request_mb * 1024 * 1024)
    with pytest.raises(HTTPClientError) as exc:
        await jp_fetch("codex-nb", "chat", method="POST", body=b" " * (limit + 1))
    assert exc.value.code == 413 and json.loads(exc.value.response.body)["limit"] == limit


async def test_lone_surrogates_still_reach_history_and_audit(jp_fetch, notebook, scripted_llm, tmp_path):
    scripted_llm.queue("fine")
    body = json.dumps({"kind": "ask", "instruction": "what is x?", "path": "sub/nb.ipynb"}).replace("x?", "x\\ud800?")
    resp = await jp_fetch("codex-nb", "chat", method="POST", body=body)
    assert events(resp.body)[-1][0] == "done"
    history = json.loads((await jp_fetch("codex-nb", "history", params={"path": "sub/nb.ipynb"})).body)
    assert history["messages"][-2]["text"] == "what is x\ufffd?"
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    assert audit and audit[-1]["event"] == "asked"


async def test_answers_with_surrogates_or_deep_json_end_clearly_and_are_recorded(jp_fetch, notebook, scripted_llm,
                                                                                 tmp_path):
    chunk = {"choices": [{"index": 0, "delta": {"content": "odd \\ud800 text"}, "finish_reason": "stop"}]}
    scripted_llm.queue(raw_body=("data: " + json.dumps(chunk).replace("\\\\ud800", "\\ud800")
                                 + "\n\ndata: [DONE]\n\n").encode())
    resp = await post(jp_fetch, "chat", {"kind": "ask", "instruction": "one", "path": "sub/nb.ipynb"})
    assert events(resp.body)[-1] == ("done", events(resp.body)[-1][1]) and events(resp.body)[-1][1]["text"] == "odd \ufffd text"
    deep = "[" * 50_000 + "]" * 50_000
    scripted_llm.queue(deep).queue(deep)
    resp = await post(jp_fetch, "chat", {"kind": "propose", "instruction": "two", "path": "sub/nb.ipynb"})
    name, error = events(resp.body)[-1]
    assert name == "error" and "nested too deeply" in error["message"]
    history = json.loads((await jp_fetch("codex-nb", "history", params={"path": "sub/nb.ipynb"})).body)["messages"]
    assert history[-3]["text"] == "odd \ufffd text" and history[-1]["error"]["error"] == "ProposalError"
    audit = [json.loads(line)["event"] for line in (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    assert audit[-2:] == ["asked", "failed"]


async def test_panel_attachments_and_instructions_never_send_a_seeded_secret(jp_fetch, jp_root_dir, notebook,
                                                                             scripted_llm, tmp_path):
    (jp_root_dir / "config.yaml").write_text("\n".join(text for text, _v in FORMS))
    (jp_root_dir / "seeded_settings.py").write_text("\n".join(f"S{k} = {text!r}" for k, (text, _v) in enumerate(FORMS))
                                                  + "\n\ndef seeded_lookup():\n    return S0\n")
    (jp_root_dir / ".env").write_text("OPENAI_API_KEY=sk-proj-EnvFileOnlyValue1234567890ab\n")
    (jp_root_dir / "innocent.py").symlink_to(jp_root_dir / ".env")
    scripted_llm.queue("ok")
    summary = "\n".join(text for text, _v in FORMS)
    resp = await post(jp_fetch, "chat", {
        "kind": "ask", "instruction": f"why does seeded_lookup fail? {FORMS[0][0]} and {FORMS[6][0]}",
        "path": "sub/nb.ipynb",
        "context": [{"type": "file", "path": "config.yaml"}, {"type": "variable", "name": "settings", "summary": summary},
                    {"type": "variable", "name": "api_key", "summary": "api_key: str = 'plain-but-named'"}]})
    assert events(resp.body)[-1][0] == "done"
    sent = scripted_llm.all_request_text()
    assert "config.yaml" in sent and "[REDACTED]" in sent
    stored = (tmp_path / "history").read_text() if (tmp_path / "history").is_file() else "".join(
        p.read_text() for p in (tmp_path / "history").glob("*.jsonl"))
    cache = "".join(p.read_text() for p in (jp_root_dir / ".codex_nb" / "cache").rglob("*") if p.is_file())
    assert "seeded_lookup" in cache  # the file was indexed …
    for value in [*VALUES, "plain-but-named"]:
        assert value not in sent, value
        assert value not in stored, value
        assert value not in cache, value  # … from its redacted text
    for never in (".env", "innocent.py"):
        with pytest.raises(HTTPClientError) as exc:
            await post(jp_fetch, "chat", {"kind": "ask", "instruction": "x", "path": "sub/nb.ipynb",
                                          "context": [{"type": "file", "path": never}]})
        assert exc.value.code == 403 and "never reads" in json.loads(exc.value.response.body)["message"]


async def test_a_repository_root_above_root_dir_is_clamped_to_it(jp_fetch, jp_root_dir, notebook, monkeypatch):
    monkeypatch.delenv("CODEX_NB_AUDIT_LOG")
    (jp_root_dir / ".git").rmdir()
    outside = jp_root_dir.parent
    (outside / "pyproject.toml").write_text("[project]\nname='outside'\n")
    (outside / "outside_secret.py").write_text("def outside_only():\n    return 1\n")
    data = json.loads((await post(jp_fetch, "context", {"path": "sub/nb.ipynb", "query": "outside_only"})).body)
    paths = [f["path"] for f in data["context"]["files"]]
    assert "helper.py" in paths and not any("outside_secret" in p for p in paths)
    assert data["context"]["repo"] == str(jp_root_dir.resolve())
    await post(jp_fetch, "reject", {"path": "sub/nb.ipynb", "edit_indexes": [0], "proposal": {
        "version": 1, "id": "p-1", "explanation": "", "edits": [{"op": "insert", "new_id": "n1", "source": "y = 1"}]}})
    assert (jp_root_dir / ".codex_nb" / "audit.jsonl").exists() and not (outside / ".codex_nb").exists()


for _name, _fn in list(globals().items()):
    if _name.startswith("test_") and inspect.iscoroutinefunction(_fn):
        globals()[_name] = in_loop(_fn)
