"""OpenAI and every OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio, Azure, OpenRouter).

The official SDK reads OPENAI_API_KEY, OPENAI_BASE_URL, proxies (HTTPS_PROXY …)
and CA bundles (SSL_CERT_FILE) itself; we only add retries that also cover a
stream dropped half-way, and errors that say how to fix the problem.
"""
from __future__ import annotations

import json
import os
import threading
from typing import AsyncIterator, Iterator

from ..errors import ConfigurationError, ProviderError
from .base import Completion, Provider, StreamEvent, StructuredOutput, TextDelta, Usage
from .clients import aiohttp_transport, shared_async_client, shared_client
from ..limits import clean_text
from .retry import PartialStream, aretrying, is_connection_failure, retrying

DEFAULT_OPENAI_MODEL = "gpt-4.1-mini"


class OpenAIProvider(Provider):
    name = "openai"
    supports_structured_output = True
    default_base_url: str | None = None  # None: the SDK's own (api.openai.com or OPENAI_BASE_URL)
    key_env = "OPENAI_API_KEY"

    def __init__(self, model: str = "", *, base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 120.0, attempts: int = 3, **options):
        super().__init__(model, **options)
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or self.default_base_url
        self.api_key = api_key or os.environ.get(self.key_env) or self._keyless_default()
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self._client = None
        self._send_schema = True
        self._send_usage_option = True

    def _keyless_default(self) -> str | None:
        # Local OpenAI-compatible servers accept any key; the SDK insists on one.
        return "not-needed" if self.base_url else None

    # -- client ----------------------------------------------------------
    @property
    def client(self):
        if self._client is None:
            if not self.api_key:
                raise ConfigurationError(
                    "No key found for OpenAI",
                    hint="set OPENAI_API_KEY, point OPENAI_BASE_URL at an OpenAI-compatible server, "
                    "or use --model local:smollm2 (offline)",
                )
            self._client = _shared_client(self.api_key, self.base_url, self.timeout)
        return self._client

    @property
    def async_client(self):
        """The SDK's async client for the running event loop (its connections belong to that loop)."""
        self.client  # the same key check, the same message
        return _shared_async_client(self.api_key, self.base_url, self.timeout)

    def resolved_model(self) -> str:
        if not self.model:
            self.model = self._first_served_model() if self.base_url else DEFAULT_OPENAI_MODEL
        return self.model

    def _first_served_model(self) -> str:
        """A bare `openai` id against a custom server means "whatever it serves"."""
        try:
            served = [m.id for m in self.client.models.list()]
        except Exception as exc:
            raise self._translate(exc) from exc
        if not served:
            raise ConfigurationError(f"{self.base_url} serves no models", hint="load a model in the server, or name one: --model openai:NAME")
        return served[0]

    def list_models(self) -> list[str]:
        try:
            return [m.id for m in self.client.models.list()]
        except Exception as exc:
            raise self._translate(exc) from exc

    # -- streaming -------------------------------------------------------
    def _request(self, messages, structured, max_tokens, temperature) -> dict:
        req = {"model": self.resolved_model(), "messages": messages, "stream": True,
               "max_tokens": max_tokens, "temperature": temperature}
        if self._send_usage_option:
            req["stream_options"] = {"include_usage": True}
        if structured is not None and self._send_schema:
            req["response_format"] = {"type": "json_schema", "json_schema": {
                "name": structured.name, "schema": structured.schema, "strict": False}}
        return req

    def stream(self, messages: list[dict], *, structured: StructuredOutput | None = None, max_tokens: int = 2048,
               temperature: float = 0.2, cancel: threading.Event | None = None) -> Iterator[StreamEvent]:
        import openai

        def attempt(stop):
            while True:
                try:
                    yield from self._stream_once(self._request(messages, structured, max_tokens, temperature), stop)
                    return
                except openai.BadRequestError:
                    if not self._drop_an_option(structured):
                        raise

        yield from retrying(attempt, attempts=self.attempts, retryable=_retryable, translate=self._translate,
                            cancel=cancel, model_id=self.model_id, where=self._where())

    async def astream(self, messages: list[dict], *, structured: StructuredOutput | None = None, max_tokens: int = 2048,
                      temperature: float = 0.2, cancel: threading.Event | None = None) -> AsyncIterator[StreamEvent]:
        """``stream`` read on the event loop through the SDK's async client: no thread per chat."""
        import openai

        async def attempt(stop):
            while True:
                try:
                    async for event in self._astream_once(self._request(messages, structured, max_tokens, temperature), stop):
                        yield event
                    return
                except openai.BadRequestError:
                    if not self._drop_an_option(structured):
                        raise

        async for event in aretrying(attempt, attempts=self.attempts, retryable=_retryable, translate=self._translate,
                                     cancel=cancel, model_id=self.model_id, where=self._where()):
            yield event

    def _drop_an_option(self, structured) -> bool:
        """Many compatible servers reject response_format or stream_options: drop one, once. False: none left."""
        if self._send_schema and structured is not None:
            self._send_schema = False
        elif self._send_usage_option:
            self._send_usage_option = False
        else:
            return False
        return True

    # The SDK sends the request, checks the status and raises its typed errors; the chunks
    # themselves are read as plain JSON. Building the SDK's typed chunk objects costs about
    # 0.2 ms each, which under many concurrent chats was most of the server's CPU.
    def _stream_once(self, req: dict, cancel) -> Iterator[StreamEvent]:
        reader = _ChunkReader(self.model_id, self._where())
        with self.client.chat.completions.with_streaming_response.create(**req) as response:
            try:
                for line in response.iter_lines():
                    if cancel is not None and cancel.is_set():
                        yield reader.completion("cancelled")
                        return
                    if text := reader.read_line(line):
                        yield TextDelta(text)
                if text := reader.end():
                    yield TextDelta(text)
            except Exception as exc:
                raise reader.failure(exc) from exc
        yield reader.completion()

    async def _astream_once(self, req: dict, cancel) -> AsyncIterator[StreamEvent]:
        reader = _ChunkReader(self.model_id, self._where())
        async with self.async_client.chat.completions.with_streaming_response.create(**req) as response:
            try:
                async for line in response.iter_lines():
                    if cancel is not None and cancel.is_set():
                        yield reader.completion("cancelled")
                        return
                    if text := reader.read_line(line):
                        yield TextDelta(text)
                if text := reader.end():
                    yield TextDelta(text)
            except Exception as exc:
                raise reader.failure(exc) from exc
        yield reader.completion()

    # -- errors ----------------------------------------------------------
    def _where(self) -> str:
        return self.base_url or "api.openai.com"

    def _translate(self, exc: Exception, exhausted: bool = False) -> Exception:
        import openai

        tries = f" after {self.attempts} attempts" if exhausted else ""
        if isinstance(exc, openai.AuthenticationError):
            return ConfigurationError(f"{self._where()} rejected the API key", hint=f"check {self.key_env}")
        if isinstance(exc, openai.NotFoundError):
            return ConfigurationError(f"model {self.model!r} was not found at {self._where()}",
                                      hint="run `codex-nb models` to see what is configured, or pick another with --model")
        if isinstance(exc, openai.APITimeoutError):
            return ProviderError(f"{self._where()} did not answer within {self.timeout:g}s{tries}",
                                 hint="try again, raise the timeout, or use a smaller model")
        if isinstance(exc, openai.APIConnectionError):
            return ProviderError(f"cannot reach {self._where()}{tries}: {exc.__cause__ or exc}",
                                 hint="is the server running? check OPENAI_BASE_URL and any proxy settings")
        if isinstance(exc, openai.RateLimitError):
            return ProviderError(f"{self._where()} is rate-limiting requests (429){tries}", hint="wait a minute and try again")
        if is_connection_failure(exc):
            return ProviderError(f"the connection to {self._where()} was dropped{tries}: {exc or type(exc).__name__}",
                                 hint="try again; if it keeps happening, check the server and any proxy in between")
        if isinstance(exc, openai.APIStatusError):
            return ProviderError(f"{self._where()} answered {exc.status_code}{tries}: {_short(exc)}",
                                 hint="try again later; if it persists, check the server's logs")
        if isinstance(exc, ConfigurationError | ProviderError):
            return exc
        return ProviderError(f"the stream from {self._where()} failed{tries}: {exc}", hint="try again")

    @classmethod
    def status(cls, model: str = "") -> dict:
        if os.environ.get("OPENAI_BASE_URL"):
            return {"configured": True, "detail": f"OpenAI-compatible server at {os.environ['OPENAI_BASE_URL']}"}
        if os.environ.get(cls.key_env):
            return {"configured": True, "detail": f"{cls.key_env} is set"}
        return {"configured": False, "detail": f"set {cls.key_env} or OPENAI_BASE_URL"}


def _shared_client(api_key: str, base_url: str | None, timeout: float):
    def make():
        import openai

        # Retries are ours (they must also cover streams that drop half-way).
        return openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)

    return shared_client(("openai", api_key, base_url, timeout), make)


def _shared_async_client(api_key: str, base_url: str | None, timeout: float):
    def make():
        import openai

        return openai.AsyncOpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0,
                                  http_client=aiohttp_transport(openai))

    return shared_async_client(("openai", api_key, base_url, timeout), make)


class _ChunkReader:
    """Server-Sent-Event lines of a chat-completion stream into text, usage and a finish reason (one per attempt)."""

    def __init__(self, model_id: str, where: str):
        self.model_id = model_id
        self.where = where
        self.parts: list[str] = []
        self.usage = Usage()
        self.finish: str | None = None
        self.data: list[str] = []  # the data lines of the event being read
        self.done = False

    def read_line(self, line: str) -> str:
        """The text this line completes ("" for most lines: an event ends at a blank line)."""
        if line.startswith("data:"):
            self.data.append(line[5:].lstrip(" "))
            return ""
        if line or not self.data:
            return ""  # "event:", "id:", ":" comments, or a blank line between events
        data, self.data = "\n".join(self.data), []
        if data.startswith("[DONE]"):
            self.done = True
            return ""
        try:
            chunk = json.loads(data)
        except RecursionError:
            raise ProviderError(f"{self.where} sent a stream chunk nested too deeply to read",
                                hint="is this an OpenAI-compatible chat completions endpoint?") from None
        except ValueError:
            raise ProviderError(f"{self.where} sent a stream chunk that is not JSON: {data[:120]!r}",
                                hint="is this an OpenAI-compatible chat completions endpoint?") from None
        return self.read(chunk) if isinstance(chunk, dict) else ""

    def read(self, chunk: dict) -> str:
        """The text one chunk adds (content, or tool-call arguments)."""
        if chunk.get("error"):
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise ProviderError(f"{self.where} reported an error mid-stream: {message or error}", hint="try again")
        usage = chunk.get("usage")
        if usage:
            self.usage = Usage(usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0)
        text = ""
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            text += delta.get("content") or ""
            for call in delta.get("tool_calls") or ():
                text += (call.get("function") or {}).get("arguments") or ""
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        if text:
            text = clean_text(text)  # a lone surrogate (a JSON escape) cannot be printed or stored
            self.parts.append(text)
        return text

    def end(self) -> str:
        """At the end of the response: the text of a last event sent without its blank line."""
        text = self.read_line("") if self.data else ""
        if self.finish is None:
            # The connection closed without the model saying it was done: a dropped stream.
            raise ConnectionError("the stream ended before the model finished")
        return text

    def failure(self, exc: Exception) -> Exception:
        """What a failed attempt raises: a PartialStream once text was shown (the front end must restart)."""
        return PartialStream(exc) if self.parts else exc

    def completion(self, finish: str | None = None) -> Completion:
        return Completion(text="".join(self.parts), model=self.model_id, usage=self.usage,
                          finish_reason=finish or self.finish or "stop")


class OllamaProvider(OpenAIProvider):
    """`ollama:MODEL` — Ollama's OpenAI-compatible endpoint (OLLAMA_HOST or localhost:11434)."""

    name = "ollama"
    key_env = "OLLAMA_API_KEY"

    def __init__(self, model: str = "", **options):
        host = os.environ.get("OLLAMA_HOST", "http://localhost:11434")
        if not host.startswith("http"):
            host = "http://" + host
        options.setdefault("base_url", host.rstrip("/") + "/v1")
        super().__init__(model, **options)

    @classmethod
    def status(cls, model: str = "") -> dict:
        if os.environ.get("OLLAMA_HOST"):
            return {"configured": True, "detail": "Ollama at " + os.environ["OLLAMA_HOST"]}
        return {"configured": False, "detail": "start Ollama on localhost:11434 (or set OLLAMA_HOST); `models --check` looks"}


def _retryable(exc: Exception) -> bool:
    import openai

    if isinstance(exc, (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError, openai.InternalServerError)):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return is_connection_failure(exc)


def _short(exc) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return message[:300]
