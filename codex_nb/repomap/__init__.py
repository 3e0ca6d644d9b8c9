"""The map: what the assistant understands of a repository and of a notebook, as graph data.

    from codex_nb.repomap import build_map
    data = build_map(repo=".", notebook="analysis.ipynb", query="why does load_orders drop rows?")

Everything comes from local analysis — the repository index (modules, notebooks, imports),
the context engine (which files a question would send, with rank and tokens) and the
def-use analysis of the notebook's cells. No model is called. Modules: ``files`` (the
repository graph, collapsed to packages when it is large), ``sent`` (what the context
engine would send), ``cells`` (the notebook's cell graph) and ``build`` (the JSON).
"""
from __future__ import annotations

__all__ = ["build_map", "MAP_VERSION"]


def __getattr__(name):
    if name in __all__:
        from . import build

        return getattr(build, name)
    raise AttributeError(f"module 'codex_nb.repomap' has no attribute {name!r}")
