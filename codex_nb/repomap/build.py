"""build_map(): the repository graph, the files a question would send, and the notebook's cell graph."""
from __future__ import annotations

import os
from pathlib import Path

from .files import COLLAPSE_FILES, file_graph
from .sent import sent_files

MAP_VERSION = 1
DEFAULT_BUDGET = 8000


def build_map(repo=None, notebook=None, query: str = "", *, budget: int | None = None, model: str | None = None,
              active_cell: str | None = None, notebook_path=None, collapse_over: int = COLLAPSE_FILES,
              use_cache: bool = True) -> dict:
    """The map as JSON-ready data.

    ``notebook`` is a path or an nbformat node (the live notebook of a front end, with
    ``notebook_path`` naming its file). ``query`` is the question whose context is shown;
    without one (and without a notebook) no files are highlighted. No model is called.
    """
    from ..context.engine import build_context
    from ..context.index import load_index

    nb_node = None
    if notebook is not None and not isinstance(notebook, (str, os.PathLike)):
        nb_node = notebook
    elif notebook is not None:
        from ..notebook_io import read_notebook

        nb_node = read_notebook(Path(notebook))
        notebook_path = notebook_path or notebook
    sent: dict[str, dict] = {}
    ctx = None
    if query or nb_node is not None:
        ctx = build_context(notebook=nb_node, query=query, repo=repo, active_cell=active_cell,
                            budget=budget or DEFAULT_BUDGET, model=model, use_cache=use_cache,
                            notebook_path=notebook_path)
        root = ctx.repo
        sent = sent_files(ctx)
    else:
        from ..notebook_io import find_repo_root

        root = os.path.realpath(os.fspath(repo if repo is not None else find_repo_root(os.getcwd())))
    index = load_index(root, use_memory=use_cache, use_disk=use_cache)
    data = {"version": MAP_VERSION, "repo": root, "query": query, "files": index.stats.files,
            **file_graph(index, sent, collapse_over=collapse_over),
            "sent": sorted(sent.values(), key=lambda f: f["rank"]),
            "budget": ctx.budget if ctx is not None else None,
            "context_tokens": ctx.total_tokens if ctx is not None else None,
            "notebook": None}
    if nb_node is not None:
        from .cells import cell_graph

        rel = None
        if notebook_path is not None:
            real = os.path.realpath(notebook_path)
            rel = os.path.relpath(real, root).replace(os.sep, "/") if real.startswith(root + os.sep) else str(notebook_path)
        data["notebook"] = {"path": rel, **cell_graph(nb_node)}
    return data
