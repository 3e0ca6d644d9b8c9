"""Fault server: streams that never end, say nothing, reset, rate-limit, or carry unreadable JSON.

Every case runs against the scripted model on loopback through the installed openai SDK, in
both the blocking path (CLI, magics) and the event-loop path (server), and must end in bounded
time with a clear message; retries are counted by the requests the server received.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from codex_nb.errors import ProviderError
from codex_nb.limits import AnswerTooLarge
from codex_nb.providers.base import Completion, TextDelta
from codex_nb.providers.openai_provider import OpenAIProvider
from codex_nb.providers.retry import StreamDeadline, StreamLimits, retrying

MESSAGES = [{"role": "user", "content": "hi"}]


def provider(llm, **kw):
    return OpenAIProvider("scripted-model", base_url=llm.url, api_key="x", **kw)


def drain_sync(p, **kw):
    return list(p.stream(MESSAGES, **kw))


def drain_async(p, **kw):
    async def run():
        return [e async for e in p.astream(MESSAGES, **kw)]
    return asyncio.run(run())


DRAINS = {"blocking": drain_sync, "event loop": drain_async}


@pytest.fixture
def limits(monkeypatch):
    """Short limits for every stream of the test (what c.CodexNB.stream_deadline / silent_notice_after set)."""
    chosen = StreamLimits(deadline=2.0, silent_notice=0.5, max_chars=50_000, max_retry_after=5.0)
    monkeypatch.setattr(StreamLimits, "from_config", classmethod(lambda cls: chosen))
    return chosen


@pytest.mark.parametrize("door", DRAINS)
def test_a_reset_mid_stream_is_retried_with_the_installed_sdk(scripted_llm, door, limits):
    scripted_llm.queue("the first try is cut off here", reset_after=2)
    scripted_llm.queue("the second try completes")
    events = DRAINS[door](provider(scripted_llm))
    assert any(isinstance(e, TextDelta) and e.restart for e in events)  # the front end discards what it showed
    assert events[-1].text == "the second try completes"
    assert len(scripted_llm.requests) == 2


@pytest.mark.parametrize("door", DRAINS)
def test_an_endless_stream_is_cut_off_at_the_deadline_and_not_retried(scripted_llm, door, limits):
    scripted_llm.queue("more ", endless=True, chunk_delay=0.01)
    with pytest.raises(StreamDeadline) as err:
        DRAINS[door](provider(scripted_llm))
    assert "did not finish its answer within 2 s" in err.value.message and "stream_deadline" in err.value.hint
    assert len(scripted_llm.requests) == 1


@pytest.mark.parametrize("door", DRAINS)
def test_a_keepalive_only_stream_is_reported_as_silent_then_stopped(scripted_llm, door, limits):
    scripted_llm.queue(keepalive_only=True, chunk_delay=0.05)
    shown = []
    with pytest.raises(StreamDeadline):
        for_each(DRAINS[door], provider(scripted_llm), shown)
    notices = [e.text for e in shown if isinstance(e, TextDelta) and e.notice]
    assert len(notices) == 1 and "has sent nothing for 0.5 s" in notices[0] and "still waiting" in notices[0]


def for_each(drain, p, shown):
    """Drain, keeping the events seen before an error."""
    if drain is drain_sync:
        for e in p.stream(MESSAGES):
            shown.append(e)
        return

    async def run():
        async for e in p.astream(MESSAGES):
            shown.append(e)
    asyncio.run(run())


@pytest.mark.parametrize("door", DRAINS)
def test_an_oversize_answer_stops_reading_at_the_cap_and_is_not_retried(scripted_llm, door, limits):
    scripted_llm.queue("x" * 200_000, chunk_size=4096)
    with pytest.raises(AnswerTooLarge) as err:
        DRAINS[door](provider(scripted_llm))
    assert "passed 50,000 characters" in err.value.message
    assert len(scripted_llm.requests) == 1


@pytest.mark.parametrize("door", DRAINS)
def test_retry_after_on_429_is_honoured_and_said(scripted_llm, door, limits):
    scripted_llm.queue(status=429, retry_after="1")
    scripted_llm.queue("after the wait")
    events = DRAINS[door](provider(scripted_llm))
    notices = [e.text for e in events if isinstance(e, TextDelta) and e.notice]
    assert any("asks to wait 1 s" in n for n in notices)
    assert events[-1].text == "after the wait" and len(scripted_llm.requests) == 2


def test_a_retry_after_beyond_the_bound_is_reported_not_waited_for(scripted_llm, limits):
    scripted_llm.queue(status=429, retry_after="3600")
    with pytest.raises(ProviderError) as err:
        drain_sync(provider(scripted_llm))
    assert "asks to wait 3600 s" in err.value.message and len(scripted_llm.requests) == 1


@pytest.mark.parametrize("door", DRAINS)
def test_deeply_nested_chunks_give_a_clear_error(scripted_llm, door, limits):
    deep = "[" * 100_000 + "]" * 100_000
    scripted_llm.queue(raw_body=f"data: {deep}\n\n".encode())
    with pytest.raises(ProviderError) as err:
        DRAINS[door](provider(scripted_llm, attempts=1))
    assert "nested too deeply" in err.value.message


@pytest.mark.parametrize("door", DRAINS)
def test_lone_surrogates_in_an_answer_become_printable_text(scripted_llm, door, limits):
    chunk = {"choices": [{"index": 0, "delta": {"content": "bad \\ud800 char"}, "finish_reason": "stop"}]}
    body = ("data: " + json.dumps(chunk).replace("\\\\ud800", "\\ud800") + "\n\ndata: [DONE]\n\n").encode()
    scripted_llm.queue(raw_body=body)
    final = DRAINS[door](provider(scripted_llm))[-1]
    assert isinstance(final, Completion)
    final.text.encode("utf-8")  # would raise UnicodeEncodeError on a lone surrogate
    assert final.text == "bad \ufffd char"


@pytest.mark.parametrize("door", DRAINS)
def test_a_model_silent_before_its_first_byte_is_reported_then_read(scripted_llm, door, limits):
    scripted_llm.queue("finally", delay=1.2)
    shown = []
    for_each(DRAINS[door], provider(scripted_llm), shown)
    notices = [e.text for e in shown if isinstance(e, TextDelta) and e.notice]
    assert len(notices) == 1 and "may be loading or busy" in notices[0]
    assert shown[-1].text == "finally" and len(scripted_llm.requests) == 1


def test_the_guard_counts_retries_and_stops_at_the_deadline_across_attempts():
    limits = StreamLimits(deadline=1.0, silent_notice=10.0)
    attempts = []

    def open_stream(stop):
        attempts.append(1)
        raise ConnectionError("reset")
        yield  # a generator

    with pytest.raises(ProviderError):
        list(retrying(open_stream, attempts=50, retryable=lambda e: True,
                      translate=lambda e, exhausted=False: ProviderError(str(e)), cancel=None, model_id="m",
                      limits=limits))
    assert 1 < len(attempts) < 50  # retried, but the deadline ended it long before fifty attempts


def test_a_consumer_that_stops_early_stops_the_reader(scripted_llm, limits):
    scripted_llm.queue("more ", endless=True, chunk_delay=0.01)
    stream = provider(scripted_llm).stream(MESSAGES)
    assert isinstance(next(stream), TextDelta)
    stream.close()  # the person cancelled: the endless stream must not be read on in the background
    deadline = time.monotonic() + 5
    while any(t.name == "codex-nb-stream" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "codex-nb-stream" for t in threading.enumerate())
