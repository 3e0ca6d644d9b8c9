"""`codex-nb models`: what is configured here, and (with --check) reachable."""
from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("models", help="list configured models")
    p.add_argument("--check", action="store_true", help="contact each configured server to list what it serves")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(args) -> int:
    import json

    from ..providers.registry import list_models

    rows = list_models(check_reachable=args.check)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for row in rows:
        mark = "*" if row.get("default") else " "
        state = "ok " if row["configured"] else "-- "
        if row.get("reachable") is False:
            state = "!! "
        print(f"{mark} {state}{row['id']:<40} {row['detail']}")
    print("\n* default   ok configured   -- not configured   !! unreachable")
    return 0
