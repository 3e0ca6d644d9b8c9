"""OpenAI and every OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio, Azure, OpenRouter).

The official SDK reads OPENAI_API_KEY, OPENAI_BASE_URL, proxies (HTTPS_PROXY …)
and CA bundles (SSL_CERT_FILE) itself; we only add retries that also cover a
stream dropped half-way, and errors that say how to fix the problem.
"""
from __future__ import annotations

import os
import threading
from typing import Iterator

from ..errors import ConfigurationError, ProviderError
from .base import Completion, Provider, StreamEvent, StructuredOutput, TextDelta, Usage
from .retry import PartialStream, retrying

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

        def attempt():
            while True:
                try:
                    yield from self._stream_once(self._request(messages, structured, max_tokens, temperature), cancel)
                    return
                except openai.BadRequestError:
                    # Many compatible servers reject response_format or stream_options: drop them once.
                    if self._send_schema and structured is not None:
                        self._send_schema = False
                    elif self._send_usage_option:
                        self._send_usage_option = False
                    else:
                        raise

        yield from retrying(attempt, attempts=self.attempts, retryable=_retryable, translate=self._translate,
                            cancel=cancel, model_id=self.model_id)

    def _stream_once(self, req: dict, cancel) -> Iterator[StreamEvent]:
        parts: list[str] = []
        usage = Usage()
        finish = None
        stream = self.client.chat.completions.create(**req)
        try:
            for chunk in stream:
                if cancel is not None and cancel.is_set():
                    yield Completion(text="".join(parts), model=self.model_id, usage=usage, finish_reason="cancelled")
                    return
                if chunk.usage:
                    usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
                for choice in chunk.choices or ():
                    delta = choice.delta
                    text = (delta.content or "") if delta else ""
                    for call in (getattr(delta, "tool_calls", None) or ()) if delta else ():
                        text += (call.function.arguments or "") if call.function else ""
                    if text:
                        parts.append(text)
                        yield TextDelta(text)
                    if choice.finish_reason:
                        finish = choice.finish_reason
            if finish is None:
                # The connection closed without the model saying it was done: a dropped stream.
                raise ConnectionError("the stream ended before the model finished")
        except Exception as exc:
            if parts:
                raise PartialStream(exc) from exc
            raise
        finally:
            stream.close()
        yield Completion(text="".join(parts), model=self.model_id, usage=usage, finish_reason=finish)

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


_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


def _shared_client(api_key: str, base_url: str | None, timeout: float):
    """One SDK client (and so one connection pool and one TLS context) per endpoint and key.

    Creating a client loads the CA bundle, about 20 ms of CPU: per request, that is what a
    server with many concurrent chats would spend its time on. httpx clients are thread-safe.
    """
    key = (api_key, base_url, timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            import openai

            # Retries are ours (they must also cover streams that drop half-way).
            client = _clients[key] = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)
    return client


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
    import httpx

    return isinstance(exc, (httpx.TransportError, ConnectionError))


def _short(exc) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return message[:300]
