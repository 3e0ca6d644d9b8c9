"""Request bodies: parsed and checked before any work starts (every problem is a 400/403)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tornado.web import HTTPError

from ..limits import MAX_ATTACHMENTS, MAX_INSTRUCTION_CHARS, MAX_SUMMARY_CHARS, clean_text

KINDS = ("propose", "ask", "fix", "explain", "review")
_CHAT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,199}$")
MAX_KERNEL_STATE_CHARS = 200_000  # the kernel's own collector stays far below (50 variables, short previews)


def _str(body: dict, key: str, *, required: bool = False, default=None) -> str | None:
    value = body.get(key, default)
    if value is None:
        if required:
            raise HTTPError(400, f"'{key}' is required")
        return None
    if not isinstance(value, str):
        raise HTTPError(400, f"'{key}' must be a string")
    return value


def _str_list(body: dict, key: str) -> list[str]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise HTTPError(400, f"'{key}' must be a list of strings")
    return value


def notebook_json(body: dict) -> dict | None:
    nb = body.get("notebook")
    if nb is None:
        return None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise HTTPError(400, "'notebook' must be nbformat JSON (an object with a 'cells' list)")
    return nb


@dataclass
class ChatRequest:
    kind: str
    instruction: str
    path: str
    notebook_abs: Path
    chat_id: str
    notebook: dict | None = None
    model: str | None = None
    active_cell: str | None = None
    selected_cells: list[str] = field(default_factory=list)
    kernel_state: dict | None = None
    files: list[dict] = field(default_factory=list)  # {"path": rel, "abs": Path}
    variables: list[dict] = field(default_factory=list)  # {"name", "summary"}

    @classmethod
    def parse(cls, body: dict, resolve: Callable[..., Path]) -> "ChatRequest":
        kind = _str(body, "kind", default="propose")
        if kind not in KINDS:
            raise HTTPError(400, f"'kind' must be one of {', '.join(KINDS)}")
        instruction = clean_text(_str(body, "instruction", default="") or "")
        if not instruction.strip() and kind in ("propose", "ask"):
            raise HTTPError(400, "'instruction' must not be empty")
        if len(instruction) > MAX_INSTRUCTION_CHARS:
            raise HTTPError(400, f"'instruction' is longer than {MAX_INSTRUCTION_CHARS} characters")
        rel = _str(body, "path", required=True)
        nb_abs = resolve(rel)
        if not rel.endswith(".ipynb"):
            raise HTTPError(400, "'path' must name a .ipynb notebook")
        chat_id = _str(body, "chat_id") or "c-" + os.urandom(6).hex()
        if not _CHAT_ID.match(chat_id):
            raise HTTPError(400, "'chat_id' may hold only letters, digits, '_', '.', '-' (at most 64)")
        kernel_state = body.get("kernel_state")
        if kernel_state is not None and not isinstance(kernel_state, dict):
            raise HTTPError(400, "'kernel_state' must be an object")
        if kernel_state is not None and _json_size_over(kernel_state, MAX_KERNEL_STATE_CHARS):
            raise HTTPError(413, f"'kernel_state' is larger than {MAX_KERNEL_STATE_CHARS:,} characters")
        files, variables = [], []
        context = body.get("context") or []
        if not isinstance(context, list):
            raise HTTPError(400, "'context' must be a list")
        if len(context) > MAX_ATTACHMENTS:
            raise HTTPError(413, f"at most {MAX_ATTACHMENTS} attachments ('context' items) per request")
        for item in context:
            if not isinstance(item, dict) or item.get("type") not in ("file", "variable"):
                raise HTTPError(400, "each 'context' item is {'type': 'file', 'path'} or {'type': 'variable', 'name'}")
            if item["type"] == "file":
                files.append(_attached_file(item.get("path"), resolve))
            else:
                variables.append(_attached_variable(item))
        if not nb_abs.exists() and body.get("notebook") is None:
            raise HTTPError(404, f"{rel!r} does not exist")
        return cls(kind=kind, instruction=instruction, path=rel, notebook_abs=nb_abs, chat_id=chat_id,
                   notebook=notebook_json(body), model=_str(body, "model") or None,
                   active_cell=_str(body, "active_cell"), selected_cells=_str_list(body, "selected_cells"),
                   kernel_state=kernel_state, files=files, variables=variables)


def _json_size_over(obj, limit: int) -> bool:
    """Does ``obj`` written as JSON pass ``limit`` characters? Stops counting once it does.

    (json.dumps of a body-sized value would hold the GIL, and so the server's loop, for its whole length.)
    """
    size, stack = 0, [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            size += 2 + 4 * len(value) + sum(len(str(key)) for key in value)
            stack.extend(value.values())
        elif isinstance(value, list):
            size += 2 + 2 * len(value)
            stack.extend(value)
        else:
            size += len(value) + 2 if isinstance(value, str) else 5
        if size > limit:
            return True
    return False


def _attached_file(rel: object, resolve: Callable[..., Path]) -> dict:
    """An @file attachment: inside the root, a regular file, and not one that is never read (symlinks resolved)."""
    from ..context.redact import never_read_path

    path = resolve(rel, must_exist=True)
    if not path.is_file():
        raise HTTPError(400, f"{rel!r} is not a file")
    root = resolve(".")
    if never_read_path(root / str(rel), root) or never_read_path(path, root):
        raise HTTPError(403, f"{rel!r} is a credential file or listed in .codexignore: codex-nb never reads it")
    return {"path": rel, "abs": path}


def _attached_variable(item: dict) -> dict:
    """An @variable attachment: a plain name, and a summary that is bounded and never shows a secret-named value."""
    from ..context.redact import REDACTED, is_secret_name

    name = _str(item, "name", required=True)
    if not _VARIABLE.match(name):
        raise HTTPError(400, "a variable 'name' is a Python identifier")
    summary = clean_text(_str(item, "summary", default="") or "")
    if len(summary) > MAX_SUMMARY_CHARS:
        raise HTTPError(413, f"the summary of @{name} is longer than {MAX_SUMMARY_CHARS:,} characters")
    if is_secret_name(name):
        summary = f"{name}: {REDACTED}"
    return {"name": name, "summary": summary}


def node_from_json(nb_json: dict):
    """A NotebookNode from front-end JSON, read the way files are (multi-line sources joined, ids ensured).

    Built from the parsed objects, not by writing them out and reading them again: for a notebook
    of megabytes that round trip held the GIL for hundreds of milliseconds.
    """
    import nbformat
    from nbformat.reader import get_version

    from ..errors import NotebookError
    from ..notebook_io import ensure_cell_ids

    try:
        major, minor = get_version(nb_json)
        if major not in nbformat.versions:
            raise ValueError(f"nbformat {major} is not supported")
        node = nbformat.convert(nbformat.versions[major].to_notebook_json(nb_json, minor=minor), 4)
    except Exception as exc:  # nbformat raises several unrelated types for a malformed notebook
        raise NotebookError(f"the live notebook is not a valid notebook: {exc}",
                            hint="reload the notebook in JupyterLab and try again") from exc
    return ensure_cell_ids(node)


def load_notebook_node(req) -> object:
    """The live notebook sent by the front end when there is one, else the file."""
    from ..notebook_io import read_notebook

    if req.notebook is not None:
        return node_from_json(req.notebook)
    return read_notebook(req.notebook_abs)
