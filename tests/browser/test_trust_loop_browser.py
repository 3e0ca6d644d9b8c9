"""One engine behind the widget and the panel, in a real JupyterLab: a cell edit and a repository-file patch are
accepted together, validated (a real fresh-kernel run) and kept — or rolled back together, the file byte for byte;
and a card drawn before the tab was reloaded still accepts."""
from __future__ import annotations

import uuid
from pathlib import Path

import nbformat
import pytest

from conftest import notebook_json, open_notebook, run_cell, screenshot
from codex_nb.notebook_io import source_hash

pytestmark = pytest.mark.browser

HELPER = "def scale(x):\n    return x * 2\n"


def project(lab, cells, *, widget: bool) -> str:
    (lab.root_dir / ".git").mkdir(exist_ok=True)
    (lab.root_dir / "scaling.py").write_text(HELPER)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src, id=cid) for cid, src in cells]
    name = f"trust-{'w' if widget else 'p'}-{uuid.uuid4().hex[:8]}.ipynb"
    lab.upload(name, nb)
    return name


CELLS = [("c-load", "from scaling import scale\nrows = [scale(1), scale(2)]"), ("c-check", "print(sum(rows))")]


def proposal(check: str, new_scale: str) -> dict:
    return {"explanation": "Scale by three and show the rows.", "edits": [
        {"op": "replace", "cell_id": "c-check", "cell_type": "code", "source": check},
        {"op": "patch_file", "path": "scaling.py", "search": "return x * 2", "replace": new_scale,
         "base_hash": source_hash(HELPER)}]}


def sources(page) -> dict[str, str]:
    return {c["id"]: "".join(c["source"]) for c in notebook_json(page)["cells"]}


def widget_card(page, lab, answer: dict):
    name = project(lab, [*CELLS, ("c-ext", "%load_ext codex_nb"), ("c-ask", "%%codex\nscale by three")], widget=True)
    open_notebook(page, lab, name)
    for i in range(3):
        run_cell(page, i)
    lab.llm.queue(answer, chunk_delay=0.01)
    run_cell(page, 3)
    page.locator(".codex-review .codex-card").first.wait_for(state="visible", timeout=90_000)
    return name


def test_widget_keeps_a_cell_edit_and_a_file_patch_together(page, jupyter_lab):
    widget_card(page, jupyter_lab, proposal("print(rows)", "return x * 3"))
    page.locator(".codex-review .codex-accept-all").first.click()
    page.locator(".codex-validation-passed").wait_for(timeout=120_000)
    assert (jupyter_lab.root_dir / "scaling.py").read_text() == "def scale(x):\n    return x * 3\n"
    assert sources(page)["c-check"] == "print(rows)"
    notice = page.locator(".codex-review .codex-notice").first.inner_text()
    assert "kept" in notice.lower()
    screenshot(page, "trust-widget-kept")


def test_widget_rolls_back_a_breaking_file_patch_with_its_cell_edit(page, jupyter_lab):
    before_nb = None
    widget_card(page, jupyter_lab, proposal("assert sum(rows) == 6, sum(rows)\nprint(rows)", "return x * 'x'"))
    before_nb = sources(page)
    page.locator(".codex-review .codex-accept-all").first.click()
    page.locator(".codex-rollback").wait_for(timeout=120_000)
    assert (jupyter_lab.root_dir / "scaling.py").read_bytes() == HELPER.encode()  # byte-identical
    assert sources(page) == before_nb
    assert "TypeError" in page.locator(".codex-review .codex-validation").first.inner_text()
    screenshot(page, "trust-widget-rolled-back")


def test_a_card_drawn_before_a_reload_still_accepts(page, jupyter_lab):
    name = widget_card(page, jupyter_lab, proposal("print(rows)", "return x * 3"))
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
    page.reload()
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext?.session?.kernel", timeout=90_000)
    card = page.locator(".codex-review .codex-card").first
    card.wait_for(state="visible", timeout=60_000)  # the widget is drawn again from the live kernel
    started = page.evaluate("() => performance.now()")
    page.locator(".codex-review .codex-accept-all").first.click()
    # The engine reaches the new page (its own comm, or a fresh one) instead of waiting 30 s on the old one.
    page.wait_for_function("""() => { const n = document.querySelector('.codex-review .codex-notice');
                                      return n && /Applied|Validating|kept|Could not/.test(n.textContent); }""",
                           timeout=15_000)
    waited = page.evaluate("(t) => performance.now() - t", started)
    page.locator(".codex-validation-passed").wait_for(timeout=120_000)
    assert (jupyter_lab.root_dir / "scaling.py").read_text() == "def scale(x):\n    return x * 3\n"
    assert sources(page)["c-check"] == "print(rows)"
    assert waited < 10_000, waited
    screenshot(page, "trust-widget-after-reload")


def open_panel(page):
    page.keyboard.press("Control+Alt+KeyC")
    page.wait_for_selector("#codex-nb-panel .codex-input", state="visible")
    page.wait_for_selector("#codex-nb-panel .codex-chip-notebook")


def panel_proposal(page, lab, answer: dict):
    name = project(lab, CELLS, widget=False)
    open_notebook(page, lab, name)
    open_panel(page)
    lab.llm.queue(answer)
    page.select_option("#codex-nb-panel .codex-kind", "propose")
    page.fill("#codex-nb-panel .codex-input", "scale by three")
    page.click("#codex-nb-panel .codex-send")
    card = page.locator("#codex-nb-panel .codex-assistant").last.locator(".codex-proposal")
    card.wait_for(timeout=90_000)
    return name, card


def settled(page):
    page.wait_for_function("""() => { const b = [...document.querySelectorAll('#codex-nb-panel .codex-validation')].pop();
                                      return b && /validation passed|rolled back|not applied|not exact|applied and kept/.test(b.textContent); }""",
                       timeout=120_000)


def test_panel_keeps_a_cell_edit_and_a_file_patch_together(page, jupyter_lab):
    name, card = panel_proposal(page, jupyter_lab, proposal("print(rows)", "return x * 3"))
    assert card.locator(".codex-diff").count() == 2
    card.locator(".codex-accept-all").click()
    settled(page)
    assert "validation passed" in card.locator(".codex-validation").inner_text()
    assert (jupyter_lab.root_dir / "scaling.py").read_text() == "def scale(x):\n    return x * 3\n"
    assert sources(page)["c-check"] == "print(rows)"
    entries = jupyter_lab.api("GET", f"codex-nb/audit?path={name}")["entries"]
    applied = [e for e in entries if e["event"] == "applied"][-1]
    assert applied["files"] == ["scaling.py"] and applied["applier"] == "panel"
    screenshot(page, "trust-panel-kept")


def test_panel_rolls_back_a_breaking_file_patch_with_its_cell_edit(page, jupyter_lab):
    name, card = panel_proposal(page, jupyter_lab, proposal("assert sum(rows) == 6\nprint(rows)", "return x * 'x'"))
    before = sources(page)
    card.locator(".codex-accept-all").click()
    settled(page)
    text = card.locator(".codex-validation").inner_text()
    assert "rolled back" in text and "TypeError" in text
    assert (jupyter_lab.root_dir / "scaling.py").read_bytes() == HELPER.encode()
    assert sources(page) == before
    assert card.locator(".codex-fix").is_visible()
    screenshot(page, "trust-panel-rolled-back")


def git(repo, *args) -> str:
    import subprocess

    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def test_panel_commit_button_commits_a_kept_change_when_commit_is_ask(page, jupyter_lab):
    """c.CodexNB.commit = 'ask': after the change is kept, the card's Commit makes one commit of exactly the file it
    patched, with the trailers; the person's other uncommitted work stays out of it."""
    import json

    lab = jupyter_lab
    sub = lab.root_dir / f"commit-{uuid.uuid4().hex[:8]}"
    sub.mkdir()
    git(sub, "init", "-q")
    git(sub, "config", "user.email", "person@example.com")
    git(sub, "config", "user.name", "A Person")
    (sub / "scaling.py").write_text(HELPER)
    (sub / "notes.txt").write_text("first\n")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src, id=cid) for cid, src in CELLS]
    nbformat.write(nb, sub / "work.ipynb")
    git(sub, "add", "-A")
    git(sub, "commit", "-q", "-m", "start")
    (sub / "notes.txt").write_text("first\nmy own edit, not for the assistant's commit\n")
    head = git(sub, "rev-parse", "HEAD")
    config = Path(lab.env["JUPYTER_CONFIG_DIR"]) / "codex_nb_config.json"
    config.write_text(json.dumps({"CodexNB": {"commit": "ask"}}))
    try:
        open_notebook(page, lab, f"{sub.name}/work.ipynb")
        open_panel(page)
        lab.llm.queue(proposal("print(rows)", "return x * 3"))
        page.select_option("#codex-nb-panel .codex-kind", "propose")
        page.fill("#codex-nb-panel .codex-input", "scale by three")
        page.click("#codex-nb-panel .codex-send")
        card = page.locator("#codex-nb-panel .codex-assistant").last.locator(".codex-proposal")
        card.wait_for(timeout=90_000)
        card.locator(".codex-accept-all").click()
        settled(page)
        assert "validation passed" in card.locator(".codex-validation").inner_text()
        assert git(sub, "rev-parse", "HEAD") == head  # kept, not committed until the person says so
        card.locator(".codex-commit").click(timeout=30_000)
        page.wait_for_function("""() => /committed [0-9a-f]{12}|not committed/.test(
            [...document.querySelectorAll('#codex-nb-panel .codex-validation')].pop()?.textContent || '')""",
                               timeout=60_000)
        said = card.locator(".codex-validation").inner_text()
        assert said.startswith("committed "), said
        screenshot(page, "trust-panel-committed")
        assert git(sub, "rev-parse", "HEAD^") == head
        assert git(sub, "show", "--name-only", "--format=", "HEAD").splitlines() == ["scaling.py"]
        message = git(sub, "log", "-1", "--format=%B")
        assert "Codex-Proposal: p-" in message and "Codex-Validation: passed" in message
        assert git(sub, "status", "--porcelain", "notes.txt") == "M notes.txt"  # still the person's, uncommitted
        assert not card.locator(".codex-commit").is_visible()
    finally:
        config.unlink()
