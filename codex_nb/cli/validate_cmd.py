"""`codex-nb validate NB`: re-run a notebook (or the cells an edit affects) in a fresh kernel.

Exit status: 0 when every executed cell ran, 1 when validation failed, 2 for a
usage problem. Progress goes to stderr; ``--json`` prints the report on stdout.
"""
from __future__ import annotations

import sys

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
    p.add_argument("--mode", choices=["auto", "full", "targeted"], default=None,
                   help="auto: targeted where the skipped cells are worth skipping, else full; full: every "
                   "cell; targeted: only the edited cells and what they depend on or affect "
                   "(default: the validate_mode setting, auto)")
    p.add_argument("--kernel", help="kernel name (default: the one in the notebook's metadata)")
    p.add_argument("--timeout", type=float, default=600, metavar="S", help="total timeout in seconds (default 600)")
    p.add_argument("--cell-timeout", type=float, default=120, metavar="S", help="per-cell timeout in seconds (default 120)")
    p.add_argument("--drift-fails", action="store_true", help="treat changed outputs of unedited cells as a failure")
    p.add_argument("--skip-tag", action="append", default=None, metavar="TAG",
                   help="cells with this tag are never executed (repeatable; default codex-skip)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="papermill parameter injected after the cell tagged 'parameters' "
                   "(repeatable; VALUE is read as JSON when it parses, else as a string)")
    p.add_argument("--in-place", action="store_true", default=None,
                   help="run in the notebook's own directory instead of a scratch copy: cells then really "
                   "create, overwrite and delete your files, and a failed validation does not undo that "
                   "(default: c.CodexNB.validate_in_place, CODEX_NB_VALIDATE_IN_PLACE)")
    p.add_argument("--no-network", dest="network", action="store_false", default=None,
                   help="turn off network access for the validation kernel (default: c.CodexNB.validate_network, "
                   "CODEX_NB_VALIDATE_NETWORK; on)")
    p.add_argument("--network", dest="network", action="store_true",
                   help="allow network access even where the configuration turns it off")
    p.add_argument("--scratch-limit", type=float, default=None, metavar="MB",
                   help="most megabytes copied into the scratch directory; larger items are shared read-only "
                   "(default: c.CodexNB.validate_scratch_mb, CODEX_NB_VALIDATE_SCRATCH_MB; 200)")
    p.add_argument("--gateway-url", metavar="URL", default=None,
                   help="run the kernel on this Jupyter Kernel Gateway, e.g. http://127.0.0.1:8889 (default: "
                   "c.CodexNB.validation_gateway_url, then CODEX_NB_VALIDATION_GATEWAY_URL; '' runs it here)")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    p.set_defaults(run=run)


def run(args) -> int:
    import json

    from ..engine.settings import resolve_settings
    from ..validate import validate_notebook
    from ..validate.progress import print_progress

    # The same settings the engine's doors use: c.CodexNB, then CODEX_NB_VALIDATE_*, then these flags.
    settings = resolve_settings(with_model=False, validate_mode=args.mode, validate_in_place=args.in_place,
                                validate_network=args.network, validate_scratch_mb=args.scratch_limit)
    report = validate_notebook(
        args.notebook,
        changed=args.changed,
        mode=settings.validate_mode,
        previous=args.previous,
        kernel_name=args.kernel,
        cell_timeout=args.cell_timeout,
        total_timeout=args.timeout,
        progress=None if args.quiet else (lambda event: print_progress(event, sys.stderr)),
        drift_fails=args.drift_fails,
        skip_tags=tuple(args.skip_tag) if args.skip_tag else ("codex-skip",),
        parameters={name: _value(raw) for name, raw in args.parameter} or None,
        in_place=settings.validate_in_place,
        network=settings.validate_network,
        scratch_limit_mb=settings.validate_scratch_mb,
        gateway_url=_gateway_url(args.gateway_url),
        audit_log=True,
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


def _gateway_url(flag: str | None) -> str | None:
    from ..config import load_config
    from ..validate.gateway import url_from

    return url_from(flag, load_config().validation_gateway_url) or ""


def _value(raw: str):
    """``-p n 5`` gives the number 5, ``-p name x`` the string "x", as papermill users expect."""
    import json

    try:
        return json.loads(raw)
    except ValueError:
        return raw
