"""Token budgets: a total per model, split between instruction, notebook, kernel and repository."""
from __future__ import annotations

import os
from dataclasses import dataclass

LOCAL_BUDGET = 6000  # small local models have 8k windows; leave room for the answer
REMOTE_BUDGET = 24000


def default_budget(model: str | None) -> int:
    """CODEX_NB_CONTEXT_BUDGET wins; else by provider: local models get less."""
    env = os.environ.get("CODEX_NB_CONTEXT_BUDGET", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    provider = (model or os.environ.get("CODEX_NB_MODEL", "")).split(":", 1)[0]
    return LOCAL_BUDGET if provider in ("local", "ollama", "llamacpp") else REMOTE_BUDGET


@dataclass(frozen=True)
class Split:
    instruction: int
    notebook: int
    kernel: int
    repository: int


def split_budget(total: int, *, has_notebook: bool, has_kernel: bool, has_repo: bool) -> Split:
    """Fixed shares of the total; a part that is absent gives its share to the others.

    The instruction share is a reserve for the system prompt, the request and the
    answer; it is not filled by the context.
    """
    instruction = max(int(total * 0.2), 200)
    rest = max(total - instruction, 0)
    shares = {"notebook": 0.45 if has_notebook else 0.0, "kernel": 0.15 if has_kernel else 0.0,
              "repository": 0.40 if has_repo else 0.0}
    norm = sum(shares.values()) or 1.0
    parts = {k: int(rest * v / norm) for k, v in shares.items()}
    return Split(instruction, parts["notebook"], parts["kernel"], parts["repository"])
