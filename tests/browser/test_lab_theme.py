"""Readable in every theme: the %%codex HTML and the panel's diffs under JupyterLab's light,
dark and dark high-contrast themes, checked on the rendered page.

For each theme the test computes the WCAG contrast of every piece of diff text from the
browser's computed styles (text colour against the backgrounds it is painted on,
translucent tints composited), and keeps a screenshot in docs/ when CODEX_NB_DOCS_SCREENSHOTS=1.
It also checks the panel at its default width: diffs scroll instead of wrapping, and the
Accept / Reject buttons never cover the card's title.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import nbformat
import pytest

from conftest import open_notebook, run_cell, screenshot

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark", "high-contrast": "JupyterLab Dark High Contrast"}
WCAG_TEXT = 4.5

OLD = '''@cache
def total(rows, rate=0.2):
    # add tax to every row
    return sum(r["amount"] for r in rows)
'''
NEW = '''@cache
def total(rows, rate=0.2):
    # add tax to every row, then round the result to cents so that the report and the invoice agree exactly
    return round(sum(r["amount"] * (1 + rate) for r in rows if r is not None), 2)
'''

SHOW_HTML = f'''
from IPython.display import HTML, display
from codex_nb.edits.diff import unified
from codex_nb.widgets.render import proposal_html, report_html

class Report:
    ok = False
    def summary(self):
        return "targeted validation, 2 cells in 0.4 s; failed in cell [3]"

diff = {{"edit_index": 0, "op": "replace", "cell_id": "c-total", "path": None,
        "title": "Change cell [2] (In [1]) “def total(rows, rate=0.2):”",
        "unified": unified({OLD!r}, {NEW!r}, "a/c-total", "b/c-total")}}
display(HTML(proposal_html("Add the tax and round to cents.", [diff])
             + report_html(Report(), "Traceback (most recent call last):\\nNameError: name 'rate' is not defined")))
'''

# WCAG 2 relative luminance and contrast, on colours composited down to an opaque background.
CONTRAST = """(selector) => {
  const parse = c => {
    const m = /rgba?\\(([^)]+)\\)/.exec(c);
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => [0, 1, 2].map(i => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);
  const background = node => {
    const layers = [];
    for (let n = node; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let base = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) base = over(layers[i], base);
    return base;
  };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
                     return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const out = [];
  for (const node of document.querySelectorAll(selector)) {
    const own = [...node.childNodes].filter(t => t.nodeType === 3 && t.textContent.trim()).map(t => t.textContent).join('');
    if (!own || !node.getClientRects().length) continue;
    const bg = background(node);
    const raw = parse(getComputedStyle(node).color);
    if (!raw) { out.push({ratio: 0, text: own, color: getComputedStyle(node).color}); continue; }
    const fg = over(raw, bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    out.push({ratio: (hi + 0.05) / (lo + 0.05), text: own.slice(0, 40), color: getComputedStyle(node).color,
              background: `rgb(${bg.slice(0, 3).map(Math.round).join(',')})`});
  }
  return out.sort((a, b) => a.ratio - b.ratio);
}"""

WIDGET_TEXT = ".jp-OutputArea .codex-proposal pre.codex-diff *, .jp-OutputArea pre.codex-failure"
PANEL_TEXT = "#codex-nb-panel .codex-diff-body .codex-line"


def keep(page, name: str) -> None:
    shot = screenshot(page, name)
    if os.environ.get("CODEX_NB_DOCS_SCREENSHOTS") == "1" and shot.exists():
        shutil.copy(shot, DOCS / f"{name}.png")


@pytest.fixture(scope="module")
def themed_notebook(jupyter_lab):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SHOW_HTML, id="c-show"),
                nbformat.v4.new_code_cell(OLD + "\nprint(total([{'amount': 2}]))", id="c-total")]
    name = f"theme-{uuid.uuid4().hex[:8]}.ipynb"
    jupyter_lab.upload(name, nb)
    return name


def set_theme(page, theme: str) -> None:
    page.evaluate("(t) => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", theme)
    page.wait_for_function("(t) => document.body.dataset.jpThemeName === t", arg=theme)
    page.wait_for_timeout(400)  # the theme's stylesheet is swapped in after the attribute changes


@pytest.mark.parametrize("theme", list(THEMES))
def test_diffs_are_readable_in_every_theme(page, jupyter_lab, themed_notebook, theme):
    open_notebook(page, jupyter_lab, themed_notebook)
    run_cell(page, 0)
    page.wait_for_selector(".jp-OutputArea .codex-proposal .codex-diff-add")
    page.keyboard.press("Control+Alt+KeyC")
    page.wait_for_selector("#codex-nb-panel .codex-input", state="visible")
    jupyter_lab.llm.queue({"explanation": "Add the tax.", "edits": [
        {"op": "replace", "cell_id": "c-total", "cell_type": "code", "source": NEW + "\nprint(total([{'amount': 2}]))"}]})
    page.fill("#codex-nb-panel .codex-input", "add the tax")
    page.click("#codex-nb-panel .codex-send")
    page.locator("#codex-nb-panel .codex-proposal .codex-line-add").first.wait_for()
    try:
        set_theme(page, THEMES[theme])
        page.wait_for_selector("#jupyterlab-splash", state="detached")
        widget = page.evaluate(CONTRAST, WIDGET_TEXT)
        panel = page.evaluate(CONTRAST, PANEL_TEXT)
        assert len(widget) >= 10 and len(panel) >= 8  # the checks saw the diff lines, not an empty page
        worst = [r for r in widget + panel if r["ratio"] < WCAG_TEXT]
        assert not worst, f"text below {WCAG_TEXT}:1 in the {theme} theme: {worst[:5]}"
        print(f"{theme}: lowest contrast widget {widget[0]['ratio']:.2f}:1 ({widget[0]['text']!r}), "
              f"panel {panel[0]['ratio']:.2f}:1 ({panel[0]['text']!r})")
        keep(page, f"theme-{theme}")
    finally:
        set_theme(page, THEMES["light"])


def test_panel_at_its_default_width(page, jupyter_lab, themed_notebook):
    open_notebook(page, jupyter_lab, themed_notebook)
    page.keyboard.press("Control+Alt+KeyC")
    page.wait_for_selector("#codex-nb-panel .codex-input", state="visible")
    jupyter_lab.llm.queue({"explanation": "Add the tax.", "edits": [
        {"op": "replace", "cell_id": "c-total", "cell_type": "code", "source": NEW}]})
    page.fill("#codex-nb-panel .codex-input", "add the tax")
    page.click("#codex-nb-panel .codex-send")
    body = page.locator("#codex-nb-panel .codex-diff-body").first
    body.wait_for()
    layout = page.evaluate("""() => {
      const panel = document.querySelector('#codex-nb-panel');
      const head = panel.querySelector('.codex-diff-head');
      const title = head.querySelector('.codex-diff-title').getBoundingClientRect();
      const overlaps = [...head.querySelectorAll('button')].map(b => b.getBoundingClientRect())
        .filter(b => b.left < title.right && b.right > title.left && b.top < title.bottom && b.bottom > title.top).length;
      const body = panel.querySelector('.codex-diff-body');
      const line = [...body.querySelectorAll('.codex-line-add')].find(l => l.textContent.includes('invoice'));
      const button = head.querySelector('button');
      return {width: panel.getBoundingClientRect().width, overlaps, scrolls: body.scrollWidth > body.clientWidth,
              whiteSpace: getComputedStyle(line).whiteSpace, lineHeight: line.getBoundingClientRect().height,
              oneLine: parseFloat(getComputedStyle(line).lineHeight) || 16,
              buttonBorder: getComputedStyle(button).borderTopWidth, buttonHeight: button.getBoundingClientRect().height};
    }""")
    assert layout["width"] >= 320, layout  # opens wide enough for its controls
    assert layout["overlaps"] == 0, layout  # buttons never cover the card's title
    assert layout["whiteSpace"] == "pre" and layout["scrolls"], layout  # the long line scrolls …
    assert layout["lineHeight"] < 2 * layout["oneLine"], layout  # … instead of wrapping mid-token
    assert layout["buttonBorder"] != "0px" and layout["buttonHeight"] >= 20, layout  # buttons look like buttons
    keep(page, "panel-default-width")
