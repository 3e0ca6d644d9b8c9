"""HTML for proposals and reports, shared by the live widgets and their static fallback.

Every colour is a JupyterLab theme variable, so light, dark and high-contrast themes
all read well. Each element carries a ``codex-*`` class (styled by the lab extension's
``style/render.css``) and the same look inline as ``var(--jp-…, fallback)``: where no
JupyterLab stylesheet is loaded (nbconvert, papermill output, GitHub's viewer) the
fallbacks draw a light, self-contained box. Code is highlighted with Pygments' tokens
mapped onto JupyterLab's editor colours (``--jp-mirror-editor-*``).
"""
from __future__ import annotations

import html

# (CSS variable, fallback) per role; the fallbacks are GitHub's light palette.
THEME = {
    "text": ("--jp-content-font-color1", "#1f2328"),
    "muted": ("--codex-nb-muted-color", "#57606a"),
    "border": ("--jp-border-color2", "#d0d7de"),
    "code-bg": ("--jp-cell-editor-background", "#f6f8fa"),
    "add-bg": ("--codex-nb-add-background", "#dafbe1"),
    "del-bg": ("--codex-nb-del-background", "#ffebe9"),
    "hunk": ("--codex-nb-hunk-color", "#0550ae"),
    "hunk-bg": ("--codex-nb-hunk-background", "#ddf4ff"),
    "ok": ("--jp-success-color0", "#1a7f37"),
    "error": ("--jp-error-color0", "#cf222e"),
    "warn": ("--jp-warn-color0", "#9a6700"),
    "failure-bg": ("--codex-nb-failure-background", "#fff5f5"),
}


def var(role: str) -> str:
    name, fallback = THEME[role]
    return f"var({name},{fallback})"


_BOX = f"border:1px solid {var('border')};border-radius:6px;margin:6px 0;padding:6px 8px;color:{var('text')};"
# white-space:pre and a horizontal scroll bar: a diff line is code, wrapping it mid-token misleads
_PRE = (f"margin:4px 0;padding:6px;overflow-x:auto;white-space:pre;font-size:12px;line-height:1.35;"
        f"color:{var('text')};background:{var('code-bg')};")

# Pygments token type -> syntax role. Each role is a custom property the lab extension sets per
# JupyterLab theme (style/render.css), falling back to the editor's own colour: JupyterLab's
# editor colours drop below a 4.5:1 contrast on the tinted +/- lines, the palette does not.
_TOKEN_ROLES = [
    ("Comment", "comment"), ("Keyword", "keyword"), ("Operator.Word", "keyword"), ("Name.Builtin", "builtin"),
    ("Name.Function", "def"), ("Name.Class", "def"), ("Name.Decorator", "meta"), ("Literal.String", "string"),
    ("Literal.Number", "number"), ("Operator", "operator"),
]
_SYNTAX = {  # role -> (JupyterLab editor variable, light fallback)
    "comment": ("--jp-mirror-editor-comment-color", "#57606a"),
    "keyword": ("--jp-mirror-editor-keyword-color", "#a40e26"),
    "builtin": ("--jp-mirror-editor-builtin-color", "#6639ba"),
    "def": ("--jp-mirror-editor-def-color", "#6639ba"),
    "meta": ("--jp-mirror-editor-meta-color", "#6639ba"),
    "string": ("--jp-mirror-editor-string-color", "#0a3069"),
    "number": ("--jp-mirror-editor-number-color", "#0550ae"),
    "operator": ("--jp-mirror-editor-operator-color", "#a40e26"),
}


def escape(text: str) -> str:
    return html.escape(text or "", quote=True)


def note_html(text: str, cls: str = "codex-status", tone: str = "muted") -> str:
    """A one-line status or warning in the theme's colour for ``tone`` (muted, ok, error, warn)."""
    return f"<div class='{cls} codex-tone-{tone}' style='color:{var(tone)}'>{escape(text)}</div>"


def diff_html(diff: dict) -> str:
    """A unified diff of one edit (a ``proposal_diffs`` entry): Python highlighting, tinted +/- lines."""
    lines = (diff["unified"] or "").splitlines()
    if len(lines) >= 2 and lines[0].startswith("---") and lines[1].startswith("+++"):
        lines = lines[2:]  # the header only repeats the cell the card's title names
    if not lines:
        return f'<pre class="codex-diff" style="{_PRE}">(no change)</pre>'
    paint = _painter(diff)
    rows = []
    for line in lines:
        if line.startswith("@@"):
            rows.append(f'<div class="codex-diff-hunk" style="color:{var("hunk")};background:{var("hunk-bg")}">'
                        f"{escape(line)}</div>")
            continue
        mark, code = line[:1], line[1:]
        kind = {"+": "add", "-": "del"}.get(mark)
        cls = f"codex-diff-line codex-diff-{kind}" if kind else "codex-diff-line"
        bg = f' style="background:{var(kind + "-bg")}"' if kind else ""
        rows.append(f'<div class="{cls}"{bg}><span class="codex-diff-mark" style="color:{var("muted")};'
                    f'user-select:none">{escape(mark or " ")}</span>{paint(code)}</div>')
    return f'<pre class="codex-diff" style="{_PRE}">{"".join(rows)}</pre>'


def _painter(diff: dict):
    """Highlight one line of a cell or file; plain text where Python highlighting would mislead."""
    path = diff.get("path") or ""
    python = not ("markdown" in diff.get("title", "").lower() or (path and not path.endswith(".py")))
    try:
        from pygments.lexers import PythonLexer
    except ImportError:  # Pygments comes with IPython, but plain text is still readable
        python = False
    if not python:
        return escape
    lexer = PythonLexer(stripnl=False, ensurenl=False)

    def paint(code: str) -> str:
        out = []
        for token, value in lexer.get_tokens(code):
            style = _token_style(token)
            out.append(f'<span style="{style}">{escape(value)}</span>' if style else escape(value))
        return "".join(out)

    return paint


def _token_style(token) -> str:
    """Inline colour for a Pygments token: the first matching syntax role, or none (plain text)."""
    name = str(token).removeprefix("Token.")
    for prefix, role in _TOKEN_ROLES:
        if name == prefix or name.startswith(prefix + "."):
            editor_var, fallback = _SYNTAX[role]
            return f"color:var(--codex-nb-syntax-{role},var({editor_var},{fallback}))"
    return ""


def card_title_html(diff: dict, state: str = "pending") -> str:
    badge = {"pending": "", "accepted": " ✓ accepted", "rejected": " ✗ rejected",
             "rolled_back": " ↩ rolled back", "undone": " ↶ undone"}.get(state, f" {state}")
    hover = diff.get("cell_id") or diff.get("path") or ""
    title_attr = f' title="{escape(hover)}"' if hover else ""
    return (f"<b class='codex-card-title'{title_attr}>[{diff['edit_index'] + 1}] {escape(diff['title'])}</b>"
            f"<span class='codex-card-state'>{escape(badge)}</span>")


def proposal_html(explanation: str, diffs: list[dict], note: str = "") -> str:
    """The whole proposal as static HTML (what nbconvert shows instead of the widget)."""
    parts = [f'<div class="codex-proposal" style="{_BOX}">',
             f"<div><b>codex-nb proposal</b> — {len(diffs)} edit{'s' if len(diffs) != 1 else ''}</div>"]
    if explanation:
        parts.append(f'<div class="codex-explanation" style="white-space:pre-wrap;margin:4px 0">{escape(explanation)}</div>')
    if note:
        parts.append(f'<div class="codex-fallback codex-tone-warn" style="color:{var("warn")};margin:4px 0">'
                     f"{escape(note)}</div>")
    for d in diffs:
        parts.append(f'<div class="codex-card" style="{_BOX}">{card_title_html(d)}{diff_html(d)}</div>')
    parts.append("</div>")
    return "".join(parts)


def reading_text(tokens: int) -> str:
    """What a person sees while a model reads the prompt (a local model takes 20–60 s before its first token)."""
    return f"reading the context ({tokens:,} tokens)…"


NO_EDITS = "The answer has no edits: nothing to review, the notebook is unchanged."


def stream_html(text: str, done: bool = False, status: str | None = None) -> str:
    """The answer so far; before its first token ``status`` (e.g. :func:`reading_text`) says what is happening."""
    head = "" if done else (f'<span class="codex-stream-status codex-tone-muted" style="color:{var("muted")}">'
                            f"{escape(status if status and not text else 'codex is writing…')}</span>")
    return f'{head}<pre class="codex-stream-text" style="{_PRE}white-space:pre-wrap">{escape(text)}</pre>'


def report_html(report, failure_text: str = "") -> str:
    """A validation report: a one-line summary, plus the failing cell's error when it failed."""
    ok = report.ok
    cls = "codex-validation-passed" if ok else "codex-validation-failed"
    out = (f'<div class="{cls}" style="color:{var("ok" if ok else "error")};font-weight:600">'
           f'validation {"passed" if ok else "failed"}</div>')
    out += f'<div class="codex-tone-muted" style="color:{var("muted")}">{escape(report.summary())}</div>'
    if not ok and failure_text:
        out += (f'<pre class="codex-failure" style="{_PRE}background:{var("failure-bg")}">'
                f"{escape(failure_text[-4000:])}</pre>")
    return out + drift_html(getattr(report, "drift", None) or [])


def drift_html(drift: list[dict]) -> str:
    """Output drift of unedited cells: each cell as people see it, what changed, and a small old/new diff."""
    if not drift:
        return ""
    by_cell: dict[str, list[dict]] = {}
    for item in drift:
        by_cell.setdefault(item.get("cell_id") or "", []).append(item)
    parts = [f'<div class="codex-drift" style="margin:4px 0">'
             f'<div class="codex-tone-warn" style="color:{var("warn")}">Outputs changed in {len(by_cell)} cell'
             f'{"s" if len(by_cell) != 1 else ""} the edit did not touch:</div>']
    for cid, items in by_cell.items():
        name = items[0].get("name") or items[0].get("cell") or f"cell [{(items[0].get('index') or 0) + 1}]"
        parts.append(f'<div class="codex-drift-cell" title="{escape(cid)}"><b>{escape(name)}</b>')
        for item in items:
            parts.append(f'<div class="codex-drift-detail">{escape(item.get("detail", ""))}</div>')
            rows = "".join(
                f'<div class="codex-diff-line codex-diff-{"add" if d.startswith("+") else "del" if d.startswith("-") else "ctx"}"'
                + (f' style="background:{var("add-bg" if d.startswith("+") else "del-bg")}"' if d[:1] in "+-" and d else "")
                + f">{escape(d)}</div>" for d in item.get("diff") or [])
            if rows:
                parts.append(f'<pre class="codex-drift-diff" style="{_PRE}">{rows}</pre>')
        parts.append("</div>")
    parts.append("</div>")
    return "".join(parts)


def progress_html(cells: dict[str, str], order: list[str], names: dict[str, str] | None = None) -> str:
    """Per-cell validation progress: one mark per selected cell.

    ``names`` (``cellnames.cell_labels(nb, with_source=False)``) shows each cell as
    ``cell [N]``; the id is on hover. Without it the first characters of the id stand in.
    """
    marks = {"queued": "·", "running": "▶", "done": "✓", "error": "✗"}
    names = names or {}
    items = [f'<span class="codex-cell-{cells.get(c, "queued")}" title="{escape(c)}" style="margin-right:6px">'
             f'{marks.get(cells.get(c, "queued"), "·")} {escape(names.get(c) or c[:8])}</span>' for c in order]
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
