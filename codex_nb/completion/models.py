"""Which model inline completion uses, which backend serves it, and whether it is on by default.

People use a small fast model for this and a large one for proposals, hence a
setting of its own (``c.CodexNB.completion_model``), falling back to the
general model. ``completion_enabled = "auto"`` turns completion on for models that
cost nothing per request (local ones, OpenAI-compatible servers the user runs)
and leaves it off for paid APIs until the user turns it on.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from ..config import CodexNB
from ..errors import ConfigurationError
from ..providers.registry import parse_model_id, provider_class, resolve_model_id
from .backends import Backend, ChatBackend, CompletionsBackend, EmbeddedBackend, InfillBackend

DEMONSTRATION_MODELS = {"local:smollm2", "local:", "local"}
DEMONSTRATION_NOTE = ("local:smollm2 is a 135M-parameter demonstration model: it shows how completion works, "
                      "its suggestions are rarely useful. Set completion_model to a code model, e.g. "
                      "ollama:qwen2.5-coder:1.5b or local:/path/qwen2.5-coder-1.5b.gguf")


@dataclass(frozen=True)
class CompletionSettings:
    model_id: str
    enabled: bool
    debounce_ms: int
    max_lines: int
    backend_kind: str
    demonstration: bool

    def to_json(self) -> dict:
        return {"model": self.model_id, "enabled": self.enabled, "debounce_ms": self.debounce_ms,
                "max_lines": self.max_lines, "backend": self.backend_kind, "demonstration": self.demonstration,
                "note": DEMONSTRATION_NOTE if self.demonstration else ""}


def completion_model_id(config: CodexNB, explicit: str | None = None) -> str:
    return resolve_model_id(explicit or config.completion_model or None, config.model or None)


def backend_kind(model_id: str) -> str:
    """The strategy a model id gets, without loading anything."""
    provider, model = parse_model_id(model_id)
    if provider == "local":
        return "embedded" if model in ("", "smollm2") else "infill"
    if provider in ("openai", "ollama"):
        instance = provider_class(provider)(model)
        return "completions" if instance.base_url else "chat"
    return "chat"


def settings(config: CodexNB, explicit_model: str | None = None) -> CompletionSettings:
    try:
        model_id = completion_model_id(config, explicit_model)
        kind = backend_kind(model_id)
    except ConfigurationError:
        model_id, kind = "", ""
    free = kind in ("embedded", "infill", "completions")
    enabled = config.completion_enabled == "on" or (config.completion_enabled == "auto" and free)
    return CompletionSettings(model_id=model_id, enabled=enabled and bool(model_id),
                              debounce_ms=max(0, config.completion_debounce_ms),
                              max_lines=max(1, config.completion_max_lines), backend_kind=kind,
                              demonstration=model_id in DEMONSTRATION_MODELS)


_backends: dict[tuple, Backend] = {}
_lock = threading.Lock()


def backend_for(model_id: str) -> Backend:
    """One backend per model id and endpoint (it remembers what the server turned out to support)."""
    key = (model_id, *(os.environ.get(v, "") for v in ("OPENAI_BASE_URL", "OLLAMA_HOST", "CODEX_NB_LOCAL_MODEL")))
    with _lock:
        found = _backends.get(key)
    if found is not None:
        return found
    made = _make_backend(model_id)
    with _lock:
        if len(_backends) > 32:
            _backends.clear()
        return _backends.setdefault(key, made)


def _make_backend(model_id: str) -> Backend:
    from ..providers.local_provider import resolve_gguf

    provider, model = parse_model_id(model_id)
    kind = backend_kind(model_id)
    if kind == "embedded":
        return EmbeddedBackend(model_id, resolve_gguf(model))
    if kind == "infill":
        return InfillBackend(model_id, resolve_gguf(model))
    instance = provider_class(provider)(model)
    if kind == "completions":
        host = str(instance.base_url or "")
        return CompletionsBackend(model_id, instance, local=("127.0.0.1" in host or "localhost" in host))
    return ChatBackend(model_id, instance)
