"""Repository index and ranking on a small synthetic package (tests/data/context/shop_repo)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from codex_nb.context import build_context
from codex_nb.context import index as index_mod
from codex_nb.context.index import load_index
from codex_nb.context.rank import Query, rank_files

DATA = Path(__file__).parent / "data" / "context" / "shop_repo"


@pytest.fixture
def shop(tmp_path) -> Path:
    """A copy of the shop repository plus files that cannot live in git (ignored, vendored, secrets)."""
    root = tmp_path / "shop_repo"
    shutil.copytree(DATA, root)
    (root / "generated").mkdir()
    (root / "generated" / "generated_tables.py").write_text("def generated_lookup_table():\n    return {}\n")
    (root / "vendor" / "lib").mkdir(parents=True)
    (root / "vendor" / "lib" / "vendored_thing.py").write_text("def vendored_helper():\n    return 1\n")
    return root


def ranked_paths(root, text, **kw):
    index = load_index(root, use_memory=False, cache_dir=Path(root) / ".codex_nb" / "cache")
    q = Query()
    q.add_text(text)
    return [r.path for r in rank_files(index, q, **kw)]


def test_the_defining_file_ranks_first_for_a_mentioned_function(shop):
    paths = ranked_paths(shop, "why does load_orders drop rows?")
    assert paths[0] == "shop/io.py"


def test_a_notebook_in_the_repo_is_indexed_and_found_by_its_code(shop):
    paths = ranked_paths(shop, "spring sale discount campaign")
    assert paths[0] == "notebooks/explore_discounts.ipynb"


def test_tests_rank_below_sources_unless_the_request_is_about_tests(shop):
    plain = ranked_paths(shop, "load orders from csv")
    assert plain.index("shop/io.py") < plain.index("tests/test_io.py")
    about_tests = ranked_paths(shop, "the test for load orders fails")
    assert about_tests.index("tests/test_io.py") < plain.index("tests/test_io.py") or about_tests[0] == "tests/test_io.py"


def test_import_graph_brings_in_dependencies(shop):
    # report.py names nothing about models, but it imports io/pricing which import models
    ctx = build_context(query="monthly_report totals", repo=shop, use_cache=False)
    paths = [f["path"] for f in ctx.files]
    assert paths[0] == "shop/report.py"
    assert {"shop/io.py", "shop/pricing.py"} <= set(paths[:4])


def test_ignored_vendored_and_codexignored_files_are_never_indexed(shop):
    index = load_index(shop, use_memory=False, use_disk=False)
    assert "shop/io.py" in index.paths
    for hidden in ("generated/generated_tables.py", "vendor/lib/vendored_thing.py", "private/secret_algo.py"):
        assert hidden not in index.paths
    ctx = build_context(query="confidential pricing formula generated lookup table", repo=shop, use_cache=False)
    text = ctx.render()
    assert "confidential_pricing_formula" not in text and "generated_lookup_table" not in text


def test_no_match_still_returns_files_and_at_least_twenty_when_available(tmp_path):
    for k in range(25):
        (tmp_path / f"mod_{k:02d}.py").write_text(f"def f{k}():\n    return {k}\n")
    ctx = build_context(query="zzqx nothing matches this", repo=tmp_path, use_cache=False)
    assert len(ctx.files) == 20
    assert all(set(f) == {"path", "score", "why"} for f in ctx.files)


def test_query_alone_works_without_notebook_and_paths_are_relative(shop):
    ctx = build_context(query="apply a discount rate to an order", repo=shop, use_cache=False)
    assert ctx.cell_ids == []
    assert [s.name for s in ctx.sections] == ["repository"]
    assert ctx.files[0]["path"] == "shop/pricing.py"
    assert not any(f["path"].startswith("/") for f in ctx.files)


def test_notebook_imports_seed_the_ranking_and_the_notebook_is_not_listed_as_a_file(shop):
    ctx = build_context(notebook=shop / "analysis.ipynb", query="fix the error", use_cache=False)
    paths = [f["path"] for f in ctx.files]
    assert paths[0] == "shop/io.py"
    assert "analysis.ipynb" not in paths
    assert "used by the notebook" in ctx.files[0]["why"] or "load_orders" in ctx.files[0]["why"]
    assert ctx.repo == os.path.realpath(shop)  # found from the notebook's location (pyproject.toml)


def test_a_notebook_given_as_a_node_is_recognised_in_the_repository(shop):
    from codex_nb.notebook_io import read_notebook

    nb = read_notebook(shop / "analysis.ipynb")
    ctx = build_context(notebook=nb, query="fix the error", repo=shop, use_cache=False)
    assert "analysis.ipynb" not in [f["path"] for f in ctx.files]


def test_large_files_contribute_definitions_not_the_whole_file(tmp_path):
    filler = "\n".join(f"def helper_{k}(x):\n    return x + {k}\n" for k in range(400))
    target = "def reconcile_invoices(ledger):\n    '''Match invoices to payments.'''\n    return sorted(ledger)\n"
    (tmp_path / "big.py").write_text(filler + "\n" + target + "\n" + filler.replace("helper_", "other_"))
    ctx = build_context(query="reconcile invoices", repo=tmp_path, budget=3000, use_cache=False)
    repo_text = ctx.section("repository").text
    assert "def reconcile_invoices(ledger):" in repo_text
    assert "helper_399" not in repo_text
    assert ctx.total_tokens <= 3000


# ---- cache ------------------------------------------------------------------------------------

def test_second_load_reuses_the_disk_cache_without_parsing(shop, monkeypatch):
    calls = []
    real = index_mod.parse_file
    monkeypatch.setattr(index_mod, "parse_file", lambda rel, data: calls.append(rel) or real(rel, data))
    first = load_index(shop, use_memory=False)
    assert first.stats.parsed == len(first.paths) == len(calls) > 5
    assert (shop / ".codex_nb" / "cache" / index_mod.CACHE_NAME).exists()
    calls.clear()
    second = load_index(shop, use_memory=False)
    assert second.stats.cache == "disk"
    assert calls == [] and second.stats.parsed == 0 and second.stats.read == 0
    assert second.paths == first.paths


def test_a_touched_file_is_rehashed_and_a_changed_file_reparsed(shop, monkeypatch):
    load_index(shop, use_memory=False)
    calls = []
    real = index_mod.parse_file
    monkeypatch.setattr(index_mod, "parse_file", lambda rel, data: calls.append(rel) or real(rel, data))
    io_py = shop / "shop" / "io.py"
    st = io_py.stat()
    os.utime(io_py, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    touched = load_index(shop, use_memory=False)
    assert calls == [] and touched.stats.read == 1  # same bytes: hashed, not parsed
    io_py.write_text(io_py.read_text() + "\n\ndef export_orders_parquet(orders):\n    return orders\n")
    changed = load_index(shop, use_memory=False)
    assert calls == ["shop/io.py"] and changed.stats.parsed == 1
    assert "export_orders_parquet" in changed.defines


def test_memory_cache_serves_a_second_query_in_process(shop):
    load_index(shop, use_memory=True, use_disk=False)
    again = load_index(shop, use_memory=True, use_disk=False)
    assert again.stats.cache == "memory" and again.stats.parsed == 0


def test_read_only_repository_falls_back_to_the_user_cache_dir(shop, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (shop / ".codex_nb").write_text("not a directory")  # the repo cache location cannot be created
    load_index(shop, use_memory=False)
    assert list((tmp_path / "xdg" / "codex-nb" / "index").glob("*/" + index_mod.CACHE_NAME))
    assert load_index(shop, use_memory=False).stats.parsed == 0


def test_a_corrupt_cache_is_ignored(shop):
    cache = shop / ".codex_nb" / "cache"
    cache.mkdir(parents=True)
    (cache / index_mod.CACHE_NAME).write_text("{not json")
    index = load_index(shop, use_memory=False)
    assert index.stats.parsed == len(index.paths) > 0


def test_incremental_walk_sees_new_deleted_and_newly_ignored_files(shop):
    first = load_index(shop, use_memory=False)
    assert "shop/pricing.py" in first.paths
    (shop / "shop" / "refunds.py").write_text("def issue_refund(order):\n    return order\n")
    (shop / "shop" / "sub").mkdir()
    (shop / "shop" / "sub" / "deep.py").write_text("def deep_helper():\n    pass\n")
    (shop / "shop" / "utils" / "textfmt.py").unlink()
    second = load_index(shop, use_memory=False)
    assert {"shop/refunds.py", "shop/sub/deep.py"} <= set(second.paths)
    assert "shop/utils/textfmt.py" not in second.paths
    assert second.stats.parsed == 2
    # editing .gitignore in place does not change the directory's mtime; the rules must still apply
    gi = shop / ".gitignore"
    st = (shop).stat()
    gi.write_text(gi.read_text() + "shop/refunds.py\n")
    os.utime(shop, ns=(st.st_atime_ns, st.st_mtime_ns))
    third = load_index(shop, use_memory=False)
    assert "shop/refunds.py" not in third.paths and "shop/sub/deep.py" in third.paths
    (shop / ".codexignore").write_text("shop/sub/\n")
    assert "shop/sub/deep.py" not in load_index(shop, use_memory=False).paths


def test_helper_process_parsing_gives_the_same_index(shop):
    here = load_index(shop, use_memory=False, use_disk=False, workers=0)
    shared = load_index(shop, use_memory=False, use_disk=False, workers=1)
    assert shared.paths == here.paths and shared.records == here.records
    assert shared.stats.parsed == len(shared.paths)


def test_a_file_or_module_named_in_the_request_ranks_first(shop):
    assert ranked_paths(shop, "something is off in shop/utils/textfmt.py")[0] == "shop/utils/textfmt.py"
    assert ranked_paths(shop, "is shop.models imported everywhere?")[0] == "shop/models.py"


def test_personalised_pagerank_flows_from_seeds_along_edges():
    from codex_nb.context.rank import personalised_pagerank

    # 0 -> 1 -> 2, 3 isolated; seeded at 0
    edges = [{1: 1.0}, {2: 1.0}, {}, {}]
    ppr = personalised_pagerank(edges, {0: 1.0}, eps=1e-6)
    assert ppr[0] > ppr[1] > ppr[2] > 0
    assert 3 not in ppr
    assert sum(ppr.values()) <= 1.0 + 1e-9


@pytest.mark.parametrize("budget", [300, 1000, 6000])
def test_total_tokens_never_exceed_the_budget(shop, budget):
    ctx = build_context(notebook=shop / "analysis.ipynb", query="why does load_orders drop rows?",
                        budget=budget, use_cache=False)
    assert ctx.total_tokens <= budget
    assert len(ctx.files) >= 5  # the ranked list is data, not limited by the text budget


def test_callers_waiting_on_a_walk_share_it_and_later_callers_see_new_files(shop, monkeypatch):
    import threading
    import time

    load_index(shop, use_memory=True, use_disk=False)
    walks = []
    real_walk = index_mod.walk_repo
    monkeypatch.setattr(index_mod, "walk_repo", lambda *a, **kw: walks.append(1) or real_walk(*a, **kw))
    clock_reads = []

    class Clock:  # counts the callers that have noted when they asked
        @staticmethod
        def monotonic():
            clock_reads.append(1)
            return time.monotonic()

    monkeypatch.setattr(index_mod, "time", Clock)
    results = []
    with index_mod._memory_lock:  # a walk in progress: five callers queue up behind it
        callers = [threading.Thread(target=lambda: results.append(load_index(shop, use_memory=True, use_disk=False)))
                   for _ in range(5)]
        for t in callers:
            t.start()
        deadline = time.monotonic() + 10
        while len(clock_reads) < 5 and time.monotonic() < deadline:
            time.sleep(0.001)
    for t in callers:
        t.join(10)
    # the first caller through walks (after all five asked); the four behind it reuse that walk
    assert len(results) == 5 and len(walks) == 1
    (shop / "shop" / "refunds.py").write_text("def issue_refund(order):\n    return order\n")
    assert "shop/refunds.py" in load_index(shop, use_memory=True, use_disk=False).paths
    assert len(walks) == 2
