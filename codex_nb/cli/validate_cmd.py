"""`codex-nb validate NB`: re-run a notebook (or the cells an edit affects) in a fresh kernel.

Exit status: 0 when every executed cell ran, 1 when validation failed, 2 for a
usage problem. Progress goes to stderr; ``--json`` prints the report on stdout.
"""
from __future__ import annotations

import sys

from .validation_flags import add_validation_flags, validation_settings_flags

# What a person can do about a failure of each kind, in this door's words.
_ADVICE = {
    "missing_kernel": "pass --kernel NAME",
    "total_timeout": "raise --timeout, or validate fewer cells (--mode targeted --changed CELL_ID)",
    "timeout": "raise --cell-timeout if that is expected",
}


def add_parser(sub):
    p = sub.add_parser(
        "validate", help="re-run the notebook in a fresh kernel (papermill) and report",
        description="Run a copy of the notebook in a fresh kernel, in a scratch copy of the notebook's "
        "directory (so cells cannot change your files). The notebook file itself is never modified.",
    )
    p.add_argument("notebook")
    p.add_argument("--changed", action="append", default=[], metavar="CELL_ID",
                   help="id of an edited cell (repeatable)")
    p.add_argument("--previous", metavar="OLD.ipynb",
                   help="the notebook as it was before the edit: cells that differ count as edited, and "
                   "readers of what the old cells bound are re-run (default: the Jupyter checkpoint when older)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="papermill parameter injected after the cell tagged 'parameters' "
                   "(repeatable; VALUE is read as JSON when it parses, else as a string)")
    add_validation_flags(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    p.set_defaults(run=run)


def run(args) -> int:
    import json

    from ..engine.notebook_gate import validation_options
    from ..engine.settings import resolve_settings
    from ..validate import validate_notebook
    from ..validate.progress import print_progress

    # The same settings the engine's doors use: c.CodexNB, then CODEX_NB_VALIDATE_*, then these flags.
    settings = resolve_settings(with_model=False, **validation_settings_flags(args))
    report = validate_notebook(
        args.notebook,
        changed=args.changed,
        mode=settings.validate_mode,
        previous=args.previous,
        progress=None if args.quiet else (lambda event: print_progress(event, sys.stderr)),
        parameters={name: _value(raw) for name, raw in args.parameter} or None,
        audit_log=True,
        **validation_options(settings),
    )
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(report.summary())
        if report.drift:
            print(report.drift_text())
        if report.failed:
            print(report.failure_text(), file=sys.stderr)
    advice = _ADVICE.get((report.failed or {}).get("kind"))
    if advice and not args.quiet:
        print(f"  → {advice}", file=sys.stderr)
    return 0 if report.ok else 1


def _value(raw: str):
    """``-p n 5`` gives the number 5, ``-p name x`` the string "x", as papermill users expect."""
    import json

    try:
        return json.loads(raw)
    except ValueError:
        return raw
