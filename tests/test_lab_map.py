"""The map: repository graph, the files a question sends, the notebook's cell graph.

On the fixture repository (tests/data/context/shop_repo, copied so that no cache is
written into the source tree), through the CLI, the Python API, the server route and
`%codex map`. Everything is local analysis: no test here queues a model reply.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

from codex_nb.context import build_context
from codex_nb.context.tokens import count_tokens
from codex_nb.repomap import build_map
from codex_nb.repomap.sent import code_blocks
from codex_nb.validate.select import select_targeted

from pytest_jupyter.jupyter_server import *  # noqa: E402,F401,F403
from test_server import in_loop

SHOP = Path(__file__).parent / "data" / "context" / "shop_repo"


@pytest.fixture
def shop(tmp_path):
    dest = tmp_path / "shop_repo"
    shutil.copytree(SHOP, dest, ignore=shutil.ignore_patterns(".codex_nb"))
    return dest


def cli_map(*args) -> dict:
    proc = subprocess.run([sys.executable, "-m", "codex_nb", "map", *args, "--json"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_cli_map_groups_imports_sent_files_and_cells(shop):
    data = cli_map("--repo", str(shop), "--notebook", str(shop / "analysis.ipynb"), "--query", "discount pricing")
    groups = {g["id"]: g for g in data["groups"]}
    assert groups["shop"]["package"] and groups["shop/utils"]["package"] and not groups["tests"]["package"]
    assert groups["shop"]["files"] == 5
    imports = {(e["source"], e["target"]) for e in data["edges"] if e["kind"] == "import"}
    assert {("analysis.ipynb", "shop/io.py"), ("shop/report.py", "shop/pricing.py"),
            ("notebooks/explore_discounts.ipynb", "shop/pricing.py")} <= imports
    assert not any(n["id"].startswith("private/") for n in data["nodes"])  # .codexignore'd: never on the map
    sent = data["sent"]
    assert [f["rank"] for f in sent] == list(range(1, len(sent) + 1))
    by_path = {f["path"]: f for f in sent}
    assert by_path["shop/pricing.py"]["code_sent"] and by_path["shop/pricing.py"]["tokens"] > 0
    assert sum(f["tokens"] for f in sent) <= data["context_tokens"] <= data["budget"] == 8000
    ranked_nodes = {n["id"]: n["rank"] for n in data["nodes"] if "rank" in n}
    assert ranked_nodes == {f["path"]: f["rank"] for f in sent}

    nb = data["notebook"]
    assert nb["path"] == "analysis.ipynb"
    cells = {c["id"]: c for c in nb["cells"]}
    assert cells["cell1"]["label"] == "cell [2] (In [1]) “from shop.io import load_orders”"
    assert "orders" in cells["cell1"]["defines"] and "orders" in cells["cell2"]["uses"]
    assert {"source": "cell1", "target": "cell2", "names": ["orders"]} in nb["edges"]
    notebook = nbformat.read(str(shop / "analysis.ipynb"), as_version=4)
    assert cells["cell2"]["rerun"] == select_targeted(notebook, ["cell2"]).cell_ids  # what validation would run


def test_tokens_are_the_code_actually_in_the_context(shop):
    query = "load orders from csv"
    ctx = build_context(query=query, repo=shop, budget=8000, use_cache=False)
    data = build_map(repo=shop, query=query, use_cache=False)
    text = ctx.render()
    for f in data["sent"]:
        block = f"--- {f['path']} ---"
        assert (block in text) == (f["code_sent"] or f["outline_sent"])
        assert not (f["code_sent"] and f["outline_sent"])
        if f["code_sent"]:
            assert f["tokens"] == count_tokens(code_blocks(ctx.section("repository").text)[f["path"]])


def test_without_question_or_notebook_nothing_is_highlighted(shop):
    data = build_map(repo=shop, use_cache=False)
    assert data["sent"] == [] and data["notebook"] is None and data["budget"] is None
    assert all("rank" not in n for n in data["nodes"]) and data["files"] == len(data["nodes"])


def test_large_repositories_collapse_to_packages(tmp_path):
    (tmp_path / ".git").mkdir()
    for p in range(8):
        pkg = tmp_path / f"pkg{p}"
        pkg.mkdir()
        (pkg / "__init__.py").write_text("")
        for m in range(45):
            imp = f"from pkg{(p + 1) % 8} import mod{m}\n" if m % 3 == 0 else ""
            (pkg / f"mod{m}.py").write_text(f"{imp}def f{p}_{m}(x):\n    return x + {m}\n")
    data = build_map(repo=tmp_path, query="f3_7", use_cache=False)
    assert data["collapsed"] and data["files"] == 8 * 46
    assert {n["kind"] for n in data["nodes"]} == {"package"} and len(data["nodes"]) == 8
    counts = {(e["source"], e["target"]): e["count"] for e in data["edges"] if e["kind"] == "import"}
    assert counts[("pkg0", "pkg1")] == 15 and counts[("pkg7", "pkg0")] == 15  # mod0, mod3, … mod42
    assert data["sent"] and data["sent"][0]["path"] == "pkg3/mod7.py"
    assert next(g for g in data["groups"] if g["id"] == "pkg3")["sent"] >= 1


def test_cli_errors_say_how_to_fix_them(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "codex_nb", "map", "--notebook", str(tmp_path / "nope.ipynb")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "check the path" in proc.stderr


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"codex_nb": True}}}


@in_loop
async def test_map_route_get_and_post_with_the_live_notebook(jp_fetch, jp_root_dir):
    shutil.copytree(SHOP, jp_root_dir / "shop", ignore=shutil.ignore_patterns(".codex_nb"))
    got = json.loads((await jp_fetch("codex-nb", "map", params={"path": "shop/analysis.ipynb",
                                                                  "query": "discount"})).body)
    assert got["root"] == "shop" and "repo" not in got  # no absolute server path leaves the server
    assert got["notebook"]["path"] == "analysis.ipynb" and got["sent"]
    live = json.loads((jp_root_dir / "shop" / "analysis.ipynb").read_text())
    live["cells"].append({"cell_type": "code", "id": "new", "metadata": {}, "outputs": [], "execution_count": None,
                          "source": "total = df.amount.sum()"})
    posted = json.loads((await jp_fetch("codex-nb", "map", method="POST", body=json.dumps(
        {"path": "shop/analysis.ipynb", "notebook": live, "query": "", "budget": 4000}))).body)
    cells = {c["id"]: c for c in posted["notebook"]["cells"]}
    assert cells["new"]["label"].startswith("cell [4]") and "df" in cells["new"]["uses"]
    assert {"source": "cell2", "target": "new", "names": ["df"]} in posted["notebook"]["edges"]
    assert posted["budget"] == 4000
    with pytest.raises(HTTPClientError) as bad:
        await jp_fetch("codex-nb", "map", method="POST", body=json.dumps({"path": "shop/analysis.ipynb", "budget": 5}))
    assert bad.value.code == 400
    with pytest.raises(HTTPClientError) as outside:
        await jp_fetch("codex-nb", "map", params={"path": "../etc/passwd"})
    assert outside.value.code == 403


def test_codex_map_magic_shows_sent_files_and_cells(shop, monkeypatch):
    from IPython.testing.globalipapp import get_ipython, start_ipython
    from IPython.utils.capture import capture_output

    from codex_nb.magics import register_magics, unregister_magics

    shell = start_ipython() or get_ipython()
    monkeypatch.setenv("JPY_SESSION_NAME", str(shop / "analysis.ipynb"))
    monkeypatch.chdir(shop)
    magics = register_magics(shell)
    magics.session.ui = "widget"
    active = shell.display_formatter.active_types
    shell.display_formatter.active_types = list(shell.display_formatter.formatters)
    try:
        with capture_output() as cap:
            shell.run_line_magic("codex", "map which discount applies?")
    finally:
        shell.display_formatter.active_types = active
        unregister_magics(shell)
    data = cap.outputs[-1].data
    assert "shop/pricing.py" in data["text/plain"] and "tokens of code" in data["text/plain"]
    assert "codex-map" in data["text/html"] and "cell [2] (In [1])" in data["text/html"]


def _notebook(sources, tags=None):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s, id=f"k{i}") for i, s in enumerate(sources)]
    for i, t in (tags or {}).items():
        nb.cells[i].metadata["tags"] = t
    return nb


CELL_GRAPH_CASES = [
    ["import pandas as pd", "df = pd.DataFrame({'a': [1]})", "def total(d):\n    return d.a.sum() * rate",
     "rate = 2", "print(total(df))", "df.dropna(inplace=True)", "del rate", "print(df)"],
    ["%matplotlib inline", "x = 1", "y = x + missing", "z = y if x else 0", "x = 5\nprint(z)"],
    ["n = 3", "values = [i * n for i in range(n)]", "import math", "print(math.fsum(values))", "n = 4"],
    ["alpha = 0.1", "model = fit(alpha)", "score = model.score()", "print(score, alpha)"],
]


@pytest.mark.parametrize("sources", CELL_GRAPH_CASES)
def test_rerun_sets_are_what_targeted_validation_selects(sources):
    from codex_nb.repomap.cells import cell_graph

    nb = _notebook(sources, tags={0: ["parameters"]} if sources[0].startswith("alpha") else None)
    for cell in cell_graph(nb)["cells"]:
        assert cell["rerun"] == select_targeted(nb, [cell["id"]]).cell_ids, cell["label"]


def test_an_opaque_cell_widens_every_rerun_set():
    from codex_nb.repomap.cells import cell_graph

    nb = _notebook(["x = 1", "exec('y = 2')", "print(x)"])
    graph = cell_graph(nb)
    assert graph["widened"] and "cell [2]" in graph["widened"]
    assert all(c["rerun"] == ["k0", "k1", "k2"] for c in graph["cells"])
