"""The widget HTML draws every colour from a theme variable (with a fallback for front ends
without JupyterLab's stylesheets), names cells by position and says what it is doing."""
import re
from types import SimpleNamespace

from codex_nb.edits.diff import unified
from codex_nb.widgets.render import (NO_EDITS, card_title_html, diff_html, note_html, progress_html, proposal_html,
                                     reading_text, report_html, stream_html)

COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}\b|rgba?\(")
FALLBACK = re.compile(r"var\(--[\w-]+,(?:var\(--[\w-]+,)?(#[0-9a-fA-F]{3,8})\)?\)")


def sample_html() -> str:
    diff = {"edit_index": 0, "op": "replace", "cell_id": "eda5c9bd", "path": None, "title": "Change cell [5] “x = 1”",
            "unified": unified("# old\nx = 1\n", "# new\nx = 'two' + str(2)\n", "a", "b")}
    failed = SimpleNamespace(ok=False, summary=lambda: "full validation, 1 cell in 0.1 s")
    return (proposal_html("why", [diff], note="not applied") + report_html(failed, "NameError: x")
            + note_html("careful", tone="warn") + stream_html("", status=reading_text(1850)))


def test_every_colour_is_a_theme_variable_with_a_fallback():
    html = sample_html()
    bare = COLOUR.findall(FALLBACK.sub("", html))
    assert not bare, f"hard-coded colours outside var(): {bare[:5]}"
    assert "var(--codex-nb-syntax-keyword" in diff_html({"unified": "@@ -1 +1 @@\n-if x:\n+for x in y:\n", "title": "t"})
    assert "var(--jp-cell-editor-background" in html and "white-space:pre;" in html  # diffs scroll, never wrap


def test_cell_ids_only_on_hover():
    title = card_title_html({"edit_index": 1, "title": "Change cell [5] “x = 1”", "cell_id": "eda5c9bd"})
    assert 'title="eda5c9bd"' in title and ">[2] Change cell [5]" in title
    marks = progress_html({"c1": "done"}, ["c1", "c2"], names={"c1": "cell [1]", "c2": "cell [2]"})
    assert "✓ cell [1]" in marks and 'title="c2"' in marks and "· cell [2]" in marks


def test_progress_before_the_first_token_and_the_no_edits_note():
    assert reading_text(1850) == "reading the context (1,850 tokens)…"
    assert "reading the context (1,850 tokens)…" in stream_html("", status=reading_text(1850))
    assert "codex is writing…" in stream_html("The answer", status=reading_text(1850))  # the stream took over
    assert "reading" not in stream_html("done", done=True, status=reading_text(5))
    assert "no edits" in NO_EDITS
