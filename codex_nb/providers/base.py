"""The provider interface: one streaming generator per backend.

A provider yields ``TextDelta`` events as text arrives and finishes with one
``Completion`` carrying the whole text, the token usage and why it stopped.
Capabilities are class attributes so front doors can ask without calling.

``stream`` is for blocking callers (CLI, magics). ``astream`` is for an event loop
(the server): network providers read their API asynchronously there, so many
concurrent chats need no thread each; any other provider runs ``stream`` in a
thread and hands its events to the loop.
"""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import AsyncIterator, Iterator, Union


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class TextDelta:
    text: str
    #: the stream was retried after a dropped connection: discard the text shown so far
    restart: bool = False
    #: a message about the stream for the person (a silent model, a retry after a rate limit), not answer text
    notice: bool = False


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = "stop"  # "stop" | "length" | "cancelled" | …


StreamEvent = Union[TextDelta, Completion]


@dataclass(frozen=True)
class StructuredOutput:
    """Ask the model for JSON matching ``schema`` (named ``name`` where the API wants a name)."""

    schema: dict
    name: str = "proposal"


class Provider:
    """Base class. Subclasses set the attributes and implement ``stream``."""

    name: str = ""
    #: the model honours a JSON schema natively (constrained decoding, json_schema or tool use)
    supports_structured_output: bool = False
    #: sensible total context budget in tokens for this provider's models
    default_context_tokens: int = 24000
    #: bounds of the answer schema (edits per answer, characters per source and explanation) and
    #: whether repository file patches are offered; small models do better with a narrower schema
    answer_limits: dict = {"max_edits": 8, "max_source": 4000, "max_explanation": 1200}
    offers_file_patches: bool = True
    #: cap on answer tokens whatever the configuration says (None: no cap of its own)
    max_answer_tokens: int | None = None

    def __init__(self, model: str, **options):
        self.model = model
        self.options = options

    @property
    def model_id(self) -> str:
        return f"{self.name}:{self.model}"

    def stream(
        self,
        messages: list[dict],
        *,
        structured: StructuredOutput | None = None,
        max_tokens: int = 2048,
        temperature: float = 0.2,
        cancel: threading.Event | None = None,
    ) -> Iterator[StreamEvent]:
        raise NotImplementedError

    async def astream(
        self,
        messages: list[dict],
        *,
        structured: StructuredOutput | None = None,
        max_tokens: int = 2048,
        temperature: float = 0.2,
        cancel: threading.Event | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """``stream`` for an event loop. This default runs ``stream`` in a thread of its own."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        stop = _StopSignal(cancel)
        finished = object()

        def post(item) -> bool:
            """Hand an item to the loop; False once nobody is listening (the consumer left, the loop closed)."""
            if stop.gone.is_set():
                return False
            try:
                loop.call_soon_threadsafe(events.put_nowait, item)
            except RuntimeError:  # the loop has closed
                stop.set()
                return False
            return True

        def produce() -> None:
            try:
                for event in self.stream(messages, structured=structured, max_tokens=max_tokens,
                                         temperature=temperature, cancel=stop):
                    if not post(event):
                        return
            except BaseException as exc:  # noqa: BLE001 - re-raised on the loop
                post(exc)
            finally:
                post(finished)

        worker = threading.Thread(target=produce, name=f"codex-nb-{self.name}-stream", daemon=True)
        worker.start()
        try:
            while (event := await events.get()) is not finished:
                if isinstance(event, BaseException):
                    raise event
                yield event
        finally:
            stop.set()  # a consumer that stops early (or is cancelled) stops the thread too

    def complete(self, messages: list[dict], **kw) -> Completion:
        """Drain ``stream`` and return the final completion."""
        final = None
        for event in self.stream(messages, **kw):
            if isinstance(event, Completion):
                final = event
        assert final is not None, f"{self.name} stream ended without a Completion"
        return final

    @classmethod
    def status(cls, model: str = "") -> dict:
        """Is this provider configured here (key, weights), without calling the network?"""
        return {"configured": True, "detail": ""}


class _StopSignal:
    """Reads as set once the caller cancels or the consumer has gone (an Event to ``stream``)."""

    def __init__(self, cancel: threading.Event | None):
        self.cancel = cancel
        self.gone = threading.Event()

    def set(self) -> None:
        self.gone.set()

    def is_set(self) -> bool:
        return self.gone.is_set() or (self.cancel is not None and self.cancel.is_set())

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.is_set() and (left := deadline - time.monotonic()) > 0:
            self.gone.wait(min(left, 0.05))
        return self.is_set()

