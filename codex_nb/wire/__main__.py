"""``python -m codex_nb.wire schema [-o FILE]``: print (or write) the wire schema."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .schema import schema_text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codex_nb.wire",
                                     description="The JSON Schema of codex-nb's wire contract.")
    sub = parser.add_subparsers(dest="command", required=True)
    schema = sub.add_parser("schema", help="print the schema (sorted keys, deterministic)")
    schema.add_argument("-o", "--output", type=Path, help="write to this file instead of standard output")
    args = parser.parse_args(argv)
    text = schema_text()
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
