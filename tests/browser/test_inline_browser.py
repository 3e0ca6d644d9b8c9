"""Ghost-text completion in a real JupyterLab on Chromium: JupyterLab's inline completer fed by the
codex-nb provider, the model the session's scripted server answering ``/completions``."""
from __future__ import annotations

import time
import uuid

import nbformat
import pytest

from conftest import notebook_json, open_notebook, screenshot

pytestmark = pytest.mark.browser

GHOST = ".jp-GhostText"


def make_notebook(lab, source: str) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import math", id="setup"), nbformat.v4.new_code_cell(source, id="edit")]
    name = f"inline-{uuid.uuid4().hex[:8]}.ipynb"
    lab.upload(name, nb)
    return name


def focus_end_of_cell(page, index: int) -> None:
    editor = page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+End")


def settle(lab, seconds: float = 0.6) -> None:
    """Let any speculative request (the model is on loopback, so it counts as local) finish first."""
    deadline = time.monotonic() + 10
    while not all(s["ended"] for s in lab.llm.streams) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(seconds)


def edited_source(page) -> str:
    return "".join(notebook_json(page)["cells"][1]["source"])


def test_ghost_text_appears_and_tab_inserts_it(page, jupyter_lab):
    lab = jupyter_lab
    name = make_notebook(lab, "")
    open_notebook(page, lab, name)
    settle(lab)
    lab.llm.queue_completion("math.sqrt(2)", chunk_size=3, chunk_delay=0.02)
    asked = len(lab.llm.requests)
    before = lab.api("GET", "codex-nb/complete/stats")
    focus_end_of_cell(page, 1)
    page.keyboard.type("root = ")
    page.wait_for_function(f"() => (document.querySelector('{GHOST}') || {{}}).textContent === 'math.sqrt(2)'")
    screenshot(page, "inline-ghost-text")
    sent = lab.llm.requests[asked]
    assert sent["prompt"].endswith("root = ") and "import math" in sent["prompt"]  # the cell above went along
    page.keyboard.press("Tab")
    page.wait_for_function("() => !document.querySelector('.jp-GhostText')")
    assert edited_source(page) == "root = math.sqrt(2)"
    deadline = time.monotonic() + 10
    while lab.api("GET", "codex-nb/complete/stats")["accepted"] < before["accepted"] + 1:
        assert time.monotonic() < deadline, "the acceptance was not counted"
        time.sleep(0.1)
    # a few seconds later the extension checks that the accepted text is still in the cell
    deadline = time.monotonic() + 15
    while (stats := lab.api("GET", "codex-nb/complete/stats"))["retained_chars"] < before["retained_chars"] + 12:
        assert time.monotonic() < deadline, f"the retained characters were not counted: {stats}"
        time.sleep(0.2)
    assert stats["accepted_chars"] - before["accepted_chars"] == len("math.sqrt(2)")
    assert (lab.root_dir / ".codex_nb" / "completion_stats.json").exists()  # kept locally, under the root
    assert not page.codex_errors


def test_alt_bracket_cycles_to_the_second_suggestion_and_tab_inserts_it(page, jupyter_lab):
    lab = jupyter_lab
    name = make_notebook(lab, "")
    open_notebook(page, lab, name)
    settle(lab)
    # one model response with n = 3: the first streams, choice 1 differs, choice 2 repeats the first
    lab.llm.queue_completion("math.sqrt(2)", chunk_size=3, chunk_delay=0.02, alternatives=("math.pi",))
    asked = len(lab.llm.requests)
    before = lab.api("GET", "codex-nb/complete/stats")
    focus_end_of_cell(page, 1)
    page.keyboard.type("angle = ")
    page.wait_for_function(f"() => (document.querySelector('{GHOST}') || {{}}).textContent === 'math.sqrt(2)'")
    assert lab.llm.requests[asked]["n"] == 3
    page.keyboard.press("Alt+BracketRight")
    page.wait_for_function(f"() => (document.querySelector('{GHOST}') || {{}}).textContent === 'math.pi'")
    screenshot(page, "inline-second-suggestion")
    page.keyboard.press("Alt+BracketLeft")
    page.wait_for_function(f"() => (document.querySelector('{GHOST}') || {{}}).textContent === 'math.sqrt(2)'")
    page.keyboard.press("Alt+BracketRight")
    page.wait_for_function(f"() => (document.querySelector('{GHOST}') || {{}}).textContent === 'math.pi'")
    page.keyboard.press("Tab")
    page.wait_for_function("() => !document.querySelector('.jp-GhostText')")
    assert edited_source(page) == "angle = math.pi"
    # the statistics count what went into the cell (the alternative), not the first suggestion
    deadline = time.monotonic() + 15
    while (stats := lab.api("GET", "codex-nb/complete/stats"))["retained_chars"] < before["retained_chars"] + 7:
        assert time.monotonic() < deadline, f"the retained characters were not counted: {stats}"
        time.sleep(0.2)
    assert stats["accepted_chars"] - before["accepted_chars"] == len("math.pi")
    assert stats["retained_chars"] - before["retained_chars"] == len("math.pi")
    assert not page.codex_errors


def test_a_second_keystroke_cancels_the_first_request(page, jupyter_lab):
    lab = jupyter_lab
    name = make_notebook(lab, "")
    open_notebook(page, lab, name)
    settle(lab)
    lab.llm.queue_completion("slow_" * 120, chunk_size=2, chunk_delay=0.05)  # 300 chunks: 15 s if nobody stops it
    lab.llm.queue_completion("fast_value()")
    first_stream = len(lab.llm.streams)
    focus_end_of_cell(page, 1)
    page.keyboard.type("a = ")
    page.wait_for_function(f"() => (document.querySelector('{GHOST}') || {{}}).textContent?.startsWith('slow_')")
    assert lab.llm.streams[first_stream]["sent"] < lab.llm.streams[first_stream]["total"]
    page.keyboard.type("b")
    page.wait_for_function(f"() => (document.querySelector('{GHOST}') || {{}}).textContent === 'fast_value()'")
    deadline = time.monotonic() + 10
    slow = lab.llm.streams[first_stream]
    while not slow["ended"]:
        assert time.monotonic() < deadline, "the first request's stream was never closed"
        time.sleep(0.05)
    assert not slow["completed"] and slow["sent"] < slow["total"] // 2  # the model stopped early
    assert lab.llm.requests[-1]["prompt"].endswith("a = b") or any(
        r["prompt"].endswith("a = b") for r in lab.llm.requests[-3:])
    page.keyboard.press("Tab")
    page.wait_for_function("() => !document.querySelector('.jp-GhostText')")
    assert edited_source(page) == "a = bfast_value()"


def test_the_lab_setting_turns_completion_off(page, jupyter_lab):
    lab = jupyter_lab
    schema = lab.api("GET", "lab/api/settings/codex-nb:inline")["schema"]
    assert schema["properties"]["enabled"]["enum"] == ["auto", "on", "off"]
    assert "demonstration" in schema["properties"]["model"]["description"]
    lab.api("PUT", "lab/api/settings/codex-nb:inline", {"raw": '{"enabled": "off"}'})
    try:
        name = make_notebook(lab, "")
        open_notebook(page, lab, name)
        settle(lab)
        asked = len(lab.llm.requests)
        focus_end_of_cell(page, 1)
        page.keyboard.type("quiet = ")
        page.wait_for_timeout(1500)  # several debounce periods: a request would have been sent by now
        assert len(lab.llm.requests) == asked and page.locator(GHOST).count() == 0
    finally:
        lab.api("PUT", "lab/api/settings/codex-nb:inline", {"raw": "{}"})
