"""Parsing ``%codex`` / ``%%codex`` lines: subcommand, flags, free text, interpolation, @mentions.

The request text is free prose ("the merge doesn't keep rows"), so it is never
shell-split: only leading words are read as a subcommand and ``--flags``; the
rest is kept verbatim.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from ..errors import UsageProblem

SUBCOMMANDS = {
    "ask": "answer a question (Markdown)",
    "fix": "fix the last error and its cell",
    "explain": "explain a cell (a number: %codex explain 4) or the last error",
    "review": "audit the notebook: bugs, hidden state, out-of-order execution, unused or shadowed names",
    "notebook": 'write a new notebook: %codex notebook PATH "description"',
    "context": "preview what would be sent to the model, with token counts",
    "map": "the repository and cell graph the assistant works from: %codex map [question]",
    "models": "list the configured models",
    "config": "show the settings, or set one for this session: %codex config model=openai:gpt-4.1-mini",
    "history": "the audit log for this notebook",
    "undo": "revert the last accepted edit",
    "help": "this help",
}
FLAGS = {
    "--model": "model id provider:model",
    "--mode": "validation mode: full or targeted",
    "--repo": "repository root for the context",
    "--notebook": "notebook file, when the kernel cannot tell",
    "--no-validate": "apply without re-running the notebook",
}
_VALUED = {"--model", "--mode", "--repo", "--notebook"}


@dataclass
class Request:
    command: str = "propose"
    text: str = ""
    model: str | None = None
    mode: str | None = None
    repo: str | None = None
    notebook: str | None = None
    validate: bool | None = None  # None: the configured default
    words: list[str] = field(default_factory=list)  # shell-split text, for `notebook PATH "description"`


def usage() -> str:
    lines = ["%codex [SUBCOMMAND] [FLAGS] [request]    or    %%codex [SUBCOMMAND] [FLAGS] + the request as the cell body",
             "", "With no subcommand the request becomes proposed edits of this notebook.", "", "Subcommands:"]
    lines += [f"  {name:<9} {desc}" for name, desc in SUBCOMMANDS.items()]
    lines += ["", "Flags:"] + [f"  {name:<14} {desc}" for name, desc in FLAGS.items()]
    lines += ["", "{var}, {In[3]} and {Out[3]} are replaced by their values; @name adds a summary of variable name."]
    return "\n".join(lines)


def parse(line: str, body: str | None = None) -> Request:
    req = Request()
    rest = line.strip()
    first, tail = _split_word(rest)
    if first in SUBCOMMANDS:
        req.command, rest = first, tail
    while rest.startswith("--"):
        word, rest = _split_word(rest)
        name, eq, value = word.partition("=")
        if name not in FLAGS:
            raise UsageProblem(f"unknown flag {name}", hint="flags are " + ", ".join(FLAGS) + "; see %codex help")
        if name == "--no-validate":
            req.validate = False
            continue
        if not eq:
            value, rest = _split_word(rest)
        if not value:
            raise UsageProblem(f"{name} needs a value", hint=f"{name} VALUE ({FLAGS[name]})")
        if name == "--mode" and value not in ("full", "targeted"):
            raise UsageProblem(f"unknown validation mode {value!r}", hint="use --mode full or --mode targeted")
        setattr(req, name[2:], value)
    if first.startswith("-") and not first.startswith("--"):
        raise UsageProblem(f"unknown option {first}", hint="flags start with two dashes; see %codex help")
    req.text = "\n".join(part for part in (rest.strip(), (body or "").strip()) if part)
    try:
        req.words = shlex.split(req.text)
    except ValueError:  # an apostrophe in prose is not a shell quote
        req.words = req.text.split()
    return req


def _split_word(text: str) -> tuple[str, str]:
    text = text.lstrip()
    m = re.match(r"(\S+)\s*", text)
    return (m.group(1), text[m.end():]) if m else ("", "")


# -- interpolation ---------------------------------------------------------------------------
_BRACED = re.compile(r"\{([A-Za-z_]\w*)(?:\[(-?\d+)\])?\}")
_BARE_IN_OUT = re.compile(r"(?<![\w{])(In|Out)\[(-?\d+)\]")
_MENTION = re.compile(r"(?<![\w@.])@([A-Za-z_]\w*)")
MAX_VALUE_CHARS = 10_000


def interpolate(text: str, ns: dict) -> str:
    """``{var}``, ``{var[n]}``, ``{In[n]}``, ``{Out[n]}`` as in jupyter-ai; unknown names stay as written."""

    def value(name: str, index: str | None):
        obj = ns[name]
        return obj[int(index)] if index is not None else obj

    def braced(m: re.Match) -> str:
        try:
            return _shown(value(m.group(1), m.group(2)), m.group(1))
        except (KeyError, IndexError, TypeError, ValueError):
            return m.group(0)  # JSON or code in the request must survive untouched

    def bare(m: re.Match) -> str:
        try:
            shown = _shown(value(m.group(1), m.group(2)))
        except (KeyError, IndexError, TypeError, ValueError):
            return m.group(0)
        return f"{m.group(0)}:\n```\n{shown}\n```\n"

    return _BARE_IN_OUT.sub(bare, _BRACED.sub(braced, text))


def _shown(obj, name: str = "") -> str:
    """A value as the request shows it: secret-named variables hidden, redacted before it is cut."""
    from ..context.redact import REDACTED, is_secret_name, redact_text

    if name and is_secret_name(name):
        return REDACTED
    text = obj if isinstance(obj, str) else repr(obj) if not hasattr(obj, "to_string") else str(obj)
    text = redact_text(text[: MAX_VALUE_CHARS + 1024])[0]
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + " …[truncated]"


def mentions(text: str, ns: dict) -> list[str]:
    """Names written as @name that are variables of the kernel (decorators and e-mail addresses are not)."""
    return list(dict.fromkeys(n for n in _MENTION.findall(text) if n in ns))
