"""The embedded model (SmolLM2 through xllamacpp) streams under the same guard as the network providers:
a total deadline that stops generation with a clear message, and a notice when the model is silent."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from codex_nb.providers.base import Completion, TextDelta
from codex_nb.providers.local_provider import LocalProvider, load_server, resolve_gguf
from codex_nb.providers.retry import StreamDeadline, StreamLimits

pytestmark = pytest.mark.embedded

LONG_TASK = [{"role": "user", "content": "Write the numbers from 1 to 5000, one per line, and nothing else."}]


@pytest.fixture(scope="module")
def provider():
    p = LocalProvider()
    load_server(resolve_gguf(p.model), p.n_ctx)  # loaded up front: the limits below are about generation
    return p


def with_limits(monkeypatch, **kw):
    chosen = StreamLimits(**kw)
    monkeypatch.setattr(StreamLimits, "from_config", classmethod(lambda cls: chosen))
    return chosen


def _generating() -> bool:
    return any(t.name == "codex-nb-local-model" and t.is_alive() for t in threading.enumerate())


def test_the_deadline_stops_generation_and_says_so(provider, monkeypatch):
    with_limits(monkeypatch, deadline=1.0, silent_notice=60.0)
    shown = []
    with pytest.raises(StreamDeadline) as exc:
        for event in provider.stream(LONG_TASK, max_tokens=4000, temperature=0.0):
            shown.append(event)
    assert "the embedded model did not finish its answer within 1 s" in exc.value.message
    assert "stream_deadline" in exc.value.hint
    assert not any(isinstance(e, Completion) for e in shown)
    # llama.cpp was asked to stop: its thread ends long before 4,000 tokens could have been written
    for _ in range(300):
        if not _generating():
            break
        time.sleep(0.1)
    assert not _generating()


def test_a_silent_model_is_reported_then_its_answer_is_read(provider, monkeypatch):
    with_limits(monkeypatch, deadline=120.0, silent_notice=0.001)

    async def drain():
        return [e async for e in provider.astream([{"role": "user", "content": "Say hello."}], max_tokens=8)]

    events = asyncio.run(drain())
    notices = [e for e in events if isinstance(e, TextDelta) and e.notice]
    assert len(notices) == 1 and "the embedded model has sent nothing for" in notices[0].text
    assert "Cancel to stop" in notices[0].text
    assert isinstance(events[-1], Completion) and events[-1].usage.completion_tokens > 0
    assert notices[0].text not in events[-1].text  # the notice is for the person, not part of the answer
