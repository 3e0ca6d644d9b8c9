"""Validation on real notebooks: soundness of the default (auto) and targeted modes against a full run, and
wall time against the physical floor, the cells' own execution time, all measured in the same run.

    python benchmarks/bench_realnb.py [--bench ../shared/bench/realnb] [--limit K] [--only NB] [--kind KIND]
                                      [--targeted]
                                      [--out results.json]

For every mutation of the realnb set (a confirmed single-cell edit of a notebook written by others), the
mutated notebook and its data files are staged in a fresh directory per run (``realnb_driver.stage``), then:

1. a full validation in a kernel started for it, without warm-up: the reference (did it fail, where, which
   cells drifted) and the floor: the sum of the durations papermill records for the cells it ran;
2. the default validation, ``mode="auto"`` with the edited cell and the notebook before the edit, as the
   trust-loop engine calls it; the spare kernel for the staged directory is prepared first and is ready
   when the timer starts, as it is when a proposal arrives while the model is still answering;
3. with ``--targeted``, a targeted validation as well.

Scores (``realnb_driver.score``): breaking caught (fails when full fails), at the same cell; drift caught
(every cell the full run reported drifting); harmless passed. Cost: default wall time / floor, median
over all edits and over edits in the middle third of the notebook (goal <= 1.0); also default / full.
The kernel environment needs numpy, pandas, matplotlib, scipy (``pip install scipy``).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import realnb_driver as driver  # noqa: E402

from codex_nb.validate import kernels, prepare, validate_notebook  # noqa: E402

DEFAULT_BENCH = HERE.parent.parent / "shared" / "bench" / "realnb"


def timed(path: Path, **kw) -> dict:
    start = time.monotonic()
    report = validate_notebook(path, keep_spare=False, total_timeout=300, **kw)
    data = report.to_json()
    data["wall"] = round(time.monotonic() - start, 3)
    return data


def wait_for_spare(timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with kernels._lock:
            pending = [future for future, _ in kernels._spares.values()]
        if all(f.done() for f in pending):
            return
        time.sleep(0.05)


def run_mutation(bench: Path, entry: dict, mutation: dict, targeted: bool, order: int) -> dict:
    previous = bench / entry["path"]
    runs = {}
    modes = ["full", "auto"] + (["targeted"] if targeted else [])
    if order % 2:
        modes.reverse()  # neither side always gets the warmer disk cache
    for mode in modes:
        path = driver.stage(bench, entry, mutation)
        try:
            if mode == "full":
                # The reference: a plain full run in a kernel started for it (the first cell pays its imports).
                runs[mode] = timed(path, mode="full", warm_imports=False)
            else:
                prepare(path)  # what the engine does while the model answers
                wait_for_spare()
                runs[mode] = timed(path, mode=mode, changed=[mutation["cell_id"]], previous=previous)
        finally:
            shutil.rmtree(path.parent, ignore_errors=True)
    return runs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", default=str(DEFAULT_BENCH), help="the realnb directory (notebooks, mutations)")
    ap.add_argument("--limit", type=int, default=None, help="only the first K mutations, round-robin over notebooks")
    ap.add_argument("--only", action="append", default=[], help="only mutations of this notebook (repeatable)")
    ap.add_argument("--kind", action="append", default=[], choices=["breaking", "silent", "harmless"],
                    help="only mutations of this kind (repeatable; before --limit)")
    ap.add_argument("--targeted", action="store_true", help="also run targeted mode")
    ap.add_argument("--out", default=None, help="per-mutation results as JSON")
    args = ap.parse_args(argv)
    os.environ.update({k: v for k, v in driver.ENV.items() if k != "PATH"})
    bench = Path(args.bench)
    if not (bench / "mutations.json").is_file():
        print(f"no realnb set at {bench}; pass --bench DIR", file=sys.stderr)
        return 2
    manifest = {e["name"]: e for e in json.loads((bench / "manifest.json").read_text())["notebooks"]}
    muts = json.loads((bench / "mutations.json").read_text())["mutations"]
    if args.only:
        muts = [m for m in muts if m["notebook"] in args.only]
    if args.kind:
        muts = [m for m in muts if m["kind"] in args.kind]
    if args.limit is not None:
        by_nb: dict[str, list] = {}
        for m in muts:
            by_nb.setdefault(m["notebook"], []).append(m)
        muts = []
        while len(muts) < args.limit and any(by_nb.values()):
            for name in list(by_nb):
                if by_nb[name] and len(muts) < args.limit:
                    muts.append(by_nb[name].pop(0))
    rows = []
    started = time.monotonic()
    for n, m in enumerate(muts):
        entry = manifest[m["notebook"]]
        ids = entry["code_cell_ids"]
        runs = run_mutation(bench, entry, m, args.targeted, n)
        full = runs["full"]
        row = {"id": m["id"], "kind": m["kind"], "position": ids.index(m["cell_id"]) / max(len(ids) - 1, 1),
               "floor": round(sum(full.get("cell_seconds", {}).values()), 3), "full_wall": full["wall"]}
        for mode in ("auto", "targeted"):
            if mode in runs:
                s = driver.score(m, full, runs[mode], ids)
                row[mode] = {"caught": s["caught"], "applicable": s["applicable"], "same_cell": s.get("same_cell"),
                             "all_drift": s.get("caught_all_cells"), "wall": runs[mode]["wall"],
                             "mode": runs[mode]["mode"], "reason": runs[mode].get("mode_reason"),
                             "cells": len(runs[mode]["cells_run"]), "spare": runs[mode]["kernel_start"].get("spare")}
        row["full_cells"] = len(full["cells_run"])
        rows.append(row)
        a = row["auto"]
        print(f"[{n + 1}/{len(muts)}] {m['id']:<42} {m['kind']:<8} {'ok' if a['caught'] else 'MISS':<4} "
              f"auto={a['mode']:<8} {a['wall']:.2f}s/{a['cells']}c  full {full['wall']:.2f}s/{row['full_cells']}c "
              f"floor {row['floor']:.2f}s", flush=True)
    kernels.shutdown_all()
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
    summarise(rows, time.monotonic() - started)
    return 0


def _frac(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def _median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def summarise(rows: list[dict], elapsed: float) -> None:
    for mode in ("auto", "targeted"):
        have = [r for r in rows if mode in r]
        if not have:
            continue
        br = [r for r in have if r["kind"] == "breaking" and r[mode]["applicable"]]
        si = [r for r in have if r["kind"] == "silent" and r[mode]["applicable"]]
        ha = [r for r in have if r["kind"] == "harmless"]
        quiet = [r for r in have if r["kind"] != "breaking" and r["floor"] > 0]
        middle = [r for r in quiet if 1 / 3 <= r["position"] <= 2 / 3]
        print(f"\n{mode}: breaking_caught={_frac(r[mode]['caught'] for r in br):.2f} "
              f"same_cell={_frac(bool(r[mode]['same_cell']) for r in br):.2f} "
              f"drift_caught={_frac(r[mode]['caught'] for r in si):.2f} "
              f"drift_every_cell={_frac(bool(r[mode]['all_drift']) for r in si):.2f} "
              f"harmless_pass={_frac(r[mode]['caught'] for r in ha):.2f} "
              f"(n breaking={len(br)} silent={len(si)} harmless={len(ha)})")
        print(f"  wall / cell-time floor (edits whose full run completes, n={len(quiet)}): median "
              f"{_median(r[mode]['wall'] / r['floor'] for r in quiet):.2f}; edits in the middle third "
              f"(n={len(middle)}): median {_median(r[mode]['wall'] / r['floor'] for r in middle):.2f}")
        print(f"  wall / full wall: median {_median(r[mode]['wall'] / r['full_wall'] for r in quiet):.2f}; "
              f"full wall / floor: median {_median(r['full_wall'] / r['floor'] for r in quiet):.2f}; "
              f"ran targeted {sum(r[mode]['mode'] == 'targeted' for r in have)} of {len(have)}; "
              f"spare kernel used {sum(bool(r[mode]['spare']) for r in have)} of {len(have)}")
    print(f"\nrealnb-bench: mutations={len(rows)} elapsed={elapsed:.0f}s")


if __name__ == "__main__":
    sys.exit(main())
