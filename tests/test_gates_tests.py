"""The test gate on a real small project: which tests it selects and why, and what a real pytest run reports."""
from __future__ import annotations

import os
import time

import pytest

from codex_nb.config import CodexNB
from codex_nb.engine.gates import ChangeUnderTest
from codex_nb.gates.imports import load_graph, module_names
from codex_nb.gates.select import select_tests
from codex_nb.gates.tests import TestGate
from gates_project import make_project, write


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path / "shop")


def change(root, files, **settings) -> ChangeUnderTest:
    return ChangeUnderTest(repo_root=root, notebook_path=None, before=None, after=None,
                           changed_files=list(files), settings=CodexNB(**settings))


def run_gate(root, files, **settings):
    events = []
    result = TestGate().run(change(root, files, **settings), events.append)
    return result, events


# ---- selection (no pytest run) -------------------------------------------------------------------

def test_selection_follows_imports_directly_and_transitively(project):
    sel = select_tests(project, ["src/shop/prices.py"])
    assert sel.files == ["tests/test_cart.py", "tests/test_prices.py"]
    assert sel.reasons["tests/test_prices.py"] == "imports src/shop/prices.py"
    assert sel.reasons["tests/test_cart.py"] == "imports src/shop/prices.py through src/shop/cart.py"
    assert sel.test_files == 3 and not sel.widened


def test_package_init_change_reaches_every_importer_of_the_package(project):
    sel = select_tests(project, ["src/shop/__init__.py"])
    assert sel.files == ["tests/test_banner.py", "tests/test_cart.py", "tests/test_prices.py"]


def test_a_module_no_test_imports_selects_nothing_and_says_so(project):
    write(project, "src/shop/unused.py", "X = 1\n")
    sel = select_tests(project, ["src/shop/unused.py"])
    assert sel.files == [] and "no test imports src/shop/unused.py" in sel.note


def test_changed_test_file_selects_itself(project):
    sel = select_tests(project, ["tests/test_banner.py"])
    assert sel.files == ["tests/test_banner.py"] and sel.reasons["tests/test_banner.py"] == "changed"


def test_root_conftest_change_widens_to_the_whole_suite_with_the_reason(project):
    write(project, "tests/conftest.py", "import pytest\n")
    sel = select_tests(project, ["tests/conftest.py"])
    assert sel.whole_suite and "tests/conftest.py changed" in sel.widened and "whole suite" in sel.widened


def test_a_deeper_conftest_applies_to_the_tests_below_it(project):
    write(project, "tests/web/conftest.py", """
        import pytest
        from shop.banner import banner

        @pytest.fixture
        def greeting():
            return banner("web")
        """)
    write(project, "tests/web/test_page.py", "def test_page(greeting):\n    assert greeting.endswith('web')\n")
    sel = select_tests(project, ["src/shop/banner.py"])
    assert sel.files == ["tests/test_banner.py", "tests/web/test_page.py"]
    assert sel.reasons["tests/web/test_page.py"] == "imports src/shop/banner.py through tests/web/conftest.py"
    own = select_tests(project, ["tests/web/conftest.py"])
    assert own.files == ["tests/web/test_page.py"] and not own.widened


def test_dynamic_import_selects_the_tests_that_reach_it(project):
    write(project, "src/shop/plugins.py", """
        import importlib

        def load(name):
            return importlib.import_module("shop." + name)
        """)
    write(project, "tests/test_plugins.py", "from shop.plugins import load\n\ndef test_load():\n    assert load('banner')\n")
    sel = select_tests(project, ["src/shop/prices.py"])
    assert "tests/test_plugins.py" in sel.files
    assert "src/shop/plugins.py" in sel.reasons["tests/test_plugins.py"]
    assert "computed name" in sel.reasons["tests/test_plugins.py"]
    assert "tests/test_banner.py" not in sel.files


def test_dotted_names_in_strings_count_as_imports(project):
    write(project, "tests/test_patching.py", """
        from unittest import mock

        def test_patched():
            with mock.patch("shop.banner.banner", return_value="hi") as fake:
                assert fake() == "hi"
        """)
    assert "tests/test_patching.py" in select_tests(project, ["src/shop/banner.py"]).files
    assert "tests/test_patching.py" not in select_tests(project, ["src/shop/prices.py"]).files


@pytest.mark.parametrize("rel, words", [
    ("src/shop/rates.json", "is not Python"),
    ("pyproject.toml", "pytest's configuration"),
])
def test_files_the_graph_cannot_place_widen_to_the_whole_suite(project, rel, words):
    write(project, rel, "{}\n" if rel.endswith(".json") else (project / rel).read_text() + "\n")
    sel = select_tests(project, [rel])
    assert sel.whole_suite and words in sel.widened


def test_a_module_with_pytest_hooks_widens(project):
    write(project, "src/shop/testing.py", "def pytest_configure(config):\n    pass\n")
    sel = select_tests(project, ["src/shop/testing.py"])
    assert sel.whole_suite and "pytest_configure" in sel.widened


def test_a_plugin_named_in_addopts_widens_when_what_it_imports_changes(project):
    write(project, "pytest.ini", "[pytest]\npythonpath = src\naddopts = -p shop.fixtures\n")
    write(project, "src/shop/fixtures.py", "from shop.banner import banner\n")
    sel = select_tests(project, ["src/shop/banner.py"])
    assert sel.whole_suite and "src/shop/fixtures.py is loaded by pytest as a plugin" in sel.widened


def test_tests_all_runs_the_whole_suite_and_no_tests_is_said(project, tmp_path):
    assert select_tests(project, ["src/shop/banner.py"], mode="all").whole_suite
    bare = make_project(tmp_path / "bare", commit=False)
    for rel in ("tests/test_prices.py", "tests/test_cart.py", "tests/test_banner.py"):
        os.remove(bare / rel)
    sel = select_tests(bare, ["src/shop/prices.py"])
    assert sel.files == [] and "no test files found" in sel.note


def test_graph_cache_notices_an_edited_file(project):
    assert "tests/test_banner.py" not in select_tests(project, ["src/shop/prices.py"]).files
    time.sleep(0.01)
    write(project, "tests/test_banner.py", "from shop.prices import total\n\ndef test_banner():\n    assert total([1]) == 1\n")
    assert "tests/test_banner.py" in select_tests(project, ["src/shop/prices.py"]).files
    # a second process starts from the disk cache and sees the same graph
    assert (project / ".codex_nb" / "cache").is_dir()
    assert load_graph(project).edges["tests/test_banner.py"] == {"src/shop/__init__.py", "src/shop/prices.py"}


def test_module_names_cover_src_layout_and_test_directories():
    packages = {"src/shop", "src/shop/sub"}.__contains__
    assert module_names("src/shop/sub/x.py", packages) == ["shop.sub.x", "src.shop.sub.x"]
    assert module_names("tests/test_a.py", packages) == ["test_a", "tests.test_a"]
    assert module_names("src/shop/__init__.py", packages) == ["shop", "src.shop"]


# ---- the gate: a real pytest subprocess ----------------------------------------------------------

def test_green_patch_passes_and_reports_what_ran_and_why(project):
    write(project, "src/shop/prices.py", (project / "src/shop/prices.py").read_text().replace(
        "return round(sum(prices), 2)", "return round(sum(list(prices)), 2)"))
    gate = TestGate()
    assert gate.applies(change(project, ["src/shop/prices.py"]))
    result, events = run_gate(project, ["src/shop/prices.py"])
    assert result.ok, result.summary
    assert result.detail["counts"] == {"passed": 3} and result.detail["tests"] == 3
    assert result.detail["ran"] == ["tests/test_cart.py::test_cart_value", "tests/test_prices.py::test_discounted",
                                    "tests/test_prices.py::test_total"]
    assert "2 of 3 test files, selected by imports" in result.summary
    assert result.detail["selection"]["reasons"]["tests/test_cart.py"].startswith("imports src/shop/prices.py")
    assert events[0]["stage"] == "selected" and {e["nodeid"] for e in events if e["stage"] == "test"} == set(result.detail["ran"])
    assert result.repair_text == ""
    assert not list(project.rglob("__pycache__")), "the gate leaves no byte code in the user's tree"


def test_breaking_patch_fails_with_the_failing_test_id_and_assertion(project):
    write(project, "src/shop/prices.py", (project / "src/shop/prices.py").read_text().replace(
        "(100 - percent)", "(100 + percent)"))
    result, _ = run_gate(project, ["src/shop/prices.py"])
    assert not result.ok
    assert result.detail["counts"] == {"failed": 1, "passed": 2}
    assert [f["nodeid"] for f in result.detail["failed"]] == ["tests/test_prices.py::test_discounted"]
    assert "tests/test_prices.py::test_discounted" in result.summary
    assert "FAILED tests/test_prices.py::test_discounted" in result.repair_text
    assert "assert 250.0 == 150" in result.repair_text
    assert len(result.repair_text) < 6000


def test_import_error_in_a_test_module_is_a_failure(project):
    write(project, "src/shop/prices.py", "def total(prices):\n    return sum(prices)\n")  # discounted removed
    result, _ = run_gate(project, ["src/shop/prices.py"])
    assert not result.ok
    assert "ERROR collecting tests/test_prices.py" in result.repair_text
    assert "discounted" in result.repair_text


def test_whole_suite_timeout_and_off(project):
    write(project, "tests/test_slow.py", "import time\n\ndef test_slow():\n    time.sleep(30)\n")
    write(project, "tests/conftest.py", "import pytest\n")
    started = time.monotonic()
    result, _ = run_gate(project, ["tests/conftest.py"], test_timeout=3.0)  # a conftest: whole suite
    assert time.monotonic() - started < 20
    assert not result.ok and result.detail["timed_out"] and "test_timeout" in result.summary
    assert "whole suite" in result.summary
    assert not TestGate().applies(change(project, ["src/shop/prices.py"], tests="off"))
    assert not TestGate().applies(change(project, []))


def test_no_tests_found_is_ok_and_said(project):
    write(project, "scripts/deploy.py", "print('deploy')\n")
    result, _ = run_gate(project, ["scripts/deploy.py"])
    assert result.ok and "none ran" in result.summary and "no test imports scripts/deploy.py" in result.summary


@pytest.mark.parametrize("rule", [
    'collect_ignore = ["tests/test_legacy.py"]\n',
    # a hook that answers False for every other file: the gate's own narrowing must still win
    "def pytest_ignore_collect(collection_path, config):\n    return 'legacy' in collection_path.name\n",
])
def test_the_projects_own_ignore_rules_still_apply_to_selected_tests(project, rule):
    # a test file the project never collects (here: broken on purpose) must not fail the gate either
    write(project, "conftest.py", rule)
    write(project, "tests/test_legacy.py", "from shop.prices import total\n\ndef test_old():\n    assert total([1]) == 99\n")
    sel = select_tests(project, ["src/shop/prices.py"])
    assert "tests/test_legacy.py" in sel.files  # the graph says it can be affected …
    assert sel.unselected == ["tests/test_banner.py"]
    result, _ = run_gate(project, ["src/shop/prices.py"])
    assert result.ok, result.summary  # … and pytest, following the project's rules, does not collect it
    assert "tests/test_legacy.py::test_old" not in result.detail["ran"]
    assert "tests/test_banner.py::test_banner" not in result.detail["ran"]
    assert result.detail["counts"] == {"passed": 3}


def test_a_script_a_test_runs_by_path_is_a_dependency(project):
    write(project, "tools/deploy.py", "print('deployed')\n")
    write(project, "tests/test_deploy.py", """
        import subprocess, sys

        def test_deploy_runs():
            out = subprocess.run([sys.executable, "tools/deploy.py"], capture_output=True, text=True).stdout
            assert out == "deployed\\n"
        """)
    sel = select_tests(project, ["tools/deploy.py"])
    assert sel.files == ["tests/test_deploy.py"]
    assert sel.reasons["tests/test_deploy.py"] == "imports tools/deploy.py"


def test_pytest_configuration_decides_what_a_test_file_is(project):
    from codex_nb.gates.pytest_config import read_pytest_config

    write(project, "setup.cfg", "[tool:pytest]\ntestpaths = checks\npython_files = check_*.py\naddopts = --doctest-modules -p shop.plugin\n")
    write(project, "checks/check_prices.py", "from shop.prices import total\n\ndef test_t():\n    assert total([2]) == 2\n")
    write(project, "checks/helpers.py", "from shop import cart\n")
    (project / "pyproject.toml").write_text("[project]\nname = 'shop'\n")  # no pytest section: setup.cfg counts
    cfg = read_pytest_config(project)
    assert cfg.source == "setup.cfg" and cfg.testpaths == ("checks",) and cfg.doctest_modules
    assert cfg.plugins == ["shop.plugin"]
    assert cfg.is_test_file("checks/check_prices.py") and not cfg.is_test_file("tests/test_prices.py")
    sel = select_tests(project, ["src/shop/prices.py"], config=cfg)
    # with --doctest-modules the modules that reach the change are collected too (their doctests)
    assert sel.files == ["checks/check_prices.py", "checks/helpers.py"]


def test_a_test_packages_init_runs_before_its_tests(project):
    write(project, "tests/__init__.py", "")
    write(project, "tests/web/__init__.py", "import os\n")
    write(project, "tests/web/test_page.py", "def test_page():\n    assert True\n")
    sel = select_tests(project, ["tests/web/__init__.py"])
    assert sel.files == ["tests/web/test_page.py"]
    assert sel.reasons["tests/web/test_page.py"] == "imports tests/web/__init__.py"
    assert select_tests(project, ["tests/__init__.py"]).files == [
        "tests/test_banner.py", "tests/test_cart.py", "tests/test_prices.py", "tests/web/test_page.py"]
