"""Released source trees for the benchmarks: the sdist from PyPI, unpacked once.

Same idea as the shared bench's trees.py, written for this project: `pip download`
the sdist of NAME==VERSION (no dependencies, no wheels) and unpack it under
$BENCH_TREES (default /tmp/bench-trees), reusing it on later runs.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

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
