"""Validation timing: targeted vs full, and full vs a plain nbclient run of the same notebook.

    python benchmarks/bench_validate.py [--cells 10] [--work 0.5] [--repeat 3] [--json]

The notebook has one import cell, then cells that each do ``--work`` seconds of
work (a chain: each reads the previous result), then a last, independent cell
that only needs the import. The "edit" touches that last cell. Each round runs
the three variants back to back (order rotated between rounds, so a warm disk
cache or a busy neighbour does not favour one), and the medians are compared.

Goals from the issue: targeted/full <= 0.3, full/nbclient <= 1.1.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codex_nb.validate import validate_notebook  # noqa: E402

KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


def build(path: Path, cells: int, work: float) -> str:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNEL})
    sources = ["import math\nimport time"]
    sources.append(f"time.sleep({work})\nv1 = math.sqrt(1)")
    for i in range(2, cells - 1):
        sources.append(f"time.sleep({work})\nv{i} = v{i - 1} + math.sqrt({i})")
    sources.append("w = math.pi * 2\nprint(round(w, 3))")
    nb.cells = [nbformat.v4.new_code_cell(src, id=f"cell{i}") for i, src in enumerate(sources)]
    nbformat.write(nb, path)
    return nb.cells[-1].id


def run_nbclient(path: Path) -> float:
    from nbclient import NotebookClient

    start = time.perf_counter()
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def run_validate(path: Path, **kw) -> float:
    start = time.perf_counter()
    report = validate_notebook(path, **kw)
    elapsed = time.perf_counter() - start
    if not report.ok:
        raise SystemExit(f"benchmark notebook failed to validate: {report.failed}")
    return elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=10)
    parser.add_argument("--work", type=float, default=0.5, help="seconds of work per early cell")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        path = Path(tmp) / "bench.ipynb"
        last = build(path, args.cells, args.work)
        variants = {
            "targeted": lambda: run_validate(path, mode="targeted", changed=[last]),
            "full": lambda: run_validate(path, mode="full"),
            "nbclient": lambda: run_nbclient(path),
        }
        run_validate(path, mode="targeted", changed=[last])  # warm imports (papermill, nbclient) once
        times = {name: [] for name in variants}
        names = list(variants)
        for round_no in range(args.repeat):
            for name in names[round_no % 3:] + names[:round_no % 3]:
                times[name].append(variants[name]())
    med = {name: statistics.median(values) for name, values in times.items()}
    result = {
        "cells": args.cells, "work_per_cell": args.work, "repeat": args.repeat,
        "seconds": {k: round(v, 3) for k, v in med.items()},
        "targeted_over_full": round(med["targeted"] / med["full"], 3),
        "full_over_nbclient": round(med["full"] / med["nbclient"], 3),
        "all_runs": {k: [round(x, 3) for x in v] for k, v in times.items()},
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"notebook: {args.cells} cells, {args.work} s of work in each of {args.cells - 2}; "
              f"median of {args.repeat} rounds")
        for name in variants:
            print(f"  {name:9s} {med[name]:6.2f} s   runs: {result['all_runs'][name]}")
        print(f"  targeted / full     = {result['targeted_over_full']:.2f}   (goal <= 0.30)")
        print(f"  full / nbclient     = {result['full_over_nbclient']:.2f}   (goal <= 1.10)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
