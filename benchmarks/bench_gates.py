"""Test gate on a real project: selected tests against the whole suite, for single-module patches.

    python benchmarks/bench_gates.py [--spec boltons==26.2.0] [--patches 30] [--seed 1] [--source DIR] [--json]

The released sdist of a small, well-tested pure-Python library is downloaded with
``pip download --no-binary :all:`` (or taken from ``--source``) and unpacked in a
temporary directory. Each patch changes one function of one module of the library,
preferring functions whose names the tests mention: most make it raise on entry or
return None instead of its value (test-breaking when a test calls it), a few are
harmless (a comment). For each patch the test gate's
selection runs, then the whole suite — both through the same runner, so the only
difference is which tests run. The whole suite's verdict is the ground truth.

Reported: the selection's time against the whole suite's (per patch, median and
total), and the share of test-breaking patches that the selection also caught. That
share must be 1.0.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codex_nb.gates.imports import load_graph  # noqa: E402
from codex_nb.gates.pytest_config import read_pytest_config  # noqa: E402
from codex_nb.gates.select import select_tests  # noqa: E402
from codex_nb.gates.tests import outcomes, run_pytest  # noqa: E402

TIMEOUT = 300.0


def fetch(spec: str, into: Path) -> Path:
    """Download and unpack the sdist of ``spec``; return the unpacked project directory."""
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", "-d", str(into),
                    spec], check=True)
    (archive,) = [p for p in into.iterdir() if p.name.endswith((".tar.gz", ".tgz"))]
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    (project,) = [p for p in into.iterdir() if p.is_dir()]
    return project


def package_modules(root: Path) -> list[str]:
    """The library's own modules (not its tests), repository-relative."""
    config = read_pytest_config(root)
    graph = load_graph(root, use_disk=False)
    return sorted(rel for rel in graph.records
                  if not config.is_test_file(rel) and "test" not in rel.split("/")[0] and not rel.endswith("conftest.py")
                  and not rel.startswith(("docs/", "setup.py")))


def candidate_functions(source: str) -> list[tuple[str, ast.AST]]:
    """Top-level functions and methods that have a body worth changing."""
    tree = ast.parse(source)
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found.append((node.name, node))
        elif isinstance(node, ast.ClassDef):
            found.extend((f"{node.name}.{m.name}", m) for m in node.body if isinstance(m, ast.FunctionDef))
    return [(name, fn) for name, fn in found if len(fn.body) > 1 or not isinstance(fn.body[0], ast.Expr)]


def mutate(source: str, fn: ast.FunctionDef, kind: str) -> str | None:
    """``source`` with ``fn`` changed: "raise" on entry, "none" for every return value, "comment" harmless."""
    lines = source.splitlines(keepends=True)
    body = fn.body
    first = body[1] if isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
        and isinstance(body[0].value.value, str) and len(body) > 1 else body[0]
    indent = " " * first.col_offset
    at = first.lineno - 1
    if kind == "raise":
        lines.insert(at, f"{indent}raise RuntimeError('mutant')\n")
    elif kind == "comment":
        lines.insert(at, f"{indent}# reviewed\n")
    else:
        returns = [n for n in ast.walk(fn) if isinstance(n, ast.Return) and n.value is not None
                   and n.lineno == n.end_lineno]
        if not returns:
            return None
        for ret in returns:
            line = lines[ret.lineno - 1]
            lines[ret.lineno - 1] = line[: ret.col_offset] + "return None" + line[ret.end_col_offset:]
    return "".join(lines)


def make_patches(root: Path, count: int, seed: int) -> list[dict]:
    """Patches of functions the tests name (so that most break a test), one module at a time."""
    rng = random.Random(seed)
    config = read_pytest_config(root)
    test_text = "\n".join((root / rel).read_text(encoding="utf-8", errors="replace")
                          for rel in load_graph(root, use_disk=False).records if config.is_test_file(rel))
    per_module = []
    for rel in package_modules(root):
        source = (root / rel).read_text(encoding="utf-8")
        try:
            functions = candidate_functions(source)
        except SyntaxError:
            continue
        named = [(name, fn) for name, fn in functions if name.rsplit(".", 1)[-1] in test_text]
        functions = named or functions
        if functions:
            per_module.append((rel, source, functions))
    rng.shuffle(per_module)
    patches = []
    kinds = ["raise", "none", "raise", "none", "comment"]
    while len(patches) < count and per_module:
        made = len(patches)
        for rel, source, functions in per_module:
            if len(patches) >= count:
                break
            name, fn = rng.choice(functions)
            kind = kinds[len(patches) % len(kinds)]
            text = mutate(source, fn, kind)
            if text is None or text == source:
                continue
            try:
                compile(text, rel, "exec")
            except SyntaxError:
                continue
            patches.append({"file": rel, "function": name, "kind": kind, "text": text})
        if len(patches) == made:
            break  # no function left that can be changed
    return patches


def failed(outcome: dict) -> bool:
    _final, failures = outcomes(outcome["reports"])
    return bool(failures) or outcome["timed_out"] or outcome["exit_code"] not in (0, 5)


def run_patch(root: Path, patch: dict) -> dict:
    path = root / patch["file"]
    original = path.read_bytes()
    path.write_text(patch["text"], encoding="utf-8")
    try:
        t0 = time.perf_counter()
        selection = select_tests(root, [patch["file"]])
        select_s = time.perf_counter() - t0
        if selection.files == []:
            sel_s, sel_failed = 0.0, False
        else:
            t0 = time.perf_counter()
            sel = run_pytest(root, selection.unselected, TIMEOUT, lambda e: None)
            sel_s, sel_failed = time.perf_counter() - t0, failed(sel)
        t0 = time.perf_counter()
        full = run_pytest(root, [], TIMEOUT, lambda e: None)
        full_s, full_failed = time.perf_counter() - t0, failed(full)
    finally:
        path.write_bytes(original)
    return {"file": patch["file"], "function": patch["function"], "kind": patch["kind"],
            "selected": "all" if selection.files is None else len(selection.files), "select_s": select_s,
            "selected_s": sel_s, "full_s": full_s, "full_failed": full_failed, "selected_failed": sel_failed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", default="boltons==26.2.0", help="the sdist to test (name==version)")
    ap.add_argument("--source", help="an unpacked project to use instead of downloading")
    ap.add_argument("--patches", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print the per-patch rows as JSON too")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-gates-"))
    try:
        if args.source:
            root = work / "project"
            shutil.copytree(args.source, root)
        else:
            root = fetch(args.spec, work)
        shutil.rmtree(root / ".codex_nb", ignore_errors=True)
        t0 = time.perf_counter()
        graph = load_graph(root)  # nothing cached for this directory yet: every file is parsed
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        load_graph(root)
        warm = time.perf_counter() - t0
        config = read_pytest_config(root)
        tests = [rel for rel in graph.records if config.is_test_file(rel)]
        print(f"{args.source or args.spec}: {len(graph.records)} Python files, {len(tests)} test files; "
              f"import graph {cold * 1000:.0f} ms cold, {warm * 1000:.0f} ms warm")
        baseline = run_pytest(root, [], TIMEOUT, lambda e: None)
        if failed(baseline):
            raise SystemExit("the unpatched suite does not pass here; pick another --spec")
        final, _ = outcomes(baseline["reports"])
        t0 = time.perf_counter()
        run_pytest(root, tests, TIMEOUT, lambda e: None)  # every test file left out: start-up and collection only
        floor = time.perf_counter() - t0
        print(f"unpatched whole suite: {len(final)} tests pass in {baseline['pytest_seconds']:.2f} s; "
              f"a pytest run that collects no test file takes {floor:.2f} s (the floor of any selection)")
        rows = []
        for patch in make_patches(root, args.patches, args.seed):
            row = run_patch(root, patch)
            rows.append(row)
            print(f"  {row['file']:<28} {row['function'][:32]:<32} {row['kind']:<7} selected {str(row['selected']):>4} "
                  f"files {row['selected_s']:6.2f} s | whole {row['full_s']:6.2f} s | "
                  f"breaks: whole={'yes' if row['full_failed'] else 'no '} selection={'yes' if row['selected_failed'] else 'no'}",
                  flush=True)
        breaking = [r for r in rows if r["full_failed"]]
        caught = [r for r in breaking if r["selected_failed"]]
        ratios = [r["selected_s"] / r["full_s"] for r in rows if r["full_s"] > 0]
        total_sel = sum(r["selected_s"] + r["select_s"] for r in rows)
        total_full = sum(r["full_s"] for r in rows)
        print(f"patches: {len(rows)}, test-breaking (whole suite fails): {len(breaking)}")
        print(f"selection catches {len(caught)}/{len(breaking)} test-breaking patches: share {len(caught) / max(len(breaking), 1):.3f} (goal 1.0)")
        print(f"time, selected/whole: median {statistics.median(ratios):.3f}, total {total_sel:.1f} s / {total_full:.1f} s "
              f"= {total_sel / total_full:.3f}; selection itself: median {statistics.median(r['select_s'] for r in rows) * 1000:.0f} ms")
        missed = [r for r in breaking if not r["selected_failed"]]
        for r in missed:
            print(f"  MISSED: {r['file']} {r['function']} ({r['kind']})")
        if args.json:
            print(json.dumps(rows, indent=1))
        if missed:
            sys.exit(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
