"""The notebook as the model sees it: cells with ids, trimmed outputs, errors, execution order.

Rendering is deterministic and budgeted: cells close to the one the user is in
keep their outputs; distant cells are shortened first (outputs, then source),
but every cell keeps its header so the model can still address it by id.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .redact import redact_text
from .tokens import count_tokens, truncate_to_tokens

# bounded, so that many unterminated sequences cannot make one pass quadratic
ANSI = re.compile(r"\x1b\[[0-?]{0,64}[ -/]{0,16}[@-~]|\x1b\][^\x07\x1b]{0,4096}(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

# per level: (max output lines, max source lines) ; None = unlimited source
_LEVELS = [(40, None), (8, None), (0, 12), (0, 0)]
_FULL, _HEADER = 0, len(_LEVELS) - 1


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def trim_text(text: str, max_lines: int = 40, max_chars: int = 4000) -> str:
    """Keep the head and the tail of a long text; say how much was left out."""
    text = strip_ansi(text)
    lines = text.split("\n")
    if max_lines <= 0:
        return ""
    if len(lines) > max_lines:
        head = max(1, (max_lines * 2) // 3)
        tail = max_lines - head
        omitted = len(lines) - head - tail
        lines = lines[:head] + [f"… [{omitted} lines omitted]"] + (lines[-tail:] if tail else [])
    out = "\n".join(lines)
    if len(out) > max_chars:
        half = max_chars // 2
        out = out[:half] + f"\n… [{len(out) - max_chars} characters omitted]\n" + out[-half:]
    return out


def _join(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def render_output(output: dict, max_lines: int = 40) -> str:
    """One output as text: images and widgets become placeholders, ANSI is stripped."""
    kind = output.get("output_type")
    if kind == "stream":
        return trim_text(_join(output.get("text")), max_lines)
    if kind == "error":
        tb = "\n".join(_join(line) for line in output.get("traceback") or [])
        head = f"{output.get('ename', 'Error')}: {strip_ansi(str(output.get('evalue', '')))}"
        body = trim_text(tb, max(max_lines, 30)) if tb else ""
        return f"{head}\n{body}" if body else head
    if kind in ("execute_result", "display_data"):
        data = output.get("data") or {}
        parts = []
        if WIDGET_MIME in data:
            parts.append("[widget]")
        images = [m for m in data if m.startswith("image/")]
        for mime in images:
            size = ""
            meta = (output.get("metadata") or {}).get(mime) or {}
            if isinstance(meta, dict) and "width" in meta and "height" in meta:
                size = f" {meta['width']}x{meta['height']}"
            parts.append(f"[{mime} image{size}]")
        if "text/plain" in data and not images and WIDGET_MIME not in data:
            parts.append(trim_text(_join(data["text/plain"]), max_lines))
        elif not parts:
            if "text/html" in data:
                parts.append("[html output]")
            elif data:
                parts.append(f"[{sorted(data)[0]} output]")
        return "\n".join(parts)
    return ""


@dataclass
class CellView:
    number: int  # 1-based position
    cell_id: str
    kind: str
    source: str
    execution_count: int | None
    outputs: list[dict]
    has_error: bool


def cell_views(nb, kinds: list[str] | None = None) -> list[CellView]:
    """The cells as the model sees them, sources and output texts already redacted.

    Redaction comes first, before any trimming: a private key whose BEGIN line is
    trimmed away, or a key cut below its pattern's length, would no longer be recognised.
    The kinds of secrets found are added to ``kinds``.
    """
    found = kinds if kinds is not None else []

    def clean(text: str) -> str:
        text, k = redact_text(text)
        found.extend(k)
        return text

    views = []
    for n, cell in enumerate(nb.get("cells", []), 1):
        outputs = [_redacted_output(o, clean) for o in cell.get("outputs") or []] if cell.get("cell_type") == "code" else []
        views.append(CellView(n, str(cell.get("id") or ""), cell.get("cell_type", "code"),
                              clean(_join(cell.get("source"))), cell.get("execution_count"), outputs,
                              any(o.get("output_type") == "error" for o in outputs)))
    return views


def _redacted_output(output: dict, clean) -> dict:
    """A copy of one output with every text the model can see redacted (images and widgets are not text)."""
    out = dict(output)
    if "text" in out:
        out["text"] = clean(_join(out["text"]))
    if "evalue" in out:
        out["evalue"] = clean(str(out["evalue"]))
    if out.get("traceback"):
        # one text, so that a key printed across frames is seen whole (redaction keeps line breaks)
        out["traceback"] = clean("\n".join(_join(line) for line in out["traceback"])).split("\n")
    data = out.get("data")
    if isinstance(data, dict) and "text/plain" in data:
        out["data"] = {**data, "text/plain": clean(_join(data["text/plain"]))}
    return out


def execution_notes(views: list[CellView]) -> list[str]:
    """Say when cells ran out of order, or not at all, since the model must not assume top-to-bottom."""
    notes = []
    ran = [(v.number, v.execution_count) for v in views if v.kind == "code" and v.execution_count]
    order_breaks = [(a, b) for a, b in zip(ran, ran[1:]) if b[1] < a[1]]
    if order_breaks:
        pairs = ", ".join(f"cell {b[0]} (In[{b[1]}]) ran before cell {a[0]} (In[{a[1]}])"
                          for a, b in order_breaks[:5])
        notes.append(f"Cells were executed out of order: {pairs}.")
    counts = [c for _n, c in ran]
    if len(set(counts)) != len(counts):
        notes.append("Some execution counts repeat (the kernel was restarted between runs).")
    not_run = [v.number for v in views if v.kind == "code" and not v.execution_count and v.source.strip()]
    if ran and not_run:
        shown = ", ".join(map(str, not_run[:10])) + (" …" if len(not_run) > 10 else "")
        notes.append(f"Code cells not executed in this session: {shown}.")
    return notes


def _render_cell(v: CellView, level: int, active: bool) -> str:
    max_out, max_src = _LEVELS[level]
    head = f"# cell {v.number} id={v.cell_id} [{v.kind}]"
    if v.kind == "code":
        head += f" In[{v.execution_count}]" if v.execution_count else " In[ ]"
    if active:
        head += " (active: the user is here)"
    if level == _HEADER:
        first = next((ln for ln in v.source.split("\n") if ln.strip()), "")
        return head + (f"\n{first[:100]}\n… [source omitted]" if first else "")
    src = v.source
    if max_src is not None:
        lines = src.split("\n")
        if len(lines) > max_src:
            src = "\n".join(lines[:max_src]) + f"\n… [{len(lines) - max_src} source lines omitted]"
    parts = [head, src]
    errors_only = max_out == 0
    for o in v.outputs:
        if errors_only and o.get("output_type") != "error":
            continue
        text = render_output(o, max_out if max_out else 12)
        if text.strip():
            label = "# error:" if o.get("output_type") == "error" else "# output:"
            parts.append(f"{label}\n{text}")
    if errors_only and any(o.get("output_type") != "error" for o in v.outputs):
        parts.append("# [outputs omitted]")
    return "\n".join(parts)


def focus_index(views: list[CellView], active_cell: str | None) -> int:
    """Which cell the user is in: the active id, else the most recently executed cell, else the last."""
    if active_cell:
        for k, v in enumerate(views):
            if v.cell_id == active_cell:
                return k
    executed = [(v.execution_count, k) for k, v in enumerate(views) if v.execution_count]
    if executed:
        return max(executed)[1]
    return max(len(views) - 1, 0)


def _assemble(preamble: str, rendered: list[str], dropped: list[bool]) -> str:
    parts: list[str] = []
    run = 0
    for k, r in enumerate(rendered):
        if dropped[k]:
            run += 1
            continue
        if run:
            parts.append(f"# … {run} cells omitted")
            run = 0
        parts.append(r)
    if run:
        parts.append(f"# … {run} cells omitted")
    return preamble + "\n\n" + "\n\n".join(parts)


def render_notebook(nb, *, active_cell: str | None = None, budget: int = 4000, name: str = "",
                    kinds: list[str] | None = None) -> str:
    views = cell_views(nb, kinds)
    lang = ((nb.get("metadata") or {}).get("kernelspec") or {}).get("language") \
        or ((nb.get("metadata") or {}).get("language_info") or {}).get("name") or "python"
    title = f"Notebook{' ' + name if name else ''}: {len(views)} cells, language {lang}."
    notes = execution_notes(views)
    preamble = "\n".join([title] + notes)
    if not views:
        return preamble
    focus = focus_index(views, active_cell)
    is_active = [bool(active_cell) and v.cell_id == active_cell for v in views]
    levels = [_FULL] * len(views)
    rendered = [_render_cell(v, _FULL, a) for v, a in zip(views, is_active)]
    sizes = [count_tokens(r) for r in rendered]
    total = count_tokens(preamble) + sum(sizes) + 2 * len(views)  # + the blank lines between cells
    # shorten the farthest cells first; cells with errors and the focus cell last
    order = sorted(range(len(views)), key=lambda k: (-(abs(k - focus) + (0 if not views[k].has_error else -3)), k))
    # per-cell counts add up to slightly less than the joined text: aim a little lower
    target = budget - max(8, budget // 40)
    for level in range(1, len(_LEVELS)):
        if total <= target:
            break
        for k in order:
            if total <= target:
                break
            if k == focus and level == _HEADER:
                continue
            rendered[k] = _render_cell(views[k], level, is_active[k])
            new = count_tokens(rendered[k])
            total += new - sizes[k]
            sizes[k], levels[k] = new, level
    # still too big (hundreds of cells): leave out the farthest cells entirely
    dropped = [False] * len(views)
    droppable = [k for k in order if k != focus]
    text = _assemble(preamble, rendered, dropped)
    used = count_tokens(text)
    while droppable and used > budget:
        over = used - budget
        # drop enough far cells to cover the excess, then measure again
        while droppable and over > 0:
            k = droppable.pop(0)
            dropped[k] = True
            over -= sizes[k] + 2
        text = _assemble(preamble, rendered, dropped)
        used = count_tokens(text)
    if used > budget:
        text = truncate_to_tokens(text, budget)
    return text
