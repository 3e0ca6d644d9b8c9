"""Four ways to ask a model for the code at the cursor, one class each.

- ``EmbeddedBackend``: a GGUF run in-process by llama.cpp, continuing the text
  before the cursor (``handle_completions``; the prompt cache makes the next
  keystroke's request cheap). The default ``local:smollm2`` uses this.
- ``InfillBackend``: a GGUF with fill-in-the-middle tokens through ``/infill`` of
  llama.cpp's own HTTP server (prefix, suffix and context chunks as
  ``input_extra``). A model without FIM tokens answers 501; the backend then
  falls back to prefix completion for good.
- ``CompletionsBackend``: an OpenAI-compatible ``/completions`` endpoint with
  ``suffix`` (Ollama, vLLM, llama.cpp, LM Studio); a server that rejects
  ``suffix`` gets the prefix alone, one that has no ``/completions`` a chat prompt.
- ``ChatBackend``: a chat model (OpenAI, Anthropic, …) asked for the missing
  code only; Markdown fences are stripped as the text streams.

Every backend is an async generator of text pieces and stops the model when
``cancel`` is set or its consumer goes away.
"""
from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from pathlib import Path
from typing import AsyncIterator

from ..errors import ConfigurationError, ProviderError
from ..providers.base import Provider, TextDelta
from ..providers.clients import shared_async_client
from .context import CompletionContext
from .local_server import completion_server

INFILL_TIME_LIMIT_MS = 1500  # llama.cpp stops predicting after this, whatever max_tokens says


class Backend:
    """Base class: ``kind`` names the strategy; ``local`` says speculation is worth it.

    ``alternatives``: how many suggestions besides the first one request can give (0: one only).
    ``stream`` yields the first suggestion's text; a backend with alternatives hands theirs to
    ``on_alternative(index, text)`` (index 1, 2, …) as they arrive in the same response.
    """

    kind = ""
    local = False
    alternatives = 0

    def __init__(self, model_id: str):
        self.model_id = model_id
        #: the last runs as {"pieces": n, "cancelled": bool, "finished": bool}: lets a test see the model stop
        self.runs: deque[dict] = deque(maxlen=16)

    def stream(self, ctx: CompletionContext, *, max_tokens: int, stop: list[str],
               cancel: threading.Event, on_alternative=None) -> AsyncIterator[str]:
        raise NotImplementedError


# -- local models --------------------------------------------------------------------------

class EmbeddedBackend(Backend):
    kind = "embedded"
    local = True

    def __init__(self, model_id: str, gguf: Path):
        super().__init__(model_id)
        self.gguf = gguf

    async def stream(self, ctx, *, max_tokens, stop, cancel, on_alternative=None):
        server = (await asyncio.get_running_loop().run_in_executor(None, completion_server, self.gguf)).server
        req = {"prompt": ctx.prompt_prefix(), "max_tokens": max_tokens, "temperature": 0.0, "stream": True,
               "cache_prompt": True, "stop": stop}
        run = {"pieces": 0, "cancelled": False, "finished": False}
        self.runs.append(run)

        def generate(on_chunk):
            result = server.handle_completions(req, on_chunk)
            if isinstance(result, dict) and "error" in result:
                raise ProviderError(f"the embedded model refused the completion: {result['error']}",
                                    hint="the cell may be too long for its context")

        def text_of(chunk: dict) -> str:
            return "".join(c.get("text") or "" for c in chunk.get("choices") or ())

        async for piece in _thread_stream(generate, text_of, cancel, run):
            yield piece


class InfillBackend(Backend):
    kind = "infill"
    local = True

    def __init__(self, model_id: str, gguf: Path, *, endpoint: tuple[str, str] | None = None):
        """``endpoint``: (url, key) of a llama.cpp server already serving the model; None loads ``gguf`` here."""
        super().__init__(model_id)
        self.gguf = gguf
        self.endpoint = endpoint
        self.fallback: EmbeddedBackend | None = None  # set once the model turns out to have no FIM tokens

    async def _endpoint(self) -> tuple[str, str]:
        if self.endpoint is None:
            local = await asyncio.get_running_loop().run_in_executor(None, completion_server, self.gguf)
            self.endpoint = (local.url, local.key)
        return self.endpoint

    async def stream(self, ctx, *, max_tokens, stop, cancel, on_alternative=None):
        if self.fallback is not None:
            async for piece in self.fallback.stream(ctx, max_tokens=max_tokens, stop=stop, cancel=cancel):
                yield piece
            return
        url, key = await self._endpoint()
        body = {"input_prefix": ctx.fim_prefix(), "input_suffix": ctx.fim_suffix(), "input_extra": ctx.extra_chunks(),
                "prompt": "", "n_predict": max_tokens, "t_max_predict_ms": INFILL_TIME_LIMIT_MS, "temperature": 0.0,
                "stream": True, "cache_prompt": True, "stop": stop}
        run = {"pieces": 0, "cancelled": False, "finished": False}
        self.runs.append(run)
        session = _http_session()
        headers = {"Authorization": f"Bearer {key}"}
        # Leaving this block closes the connection: llama.cpp's server notices and stops generating.
        async with session.post(f"{url}/infill", json=body, headers=headers) as response:
            if response.status == 501:
                self.fallback = EmbeddedBackend(self.model_id, self.gguf)
                self.fallback.runs = self.runs
                async for piece in self.fallback.stream(ctx, max_tokens=max_tokens, stop=stop, cancel=cancel):
                    yield piece
                return
            if response.status != 200:
                raise ProviderError(f"llama.cpp's /infill answered {response.status}: {(await response.text())[:200]}",
                                    hint="check the model file")
            async for raw in response.content:
                if cancel.is_set():
                    run["cancelled"] = True
                    return
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue
                chunk = json.loads(line[5:])
                if chunk.get("content"):
                    run["pieces"] += 1
                    yield chunk["content"]
                if chunk.get("stop"):
                    break
        run["finished"] = True


def _http_session():
    import aiohttp

    return shared_async_client(("codex-nb-completion-http",), lambda: aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=60, sock_read=30)))


async def _thread_stream(generate, text_of, cancel: threading.Event, run: dict) -> AsyncIterator[str]:
    """Run a blocking generator with a chunk callback in a thread; hand its text to the loop.

    The callback returns True once ``cancel`` is set or the consumer has left, which is
    llama.cpp's signal to stop generating.
    """
    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue = asyncio.Queue()
    gone = threading.Event()
    finished = object()

    def post(item) -> None:
        try:
            loop.call_soon_threadsafe(pieces.put_nowait, item)
        except RuntimeError:  # the loop has closed
            gone.set()

    def on_chunk(chunk) -> bool:
        if cancel.is_set() or gone.is_set():
            run["cancelled"] = True
            return True
        text = text_of(chunk) if isinstance(chunk, dict) else ""
        if text:
            run["pieces"] += 1
            post(text)
        return False

    def work() -> None:
        try:
            generate(on_chunk)
            run["finished"] = True
        except BaseException as exc:  # noqa: BLE001 - re-raised on the loop
            post(exc)
        finally:
            post(finished)

    threading.Thread(target=work, name="codex-nb-completion", daemon=True).start()
    try:
        while (item := await pieces.get()) is not finished:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        gone.set()


# -- OpenAI-compatible /completions ---------------------------------------------------------

# Several suggestions come from one request (`n`), sampled a little above greedy so that they
# differ; low enough that the first stays close to what temperature 0 would give.
SUGGESTIONS = 3
ALTERNATIVES_TEMPERATURE = 0.3


class CompletionsBackend(Backend):
    kind = "completions"

    def __init__(self, model_id: str, provider: Provider, *, local: bool = False):
        super().__init__(model_id)
        self.provider = provider
        self.local = local
        self.alternatives = SUGGESTIONS - 1  # 0 once the server turns out to ignore `n` (Ollama does)
        self.honours_n: bool | None = None  # None until a response with `n` has been seen
        self.send_suffix = True
        self.chat: ChatBackend | None = None  # set once the server turns out to have no /completions

    async def stream(self, ctx, *, max_tokens, stop, cancel, on_alternative=None):
        import aiohttp

        if self.chat is not None:
            async for piece in self.chat.stream(ctx, max_tokens=max_tokens, stop=stop, cancel=cancel):
                yield piece
            return
        loop = asyncio.get_running_loop()
        model = self.provider.model or await loop.run_in_executor(None, self.provider.resolved_model)
        run = {"pieces": 0, "cancelled": False, "finished": False}
        self.runs.append(run)
        n = self.alternatives + 1 if on_alternative is not None and self.alternatives else 1
        while True:
            req = {"model": model, "prompt": ctx.prompt_prefix(), "max_tokens": max_tokens,
                   "temperature": ALTERNATIVES_TEMPERATURE if n > 1 else 0.0, "stream": True}
            if n > 1:
                req["n"] = n
            if stop:
                req["stop"] = stop[:4]  # OpenAI accepts at most four
            if self.send_suffix:
                req["suffix"] = ctx.fim_suffix()
            others = False
            # Straight through the shared aiohttp session, not the SDK: it reaches the first token about
            # 2 ms sooner on loopback (half at p99), and this call is on every typing pause.
            try:
                async with _http_session().post(self._url(), json=req, headers=self._headers()) as response:
                    if response.status == 404 and not run["pieces"]:
                        self.chat = ChatBackend(self.model_id, self.provider)
                        self.alternatives = 0
                        break
                    if response.status == 400 and not (n == 1 and not self.send_suffix):
                        if n > 1:
                            n, self.alternatives = 1, 0  # a server that refuses `n` gives one suggestion
                        else:
                            self.send_suffix = False  # many servers have no fill-in-the-middle for this model
                        continue
                    if response.status != 200:
                        raise self._status_error(response.status, await response.text())
                    async for raw in response.content:
                        if cancel.is_set():
                            run["cancelled"] = True
                            return  # leaving the block closes the connection: the server stops generating
                        for index, text in _completions_texts(raw.decode("utf-8", "replace").strip()):
                            if index == 0:
                                run["pieces"] += 1
                                yield text
                            elif on_alternative is not None:
                                others = True
                                on_alternative(index, text)
                run["finished"] = True
                if n > 1 and not others and self.honours_n is None:
                    self.honours_n, self.alternatives = False, 0  # it ignores `n`: stop asking
                elif others:
                    self.honours_n = True
                return
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                raise ProviderError(f"cannot reach {self._url()}: {exc or type(exc).__name__}",
                                    hint="is the server running? check OPENAI_BASE_URL (or OLLAMA_HOST)") from exc
        async for piece in self.chat.stream(ctx, max_tokens=max_tokens, stop=stop, cancel=cancel):
            yield piece  # the server has no /completions: a chat prompt from now on

    def _url(self) -> str:
        return str(self.provider.base_url).rstrip("/") + "/completions"

    def _headers(self) -> dict:
        key = getattr(self.provider, "api_key", None)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _status_error(self, status: int, body: str) -> Exception:
        where = str(self.provider.base_url)
        if status in (401, 403):
            return ConfigurationError(f"{where} rejected the API key ({status})",
                                      hint=f"check {getattr(self.provider, 'key_env', 'the API key')}")
        if status == 429:
            return ProviderError(f"{where} is rate-limiting requests (429)", hint="wait a minute and try again")
        return ProviderError(f"{where} answered {status} to /completions: {body[:200]}",
                             hint="check the model name and the server's logs")


def _completions_text(line: str) -> str:
    """The first choice's text in one line of a ``/completions`` stream."""
    return "".join(text for index, text in _completions_texts(line) if index == 0)


def _completions_texts(line: str) -> list[tuple[int, str]]:
    """(choice index, text) pairs in one line of a ``/completions`` stream (several with ``n``)."""
    if not line.startswith("data:"):
        return []
    data = line[5:].strip()
    if not data or data.startswith("[DONE]"):
        return []
    try:
        chunk = json.loads(data)
    except ValueError:
        raise ProviderError(f"the /completions stream sent a chunk that is not JSON: {data[:80]!r}",
                            hint="is this an OpenAI-compatible server?") from None
    if chunk.get("error"):
        raise ProviderError(f"the model reported an error mid-stream: {chunk['error']}", hint="try again")
    return [(c.get("index") or 0, c["text"]) for c in chunk.get("choices") or () if isinstance(c, dict) and c.get("text")]


# -- chat models ----------------------------------------------------------------------------

CURSOR = "<CURSOR>"
CHAT_SYSTEM = (
    "You complete code in a Jupyter notebook cell. Reply with only the code that belongs at <CURSOR>: "
    "no explanation, no Markdown fences, no repetition of the code before or after the cursor. "
    "Prefer the names, imports and signatures shown over invented ones. If nothing fits, reply with nothing."
)


def chat_messages(ctx: CompletionContext) -> list[dict]:
    parts = []
    if ctx.header():
        parts.append(ctx.header())
    if ctx.above:
        parts.append("Cells above:\n```python\n" + ctx.above + "\n```")
    if ctx.below:
        parts.append("Cells below:\n```python\n" + ctx.below + "\n```")
    parts.append("The cell being edited:\n```python\n" + ctx.prefix + CURSOR + ctx.suffix + "\n```")
    return [{"role": "system", "content": CHAT_SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


class FenceStripper:
    """Drops a Markdown fence around streamed code: the opening line, the closing fence and what follows."""

    def __init__(self):
        self.head = ""  # text held back until it is known whether it opens a fence
        self.started = False
        self.closed = False
        self.tail = ""  # held back: it may be the start of a closing fence

    def feed(self, text: str) -> str:
        if self.closed:
            return ""
        if not self.started:
            self.head += text
            stripped = self.head.lstrip("\n")
            if stripped.startswith("`") or (len(stripped) < 3 and "```".startswith(stripped)):
                if "\n" not in stripped:
                    return ""  # still reading the opening fence line
                stripped = stripped.split("\n", 1)[1]
            elif not stripped:
                return ""
            self.started = True
            text, self.head = stripped, ""
        text = self.tail + text
        self.tail = ""
        at = text.find("```")
        if at >= 0:
            self.closed = True
            return text[:at].rstrip("\n") if text[:at].endswith("\n") else text[:at]
        keep = len(text) - len(text.rstrip("`\n"))
        if keep:
            self.tail, text = text[-keep:], text[:-keep]
        return text

    def end(self) -> str:
        if self.closed:
            return ""
        if not self.started:
            return self.head.strip("`\n")
        return self.tail.rstrip("`\n")


class ChatBackend(Backend):
    kind = "chat"

    def __init__(self, model_id: str, provider: Provider):
        super().__init__(model_id)
        self.provider = provider

    async def stream(self, ctx, *, max_tokens, stop, cancel, on_alternative=None):
        run = {"pieces": 0, "cancelled": False, "finished": False}
        self.runs.append(run)
        fences = FenceStripper()
        line = ctx.prefix.rsplit("\n", 1)[-1]
        pending = ""  # the first line is held back until it is known whether it repeats the cursor's line
        checked = not line.strip()
        async for event in self.provider.astream(chat_messages(ctx), max_tokens=max_tokens, temperature=0.0,
                                                 cancel=cancel):
            if cancel.is_set():
                run["cancelled"] = True
                return
            if not isinstance(event, TextDelta) or not event.text:
                continue
            text = fences.feed(event.text)
            if not checked:
                pending += text
                if "\n" not in pending and len(pending) <= len(line.strip()):
                    continue
                text, checked = _drop_repeated_line(pending, line), True
            if text:
                run["pieces"] += 1
                yield text
        rest = (_drop_repeated_line(pending, line) if not checked else "") + fences.end()
        if rest:
            yield rest
        run["finished"] = True


def _drop_repeated_line(text: str, line: str) -> str:
    """Chat models often repeat the line the cursor is on: keep only what comes after it."""
    stripped = line.strip()
    if stripped and text.lstrip().startswith(stripped):
        return text.lstrip()[len(stripped):]
    return text
