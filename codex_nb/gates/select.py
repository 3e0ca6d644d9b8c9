"""Which of a project's tests a change can affect, and why each one was chosen.

A test file is selected when it imports a changed module, directly or through the
import graph, counting what pytest loads implicitly: every ``conftest.py`` above a
test applies to it, and plugins named in the configuration apply to all tests. A
file the graph cannot see through — a module that imports by computed name, loads
code from a path — counts as importing everything, so tests that reach it are
selected too. The selection widens to the whole suite, with the reason, when the
graph cannot tell at all: pytest's configuration, a top-level conftest.py or what a
plugin imports changed, a module defines pytest hooks, a non-Python file changed (a
test may read it), a module was removed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .imports import ImportGraph, load_graph
from .pytest_config import CONFIG_FILES, PytestConfig, read_pytest_config


@dataclass
class Selection:
    files: list[str] | None  # the selected test files; None: the whole suite; []: nothing to run
    reasons: dict[str, str] = field(default_factory=dict)  # test file -> why it was selected
    widened: str = ""  # why the whole suite runs ("" when it does not)
    test_files: int = 0  # how many test files the repository has
    note: str = ""  # why nothing runs, when nothing does
    unselected: list[str] = field(default_factory=list)  # test files (or doctest modules) left out

    @property
    def whole_suite(self) -> bool:
        return self.files is None

    def to_json(self) -> dict:
        return {"files": self.files, "reasons": self.reasons, "widened": self.widened,
                "test_files": self.test_files, "note": self.note}


def select_tests(root: str | os.PathLike, changed: list[str], mode: str = "auto",
                 graph: ImportGraph | None = None, config: PytestConfig | None = None) -> Selection:
    """The tests to run for ``changed`` (repository-relative POSIX paths, as on disk after the change)."""
    root = os.fspath(root)
    graph = graph or load_graph(root)
    config = config or read_pytest_config(root)
    tests = sorted(rel for rel in graph.records if config.is_test_file(rel))
    if not tests and not config.doctest_modules:
        patterns = " or ".join(config.python_files)
        where = f" under {', '.join(config.testpaths)}" if config.testpaths else ""
        return Selection(files=[], note=f"no test files found ({patterns}{where})")
    if mode == "all":
        return Selection(files=None, widened="tests = all: the whole suite runs for every change", test_files=len(tests))
    widened = _whole_suite_reason(root, changed, graph, config)
    if widened:
        return Selection(files=None, widened=widened, test_files=len(tests))

    # Files that may run a changed module: those that import one, and those that reach a module the
    # graph cannot see through (which may import anything). A real import is the better explanation.
    targets = {rel for rel in changed if rel in graph.records}
    opaque = {rel: rec.dynamic[0] for rel, rec in graph.records.items() if rec.dynamic}
    direct = graph.importers_of(targets)
    hidden = graph.importers_of(set(opaque) - targets)
    # with --doctest-modules every module pytest looks at is a test too (its doctests)
    candidates = tests + ([rel for rel in graph.records if rel not in tests and not rel.endswith("conftest.py")
                           and config.collected(rel)] if config.doctest_modules else [])
    reasons: dict[str, str] = {}
    for test in candidates:
        via = [test] + _loaded_with(test, graph)
        for chains in (direct, hidden):
            hits = sorted((chains[f] for f in via if f in chains), key=len)
            if hits:
                reasons[test] = _explain(hits[0], test, targets, opaque)
                break
    files = sorted(reasons)
    note = "" if files else f"no test imports {', '.join(changed)}"
    # a package's __init__.py is how pytest finds the package's tests: never left out
    unselected = sorted(rel for rel in candidates if rel not in reasons and not rel.endswith("__init__.py"))
    return Selection(files=files, reasons=reasons, test_files=len(tests), note=note, unselected=unselected)


def _whole_suite_reason(root: str, changed: list[str], graph: ImportGraph, config: PytestConfig) -> str:
    plugin_files = set()
    for name in config.plugins:
        plugin_files.update(graph.resolve(name))
    plugin_reach = graph.importers_of(set(changed) & set(graph.records)) if plugin_files else {}
    for rel in changed:
        name = rel.rsplit("/", 1)[-1]
        if name == "conftest.py":
            scope = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
            if not scope or all(t.startswith(scope) for t in graph.records if config.is_test_file(t)):
                return f"{rel} changed: a conftest.py applies to every test below it, which here is the whole suite"
            continue  # a conftest deeper down: its tests are selected through the conftest edges
        if rel in CONFIG_FILES:
            return f"{rel} changed: pytest's configuration may change what every test does"
        if not rel.endswith(".py"):
            return f"{rel} is not Python: the import graph cannot tell which tests read it"
        if rel not in graph.records:
            if not os.path.exists(os.path.join(root, rel)):
                return f"{rel} was removed: tests that imported it are no longer in the graph"
            return f"{rel} is outside the directories pytest collects: the import graph cannot place it"
        hooks = graph.records[rel].hooks
        if hooks:
            return f"{rel} defines pytest hooks ({', '.join(hooks[:3])}): it may be loaded as a plugin"
        for plugin in sorted(plugin_files):
            if plugin in plugin_reach:
                return f"{plugin} is loaded by pytest as a plugin for every test and depends on {rel}"
    return ""


def _loaded_with(test: str, graph: ImportGraph) -> list[str]:
    """What pytest runs before a test file's own code: each conftest.py above it, and the
    ``__init__.py`` of every package the test module is part of."""
    parts = test.split("/")[:-1]
    out = []
    for k in range(len(parts), -1, -1):
        candidate = "/".join(parts[:k] + ["conftest.py"])
        if candidate in graph.records:
            out.append(candidate)
    for k in range(len(parts), 0, -1):
        package = "/".join(parts[:k])
        if package not in graph.packages:
            break
        out.append(package + "/__init__.py")
    return out


def _explain(chain: list[str], test: str, targets: set[str], opaque: dict[str, list]) -> str:
    end = chain[-1]
    if chain == [test] and end in targets:
        return "changed"
    # the files in between; a chain that starts at a conftest.py (pytest loads it for the test) keeps it
    middle = chain[1:-1] if chain[0] == test else chain[:-1]
    through = f" through {' → '.join(middle)}" if middle else ""
    if end in targets:
        return f"imports {end}{through}"
    line, what = opaque[end]
    return f"reaches {end}{through}, where {what} (line {line}): the graph cannot tell what it loads"
