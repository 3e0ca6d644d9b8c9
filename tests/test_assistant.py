"""The shared pipeline (codex_nb.assistant.run) against the scripted model over loopback HTTP."""
import json
import os
import threading

import nbformat
import pytest

from codex_nb import assistant
from nb_factory import write_notebook

FAKE_KEY = "sk-proj-" + "Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7"


@pytest.fixture
def notebook(tmp_path):
    (tmp_path / ".git").mkdir()
    return write_notebook(tmp_path / "nb.ipynb", {"only": "total = 1 + 1"})


def test_instruction_and_attachments_are_redacted_before_they_leave(notebook, scripted_llm):
    scripted_llm.queue({"explanation": "ok", "edits": []})
    assistant.run("propose", f"use my key {FAKE_KEY} to call the API", notebook=notebook,
                  extra_context=f"OPENAI_API_KEY={FAKE_KEY}")
    sent = scripted_llm.all_request_text()
    assert FAKE_KEY not in sent and "[REDACTED]" in sent


def test_ask_streams_deltas_and_returns_markdown(notebook, scripted_llm):
    scripted_llm.queue("`total` holds **2**.", chunk_size=3)
    seen = []
    result = assistant.run("ask", "what is total?", notebook=notebook, on_delta=seen.append)
    assert "".join(seen) == "`total` holds **2**." and result.text == "`total` holds **2**."
    assert result.proposal is None and "response_format" not in scripted_llm.requests[-1]


def test_live_notebook_content_wins_over_the_file(notebook, scripted_llm):
    live = nbformat.read(notebook, as_version=4)
    live.cells[0].source = "total = 40 + 2  # unsaved edit"
    scripted_llm.queue({"explanation": "x", "edits": [
        {"op": "replace", "cell_id": "only", "cell_type": "code", "source": "total = 42"}]})
    result = assistant.run("propose", "simplify", notebook=notebook, notebook_node=live)
    assert "unsaved edit" in scripted_llm.requests[-1]["messages"][-1]["content"]
    from codex_nb.notebook_io import source_hash

    assert result.proposal.edits[0].base_hash == source_hash("total = 40 + 2  # unsaved edit")


def test_cancel_returns_a_cancelled_result(notebook, scripted_llm):
    scripted_llm.queue("y" * 300, chunk_size=2, chunk_delay=0.02)
    cancel = threading.Event()

    def on_delta(text):
        cancel.set()

    result = assistant.run("ask", "talk", notebook=notebook, on_delta=on_delta, cancel=cancel)
    assert result.cancelled and len(result.text) < 300


def test_repair_sends_the_failure_and_the_failed_edit(notebook, scripted_llm):
    from codex_nb.edits.model import Proposal, ReplaceCell
    from codex_nb.notebook_io import source_hash

    broken = Proposal("x", (ReplaceCell("only", "total = one + 1", source_hash("total = 1 + 1")),))
    scripted_llm.queue({"explanation": "use a literal", "edits": [
        {"op": "replace", "cell_id": "only", "cell_type": "code", "source": "total = 2"}]})
    fixed = assistant.repair(notebook, broken, {"cell_id": "only", "ename": "NameError",
                                                "evalue": "name 'one' is not defined", "traceback": ["NameError: ..."]})
    prompt = scripted_llm.requests[-1]["messages"][-1]["content"]
    assert "NameError" in prompt and "total = one + 1" in prompt
    assert fixed.edits[0].source == "total = 2"
    log = [json.loads(line) for line in open(os.environ["CODEX_NB_AUDIT_LOG"])]
    assert log[-1]["kind"] == "fix"


def test_arun_streams_on_the_event_loop_and_retries_a_malformed_proposal(notebook, scripted_llm):
    import asyncio

    from codex_nb.providers.clients import close_async_clients

    scripted_llm.queue("not a proposal at all", chunk_size=5)
    scripted_llm.queue({"explanation": "Doubled.", "edits": [
        {"op": "replace", "cell_id": "only", "cell_type": "code", "source": "total = 2 * (1 + 1)"}]}, chunk_size=7)

    async def ask():
        loop_thread = threading.get_ident()
        threads = set()

        def on_delta(text):
            threads.add(threading.get_ident())

        try:
            return await assistant.arun("propose", "double it", notebook=notebook, on_delta=on_delta), threads, loop_thread
        finally:
            await close_async_clients()

    result, threads, loop_thread = asyncio.run(ask())
    assert threads == {loop_thread}  # deltas arrive on the loop, not from a worker thread
    assert result.proposal.edits[0].source == "total = 2 * (1 + 1)" and result.text == "Doubled."
    assert len(scripted_llm.requests) == 2  # the malformed answer was sent back with the problem
    assert "not a proposal at all" in json.dumps(scripted_llm.requests[1]["messages"])
