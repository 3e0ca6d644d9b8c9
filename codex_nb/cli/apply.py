"""`codex-nb apply NB PROPOSAL.json`: apply a reviewed proposal, all or nothing."""
from __future__ import annotations

import sys


def add_parser(sub):
    p = sub.add_parser("apply", help="apply a proposal to the notebook (atomically)",
                       description="Apply a proposal written by `codex-nb propose --json` to the notebook "
                       "and any repository files it patches, all or nothing.")
    p.add_argument("notebook")
    p.add_argument("proposal", help="proposal JSON file ('-' reads stdin)")
    p.add_argument("--dry-run", action="store_true", help="show the diffs, change nothing")
    p.add_argument("--repo", help="repository root for file patches (default: found from the notebook)")
    p.add_argument("--validate", action="store_true", help="re-run the notebook in a fresh kernel; roll back if it fails")
    p.add_argument("--mode", choices=["targeted", "full"], default=None, help="validation mode (default: targeted)")
    p.add_argument("--repair", type=int, default=0, metavar="N", help="after a failed validation, ask the model for a fix up to N times")
    p.add_argument("--model", help="model for --repair")
    p.add_argument("--kernel", help="kernel for validation (default: the notebook's)")
    p.add_argument("--timeout", type=float, default=None, help="seconds the whole validation may take")
    p.add_argument("--cell-timeout", type=float, default=None, help="seconds one cell may take during validation")
    p.add_argument("--drift-fails", action="store_true", help="treat changed outputs of unedited cells as a failure")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--force", action="store_true",
                   help="write the notebook even if a running Jupyter server has it open")
    p.set_defaults(run=run)


def load_proposal(source: str):
    import json

    from ..edits.model import Proposal
    from ..errors import UsageProblem

    try:
        text = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()
    except OSError as exc:
        raise UsageProblem(f"cannot read {source}: {exc.strerror}", hint="give the file written by `codex-nb propose --json -o FILE`") from exc
    except UnicodeDecodeError as exc:
        raise UsageProblem(f"{source} is not UTF-8 text", hint="give the JSON file written by `codex-nb propose`") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageProblem(f"{source} is not valid JSON: {exc}", hint="give the file written by `codex-nb propose --json`") from exc
    return Proposal.from_json(data)


def run(args) -> int:
    import json

    from ..assistant import apply_proposal
    from ..edits.diff import proposal_diffs, render_text
    from ..edits.transaction import apply_to_disk
    from ..notebook_io import read_notebook

    proposal = load_proposal(args.proposal)
    if not args.dry_run and not args.force:
        from ..open_sessions import refuse_if_open

        refuse_if_open(args.notebook, override="--force writes the file anyway")
    if args.validate and not args.dry_run:
        from ..validate.workflow import run_apply_cli

        return run_apply_cli(args, proposal)
    diffs = proposal_diffs(read_notebook(args.notebook), proposal, args.repo)
    if args.dry_run:
        apply_to_disk(args.notebook, proposal, repo_root=args.repo, dry_run=True)  # raises if it would be refused
        _report(args, diffs, applied=False)
        return 0
    change = apply_proposal(args.notebook, proposal, repo_root=args.repo)
    if args.json:
        print(json.dumps({"applied": True, "proposal_id": proposal.id, "changed_cells": change.changed_cell_ids,
                          "changed_files": [str(p) for p in change.changed_files]}))
    else:
        print(render_text(diffs, color=sys.stdout.isatty()))
        print(f"Applied {len(proposal.edits)} edit(s) to {args.notebook}.")
    return 0


def _report(args, diffs, applied: bool):
    import json

    from ..edits.diff import render_text

    if args.json:
        print(json.dumps({"applied": applied, "diffs": diffs}))
    else:
        print(render_text(diffs, color=sys.stdout.isatty()))
        print("Dry run: nothing was changed.")
