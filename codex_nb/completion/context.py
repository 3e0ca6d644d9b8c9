"""What an inline completion model sees, within a small token budget.

A completion is asked for on every typing pause, so the context must be cheap to
build and short to read: prompt processing dominates a local model's latency.
The budget is split between the cell around the cursor (most of it), the cells
above and below (outputs trimmed to a few lines), the live kernel's names with
types and shapes, and the signatures of repository symbols the cell imports.
Everything passes through the redactor before it leaves the process.

While a person types in one cell, everything but the cell itself stays the same
from one keystroke to the next: the rendered neighbours, the kernel names and
their redacted forms are memoised by content (so a change is a new key, never a
stale answer), and each request pays only for the text around the cursor.
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

from ..context import redact
from ..context.notebook import render_output, strip_ansi
from ..context.redact import redact_text
from ..context.tokens import count_tokens, truncate_to_tokens

DEFAULT_BUDGET = 1200  # tokens; a 135M model on two cores reads about 1,000 tokens a second
# Shares of the budget. The cell prefix gets what the others leave unused.
SHARES = {"suffix": 0.12, "above": 0.28, "below": 0.06, "kernel": 0.12, "repo": 0.14}
OUTPUT_LINES = 3
OUTPUT_CHARS = 240
CELL_SEPARATOR = "# %%"
MEMO_SIZE = 512


class _Memo:
    """A small thread-safe LRU of values computed from their key alone (keys are content, not identities)."""

    def __init__(self, size: int = MEMO_SIZE):
        self.size = size
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key, make: Callable[[], object]):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = make()
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


_rendered = _Memo()  # rendered neighbour cells, kernel names and budgeted suffixes
_redacted = _Memo()  # redacted texts, per set of custom patterns


@dataclass
class NeighbourCell:
    """A cell above or below the one being edited, as the front end sends it."""

    cell_type: str
    source: str
    outputs: list[dict] = field(default_factory=list)


@dataclass
class CompletionContext:
    """The cell around the cursor plus the notebook, kernel and repository context, already budgeted."""

    prefix: str  # the cell's text before the cursor
    suffix: str  # the cell's text after the cursor
    above: str = ""  # the cells above as one Python text (outputs as comments)
    below: str = ""
    kernel: str = ""  # kernel names with types and shapes, as comment lines
    repo: str = ""  # signatures of repository symbols the cell imports, as comment lines
    notebook_name: str = ""

    @property
    def has_context(self) -> bool:
        return bool(self.above or self.below or self.kernel or self.repo)

    def header(self) -> str:
        """The kernel and repository context as comment lines (empty when there is none)."""
        parts = []
        if self.notebook_name:
            parts.append(f"# Notebook: {self.notebook_name}")
        if self.kernel:
            parts.append("# Variables in the running kernel:\n" + self.kernel)
        if self.repo:
            parts.append("# Signatures of repository code this cell imports:\n" + self.repo)
        return "\n".join(parts)

    def prompt_prefix(self) -> str:
        """Everything before the cursor as one Python text, for models that only continue a prefix."""
        pieces = [p for p in (self.header(), self.above) if p]
        pieces.append(CELL_SEPARATOR + "\n" + self.prefix if pieces else self.prefix)
        return "\n".join(pieces)

    def fim_prefix(self) -> str:
        """The text before the cursor for a fill-in-the-middle model (the header goes in extra chunks)."""
        return (self.above + "\n" + CELL_SEPARATOR + "\n" + self.prefix) if self.above else self.prefix

    def fim_suffix(self) -> str:
        return (self.suffix + "\n" + CELL_SEPARATOR + "\n" + self.below) if self.below else self.suffix

    def extra_chunks(self) -> list[dict]:
        """Context chunks in the shape llama.cpp's /infill reads as ``input_extra``."""
        chunks = []
        if self.kernel:
            chunks.append({"filename": "kernel_variables.py", "text": self.kernel + "\n"})
        if self.repo:
            chunks.append({"filename": "repository_signatures.py", "text": self.repo + "\n"})
        return chunks

    def key(self) -> str:
        """A hash of what the model sees besides the cell prefix (the cache key's context part)."""
        blob = json.dumps([self.suffix, self.above, self.below, self.kernel, self.repo], ensure_ascii=False)
        return hashlib.blake2b(blob.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()

    def without_context(self) -> "CompletionContext":
        """The cell alone: what a provider without notebook awareness would send (for the benchmark)."""
        return CompletionContext(prefix=self.prefix, suffix=self.suffix)


def tail_to_tokens(text: str, limit: int) -> str:
    """The end of ``text`` that fits in ``limit`` tokens, cut at a line boundary (the part nearest the cursor)."""
    if count_tokens(text) <= limit:
        return text
    lines = text.split("\n")
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        cost = count_tokens(line) + 1
        if used + cost > limit:
            break
        kept.append(line)
        used += cost
    if not kept:  # one line longer than the budget: keep its end, where the cursor is
        return lines[-1][-4 * limit:]
    return "\n".join(reversed(kept))


def _output_comment(output: dict) -> str:
    if output.get("output_type") == "error":
        text = f"{output.get('ename', 'Error')}: {strip_ansi(str(output.get('evalue', '')))}"
    else:
        text = render_output(output, max_lines=OUTPUT_LINES)
    text = text.strip()[:OUTPUT_CHARS]
    return "\n".join("# " + line for line in text.split("\n")) if text else ""


def render_cell(cell: NeighbourCell) -> str:
    """A neighbouring cell as Python text: code as it is, Markdown and outputs as comments."""
    if cell.cell_type == "markdown":
        return "\n".join("# " + line for line in cell.source.strip().split("\n") if line.strip())
    if cell.cell_type != "code":
        return ""
    lines = [cell.source.rstrip()]
    outs = [c for c in (_output_comment(o) for o in cell.outputs if isinstance(o, dict)) if c]
    if outs:
        lines.append("# Out:\n" + "\n".join(outs))
    return "\n".join(lines)


def render_cells(cells: list[NeighbourCell], limit: int, *, from_end: bool) -> str:
    """Cells joined by ``# %%``; the ones nearest the cursor are kept when the budget is short."""
    rendered = [r for r in (render_cell(c) for c in cells) if r.strip()]
    text = ("\n" + CELL_SEPARATOR + "\n").join(rendered)
    if not text:
        return ""
    return tail_to_tokens(text, limit) if from_end else truncate_to_tokens(text, limit, marker="")


def render_kernel_names(state: dict | None, limit: int) -> str:
    """``# name: type shape=(…) [columns]`` lines from a kernel state (as collected by context.kernel)."""
    if not state:
        return ""
    lines = []
    for var in state.get("variables") or []:
        if not isinstance(var, dict) or not isinstance(var.get("name"), str):
            continue
        line = f"# {var['name']}: {var.get('type', '?')}"
        if "shape" in var:
            line += f" shape={tuple(var['shape'])}"
        elif "len" in var:
            line += f" len={var['len']}"
        if "dtype" in var:
            line += f" dtype={var['dtype']}"
        if isinstance(var.get("columns"), dict):
            line += " columns=[" + ", ".join(f"{c}:{t}" for c, t in list(var["columns"].items())[:20]) + "]"
        elif var.get("type") in ("function", "class") and var.get("preview"):
            line = f"# {var['preview']}  ({var['type']})"
        lines.append(line)
    return truncate_to_tokens("\n".join(lines), limit, marker="")


def _cells_key(cells) -> tuple:
    # repr is C-fast; equal outputs written in another key order are only a miss, never a wrong hit
    return tuple((c.cell_type, c.source, repr(c.outputs)) for c in cells)


def _budgeted(kind: str, key, limit: int, make: Callable[[], str]) -> tuple[str, int]:
    """A context piece cut to ``limit`` tokens and its token count, memoised by what it is made of."""
    def build():
        text = make()
        return text, count_tokens(text)
    return _rendered.get((kind, key, limit), build)


def _redact_piece(text: str) -> str:
    """Redacted ``text``; memoised per set of custom patterns, so a pattern added later applies at once."""
    if not text:
        return text
    return _redacted.get((text, id(redact._custom_patterns())), lambda: redact_text(text)[0])


def build_context(prefix: str, suffix: str = "", *, above: list[NeighbourCell] = (), below: list[NeighbourCell] = (),
                  kernel_state: dict | None = None, repo_signatures: str = "", notebook_name: str = "",
                  budget: int = DEFAULT_BUDGET) -> CompletionContext:
    """Fit the pieces into ``budget`` tokens and redact them (all but the prefix memoised: see the module's note)."""
    share = {k: int(budget * v) for k, v in SHARES.items()}
    above, below = list(above), list(below)
    pieces = {
        "suffix": _budgeted("suffix", suffix, share["suffix"],
                            lambda: truncate_to_tokens(suffix, share["suffix"], marker="")),
        "above": _budgeted("above", _cells_key(above), share["above"],
                           lambda: render_cells(above, share["above"], from_end=True)),
        "below": _budgeted("below", _cells_key(below), share["below"],
                           lambda: render_cells(below, share["below"], from_end=False)),
        "kernel": _budgeted("kernel", repr(kernel_state) if kernel_state else "",
                            share["kernel"], lambda: render_kernel_names(kernel_state, share["kernel"])),
        "repo": _budgeted("repo", repo_signatures, share["repo"],
                          lambda: truncate_to_tokens(repo_signatures, share["repo"], marker="")),
    }
    used = sum(tokens for _, tokens in pieces.values())
    ctx = CompletionContext(prefix=redact_text(tail_to_tokens(prefix, max(budget - used, budget // 3)))[0],
                            notebook_name=notebook_name,
                            **{name: _redact_piece(text) for name, (text, _) in pieces.items()})
    return ctx
