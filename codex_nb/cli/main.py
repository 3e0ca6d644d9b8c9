"""`codex-nb` command line: one module per subcommand, each with add_parser() and run().

Subcommand modules keep their heavy imports inside run() so that `codex-nb --help`
and argument errors are instant.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import CodexError

# subcommand name -> module under codex_nb.cli
SUBCOMMANDS = {
    "propose": "propose",
    "apply": "apply",
    "models": "models",
    "context": "context_cmd",
    "validate": "validate_cmd",
    "audit": "audit_cmd",
    "undo": "undo",
    "map": "map_cmd",
}


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="codex-nb",
        description="Reviewable, validated notebook edits from a language model.",
    )
    parser.add_argument("--version", action="version", version=f"codex-nb {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module in SUBCOMMANDS.items():
        try:
            mod = importlib.import_module(f"{__package__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{module}":
                raise
            continue  # a subcommand that is not part of this build
        mod.add_parser(sub)
    return parser


def _skip_slow_optional_imports() -> None:
    """Keep an optional package that nbformat never uses from costing every command a second.

    nbformat imports jsonschema, whose format checkers import ``rfc3987_syntax`` when it is
    installed (Jupyter servers pull it in); that package builds a parser grammar at import,
    about 0.9 s. nbformat's schemas use no ``format`` checks, so in this process — ours
    alone, unlike a kernel or a server — it is marked unavailable and jsonschema goes on
    without its IRI checkers.
    """
    sys.modules.setdefault("rfc3987_syntax", None)


def main(argv: list[str] | None = None) -> int:
    _skip_slow_optional_imports()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except CodexError as exc:
        print(f"codex-nb {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("codex-nb: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
