"""`codex-nb audit`: list and filter the audit log; `codex-nb audit verify`: check its hash chain.

Exit status of ``verify``: 0 when the chain is intact, 1 naming the first bad line, 2 when
there is no log (the message says where it looked).
"""
from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "audit", help="list the audit log (filter by notebook, proposal, decision, event, date); verify it",
        usage="%(prog)s [--notebook NB] [--proposal ID] [--decision {accepted,rejected}] [--event E]\n"
              "                      [--since DATE] [--until DATE] [--limit N] [--json] [--log PATH]\n"
              "       %(prog)s verify [--log PATH] [--json]",
        description="List the events of the audit log as a table, or as JSON. "
                    "`codex-nb audit verify` checks that no line was changed, removed or reordered.")
    _log_option(p)
    p.add_argument("--notebook", metavar="NB", help="only events about this notebook (also finds the log)")
    p.add_argument("--proposal", metavar="ID", help="only events of this proposal (an id or its beginning)")
    p.add_argument("--decision", choices=["accepted", "rejected"], help="only decisions with this outcome")
    p.add_argument("--event", action="append", default=None, metavar="E",
                   help="only this event (repeatable), e.g. decided, applied, validated, rolled_back")
    p.add_argument("--since", metavar="DATE", help="from this date or time (UTC), e.g. 2026-12-01 or 2026-12-01T09:30")
    p.add_argument("--until", metavar="DATE", help="up to this date (inclusive) or time (UTC)")
    p.add_argument("--limit", type=int, metavar="N", help="only the last N matching events")
    p.add_argument("--json", action="store_true", help="print the matching entries as a JSON array")
    p.set_defaults(run=run_list)
    verbs = p.add_subparsers(dest="audit_command", metavar="{verify}")
    v = verbs.add_parser("verify", help="check the hash chain: exit 1 naming the first bad line",
                         description="Check every line's seq, hash and link to the line before, and the head "
                                     "file that shows lines removed from the end.")
    _log_option(v, dest="verify_log")
    v.add_argument("--json", action="store_true", help="print the result as JSON")
    v.set_defaults(run=run_verify)
    return p


def _log_option(p, dest: str = "log") -> None:
    # verify has its own --log (dest verify_log) so that `audit --log P verify` and `audit verify --log P` both work
    p.add_argument("--log", dest=dest, metavar="PATH", help="the audit log file (default: .codex_nb/audit.jsonl at the "
                                                 "repository root of --notebook or of the current directory)")


def _log_path(args):
    import os
    from pathlib import Path

    from .. import audit
    from ..errors import UsageProblem

    log = getattr(args, "verify_log", None) or args.log
    if log:
        path = Path(log)
        where = f"{path} (from --log)"
    else:
        anchor = getattr(args, "notebook", None) or os.getcwd()
        path = audit.audit_path(anchor)
        where = (f"{path} (from CODEX_NB_AUDIT_LOG)" if os.environ.get("CODEX_NB_AUDIT_LOG")
                 else f"{path}, at the repository root of {anchor} (nearest .git, pyproject.toml, setup.py, "
                      "setup.cfg or .codexignore)")
    if not path.is_file():
        raise UsageProblem(f"no audit log found: looked for {where}",
                           hint="run it inside the project, or pass --log PATH")
    return path


def run_list(args) -> int:
    import json

    from .. import audit
    from ..audit import query
    from ..errors import UsageProblem

    if args.event:
        unknown = [e for e in args.event if e not in audit.EVENTS]
        if unknown:
            raise UsageProblem(f"unknown event {', '.join(unknown)}", hint=f"use one of {', '.join(audit.EVENTS)}")
    if args.limit is not None and args.limit < 1:
        raise UsageProblem("--limit must be at least 1", hint="e.g. --limit 20")
    try:
        since = query.parse_when(args.since) if args.since else None
        until = query.parse_when(args.until, end_of_day=True) if args.until else None
    except ValueError as exc:
        raise UsageProblem(str(exc), hint="e.g. --since 2026-12-01 --until 2026-12-02T18:00") from None
    entries = query.select(audit.read_log(_log_path(args)), notebook=args.notebook, proposal=args.proposal,
                           decision=args.decision, events=args.event, since=since, until=until)
    if args.limit:
        entries = entries[-args.limit:]
    if args.json:
        print(json.dumps(entries, ensure_ascii=False, indent=1))
        return 0
    if not entries:
        print("no matching events")
        return 0
    rows = [[str(e.get("time", ""))[:19].replace("T", " "), str(e.get("user", "")), str(e.get("event", "")),
             query.short_notebook(e.get("notebook")), str(e.get("proposal_id") or ""), _trim(query.summary(e))]
            for e in entries]
    print(_table(["time (UTC)", "user", "event", "notebook", "proposal", "summary"], rows))
    return 0


def run_verify(args) -> int:
    import json

    from .. import audit

    report = audit.verify(_log_path(args))
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(report.summary())
        for note in report.notes:
            print(f"  note: {note}")
    return 0 if report.ok else 1


def _trim(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
