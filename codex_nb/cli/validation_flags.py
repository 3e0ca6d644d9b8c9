"""The validation flags `codex-nb validate` and `codex-nb apply --validate` share, and the settings they give.

Every flag defaults to "not given", so that c.CodexNB and the CODEX_NB_VALIDATE_* environment decide
(through ``engine.settings.resolve_settings``) unless the person says otherwise on the command line.
"""
from __future__ import annotations


def add_validation_flags(p) -> None:
    p.add_argument("--mode", choices=["auto", "full", "targeted"], default=None,
                   help="auto: targeted where the skipped cells are worth skipping, else full; full: every "
                   "cell; targeted: only the edited cells and what they depend on or affect "
                   "(default: c.CodexNB.validate_mode)")
    p.add_argument("--kernel", help="kernel for validation (default: the one in the notebook's metadata)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="seconds the whole validation may take (default: c.CodexNB.total_timeout, 900)")
    p.add_argument("--cell-timeout", type=float, default=None, metavar="S",
                   help="seconds one cell may take (default: c.CodexNB.cell_timeout, 120)")
    p.add_argument("--drift-fails", action="store_true", default=None,
                   help="treat changed outputs of unedited cells as a failure (default: c.CodexNB.drift_fails)")
    p.add_argument("--skip-tag", action="append", default=None, metavar="TAG",
                   help="cells with this tag are never executed (repeatable; default: c.CodexNB.skip_tags, codex-skip)")
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


def validation_settings_flags(args) -> dict:
    """The flags given, as ``resolve_settings`` / ``build_engine`` keywords (None: not given)."""
    from ..validate.gateway import check_url

    return dict(validate_mode=args.mode, kernel_name=args.kernel, total_timeout=args.timeout,
                cell_timeout=args.cell_timeout, drift_fails=args.drift_fails,
                skip_tags=tuple(args.skip_tag) if args.skip_tag else None,
                validate_in_place=args.in_place, validate_network=args.network,
                validate_scratch_mb=args.scratch_limit,
                # '' (here, whatever the configuration says) stays given; a URL is checked now, before any work
                validation_gateway_url=None if args.gateway_url is None else (check_url(args.gateway_url) or ""))
