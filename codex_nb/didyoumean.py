""""Did you mean …?" for model ids: `--model smollm2` most likely meant `local:smollm2`.

Pure functions over the ids a front door knows (built-in defaults, configured models,
the provider names); the registry puts the suggestion into its error's hint.
"""
from __future__ import annotations

import difflib

CUTOFF = 0.75  # close enough to be the same word mistyped (ollama / olama), not just similar


def suggest_model(name: str, known: list[str] | tuple[str, ...]) -> str | None:
    """The known model id ``name`` most likely stands for, or None.

    ``known`` holds full ids (``local:smollm2``) and may hold bare provider names
    (``openai``). A bare model name matches the id it is the model part of; a
    mistyped provider is corrected and keeps its model (``olama:qwen`` → ``ollama:qwen``);
    otherwise the closest id, if it is close.
    """
    name = (name or "").strip()
    if not name or name in known:
        return None
    ids = [k for k in known if ":" in k]
    providers = sorted({k.split(":", 1)[0] for k in known})
    lowered = name.lower()
    by_model = [k for k in ids if k.split(":", 1)[1].lower() == lowered]
    if by_model:
        return by_model[0]
    provider, sep, model = name.partition(":")
    if provider not in providers:
        close = difflib.get_close_matches(provider.lower(), providers, n=1, cutoff=CUTOFF)
        if close and (sep or not ids):
            return f"{close[0]}:{model}" if sep else close[0]
    if not sep:
        near_model = difflib.get_close_matches(lowered, [k.split(":", 1)[1].lower() for k in ids], n=1, cutoff=CUTOFF)
        if near_model:
            return next(k for k in ids if k.split(":", 1)[1].lower() == near_model[0])
        close = difflib.get_close_matches(lowered, providers, n=1, cutoff=CUTOFF)
        if close:
            return close[0]
    close = difflib.get_close_matches(name, ids, n=1, cutoff=CUTOFF)
    return close[0] if close else None


def did_you_mean(name: str, known: list[str] | tuple[str, ...]) -> str:
    """`` did you mean local:smollm2?`` — or an empty string when nothing is close."""
    hit = suggest_model(name, known)
    return f"did you mean {hit}?" if hit else ""
