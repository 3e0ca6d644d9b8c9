"""The panel's @variable attachment in a real JupyterLab: the kernel builds the summary codex-nb builds
for every door, so no seeded secret reaches the model, and a secret-named variable shows no value."""
from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import nbformat
import pytest

from conftest import open_notebook, run_cell

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harden_secrets import FORMS, VALUES  # noqa: E402

pytestmark = pytest.mark.browser


def test_variable_attachments_are_summarised_by_codex_nb_and_redacted(page, jupyter_lab):
    source = "\n".join([
        f"seeded_settings = {{'db': {FORMS[1][0]!r}, 'url': {FORMS[12][0]!r}, 'note': {('x ' * 200) + VALUES[14]!r}}}",
        f"seeded_token = {VALUES[13]!r}",
    ])
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source, id="c1")]
    name = f"harden-{uuid.uuid4().hex[:8]}.ipynb"
    jupyter_lab.upload(name, nb)
    open_notebook(page, jupyter_lab, name)
    run_cell(page, 0)
    page.keyboard.press("Control+Alt+KeyC")
    page.wait_for_selector("#codex-nb-panel .codex-input", state="visible")
    for variable in ("seeded_settings", "seeded_token"):
        page.type("#codex-nb-panel .codex-input", f" @{variable}")
        page.locator("#codex-nb-panel .codex-completion-variable", has_text=variable).first.click()
    chips = page.locator("#codex-nb-panel .codex-chip-variable")
    chips.nth(1).wait_for()
    tooltip = chips.first.get_attribute("title")
    assert tooltip.startswith("seeded_settings: dict len=3") and "[REDACTED]" in tooltip  # codex-nb's own summary
    jupyter_lab.llm.queue("ok")
    page.select_option("#codex-nb-panel .codex-kind", "ask")
    page.fill("#codex-nb-panel .codex-input", "what do these hold?")
    page.click("#codex-nb-panel .codex-send")
    page.locator("#codex-nb-panel .codex-assistant .codex-answer:not(.codex-streaming)").last.wait_for()
    sent = json.dumps(jupyter_lab.llm.requests[-1])
    assert "seeded_settings" in sent and "seeded_token: [REDACTED]" in sent
    for value in VALUES:
        assert value not in sent, value
