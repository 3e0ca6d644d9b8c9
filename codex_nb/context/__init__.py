"""Context engine: what the model sees of the notebook, the live kernel and the repository.

    from codex_nb.context import build_context
    ctx = build_context(notebook="analysis.ipynb", query="why does load_orders drop rows?")
    ctx.render()   # the exact, redacted text for the model
    ctx.files      # ranked repository files: [{"path", "score", "why"}, ...]

Modules: ``notebook`` (cells, trimmed outputs), ``kernel`` (live variables, last
error), ``walk``/``parse``/``index`` (the cached repository index), ``rank``
(BM25F + personalised PageRank), ``snippets`` (definitions that fit), ``budget``,
``tokens`` (offline counting), ``redact`` (secrets, never-read paths) and
``_parse_worker`` (a helper process for big cold builds).
Submodules load lazily so that importing this package is cheap.
"""
from __future__ import annotations

__all__ = ["build_context", "Context", "Section"]


def __getattr__(name):
    if name in __all__:
        from . import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'codex_nb.context' has no attribute {name!r}")
