"""The provider interface: one streaming generator per backend.

A provider yields ``TextDelta`` events as text arrives and finishes with one
``Completion`` carrying the whole text, the token usage and why it stopped.
Capabilities are class attributes so front doors can ask without calling.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Iterator, Union


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
