"""What the context engine would send for a question: ranked files, and whose code is in the text.

The repository section lists the ranked files by name and then adds the code of the best
ones as ``--- path ---`` blocks while the budget lasts. A file counts as *sent with code*
only if its block is in the section the model receives, and its tokens are that block's.
"""
from __future__ import annotations

import re

from ..context.snippets import OUTLINE_MARK
from ..context.tokens import count_tokens

_BLOCK = re.compile(r"^--- (.+?) ---$", re.M)


def code_blocks(repository_text: str) -> dict[str, str]:
    """path -> the code shown for it, from the repository section's text."""
    marks = list(_BLOCK.finditer(repository_text or ""))
    out = {}
    for k, m in enumerate(marks):
        end = marks[k + 1].start() if k + 1 < len(marks) else len(repository_text)
        out[m.group(1)] = repository_text[m.end():end].strip("\n")
    return out


def sent_files(ctx) -> dict[str, dict]:
    """path -> {"rank", "score", "why", "tokens", "code_sent", "outline_sent"} for every ranked file of a Context.

    A file below the best ones may be sent as an outline (signature lines only): that is not its code.
    """
    section = ctx.section("repository")
    blocks = code_blocks(section.text if section else "")
    out = {}
    for rank, f in enumerate(ctx.files, 1):
        code = blocks.get(f["path"])
        outline = code is not None and code.startswith(OUTLINE_MARK)
        out[f["path"]] = {"path": f["path"], "rank": rank, "score": round(float(f["score"]), 4), "why": f["why"],
                          "code_sent": code is not None and not outline, "outline_sent": outline,
                          "tokens": count_tokens(code) if code else 0}
    return out


def sent_phrase(f: dict) -> str:
    """What the model receives of one ranked file, in words."""
    if f["code_sent"]:
        return f"{f['tokens']} tokens of code"
    if f.get("outline_sent"):
        return f"outline ({f['tokens']} tokens of signatures)"
    return "named only"
