"""The server stamps audit entries with the identity provider's user, whatever the client sends.

A real Jupyter server in-process (pytest-jupyter) with an identity provider that names its user, as
JupyterHub's does; a panel request carries forged user, time and chain fields, which nothing reads.
"""
from __future__ import annotations

import getpass
import inspect
import json

import nbformat
import pytest
from jupyter_server.auth.identity import IdentityProvider, User
from tornado.httpclient import HTTPClientError

from codex_nb import audit
from test_server import in_loop, post
from pytest_jupyter.jupyter_server import *  # noqa: E402,F401,F403


class NamedIdentity(IdentityProvider):
    """Every authenticated request is the user "ann" (what a hub or a login page would establish)."""

    def get_user(self, handler):
        user = super().get_user(handler)
        if inspect.isawaitable(user):
            async def named():
                return User(username="ann") if await user else None
            return named()
        return User(username="ann") if user else None


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"codex_nb": True}, "identity_provider_class": NamedIdentity}}


@pytest.fixture
def notebook(jp_root_dir, monkeypatch, tmp_path):
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("CODEX_NB_HISTORY_DIR", str(tmp_path / "history"))
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(log))
    (jp_root_dir / ".git").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", id="c1")]
    nbformat.write(nb, jp_root_dir / "nb.ipynb")
    return log


async def test_a_client_cannot_choose_who_or_when(jp_fetch, notebook):
    me = json.loads((await jp_fetch("api", "me")).body)["identity"]["username"]
    assert me == "ann" != getpass.getuser()
    proposal = {"version": 1, "id": "p-1", "explanation": "", "edits": [
        {"op": "insert", "new_id": "n1", "source": "y = 2"}, {"op": "insert", "new_id": "n2", "source": "z = 3"}]}
    forged = {"user": "mallory", "time": "1999-01-01T00:00:00.000Z", "seq": 7, "prev": "f" * 64, "hash": "0" * 64}
    resp = await post(jp_fetch, "reject", {"path": "nb.ipynb", "proposal": proposal, "edit_indexes": [1], **forged,
                                           "settings": forged})
    assert json.loads(resp.body) == {"rejected": [1]}
    [entry] = audit.read_log(notebook)
    assert (entry["user"], entry["seq"], entry["prev"]) == ("ann", 1, "0" * 64)
    assert not entry["time"].startswith("1999") and entry["hash"] == audit.entry_hash(entry)
    assert (entry["event"], entry["decision"], entry["source"], entry["edits"]) == ("decided", "rejected", "server", [1])
    assert audit.verify(notebook).ok
    with pytest.raises(HTTPClientError) as exc:  # and no route takes audit lines from a client at all
        await post(jp_fetch, "audit", {"path": "nb.ipynb", "event": "decided", "fields": forged})
    assert exc.value.code == 405



async def test_a_chat_turn_is_recorded_as_the_identity_providers_user(jp_fetch, notebook, scripted_llm):
    scripted_llm.queue({"explanation": "Add a cell.", "edits": [{"op": "insert", "cell_id": "end", "cell_type": "code",
                                                                  "source": "y = 2"}]})
    await post(jp_fetch, "chat", {"instruction": "add y", "path": "nb.ipynb"})
    (entry,) = [e for e in audit.read_log(notebook) if e["event"] == "proposed"]
    assert (entry["user"], entry["edits"]) == ("ann", ["insert"])
    assert audit.validate_entry(entry) == []

for _name, _fn in list(globals().items()):
    if _name.startswith("test_") and inspect.iscoroutinefunction(_fn):
        globals()[_name] = in_loop(_fn)
