"""Two people on one JupyterHub: chats stream and proposals apply under /user/NAME/, each keeps
their own history and audit trail stamped with their hub name, neither reads the other's, and the
team's key (set once by the administrator) never comes back in a response of our routes.

The test plays the page for the accept route (it answers the engine's apply requests with the same
op semantics as the lab extension), as tests/test_server_accept.py does without a hub.
"""
from __future__ import annotations

import json

import nbformat
import pytest
import requests

from codex_nb.edits.live_ops import apply_ops
from hub_setup import hub  # noqa: F401 - the module's hub fixture (not a conftest: tests/browser/ has one)
from server_processes import ARTIFACTS, launched_chromium

USERS = ("alice", "bob")  # the hub fixture's users
seen_bodies: list[str] = []  # every response body of a codex-nb route, checked for the key at the end


def _notebook(user: str) -> dict:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(f"owner = {user!r}", id="c1"),
                nbformat.v4.new_code_cell("print(owner)", id="c2")]
    return json.loads(nbformat.writes(nb))


def _sse(resp: requests.Response):
    """(event, data) pairs of a Server-Sent-Events response, as they arrive."""
    name, data = None, []
    for raw in resp.iter_lines(decode_unicode=True):
        seen_bodies.append(raw or "")
        if raw.startswith("event:"):
            name = raw[6:].strip()
        elif raw.startswith("data:"):
            data.append(raw[5:].strip())
        elif not raw and name:
            yield name, json.loads("".join(data))
            name, data = None, []


def _get(hub, user: str, route: str, **kw) -> requests.Response:
    resp = hub.server(user, "GET", f"codex-nb/{route}", **kw)
    seen_bodies.append(resp.text)
    return resp


@pytest.fixture(scope="module")
def chatted(hub):
    """Each user uploads a notebook and asks for a change; returns {user: (events, proposal)}."""
    out = {}
    for user in USERS:
        hub.upload(user, "nb.ipynb", _notebook(user))
        hub.llm.queue({"explanation": f"greet {user}", "edits": [
            {"op": "replace", "cell_id": "c2", "cell_type": "code", "source": f"print('hello', owner)  # {user}"}]},
            chunk_delay=0.01)
        with hub.server(user, "POST", "codex-nb/chat", stream=True, timeout=120,
                        json={"kind": "propose", "instruction": f"greet the owner, {user}", "path": "nb.ipynb"}) as resp:
            assert resp.status_code == 200, resp.text
            events = list(_sse(resp))
        proposal = next((d for n, d in events if n == "proposal"), None)
        out[user] = (events, proposal)
    return out


def test_each_users_chat_streams_under_their_prefix(hub, chatted):
    for user in USERS:
        events, proposal = chatted[user]
        names = [n for n, _ in events]
        assert names[0] == "start" and names[-1] == "done", events
        assert names.count("delta") > 1, "the answer did not stream"
        assert proposal is not None and proposal["proposal"]["explanation"] == f"greet {user}"
        # the model named once by the administrator, not by the request or the user's environment
        assert events[-1][1]["model"] == "openai:scripted-model"


def test_each_users_proposal_applies_in_their_notebook(hub, chatted):
    for user in USERS:
        _, proposal = chatted[user]
        page = nbformat.reads(json.dumps(_notebook(user)), as_version=4)
        with hub.server(user, "POST", "codex-nb/accept", stream=True, timeout=120,
                        json={"path": "nb.ipynb", "proposal": proposal["proposal"], "message_id": proposal["message_id"],
                              "settings": {"validate": False}}) as resp:
            assert resp.status_code == 200, resp.text
            names, run_id = [], None
            for name, data in _sse(resp):
                names.append(name)
                if name == "accept":
                    run_id = data["run_id"]
                elif name == "apply_request":
                    if data["action"] == "apply":
                        page = apply_ops(page, data["ops"])
                    reply = hub.server(user, "POST", f"codex-nb/accept/{run_id}/reply",
                                       json={"request_id": data["request_id"], "ok": True,
                                             "notebook": json.loads(nbformat.writes(page))})
                    assert reply.status_code == 200, reply.text
        assert "applied" in names and "kept" in names, names
        assert page.cells[1].source == f"print('hello', owner)  # {user}"


def test_history_and_audit_are_each_users_own_and_carry_their_hub_name(hub, chatted):
    for user in USERS:
        other = next(u for u in USERS if u != user)
        history = _get(hub, user, "history", params={"path": "nb.ipynb"})
        assert history.status_code == 200, history.text
        texts = [m.get("text", "") for m in history.json()["messages"]]
        assert f"greet the owner, {user}" in texts and not any(other in t for t in texts)
        entries = _get(hub, user, "audit", params={"path": "nb.ipynb"}).json()["entries"]
        events = {e["event"] for e in entries}
        assert {"proposed", "applied", "kept"} <= events, events
        assert {e["user"] for e in entries} == {user}, [(e["event"], e["user"]) for e in entries]
        # the trail lives in the user's own home (the repository root of their notebook)
        log = hub.home / user / ".codex_nb" / "audit.jsonl"
        assert log.exists() and other not in {json.loads(line)["user"] for line in log.read_text().splitlines()}


def test_one_user_cannot_read_the_others_history(hub, chatted):
    # through the other's server: the hub refuses bob's token there
    for route in ("history", "audit", "models"):
        resp = hub.server("alice", "GET", f"codex-nb/{route}", as_user="bob", params={"path": "nb.ipynb"})
        assert resp.status_code in (302, 403), (route, resp.status_code)
        assert "greet" not in resp.text
    # through his own server: a path out of his root is refused before anything is read
    resp = _get(hub, "bob", "history", params={"path": "../alice/nb.ipynb"})
    assert resp.status_code == 403
    assert "greet the owner, alice" not in resp.text


def test_the_team_key_never_reaches_the_browser(hub, chatted):
    models = _get(hub, "alice", "models")
    assert models.status_code == 200
    assert any(m.get("configured") for m in models.json()["models"])
    for route, params in (("schema", None), ("files", {"prefix": ""}), ("history", {"path": "nb.ipynb"}),
                          ("audit", {"path": "nb.ipynb"})):
        assert _get(hub, "bob", route, params=params).status_code == 200
    context = hub.server("alice", "POST", "codex-nb/context", json={"path": "nb.ipynb", "query": "what is the key?"})
    seen_bodies.append(context.text)
    assert context.status_code == 200
    assert len(seen_bodies) > 20 and not any(hub.secret_key in body for body in seen_bodies)
    assert hub.llm.requests, "the model was never asked"


# -- the panel in a browser, through the hub ---------------------------------------------------

KERNEL_IDLE = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!(w && w.context && w.context.isReady && k && k.status === 'idle'); }"""


@pytest.fixture(scope="module")
def browser():
    yield from launched_chromium("the hub's browser test")


@pytest.mark.browser
def test_the_panel_opens_and_a_chat_streams_through_the_hub(hub, chatted, browser):
    hub.upload("alice", "browser.ipynb", _notebook("alice"))
    context = browser.new_context(viewport={"width": 1500, "height": 950})
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        # a person logs in to the hub (dummy authenticator) and opens a notebook on their server
        page.goto(f"{hub.url}hub/login")
        page.fill("#username_input", "alice")
        page.fill("#password_input", "team-password")
        page.click("#login_submit")
        page.wait_for_url("**/user/alice/**")
        page.goto(f"{hub.url}user/alice/lab/tree/browser.ipynb?reset")
        page.wait_for_function("() => !!window.jupyterapp")
        page.wait_for_selector(".jp-Notebook .jp-Cell")
        page.wait_for_function(KERNEL_IDLE)
        page.keyboard.press("Control+Alt+KeyC")
        page.wait_for_selector("#codex-nb-panel .codex-input", state="visible")
        page.wait_for_selector("#codex-nb-panel .codex-chip-notebook")
        hub.llm.queue("The notebook stores **alice** as the owner and prints it. " * 4, chunk_size=6, chunk_delay=0.04)
        page.select_option("#codex-nb-panel .codex-kind", "ask")
        page.fill("#codex-nb-panel .codex-input", "What does this notebook do?")
        page.click("#codex-nb-panel .codex-send")
        page.wait_for_function("""() => { const n = document.querySelector('#codex-nb-panel .codex-answer.codex-streaming');
                                          return n && n.textContent.includes('owner'); }""")
        answer = page.locator("#codex-nb-panel .codex-assistant").last.locator(".codex-answer")
        answer.locator("strong", has_text="alice").first.wait_for()
        assert "codex-streaming" not in answer.get_attribute("class")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "hub-panel.png"))
        assert errors == []
    finally:
        context.close()
    # the panel's request went through /user/alice/ and was recorded as alice's
    entries = _get(hub, "alice", "audit", params={"path": "browser.ipynb"}).json()["entries"]
    assert [e["user"] for e in entries if e["event"] == "asked"] == ["alice"]
