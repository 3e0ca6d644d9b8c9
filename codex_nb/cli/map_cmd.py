"""`codex-nb map`: the repository and notebook graph the assistant works from, from local analysis only."""
from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "map", help="show what the assistant understands: modules, imports, the files a question sends, cell graph",
        description="Build the map: the repository's modules and notebooks grouped by package with their import "
                    "edges, the files that would be sent for --query (rank and tokens), and the notebook's cell "
                    "dependency graph. No model is called.")
    p.add_argument("--repo", default=None, help="repository root (default: the notebook's repository, else .)")
    p.add_argument("--notebook", default=None, help="path of a .ipynb file: adds its cell graph")
    p.add_argument("--query", default="", help="a question: highlights the files its context would send")
    p.add_argument("--budget", type=int, default=None, help="token budget of that context (default 8000)")
    p.add_argument("--json", action="store_true", help="print the map as JSON")
    p.add_argument("--no-cache", action="store_true", help="rebuild the index without reading or writing the cache")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    import json
    import os

    from ..errors import UsageProblem
    from ..repomap import build_map
    from ..repomap.text import map_text

    if args.notebook and not os.path.exists(args.notebook):
        raise UsageProblem(f"{args.notebook} does not exist", hint="check the path of the notebook")
    if args.repo and not os.path.isdir(args.repo):
        raise UsageProblem(f"{args.repo} is not a directory", hint="pass --repo with the repository root")
    if args.budget is not None and args.budget < 100:
        raise UsageProblem(f"a budget of {args.budget} tokens is too small", hint="use at least a few thousand tokens")
    repo = args.repo if args.repo or args.notebook else "."
    data = build_map(repo=repo, notebook=args.notebook, query=args.query, budget=args.budget,
                     use_cache=not args.no_cache)
    print(json.dumps(data, indent=1, ensure_ascii=False) if args.json else map_text(data))
    return 0
