"""build_context(): notebook + kernel + repository, redacted and within a token budget."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageProblem
from .budget import default_budget, split_budget
from .redact import redact_text
from .tokens import count_tokens, truncate_to_tokens

MIN_FILES = 20
# After the best files' code, the next ranked files get an outline (their most relevant signature lines),
# a map in the spirit of aider's: on the localisation sets a relevant file is often ranked 20th-100th
# (benchmarks/bench_localize.py: outlines take the share of gold files in the context from 0.72 to 0.95
# on pylint without costing the best files any code).
OUTLINE_FILES = 250  # ranked files that may get an outline
OUTLINE_SHARE = 0.4  # of the repository budget kept for outlines while the best files' code is chosen
OUTLINE_TOKENS = 50  # at most per outline: one to three signature lines, a map entry rather than a listing
OUTLINE_FULL = 30  # outlines after this many get the short size: further down the ranking, more files matter
OUTLINE_SHORT = 34  # one or two signature lines under the file's name


@dataclass
class Section:
    name: str
    text: str
    tokens: int


@dataclass
class Context:
    sections: list[Section] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)
    redactions: list[dict] = field(default_factory=list)
    cell_ids: list[str] = field(default_factory=list)
    budget: int = 0
    repo: str | None = None
    problems: list[dict] = field(default_factory=list)  # files the index skipped, and why
    index_stats: dict = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return sum(s.tokens for s in self.sections)

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def render(self) -> str:
        """The exact context text sent to the model (sections were redacted when built)."""
        return "\n\n".join(f"=== {s.name} ===\n{s.text}" for s in self.sections if s.text)

    def to_json(self) -> dict:
        return {"sections": [{"name": s.name, "tokens": s.tokens, "text": s.text} for s in self.sections],
                "files": self.files, "redactions": self.redactions, "total_tokens": self.total_tokens,
                "budget": self.budget, "cell_ids": self.cell_ids, "repo": self.repo,
                "problems": self.problems, "index": self.index_stats}


def _load_notebook(notebook):
    """(node, path or None) from a path, a NotebookNode or None."""
    if notebook is None:
        return None, None
    if isinstance(notebook, (str, os.PathLike)):
        from ..notebook_io import read_notebook

        path = Path(notebook)
        if path.suffix != ".ipynb" and not path.exists():
            raise UsageProblem(f"{path} is not a notebook", hint="pass the path of a .ipynb file")
        return read_notebook(path), path
    if hasattr(notebook, "get") and "cells" in notebook:
        if any(not c.get("id") for c in notebook["cells"]):
            from ..notebook_io import ensure_cell_ids

            ensure_cell_ids(notebook)
        return notebook, None
    raise UsageProblem(f"cannot read a notebook from {type(notebook).__name__}",
                       hint="pass a path or an nbformat NotebookNode")


def _notebook_query(query, nb, active_cell: str | None, root: str | None, nb_path: Path | None) -> None:
    """Add what the notebook says to the ranking query: code near the user counts more."""
    from .notebook import cell_views, focus_index

    views = cell_views(nb)
    if not views:
        return
    focus = focus_index(views, active_cell)
    for k, v in enumerate(views):
        near = abs(k - focus) <= 2
        if v.kind == "code":  # views hold redacted text already
            query.add_code(v.source, 0.5 if near else 0.15)
            for mod in _imported_modules(v.source):
                query.seed_paths[mod] += 1.0 if near else 0.5
        elif v.kind == "markdown" and near:
            query.add_text(v.source, 0.3)
        for o in v.outputs:
            if o.get("output_type") == "error":
                query.add_text(f"{o.get('ename', '')} {o.get('evalue', '')}", 0.6 if near else 0.3)
                _traceback_seeds(query, "\n".join(o.get("traceback") or []), root)


_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import\s+([\w, ()]+)|import\s+([\w., ]+))", re.M)


def _imported_modules(code: str) -> list[str]:
    mods = []
    for frm, names, plain in _IMPORT.findall(code):
        if frm:
            mods.append(frm)
            mods.extend(f"{frm}.{n.strip()}" for n in names.strip("() ").split(",") if n.strip())
        else:
            mods.extend(m.strip().split(" as ")[0] for m in plain.split(",") if m.strip())
    return mods


def _traceback_seeds(query, tb: str, root: str | None) -> None:
    if not root:
        return
    for path in re.findall(r'File "?([^"\n,]+\.py)', re.sub(r"\x1b\[[0-9;]*m", "", tb)):
        real = os.path.realpath(path)
        if real.startswith(root + os.sep):
            query.seed_paths[os.path.relpath(real, root).replace(os.sep, "/")] += 1.5


def build_context(notebook=None, query: str = "", repo=None, kernel_state: dict | None = None,
                  active_cell: str | None = None, budget: int | None = None, model: str | None = None,
                  *, top: int = MIN_FILES, use_cache: bool = True, notebook_path=None) -> Context:
    """Assemble what the model will see: notebook, kernel state and ranked repository context.

    ``notebook`` is a path or a NotebookNode (cells without ids get ids, in place, so that
    the model and the proposal schema agree on them); ``repo`` defaults to the notebook's
    repository root (else the current directory's); ``budget`` defaults by ``model``.
    ``notebook_path`` names the file a NotebookNode came from (live content with unsaved
    edits), so that it is not listed again as a repository file.
    Every section is redacted before it is stored; ``render()`` is what goes to the model.
    """
    from .kernel import render_kernel_state
    from .notebook import render_notebook
    from .rank import Query

    nb, nb_path = _load_notebook(notebook)
    if nb_path is None and notebook_path is not None:
        nb_path = Path(notebook_path)
    if repo is None:
        # imported here: notebook_io loads nbformat, which a query-only call does not need
        from ..notebook_io import find_repo_root

        repo = find_repo_root(nb_path if nb_path is not None else os.getcwd())
    root = os.path.realpath(os.fspath(repo))
    if not os.path.isdir(root):
        raise UsageProblem(f"{repo} is not a directory", hint="pass --repo with the repository root")
    total = int(budget) if budget else default_budget(model)
    if total < 100:
        raise UsageProblem(f"a budget of {total} tokens is too small", hint="use at least a few thousand tokens")
    split = split_budget(total, has_notebook=nb is not None, has_kernel=bool(kernel_state), has_repo=True)
    ctx = Context(budget=total, repo=root, cell_ids=[str(c.get("id")) for c in nb.cells] if nb is not None else [])
    raw_sections: list[tuple[str, str]] = []
    found: dict[str, list[str]] = {"kernel": [], "notebook": [], "repository": []}  # redacted before cutting

    spare = 0
    counted: dict[str, int] = {}  # token counts already known, reused when redaction changed nothing
    if kernel_state:
        # redacted before it is cut to its budget (a cut key is no longer recognised)
        clean, found["kernel"] = redact_text(render_kernel_state(kernel_state))
        text = truncate_to_tokens(clean, split.kernel)
        counted["kernel"] = count_tokens(text)
        spare += split.kernel - counted["kernel"]
        raw_sections.append(("kernel", text))
    if nb is not None:
        name = nb_path.name if nb_path is not None else ""
        text = render_notebook(nb, active_cell=active_cell, budget=split.notebook + max(spare, 0), name=name,
                               kinds=found["notebook"])
        counted["notebook"] = count_tokens(text)
        spare = split.notebook + max(spare, 0) - counted["notebook"]
        raw_sections.insert(0, ("notebook", text))

    q = Query()
    # ranking terms end up in "why" strings: build them from redacted text only
    q.add_text(redact_text(query or "")[0], 1.0)
    if nb is not None:
        _notebook_query(q, nb, active_cell, root, nb_path)
    if kernel_state and kernel_state.get("last_exception"):
        exc = kernel_state["last_exception"]
        q.add_text(redact_text(f"{exc.get('type', '')} {exc.get('message', '')}")[0], 0.6)
        _traceback_seeds(q, exc.get("traceback", ""), root)
    repo_text = _repository_section(ctx, root, q, nb, nb_path, split.repository + max(spare, 0),
                                    top, use_cache, found["repository"])
    raw_sections.append(("repository", repo_text))

    for name, text in raw_sections:
        clean, kinds = redact_text(text)
        ctx.redactions.extend({"section": name, "kind": k} for k in found.get(name, []) + kinds)
        ctx.sections.append(Section(name, clean, counted.get(name) if clean == text and name in counted
                                    else count_tokens(clean)))
    for f in ctx.files:
        f["why"] = redact_text(f["why"])[0]
    return ctx


def _same_notebook_on_disk(root: str, nb, candidates: list[str]) -> str | None:
    """The repository path of a notebook given as a node (front doors that hold it in memory).

    It is already the notebook section; listing it as a relevant file would show its code twice.
    """
    from .parse import cells_code
    from .snippets import read_source

    mine = "\n".join(cells_code(nb)[0])
    for rel in candidates:
        if rel.endswith(".ipynb") and read_source(root, rel) == mine:
            return rel
    return None


def _repository_section(ctx: Context, root: str, q, nb, nb_path: Path | None, budget: int, top: int,
                        use_cache: bool, kinds: list[str]) -> str:
    """The ranked file list and the best snippets that fit."""
    from .index import load_index
    from .rank import rank_files
    from .snippets import file_outline, file_snippet

    index = load_index(root, use_memory=use_cache, use_disk=use_cache)
    st = index.stats
    ctx.index_stats = {"files": st.files, "parsed": st.parsed, "read": st.read, "reused": st.reused,
                       "cache": st.cache, "truncated": st.truncated}
    ctx.problems = [{"path": s.path, "reason": s.reason} for s in index.skipped]
    exclude = None
    if nb_path is not None:
        real = os.path.realpath(nb_path)
        if real.startswith(root + os.sep):
            exclude = os.path.relpath(real, root).replace(os.sep, "/")
    want = max(top, MIN_FILES)
    deep = rank_files(index, q, top=max(want, OUTLINE_FILES) + 1)
    if exclude is None and nb is not None:
        exclude = _same_notebook_on_disk(root, nb, [r.path for r in deep[:5]])
    deep = [r for r in deep if r.path != exclude]
    ranked = deep[:want]
    ctx.files = [{"path": r.path, "score": r.score, "why": r.why} for r in ranked]
    head = [f"Repository {os.path.basename(root)}: {st.files} files indexed"
            + (f", {len(index.skipped)} with problems" if index.skipped else "")
            + (" (file limit reached)" if st.truncated else "") + ".",
            "Most relevant files (best first):"]
    head += [f"{k}. {r.path} — {r.why}" for k, r in enumerate(ranked[:top], 1)]
    text = "\n".join(head)
    used = count_tokens(text)
    if used > budget:
        text = truncate_to_tokens(text, budget)  # a tiny budget: even the file list is cut
        used = count_tokens(text)
    remaining = budget - used
    # Part of the budget waits for outlines of the files after the best ones, so that a relevant file
    # ranked 15th or 60th still shows what it defines; what the outlines leave over is not lost.
    reserve = int(remaining * OUTLINE_SHARE) if len(deep) > 1 else 0
    remaining -= reserve
    shown = 0
    floor = 0.2 * ranked[0].score if ranked else 0.0
    with_code: set[str] = set()
    for r in ranked:
        if remaining < 120 or shown >= 8:
            break
        if r.score < floor:
            break  # weak matches get an outline at most; their code would be noise
        share = max(int(remaining * (0.45 if shown == 0 else 0.35)), 120)
        snippet = file_snippet(root, r.path, index.records[r.index], q.terms, share - 20, kinds)
        if not snippet.strip():
            continue
        block = f"\n\n--- {r.path} ---\n{snippet}"
        cost = count_tokens(block)
        if cost > remaining:
            continue
        text += block
        remaining -= cost
        shown += 1
        with_code.add(r.path)
    remaining += reserve
    rest = [r for r in deep if r.path not in with_code and r.score > 0]
    for k, r in enumerate(rest):
        if remaining < 40:
            break
        size = OUTLINE_TOKENS if k < OUTLINE_FULL else OUTLINE_SHORT
        share = min(size, max(OUTLINE_SHORT, remaining // max(1, min(len(rest) - k, 40))))
        outline = file_outline(root, r.path, index.records[r.index], q.terms, share - 12, kinds)
        if not outline:
            continue
        block = f"\n\n--- {r.path} ---\n{outline}"
        cost = count_tokens(block)
        if cost > remaining:
            continue
        text += block
        remaining -= cost
    return text
