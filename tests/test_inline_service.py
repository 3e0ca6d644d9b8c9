"""The completion service and context builder: ordering, limits, cache bounds, budget and redaction.
The model is the scripted OpenAI-compatible server on loopback."""
from __future__ import annotations

import asyncio

import pytest

from codex_nb.completion.backends import CompletionsBackend
from codex_nb.completion.context import NeighbourCell, build_context, tail_to_tokens
from codex_nb.completion.repo_symbols import imported_names, repo_signatures
from codex_nb.completion.service import CompletionService, Job, LineLimit
from codex_nb.context.tokens import count_tokens
from codex_nb.providers.clients import close_async_clients


def backend(llm):
    from codex_nb.providers.openai_provider import OpenAIProvider

    return CompletionsBackend("openai:scripted-model", OpenAIProvider("scripted-model", base_url=llm.url, api_key="k"))


def job(llm_backend, prefix: str, editor: str = "nb/c1", **kw) -> Job:
    return Job(editor_id=editor, backend=llm_backend, ctx=build_context(prefix), raw_prefix=prefix, max_lines=3, **kw)


def run(coro):
    async def go():
        try:
            return await coro
        finally:
            await close_async_clients()

    return asyncio.run(go())


def test_an_older_request_that_arrives_late_does_not_displace_the_newer(scripted_llm):
    scripted_llm.queue_completion("newer()")
    service, b = CompletionService(), backend(scripted_llm)
    older = job(b, "x = ", seq=service.arrive("nb/c1"))
    newer = job(b, "x = n", seq=service.arrive("nb/c1"))
    assert run(service.complete(newer, lambda t: None)).text == "newer()"
    late = run(service.complete(older, lambda t: None))
    assert late.cancelled and len(scripted_llm.requests) == 1  # no model call for the superseded request


def test_the_cache_is_bounded(scripted_llm):
    service, b = CompletionService(cache_size=3), backend(scripted_llm)
    for i in range(5):
        service.remember(job(b, f"v{i} = "), f"answer{i}")
    assert len(service.cache) == 3
    assert service.lookup(job(b, "v0 = ")) is None and service.lookup(job(b, "v4 = ")) == "answer4"
    assert service.lookup(job(b, "v4 = ans")) == "wer4"  # typing through what was suggested


@pytest.mark.parametrize("pieces,max_lines,suffix,expected", [
    (["a = 1\nb", " = 2\nc = 3\n"], 2, "", "a = 1\nb = 2"),
    (["x)\nprint(y)\nz = 1"], 3, "\nprint(y)\n", "x)"),  # stops where the code after the cursor begins
    (["only_one_line()"], 1, "", "only_one_line()"),
    (["\n\n"], 2, "", ""),
])
def test_line_limit(pieces, max_lines, suffix, expected):
    limit = LineLimit(max_lines, suffix)
    kept = "".join(limit.feed(p) for p in pieces)
    assert limit.result() == expected and kept.rstrip("\n") == expected


def test_context_fits_the_budget_and_keeps_what_is_nearest_the_cursor():
    above = [NeighbourCell("code", f"step_{i} = compute({i})\n" * 20) for i in range(30)]
    prefix = "".join(f"line_{i} = {i}\n" for i in range(400)) + "result = "
    ctx = build_context(prefix, "\nprint(result)", above=above, budget=600)
    total = sum(count_tokens(t) for t in (ctx.prefix, ctx.suffix, ctx.above, ctx.below, ctx.kernel, ctx.repo))
    assert total <= 600 * 1.05
    assert ctx.prefix.endswith("line_399 = 399\nresult = ")  # the end of the cell survives
    assert "step_29" in ctx.above and "step_0 " not in ctx.above  # the nearest cells above survive
    assert tail_to_tokens("x" * 10_000, 10)  # one very long line still leaves its end


def test_secret_named_variables_and_keys_never_reach_the_context():
    state = {"variables": [{"name": "api_token", "type": "str", "preview": "[REDACTED]", "redacted": True},
                           {"name": "df", "type": "pandas.DataFrame", "shape": [3, 1], "columns": {"a": "int64"}}]}
    ctx = build_context("key = 'ghp_" + "a" * 36 + "'\nx = ", kernel_state=state)
    assert "ghp_" not in ctx.prefix and "[REDACTED]" in ctx.prefix
    assert "df: pandas.DataFrame shape=(3, 1) columns=[a:int64]" in ctx.kernel


def test_repository_signatures_of_imported_symbols(tmp_path):
    (tmp_path / ".git").mkdir()
    pkg = tmp_path / "shop"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "io.py").write_text("class Loader:\n    def __init__(self, root, *, cache=True):\n        pass\n\n"
                               "def read_orders(path, sep=','):\n    '''Orders as a table.'''\n")
    assert imported_names("from shop.io import (Loader, read_orders as ro)\nimport shop.io as sio") == [
        ("shop.io", "Loader"), ("shop.io", "read_orders"), ("shop.io", None)]
    text = repo_signatures("from shop.io import read_orders\nimport numpy", tmp_path)
    assert text == "# shop.io: def read_orders(path, sep=',')  # Orders as a table."
    whole = repo_signatures("from shop import io", tmp_path)  # a module imported from its package
    assert "class Loader  # __init__(self, root, *, cache=True)" in whole and "read_orders" in whole


@pytest.mark.parametrize("env,config,enabled,kind", [
    ({"OPENAI_API_KEY": "sk-x"}, {"completion_model": "openai:gpt-4.1-mini"}, False, "chat"),  # paid: off by default
    ({"OPENAI_API_KEY": "sk-x"}, {"completion_model": "openai:gpt-4.1-mini", "completion_enabled": "on"}, True, "chat"),
    ({"ANTHROPIC_API_KEY": "sk-ant-x"}, {"completion_model": "anthropic:claude-sonnet-4-5"}, False, "chat"),
    ({"OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}, {"model": "openai:served"}, True, "completions"),
    ({}, {"completion_model": "ollama:qwen2.5-coder:1.5b"}, True, "completions"),
    ({}, {"completion_model": "local:smollm2"}, True, "embedded"),
    ({}, {"completion_model": "local:/models/qwen2.5-coder-1.5b.gguf"}, True, "infill"),
    ({}, {"completion_model": "local:smollm2", "completion_enabled": "off"}, False, "embedded"),
])
def test_completion_is_on_by_default_only_where_it_costs_nothing(monkeypatch, env, config, enabled, kind):
    from codex_nb.completion.models import settings
    from codex_nb.config import CodexNB

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    chosen = settings(CodexNB(**config))
    assert (chosen.enabled, chosen.backend_kind) == (enabled, kind)
    assert chosen.demonstration == (chosen.model_id == "local:smollm2")
    assert chosen.to_json()["note"].startswith("local:smollm2 is a 135M") == chosen.demonstration
