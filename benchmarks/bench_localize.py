"""Localisation benchmark: does `codex-nb context --json`'s `files` put the changed files on top?

Sets (benchmarks/data/localize-*.json) are real commits of a project after a
release: question = commit message, gold = non-test files the commit changed,
judged on the release's sdist tree. Prints recall@1/@5/@10 for the context
engine and for a file-level BM25 baseline measured in the same run, and the
share of gold files whose *code* is inside the context that is sent at an
8,000-token budget (a file named in the ranked list but not shown does not
count; goal >= 0.95), split into files shown with code and files shown as an
outline (signature lines only).

    python benchmarks/bench_localize.py                 # both sets
    python benchmarks/bench_localize.py --set pylint --ablate
    python benchmarks/bench_localize.py --cli 5         # also check 5 cases through the real CLI
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

# ---- release trees and the BM25 baseline (shared with bench_context_speed.py) -----------------
# Same idea as the shared bench's trees.py and baseline_bm25.py, written for this project:
# `pip download` the sdist of NAME==VERSION (no dependencies, no wheels), unpack it once under
# $BENCH_TREES (default /tmp/bench-trees); rank files with bm25s over identifiers.

TREES = os.environ.get("BENCH_TREES", "/tmp/bench-trees")


def fetch_tree(spec: str) -> str:
    name, version = spec.split("==")
    dest = os.path.join(TREES, f"{name}-{version}")
    if os.path.isdir(dest):
        return dest
    tmp = tempfile.mkdtemp(prefix="codex-nb-bench-")
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        "--dest", tmp, spec], check=True, stdout=subprocess.DEVNULL)
        (archive,) = glob.glob(os.path.join(tmp, "*.tar.gz"))
        with tarfile.open(archive) as tf:
            top = tf.getnames()[0].split("/")[0]
            tf.extractall(tmp, filter="data")
        os.makedirs(TREES, exist_ok=True)
        os.rename(os.path.join(tmp, top), dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def py_files(root: str) -> list[str]:
    """Every .py file of the tree, relative and sorted, as the baseline sees it."""
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root)
                  if ".codex_nb" not in d for f in fs if f.endswith(".py"))


def baseline_tokens(text: str) -> list[str]:
    """The baseline's tokeniser: identifiers lower-cased, plus their snake/camel parts."""
    out = []
    for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text):
        low = word.lower()
        out.append(low)
        out.extend(p.lower() for p in re.split(r"_|(?<=[a-z])(?=[A-Z])", word) if p and p.lower() != low)
    return out


class BM25Baseline:
    """File-level BM25 over identifiers (bm25s), the floor every retriever must beat."""

    def __init__(self, root: str):
        import bm25s

        self.names = py_files(root)
        corpus = []
        for n in self.names:
            with open(os.path.join(root, n), errors="replace") as fh:
                corpus.append(baseline_tokens(n + " " + fh.read()))
        self.model = bm25s.BM25()
        self.model.index(corpus, show_progress=False)

    def rank(self, question: str, k: int = 10) -> list[str]:
        res, _ = self.model.retrieve([baseline_tokens(question)], k=k, show_progress=False)
        return [self.names[i] for i in res[0]]


KS = (1, 5, 10)


def recall(ranked_lists, cases):
    hits = {k: 0 for k in KS}
    total = 0
    for ranked, case in zip(ranked_lists, cases):
        for gold in case["gold"]:
            total += 1
            for k in KS:
                hits[k] += gold in ranked[:k]
    return {k: hits[k] / max(total, 1) for k in KS}


def engine_rankings(root, cases):
    from codex_nb.context import build_context

    out, times = [], []
    for case in cases:
        t = time.perf_counter()
        ctx = build_context(query=case["question"], repo=root, budget=6000)
        times.append(time.perf_counter() - t)
        out.append([f["path"] for f in ctx.files])
    return out, times


SENT_BUDGET = 8000


def code_sent_share(root, cases, budget=SENT_BUDGET):
    """Share of gold files whose code is in the context sent at ``budget`` tokens (the map's "code_sent")."""
    from codex_nb.context import build_context
    from codex_nb.context.snippets import OUTLINE_MARK
    from codex_nb.repomap.sent import code_blocks

    inside = total = bodies = 0
    tokens = []
    for case in cases:
        ctx = build_context(query=case["question"], repo=root, budget=budget)
        section = ctx.section("repository")
        shown = code_blocks(section.text if section else "")
        tokens.append(ctx.total_tokens)
        for gold in case["gold"]:
            total += 1
            inside += gold in shown
            bodies += gold in shown and not shown[gold].startswith(OUTLINE_MARK)
    return inside / max(total, 1), inside, total, sum(tokens) / max(len(tokens), 1), bodies


def fmt(r):
    return " ".join(f"r@{k}={r[k]:.2f}" for k in KS)


def check_cli(root, cases, n):
    """The in-process ranking must be what the CLI prints."""
    env = {**os.environ, "PYTHONPATH": os.path.dirname(HERE)}
    for case in cases[:n]:
        proc = subprocess.run([sys.executable, "-m", "codex_nb", "context", "--repo", root, "--query",
                               case["question"], "--json", "--budget", "6000"], capture_output=True, text=True,
                              env=env, check=True)
        yield [f["path"] for f in json.loads(proc.stdout)["files"]]


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", choices=["click", "pylint", "all"], default="all")
    ap.add_argument("--ablate", action="store_true", help="also run without PageRank / mentions / prior")
    ap.add_argument("--cli", type=int, default=0, help="check the first N cases through the CLI")
    args = ap.parse_args(argv)
    names = ["click", "pylint"] if args.set == "all" else [args.set]
    for name in names:
        with open(os.path.join(HERE, "data", f"localize-{name}.json")) as fh:
            data = json.load(fh)
        root = fetch_tree(data["sdist"])
        cases = data["cases"]
        t = time.perf_counter()
        base = BM25Baseline(root)
        t_base = time.perf_counter() - t
        r_base = recall([base.rank(c["question"]) for c in cases], cases)
        ranked, times = engine_rankings(root, cases)
        r_eng = recall(ranked, cases)
        times.sort()
        print(f"{data['sdist']}: {len(cases)} cases, {len(base.names)} .py files")
        print(f"  bm25 baseline   {fmt(r_base)}   (index {t_base:.2f}s)")
        print(f"  codex-nb context {fmt(r_eng)}   (median build {1000 * times[len(times) // 2]:.1f} ms)")
        print("  ratio           " + " ".join(f"r@{k}={r_eng[k] / r_base[k]:.2f}x" if r_base[k] else f"r@{k}=n/a"
                                              for k in KS))
        share, inside, total, mean_tokens, bodies = code_sent_share(root, cases)
        print(f"  code sent @{SENT_BUDGET} tokens: {share:.2f} of gold files ({inside}/{total}; goal >= 0.95; "
              f"mean context {mean_tokens:.0f} tokens)")
        # an outline is signature lines only: say how many gold files came with code bodies
        print(f"    of which with code (whole file or chosen definitions) {bodies / max(total, 1):.2f} ({bodies}/{total}), "
              f"outline only {(inside - bodies) / max(total, 1):.2f} ({inside - bodies}/{total})")
        if args.ablate:
            from codex_nb.context import rank

            for label, attr, value in [("no PageRank", "PPR_WEIGHT", 0.0), ("no mention bonus", "MENTION_BONUS", 0.0),
                                       ("no tests/docs prior", "PRIOR_SECONDARY", 1.0)]:
                old = getattr(rank, attr)
                setattr(rank, attr, value)
                try:
                    print(f"  - {label:16s} {fmt(recall(engine_rankings(root, cases)[0], cases))}")
                finally:
                    setattr(rank, attr, old)
        if args.cli:
            same = sum(cli == eng for cli, eng in zip(check_cli(root, cases, args.cli), ranked))
            print(f"  CLI check: {same}/{min(args.cli, len(cases))} cases identical to the in-process ranking")


if __name__ == "__main__":
    main()
