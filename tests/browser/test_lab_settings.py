"""The Codex settings page: a value typed into JupyterLab's Settings Editor is saved in the
settings registry, survives a reload, becomes a per-request override, and a chat request
carrying that override reaches the model with it."""
from __future__ import annotations

import json
import uuid

import nbformat
import pytest

from conftest import screenshot

pytestmark = pytest.mark.browser

OVERRIDES = "() => window.jupyterapp.commands.execute('codex-nb:request-overrides')"
# polled until true (Playwright awaits the promise)
MODEL_IS = """(want) => window.jupyterapp.commands.hasCommand('codex-nb:request-overrides') &&
  window.jupyterapp.commands.execute('codex-nb:request-overrides').then(o => o.chat.model === want)"""


def test_settings_page_round_trips_into_a_request(page, jupyter_lab):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", id="c1")]
    name = f"settings-{uuid.uuid4().hex[:8]}.ipynb"
    jupyter_lab.upload(name, nb)
    page.goto(f"{jupyter_lab.url}lab?reset&token={jupyter_lab.token}")
    page.wait_for_function("() => !!window.jupyterapp")
    page.wait_for_selector("#jupyterlab-splash", state="detached")
    page.evaluate("() => window.jupyterapp.restored")
    page.wait_for_function("() => ['codex-nb:request-overrides', 'settingeditor:open'].every(c => "
                           "window.jupyterapp.commands.hasCommand(c))")
    assert page.evaluate(OVERRIDES)["chat"] == {}  # nothing set: the server's configuration decides

    page.evaluate("() => window.jupyterapp.commands.execute('settingeditor:open', {query: 'Codex'})")
    # the form JupyterLab draws from schema/settings.json (rjsf ids end with the property name)
    page.locator(".jp-SettingsPanel select[id$='_validationMode']").select_option("full")
    page.wait_for_function("() => window.jupyterapp.commands.execute('codex-nb:request-overrides')"
                           ".then(o => o.validate.mode === 'full')")
    field = page.locator(".jp-SettingsPanel input[id$='_model']")
    field.fill("openai:picked-in-settings")
    field.press("Tab")
    page.wait_for_function(MODEL_IS, arg="openai:picked-in-settings")
    page.wait_for_timeout(500)  # the editor saves after a short debounce
    screenshot(page, "settings-page")

    # Saved in the user settings, so it is there again after a reload.
    page.reload()
    page.wait_for_function("() => !!window.jupyterapp")
    page.wait_for_function(MODEL_IS, arg="openai:picked-in-settings")
    overrides = page.evaluate(OVERRIDES)
    assert overrides["validate"] == {"mode": "full"} and overrides["completion"] == {"model": "openai:picked-in-settings"}

    # A panel request carries the overrides; the server asks that model.
    jupyter_lab.llm.queue("An answer from the model picked in the settings.")
    status = page.evaluate("""async ([path, token]) => {
        const o = await window.jupyterapp.commands.execute('codex-nb:request-overrides');
        const r = await fetch('codex-nb/chat'.replace(/^/, window.jupyterapp.serviceManager.serverSettings.baseUrl), {
          method: 'POST', headers: {Authorization: 'token ' + token, 'Content-Type': 'application/json'},
          body: JSON.stringify({kind: 'ask', instruction: 'what is x?', path, ...o.chat})});
        await r.text();
        return r.status; }""", [name, jupyter_lab.token])
    assert status == 200
    assert jupyter_lab.llm.requests[-1]["model"] == "picked-in-settings"
    saved = json.dumps(jupyter_lab.api("GET", "lab/api/settings/codex-nb:settings"))
    assert "openai:picked-in-settings" in saved
    jupyter_lab.api("PUT", "lab/api/settings/codex-nb:settings", {"raw": "{}"})  # other tests use the defaults
