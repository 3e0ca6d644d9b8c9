"""`codex-nb context`: print exactly what would be sent to the model, or its JSON form."""
from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "context", help="show the context (notebook, repository) the model would see",
        description="Assemble the context for a request and print it: sections with token counts, "
                    "redactions, and the ranked repository files.")
    p.add_argument("--repo", default=None, help="repository root (default: the notebook's repository, else .)")
    p.add_argument("--notebook", default=None, help="path of a .ipynb file")
    p.add_argument("--query", default="", help="the request text")
    p.add_argument("--cell", default=None, help="id of the cell the user is in")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of text")
    p.add_argument("--budget", type=int, default=None, help="total token budget (default: by model)")
    p.add_argument("--model", default=None, help="model id, e.g. local:smollm2 (chooses the default budget)")
    p.add_argument("--top", type=int, default=20, help="number of ranked files to list (default 20)")
    p.add_argument("--no-cache", action="store_true", help="rebuild the index without reading or writing the cache")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    import json
    import os

    from ..errors import UsageProblem
    from ..context import build_context

    if not args.notebook and not args.query:
        raise UsageProblem("nothing to build a context for", hint="pass --query TEXT and/or --notebook PATH")
    if args.top < 1:
        raise UsageProblem("--top must be at least 1", hint="e.g. --top 20")
    if args.notebook and not os.path.exists(args.notebook):
        raise UsageProblem(f"{args.notebook} does not exist", hint="check the path of the notebook")
    repo = args.repo
    if repo is None and not args.notebook:
        repo = "."
    ctx = build_context(notebook=args.notebook, query=args.query, repo=repo, active_cell=args.cell,
                        budget=args.budget, model=args.model, top=args.top, use_cache=not args.no_cache)
    if args.json:
        data = ctx.to_json()
        data["files"] = data["files"][: max(args.top, 0)] if args.top else data["files"]
        print(json.dumps(data, indent=1, ensure_ascii=False))
        return 0
    print(f"# context: {ctx.total_tokens} of {ctx.budget} tokens")
    for s in ctx.sections:
        print(f"#   {s.name}: {s.tokens} tokens")
    if ctx.redactions:
        kinds = sorted({r["kind"] for r in ctx.redactions})
        print(f"# redactions: {len(ctx.redactions)} ({', '.join(kinds)})")
    if ctx.problems:
        print(f"# index problems: {len(ctx.problems)} files skipped or partly read (see --json)")
    print()
    print(ctx.render())
    return 0
