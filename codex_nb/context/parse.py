"""One file -> one index record (plain JSON-able data, so it can be cached).

Only definitions, imports and docstrings come from ``ast``; identifier and
phrase statistics come from fast regular expressions over the whole text, so
that comments and strings count too and parsing stays cheap. A file that does
not parse still gets text statistics: a syntax error must not hide a file.
"""
from __future__ import annotations

import ast
import hashlib
import json
import warnings
from collections import Counter

from .redact import redact_text
from .terms import identifier_counts, path_terms, quoted_phrases, split_identifier, terms_from_counts

SCHEMA = 5  # 5: terms from redacted text (no key fragments in the cache)
_MAX_DOC_CHARS = 2000


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def module_name(rel: str) -> str:
    """'src/pkg/io.py' -> 'pkg.io' (a leading src/ or lib/ is the import root by convention)."""
    parts = rel.rsplit(".", 1)[0].split("/")
    if parts[0] in ("src", "lib", "python") and len(parts) > 1:
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_binary(data: bytes) -> bool:
    return b"\x00" in data[:8192]


def notebook_code(data: bytes) -> tuple[list[str], list[str]]:
    """The code cells and markdown cells of a notebook file (raises ValueError when invalid)."""
    nb = json.loads(data.decode("utf-8"))
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("no cells list")
    return cells_code(nb)


def cells_code(nb) -> tuple[list[str], list[str]]:
    """Code (magics blanked) and markdown sources of a parsed notebook (dict or NotebookNode)."""
    code, markdown = [], []
    for cell in nb["cells"]:
        if not isinstance(cell, dict):
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else str(src)
        if cell.get("cell_type") == "code":
            # magics and shell escapes are not Python; blank them but keep line numbers
            code.append("\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in src.split("\n")))
        elif cell.get("cell_type") == "markdown":
            markdown.append(src)
    return code, markdown


def parse_file(rel: str, data: bytes) -> dict:
    """Build the record of one file. Never raises; problems go to record['error']."""
    rec: dict = {"kind": "nb" if rel.endswith(".ipynb") else "py", "hash": content_hash(data),
                 "module": module_name(rel), "defs": [], "imports": [], "doc": "", "error": "",
                 "is_package": rel.endswith(("/__init__.py", "/__init__.pyi")) or rel in ("__init__.py", "__init__.pyi")}
    if _is_binary(data):
        rec["error"] = "binary file"
        return _finish(rec, rel, "", [])
    docs: list[str] = []
    if rec["kind"] == "nb":
        try:
            cells, markdown = notebook_code(data)
        except (ValueError, UnicodeDecodeError) as exc:
            rec["error"] = f"invalid notebook: {str(exc)[:120]}"
            return _finish(rec, rel, "", [])
        docs.extend(markdown)
        sources = cells
    else:
        sources = [data.decode("utf-8", errors="replace")]
        if "\ufffd" in sources[0]:
            rec["error"] = "not UTF-8 (decoded with replacement)"
    offset = 0
    for src in sources:
        _read_ast(src, rec, docs, offset)
        offset += src.count("\n") + 1
    return _finish(rec, rel, "\n".join(sources), docs)


def _read_ast(src: str, rec: dict, docs: list[str], line_offset: int) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences etc. in old code
            tree = ast.parse(src)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        if rec["kind"] == "py" and not rec["error"]:
            rec["error"] = f"syntax error: {str(exc)[:120]}"
        return
    doc = ast.get_docstring(tree, clean=False)
    if doc:
        docs.append(doc[:_MAX_DOC_CHARS])
        if not rec["doc"]:
            rec["doc"] = redact_text(doc.strip().split("\n", 1)[0])[0][:160]
    _visit(tree.body, rec, docs, "", rec["module"], line_offset)


def _visit(body: list, rec: dict, docs: list[str], parent: str, module: str, off: int) -> None:
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            kind = "class" if isinstance(node, ast.ClassDef) else "def"
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            rec["defs"].append([node.name, kind, start + off, (node.end_lineno or node.lineno) + off, parent])
            doc = ast.get_docstring(node, clean=False)
            if doc:
                docs.append(doc[:_MAX_DOC_CHARS])
            if kind == "class" and not parent:
                _visit(node.body, rec, docs, node.name, module, off)
            elif not parent:
                # imports inside functions still say what the file depends on
                _imports_only(node.body, rec, module)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            _add_import(node, rec, module)
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)) or type(node).__name__ == "TryStar":
            for block in ("body", "orelse", "finalbody"):
                _visit(getattr(node, block, []) or [], rec, docs, parent, module, off)
            for handler in getattr(node, "handlers", []) or []:
                _visit(handler.body, rec, docs, parent, module, off)


def _imports_only(body: list, rec: dict, module: str) -> None:
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            _add_import(node, rec, module)
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            _imports_only(node.body, rec, module)


def _add_import(node, rec: dict, module: str) -> None:
    if isinstance(node, ast.Import):
        rec["imports"].extend(alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        # relative import: level 1 is the file's own package, which for __init__.py is the module itself
        pkg = module.split(".") if module else []
        drop = node.level - (1 if rec.get("is_package") else 0)
        anchor = pkg[: len(pkg) - drop] if 0 <= drop <= len(pkg) else []
        base = ".".join(anchor + ([base] if base else []))
    if base:
        rec["imports"].append(base)
    for alias in node.names:
        if alias.name != "*":
            rec["imports"].append(f"{base}.{alias.name}" if base else alias.name)


def _finish(rec: dict, rel: str, text: str, docs: list[str]) -> dict:
    # the record is cached on disk: its terms come from redacted text, so no key fragment is kept
    text = redact_text(text)[0]
    docs = [redact_text(d)[0] for d in docs]
    raw = identifier_counts(text)
    rec["lines"] = text.count("\n") + 1 if text else 0
    def_terms: Counter = Counter()
    for name, _kind, _s, _e, _parent in rec["defs"]:
        for t in split_identifier(name):
            def_terms[t] += 1
    doc_terms = terms_from_counts(identifier_counts("\n".join(docs))) if docs else Counter()
    phrase_counts = Counter(p for p in quoted_phrases(text) if len(p) <= 60)
    rec["fields"] = {
        "path": dict(path_terms(rel)),
        "defs": dict(def_terms),
        "doc": dict(doc_terms),
        "text": terms_from_counts(raw),
        "phrase": dict(phrase_counts),
    }
    # identifiers long enough to be meaningful, for the reference graph and mention matching
    rec["idents"] = sorted(i for i in raw if len(i) >= 4)
    rec["imports"] = sorted(set(rec["imports"]))
    return rec
