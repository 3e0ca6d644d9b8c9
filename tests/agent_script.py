"""Helpers for agent tests and the agent benchmark: a small project and scripted agent answers."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat


def project(root: Path, cells: dict[str, str] | None = None) -> Path:
    """A repository with one notebook whose cells have the given ids and sources; returns the notebook path."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for cid, source in (cells or {"load": "x = 1", "use": "y = x + 1\nprint(y)"}).items():
        cell = nbformat.v4.new_code_cell(source)
        cell.id = cid
        nb.cells.append(cell)
    path = root / "work.ipynb"
    nbformat.write(nb, path)
    return path


def plan(*titles: str) -> str:
    return json.dumps({"steps": [{"title": t} for t in titles or ("do it",)]})


def step(tool: str, cell_ids=(), edits=(), explanation: str = "") -> str:
    return json.dumps({"tool": tool, "cell_ids": list(cell_ids), "edits": list(edits), "explanation": explanation or tool})


def insert(after: str, source: str) -> dict:
    return {"op": "insert", "cell_id": after, "cell_type": "code", "source": source}


def replace(cell_id: str, source: str) -> dict:
    return {"op": "replace", "cell_id": cell_id, "cell_type": "code", "source": source}


def delete(cell_id: str) -> dict:
    return {"op": "delete", "cell_id": cell_id, "cell_type": "code", "source": ""}


def propose(*edits: dict, explanation: str = "edit") -> str:
    return step("propose_edits", edits=edits, explanation=explanation)


def repair_answer(*edits: dict, explanation: str = "fixed") -> str:
    """A repair is asked in the ordinary proposal format (the same repair as every door)."""
    return json.dumps({"explanation": explanation, "edits": list(edits)})


def finish(summary: str = "done") -> str:
    return step("finish", explanation=summary)


def run_to_end(run):
    """Start an agent run, wait for its end, and close what it opened (its kernel, the model's clients)."""
    import asyncio

    from codex_nb.agent.headless import close

    async def go():
        try:
            return await run.start()
        finally:
            await close(run)

    return asyncio.run(go())
