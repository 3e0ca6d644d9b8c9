"""`codex-nb undo NB`: revert the last kept change of a notebook (a revert commit when it was committed)."""
from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("undo", help="revert the last kept change of a notebook",
                       description="Revert the newest kept change of NB recorded in the audit log: by a revert "
                       "commit when it was committed, otherwise by restoring the files it changed. Each run "
                       "undoes one more change, newest first.")
    p.add_argument("notebook")
    p.add_argument("--json", action="store_true", help="print the audit entry of the undo as JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    import json

    from ..gates.undo import undo_last

    entry = undo_last(args.notebook, source="cli")
    if args.json:
        print(json.dumps(entry))
        return 0
    files = entry.get("restored") or entry.get("files") or []
    how = f"revert commit {entry['commit'][:12]}" if entry.get("commit") else "restored the saved files"
    print(f"Undid proposal {entry.get('proposal_id')}: {how}" + (f" ({', '.join(files)})" if files else "") + ".")
    return 0
