"""Parse a share of a cold index in a separate interpreter: `python -m codex_nb.context._parse_worker`.

A plain subprocess (JSON in on stdin, JSON out on stdout) rather than
multiprocessing: it behaves the same inside a Jupyter kernel, where fork is
unsafe and spawn would re-import the kernel's main module.
"""
from __future__ import annotations

import json
import os
import sys

from .parse import parse_file


def main() -> int:
    job = json.load(sys.stdin)
    out = {}
    for rel in job["paths"]:
        try:
            with open(os.path.join(job["root"], rel), "rb") as fh:
                data = fh.read()
        except OSError as exc:
            out[rel] = {"unreadable": str(exc.strerror or exc)}
            continue
        out[rel] = parse_file(rel, data)
    json.dump(out, sys.stdout, separators=(",", ":"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
