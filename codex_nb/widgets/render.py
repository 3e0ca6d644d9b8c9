"""HTML for proposals and reports, shared by the live widgets and their static fallback.

Styles are inline (Pygments ``noclasses``) so the same HTML reads well where no
stylesheet of ours is loaded: nbconvert, papermill output, GitHub's viewer.
"""
from __future__ import annotations

import html

_BOX = "border:1px solid #d0d7de;border-radius:6px;margin:6px 0;padding:6px 8px;"
_PRE = "margin:4px 0;padding:6px;overflow-x:auto;font-size:12px;line-height:1.35;"


def escape(text: str) -> str:
    return html.escape(text or "", quote=True)


def diff_html(diff: dict) -> str:
    """A unified diff of one edit (a ``proposal_diffs`` entry): Python highlighting, tinted +/- lines."""
    lines = (diff["unified"] or "").splitlines()
    if len(lines) >= 2 and lines[0].startswith("---") and lines[1].startswith("+++"):
        lines = lines[2:]  # the header only repeats the cell id the card's title names
    if not lines:
        return f'<pre class="codex-diff" style="{_PRE}">(no change)</pre>'
    paint = _painter(diff)
    rows = []
    for line in lines:
        if line.startswith("@@"):
            rows.append(f'<div style="color:#0550ae;background:#ddf4ff">{escape(line)}</div>')
            continue
        mark, code = line[:1], line[1:]
        bg = {"+": "#e6ffec", "-": "#ffebe9"}.get(mark, "transparent")
        rows.append(f'<div style="background:{bg}"><span style="color:#57606a;user-select:none">{escape(mark or " ")}'
                    f"</span>{paint(code)}</div>")
    return f'<pre class="codex-diff" style="{_PRE}">{"".join(rows)}</pre>'


def _painter(diff: dict):
    """Highlight one line of a cell or file; plain text where Python highlighting would mislead."""
    path = diff.get("path") or ""
    python = not ("markdown" in diff.get("title", "").lower() or (path and not path.endswith(".py")))
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
    except ImportError:  # Pygments comes with IPython, but plain text is still readable
        python = False
    if not python:
        return escape
    lexer, formatter = PythonLexer(), HtmlFormatter(nowrap=True, noclasses=True, nobackground=True)
    return lambda code: highlight(code, lexer, formatter).rstrip("\n")


def card_title_html(diff: dict, state: str = "pending") -> str:
    badge = {"pending": "", "accepted": " ✓ accepted", "rejected": " ✗ rejected",
             "rolled_back": " ↩ rolled back"}.get(state, f" {state}")
    return f"<b>[{diff['edit_index'] + 1}] {escape(diff['title'])}</b><span class='codex-card-state'>{escape(badge)}</span>"


def proposal_html(explanation: str, diffs: list[dict], note: str = "") -> str:
    """The whole proposal as static HTML (what nbconvert shows instead of the widget)."""
    parts = [f'<div class="codex-proposal" style="{_BOX}">',
             f"<div><b>codex-nb proposal</b> — {len(diffs)} edit{'s' if len(diffs) != 1 else ''}</div>"]
    if explanation:
        parts.append(f'<div style="white-space:pre-wrap;margin:4px 0">{escape(explanation)}</div>')
    if note:
        parts.append(f'<div class="codex-fallback" style="color:#9a6700;margin:4px 0">{escape(note)}</div>')
    for d in diffs:
        parts.append(f'<div class="codex-card" style="{_BOX}">{card_title_html(d)}{diff_html(d)}</div>')
    parts.append("</div>")
    return "".join(parts)


def stream_html(text: str, done: bool = False) -> str:
    head = "" if done else '<span style="color:#57606a">codex is writing…</span>'
    return f'{head}<pre class="codex-stream-text" style="{_PRE}white-space:pre-wrap">{escape(text)}</pre>'


def report_html(report, failure_text: str = "") -> str:
    """A validation report: a one-line summary, plus the failing cell's error when it failed."""
    ok = report.ok
    color = "#1a7f37" if ok else "#cf222e"
    cls = "codex-validation-passed" if ok else "codex-validation-failed"
    out = f'<div class="{cls}" style="color:{color};font-weight:600">validation {"passed" if ok else "failed"}</div>'
    out += f'<div style="color:#57606a">{escape(report.summary())}</div>'
    if not ok and failure_text:
        out += f'<pre class="codex-failure" style="{_PRE}background:#fff5f5">{escape(failure_text[-4000:])}</pre>'
    return out


def progress_html(cells: dict[str, str], order: list[str]) -> str:
    """Per-cell validation progress: one mark per selected cell."""
    marks = {"queued": "·", "running": "▶", "done": "✓", "error": "✗"}
    items = [f'<span class="codex-cell-{cells.get(c, "queued")}" title="{escape(c)}" style="margin-right:6px">'
             f'{marks.get(cells.get(c, "queued"), "·")} {escape(c[:8])}</span>' for c in order]
    return f'<div class="codex-progress-cells" style="font-family:monospace;font-size:12px">{"".join(items)}</div>'


def table_html(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td style='padding:2px 8px'>{escape(str(r.get(c, '')))}</td>" for c in columns)
                   + "</tr>" for r in rows)
    return f"<table class='codex-table'><tr>{head}</tr>{body}</table>"


def table_text(rows: list[dict], columns: list[str]) -> str:
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)
