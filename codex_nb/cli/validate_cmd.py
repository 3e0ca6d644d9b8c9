"""`codex-nb validate NB`: re-run a notebook (or the cells an edit affects) in a fresh kernel.

Exit status: 0 when every executed cell ran, 1 when validation failed, 2 for a
usage problem. Progress goes to stderr; ``--json`` prints the report on stdout.
"""
from __future__ import annotations

import sys


def add_parser(sub):
    p = sub.add_parser(
        "validate", help="re-run the notebook in a fresh kernel (papermill) and report",
        description="Run a copy of the notebook in a fresh kernel, in the notebook's directory. "
        "The notebook file itself is never modified.",
    )
    p.add_argument("notebook")
    p.add_argument("--changed", action="append", default=[], metavar="CELL_ID",
                   help="id of an edited cell (repeatable); needed by --mode targeted")
    p.add_argument("--mode", choices=["full", "targeted"], default=None,
                   help="run everything, or only the edited cells and what they depend on or affect "
                   "(default: targeted when --changed is given, else full)")
    p.add_argument("--kernel", help="kernel name (default: the one in the notebook's metadata)")
    p.add_argument("--timeout", type=float, default=600, metavar="S", help="total timeout in seconds (default 600)")
    p.add_argument("--cell-timeout", type=float, default=120, metavar="S", help="per-cell timeout in seconds (default 120)")
    p.add_argument("--drift-fails", action="store_true", help="treat changed outputs of unedited cells as a failure")
    p.add_argument("--skip-tag", action="append", default=None, metavar="TAG",
                   help="cells with this tag are never executed (repeatable; default codex-skip)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="papermill parameter injected after the cell tagged 'parameters' "
                   "(repeatable; VALUE is read as JSON when it parses, else as a string)")
    p.add_argument("--gateway-url", metavar="URL", default=None,
                   help="run the kernel on this Jupyter Kernel Gateway (default: c.CodexNB.validation_gateway_url, "
                   "else on this machine)")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    p.set_defaults(run=run)


def run(args) -> int:
    import json

    from ..validate import validate_notebook
    from ..validate.progress import print_progress

    mode = args.mode or ("targeted" if args.changed else "full")
    report = validate_notebook(
        args.notebook,
        changed=args.changed,
        mode=mode,
        kernel_name=args.kernel,
        cell_timeout=args.cell_timeout,
        total_timeout=args.timeout,
        progress=None if args.quiet else (lambda event: print_progress(event, sys.stderr)),
        drift_fails=args.drift_fails,
        skip_tags=tuple(args.skip_tag) if args.skip_tag else ("codex-skip",),
        parameters={name: _value(raw) for name, raw in args.parameter} or None,
        audit_log=True,
        gateway_url=args.gateway_url,
    )
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(report.summary())
        for item in report.drift:
            print(f"  drift in cell {item['cell_id']}: {item['detail']}")
        if report.failed:
            print(report.failure_text(), file=sys.stderr)
    return 0 if report.ok else 1


def _value(raw: str):
    """``-p n 5`` gives the number 5, ``-p name x`` the string "x", as papermill users expect."""
    import json

    try:
        return json.loads(raw)
    except ValueError:
        return raw
