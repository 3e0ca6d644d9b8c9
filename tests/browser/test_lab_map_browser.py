"""The Map view in a real JupyterLab: the repository graph with the files a question would
send, the notebook's cell graph, clicking a cell jumps to it and clicking a file opens it."""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pytest

from conftest import open_notebook, screenshot

pytestmark = pytest.mark.browser

SHOP = Path(__file__).resolve().parents[1] / "data" / "context" / "shop_repo"


def test_map_view_draws_and_navigates(page, jupyter_lab):
    folder = f"shop-{uuid.uuid4().hex[:6]}"
    shutil.copytree(SHOP, jupyter_lab.root_dir / folder, ignore=shutil.ignore_patterns(".codex_nb"))
    # through the contents API, which gives it a kernelspec (the fixture has none)
    jupyter_lab.upload(f"{folder}/analysis.ipynb", json.loads((SHOP / "analysis.ipynb").read_text()))
    open_notebook(page, jupyter_lab, f"{folder}/analysis.ipynb")
    page.evaluate("() => window.jupyterapp.commands.execute('codex-nb:open-map', {query: 'discount pricing'})")
    page.wait_for_selector(".codex-map-repo .codex-map-sent")
    ranks = page.eval_on_selector_all(".codex-map-repo .codex-map-sent, .codex-map-repo .codex-map-outline, "
                                      ".codex-map-repo .codex-map-named",
                                      "ns => ns.map(n => [n.dataset.id, n.querySelector('.codex-map-rank').textContent])")
    by_path = dict(ranks)
    assert by_path["shop/pricing.py"].startswith("#") and "tok" in by_path["shop/pricing.py"]
    assert by_path["shop/io.py"].startswith("#1 ")  # the notebook imports it: ranked first
    # files sent as an outline (signature lines only) or listed by name only are drawn apart from those sent
    # with code: an empty module has nothing to outline; the tests file ranks below the code that is sent
    drawn = {kind: page.eval_on_selector_all(f".codex-map-repo .codex-map-{kind}", "ns => ns.map(n => n.dataset.id)")
             for kind in ("sent", "outline", "named")}
    assert all(by_path[p].endswith(" tok outline") for p in drawn["outline"])
    assert all(by_path[p].endswith(" name") for p in drawn["named"])
    assert "shop/__init__.py" in drawn["named"]
    assert "tests/test_io.py" in drawn["outline"] + drawn["named"] and "tests/test_io.py" not in drawn["sent"]
    assert page.locator(".codex-map-repo .codex-map-current[data-id='analysis.ipynb']").count() == 1
    assert page.locator(".codex-map-repo .codex-map-edge-import").count() >= 5
    assert page.locator(".codex-map-repo [data-group='shop']").count() == 1  # packages as groups
    cells = page.locator(".codex-map-cells .codex-map-cell")
    assert cells.count() == 3
    assert page.locator(".codex-map-cells .codex-map-edge-cell[data-source='cell1'][data-target='cell2']").count() == 1
    status = page.inner_text(".codex-map-status")
    assert "files" in status and "tokens" in status
    screenshot(page, "map-view")
    if os.environ.get("CODEX_NB_DOCS_SCREENSHOTS") == "1":
        page.screenshot(path=str(Path(__file__).resolve().parents[2] / "docs" / "map-view.png"))

    # Hovering a cell marks the cells an edit of it would re-run; clicking it jumps there.
    cells.nth(1).hover()
    assert page.locator(".codex-map-cells .codex-map-rerun").count() == 2
    cells.nth(2).click()
    page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
        return w && w.content && w.content.activeCellIndex === 2; }""")

    # Clicking a file opens it in an editor.
    page.evaluate("() => window.jupyterapp.commands.execute('codex-nb:open-map')")
    page.locator(".codex-map-repo .codex-map-node[data-id='shop/pricing.py']").click()
    page.wait_for_function("""(want) => { const w = window.jupyterapp.shell.currentWidget;
        return w && w.context && w.context.path === want; }""", arg=f"{folder}/shop/pricing.py")
    assert page.codex_errors == []
