"""Anthropic through its official SDK (install the `anthropic` extra).

Structured output uses a forced tool call whose input schema is the proposal
schema; the tool input streams as JSON text, which front doors show as it comes.
"""
from __future__ import annotations

import os
import threading
from typing import AsyncIterator, Iterator

from ..errors import ConfigurationError, ProviderError
from .base import Completion, Provider, StreamEvent, StructuredOutput, TextDelta, Usage
from .clients import aiohttp_transport, shared_async_client, shared_client
from ..limits import clean_text
from .retry import PartialStream, aretrying, is_connection_failure, retrying

DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-4-5"


class AnthropicProvider(Provider):
    name = "anthropic"
    supports_structured_output = True
    default_context_tokens = 32000

    def __init__(self, model: str = "", *, api_key: str | None = None, base_url: str | None = None,
                 timeout: float = 120.0, attempts: int = 3, **options):
        super().__init__(model or DEFAULT_ANTHROPIC_MODEL, **options)
        self.api_key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        self.base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL")
        self.timeout = timeout
        self.attempts = max(1, attempts)

    def _sdk(self):
        if not self.api_key:
            raise ConfigurationError("No key found for Anthropic",
                                     hint="set ANTHROPIC_API_KEY, or use --model local:smollm2 (offline)")
        try:
            import anthropic
        except ImportError:
            raise ConfigurationError("the anthropic SDK is not installed",
                                     hint='pip install "codex-nb[anthropic]"') from None
        return anthropic

    @property
    def client(self):
        sdk = self._sdk()
        return shared_client(("anthropic", self.api_key, self.base_url, self.timeout), lambda: sdk.Anthropic(
            api_key=self.api_key, base_url=self.base_url, timeout=self.timeout, max_retries=0))

    @property
    def async_client(self):
        """The SDK's async client for the running event loop (its connections belong to that loop)."""
        sdk = self._sdk()
        return shared_async_client(("anthropic", self.api_key, self.base_url, self.timeout), lambda: sdk.AsyncAnthropic(
            api_key=self.api_key, base_url=self.base_url, timeout=self.timeout, max_retries=0,
            http_client=aiohttp_transport(sdk)))

    def _request(self, messages: list[dict], structured: StructuredOutput | None, max_tokens: int) -> dict:
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        chat = [m for m in messages if m["role"] != "system"]
        # Current Anthropic models choose their own sampling; the SDK no longer takes a temperature.
        req = {"model": self.model, "max_tokens": max_tokens, "messages": chat, "stream": True}
        if system:
            req["system"] = system
        if structured is not None:
            req["tools"] = [{"name": structured.name, "description": "Return the result in this structure.",
                             "input_schema": structured.schema}]
            req["tool_choice"] = {"type": "tool", "name": structured.name}
        return req

    def stream(self, messages: list[dict], *, structured: StructuredOutput | None = None, max_tokens: int = 2048,
               temperature: float = 0.2, cancel: threading.Event | None = None) -> Iterator[StreamEvent]:
        req = self._request(messages, structured, max_tokens)
        yield from retrying(lambda stop: self._stream_once(req, stop), attempts=self.attempts, retryable=_retryable,
                            translate=self._translate, cancel=cancel, model_id=self.model_id,
                            where=self.base_url or "api.anthropic.com")

    async def astream(self, messages: list[dict], *, structured: StructuredOutput | None = None, max_tokens: int = 2048,
                      temperature: float = 0.2, cancel: threading.Event | None = None) -> AsyncIterator[StreamEvent]:
        """``stream`` read on the event loop through the SDK's async client: no thread per chat."""
        req = self._request(messages, structured, max_tokens)
        async for event in aretrying(lambda stop: self._astream_once(req, stop), attempts=self.attempts,
                                     retryable=_retryable, translate=self._translate, cancel=cancel,
                                     model_id=self.model_id, where=self.base_url or "api.anthropic.com"):
            yield event

    def _stream_once(self, req, cancel) -> Iterator[StreamEvent]:
        reader = _EventReader(self.model_id)
        stream = self.client.messages.create(**req)
        try:
            for event in stream:
                if cancel is not None and cancel.is_set():
                    yield reader.completion("cancelled")
                    return
                if text := reader.read(event):
                    yield TextDelta(text)
        except Exception as exc:
            raise reader.failure(exc) from exc
        finally:
            stream.close()
        yield reader.completion()

    async def _astream_once(self, req, cancel) -> AsyncIterator[StreamEvent]:
        reader = _EventReader(self.model_id)
        stream = await self.async_client.messages.create(**req)
        try:
            async for event in stream:
                if cancel is not None and cancel.is_set():
                    yield reader.completion("cancelled")
                    return
                if text := reader.read(event):
                    yield TextDelta(text)
        except Exception as exc:
            raise reader.failure(exc) from exc
        finally:
            await stream.close()
        yield reader.completion()

    def _translate(self, exc: Exception, exhausted: bool = False) -> Exception:
        import anthropic

        tries = f" after {self.attempts} attempts" if exhausted else ""
        where = self.base_url or "api.anthropic.com"
        if isinstance(exc, anthropic.AuthenticationError):
            return ConfigurationError(f"{where} rejected the API key", hint="check ANTHROPIC_API_KEY")
        if isinstance(exc, anthropic.NotFoundError):
            return ConfigurationError(f"model {self.model!r} was not found at {where}", hint="pick another with --model anthropic:NAME")
        if isinstance(exc, anthropic.APITimeoutError):
            return ProviderError(f"{where} did not answer within {self.timeout:g}s{tries}", hint="try again")
        if isinstance(exc, anthropic.APIConnectionError):
            return ProviderError(f"cannot reach {where}{tries}", hint="check the network and any proxy settings")
        if isinstance(exc, anthropic.APIStatusError):
            return ProviderError(f"{where} answered {exc.status_code}{tries}", hint="try again later")
        if isinstance(exc, (ConfigurationError, ProviderError)):
            return exc
        return ProviderError(f"the stream from {where} failed{tries}: {exc}", hint="try again")

    @classmethod
    def status(cls, model: str = "") -> dict:
        if not os.environ.get("ANTHROPIC_API_KEY"):
            return {"configured": False, "detail": "set ANTHROPIC_API_KEY"}
        try:
            import anthropic  # noqa: F401
        except ImportError:
            return {"configured": False, "detail": 'pip install "codex-nb[anthropic]"'}
        return {"configured": True, "detail": "ANTHROPIC_API_KEY is set"}


class _EventReader:
    """Turns Messages stream events into text, usage and a finish reason (one per attempt)."""

    def __init__(self, model_id: str):
        self.model_id = model_id
        self.shown: list[str] = []
        self.usage_in = self.usage_out = 0
        self.finish = "stop"

    def read(self, event) -> str:
        kind = event.type
        if kind == "message_start":
            self.usage_in = event.message.usage.input_tokens or 0
        elif kind == "content_block_delta":
            text = getattr(event.delta, "text", None) or getattr(event.delta, "partial_json", None) or ""
            if text:
                text = clean_text(text)  # a lone surrogate cannot be printed or stored
                self.shown.append(text)
            return text
        elif kind == "message_delta":
            self.usage_out = getattr(event.usage, "output_tokens", 0) or 0
            self.finish = {"max_tokens": "length"}.get(event.delta.stop_reason, "stop")
        return ""

    def failure(self, exc: Exception) -> Exception:
        return PartialStream(exc) if self.shown else exc

    def completion(self, finish: str | None = None) -> Completion:
        return Completion("".join(self.shown), self.model_id, Usage(self.usage_in, self.usage_out), finish or self.finish)


def _retryable(exc: Exception) -> bool:
    try:
        import anthropic
    except ImportError:
        return False
    if isinstance(exc, (anthropic.APIConnectionError, anthropic.RateLimitError, anthropic.InternalServerError)):
        return True
    if is_connection_failure(exc):
        return True
    return isinstance(exc, anthropic.APIStatusError) and (exc.status_code in (408, 429) or exc.status_code >= 500)
