"""`codex-nb apply NB PROPOSAL.json`: accept a reviewed proposal into the file, through the engine."""
from __future__ import annotations

import sys

from .validation_flags import add_validation_flags, validation_settings_flags


def add_parser(sub):
    p = sub.add_parser("apply", help="apply a proposal to the notebook (atomically)",
                       description="Apply a proposal written by `codex-nb propose --json` to the notebook "
                       "and any repository files it patches, all or nothing.")
    p.add_argument("notebook")
    p.add_argument("proposal", help="proposal JSON file ('-' reads stdin)")
    p.add_argument("--dry-run", action="store_true", help="show the diffs, change nothing")
    p.add_argument("--repo", help="repository root for file patches (default: found from the notebook)")
    p.add_argument("--validate", action="store_true", help="re-run the notebook in a fresh kernel; roll back if it fails")
    p.add_argument("--repair", type=int, default=None, metavar="N", help="after a failed validation, ask the model for a fix up to N times")
    p.add_argument("--model", help="model for --repair")
    add_validation_flags(p)
    p.add_argument("--commit", action="store_const", const="on", default=None,
                   help="in a git repository, make the kept change one commit of exactly the files it touched")
    p.add_argument("--allow-dirty", dest="allow_dirty", action="store_true", default=None,
                   help="with --commit: let the commit carry your uncommitted edits to the files the change touches "
                   "(default: c.CodexNB.commit_allow_dirty; other files are never committed)")
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
    except RecursionError:
        raise UsageProblem(f"{source} is nested too deeply to be a proposal", hint="give the file written by `codex-nb propose --json`") from None
    return Proposal.from_json(data)


def run(args) -> int:
    import json

    from ..edits.diff import proposal_diffs, render_text
    from ..notebook_io import read_notebook

    proposal = load_proposal(args.proposal)
    out = sys.stderr if args.json else sys.stdout
    color = sys.stdout.isatty() and not args.json
    diffs = proposal_diffs(read_notebook(args.notebook), proposal, args.repo)
    if args.dry_run:
        _check_dry_run(args, proposal)
        if args.json:
            print(json.dumps({"applied": False, "diffs": diffs}))
        else:
            print(render_text(diffs, color=color))
            print("Dry run: nothing was changed.")
        return 0
    if not args.force:
        from ..open_sessions import refuse_if_open

        refuse_if_open(args.notebook, override="--force writes the file anyway")
    from ..engine.api import accept_file
    from .engine_events import TerminalEvents

    print("Applying:", file=out)
    print(render_text(diffs, color=color), file=out)
    view = TerminalEvents(args.notebook, out=sys.stderr, repair=args.repair, repo=args.repo, color=color)
    outcome = accept_file(args.notebook, proposal, source="cli", repo_root=args.repo, emit=view,
                          validate=bool(args.validate), repair=args.repair if args.validate else 0,
                          model=args.model, commit=args.commit, commit_allow_dirty=args.allow_dirty,
                          **validation_settings_flags(args))
    if outcome.commit_offer is not None:
        ask_to_commit(outcome, args.notebook)
    if args.json:
        print(json.dumps(outcome_json(outcome), default=str))
    else:
        print(view.closing_line(outcome, len(proposal.edits)))
    return 0 if outcome.kept else 1


def ask_to_commit(outcome, notebook, stdin=None, out=None) -> str | None:
    """commit = "ask" in the CLI: on a terminal, ask whether to commit the kept change; the commit's sha, or None."""
    from ..engine.api import commit_offered
    from .commit_prompt import offer_commit

    stdin, out = stdin or sys.stdin, out or sys.stderr

    def ask(question: str) -> str:
        print(question, end="", file=out, flush=True)
        return stdin.readline()

    return offer_commit(outcome, ask=ask if stdin.isatty() else None, say=lambda text: print(text, file=out, flush=True),
                        commit=lambda: commit_offered(outcome, source="cli", anchor=notebook))


def outcome_json(outcome) -> dict:
    """The engine's outcome, plus the notebook validation report at the top (what scripts read first)."""
    data = outcome.to_json()
    report = next((g["detail"] for g in outcome.gates if g["gate"] == "notebook"), None)
    return {"kept": outcome.kept, "applied": outcome.status != "refused", **data, "report": report}


def _check_dry_run(args, proposal) -> None:
    """Raise exactly what a real apply would refuse, writing nothing."""
    from ..edits.files import plan_file_edits
    from ..edits.live_ops import apply_ops, proposal_ops
    from ..engine.appliers import checked_notebook
    from ..engine.filechange import refuse_notebook_patches
    from ..notebook_io import find_repo_root, read_notebook

    nb = read_notebook(args.notebook)
    checked_notebook(apply_ops(nb, proposal_ops(nb, proposal)))
    refuse_notebook_patches(proposal.file_edits)
    plan_file_edits(args.repo or find_repo_root(args.notebook), proposal.file_edits)
