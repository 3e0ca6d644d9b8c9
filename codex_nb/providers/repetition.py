"""Stopping a free-text answer that has fallen into a loop.

Small local models (the embedded SmolLM2 among them) often end an answer by repeating the same
line or two until the token cap: half a minute of "- `y` (int64): the column type" that tells the
person nothing and holds the kernel. ``RepetitionStop`` watches the streamed text; once the tail is
one block repeated several times it asks the provider to stop (through the cancel event the provider
already polls) and the answer is kept up to the first copy of the block, with a note.

Only free-text answers are watched: a proposal is JSON whose structure repeats by design, and
cutting it would leave it unparsable (its size is bounded by the answer cap instead).
"""
from __future__ import annotations

import re
import threading

from ..cancel import Cancel
from .base import Completion, TextDelta

NOTE = "(codex-nb stopped the answer here: the model had begun repeating itself.)"

MAX_BLOCK_LINES = 6  # a loop of up to this many lines …
MIN_LOOP_LINES = 8  # … repeated until it covers at least this many lines …
MIN_COPIES = 4  # … and at least this many times
MAX_UNIT_CHARS = 100  # within a line: a unit of up to this many characters …
MIN_LOOP_CHARS = 240  # … repeated over at least this many characters …
MIN_UNIT_COPIES = 6  # … and at least this many times
MIN_COUNTED_COPIES = 6  # a block whose numbers change is a loop only after more copies …
MIN_WORD_CHARS = 12  # … and only when it has words (a table of numbers, "7. step 7" are not loops)
CHECK_EVERY_CHARS = 48  # the answer is looked at every this many new characters …
WINDOW_CHARS = 3_000  # … and only its last this many (what a loop is found in, and its first copy)

_NUMBERS = re.compile(r"\d+")
_WORDS = re.compile(r"[^\W\d_]{2,}")


class RepetitionStop:
    """Feed it the stream's text deltas; ``event`` is the cancel to hand the provider.

    Work per delta is bounded (a tail of the answer, looked at every few dozen characters), so that a
    huge answer costs no more to watch than to receive.
    """

    def __init__(self, cancel: threading.Event | None):
        self.cancel = cancel
        self.event = Cancel(cancel)
        self.kept: str | None = None  # the answer up to the loop's first copy, once a loop was seen
        self._parts: list[str] = []  # the whole answer so far
        self._tail = ""  # its last characters (at most twice the window)
        self._tail_start = 0  # where the tail starts in the whole answer
        self._pending = 0  # characters received since the last look

    def feed(self, delta: TextDelta) -> bool:
        """True once the answer is looping (the provider is then asked to stop)."""
        if self.kept is not None:
            return True
        if delta.restart:  # the stream starts over after a dropped connection
            self._parts, self._tail, self._tail_start, self._pending = [], "", 0, 0
            return False
        if delta.notice or not delta.text:
            return False
        self._parts.append(delta.text)
        self._pending += len(delta.text)
        if self._pending < CHECK_EVERY_CHARS:
            return False
        self._tail += self._joined_pending()
        self._pending = 0
        if len(self._tail) > 2 * WINDOW_CHARS:
            cut = len(self._tail) - WINDOW_CHARS
            self._tail, self._tail_start = self._tail[cut:], self._tail_start + cut
        end = loop_start(self._tail, whole=self._tail_start == 0)
        if end is None:
            return False
        self.kept = "".join(self._parts)[: self._tail_start + end].rstrip()
        self.event.set()
        return True

    def _joined_pending(self) -> str:
        """The pieces received since the last look, joined (they are the last ``_pending`` characters)."""
        need, pieces = self._pending, []
        for piece in reversed(self._parts):
            pieces.append(piece)
            need -= len(piece)
            if need <= 0:
                break
        return "".join(reversed(pieces))

    def settled(self, final: Completion) -> Completion:
        """The provider's last event, with the answer cut after the loop's first copy when there was one."""
        if self.kept is None:
            return final
        if self.cancel is not None and self.cancel.is_set():
            return final  # the person cancelled: that is what happened
        return Completion(f"{self.kept}\n\n{NOTE}", final.model, final.usage, "repetition")


def loop_start(text: str, *, whole: bool = True) -> int | None:
    """Where the first copy of a loop at the end of ``text`` ends, or None when the tail is not looping.

    ``whole=False``: ``text`` is the tail of a longer answer (its first line may be cut).
    """
    end = _line_loop(text, whole)
    return end if end is not None else _unit_loop(text)


def _line_loop(text: str, whole: bool) -> int | None:
    """A block of 1..MAX_BLOCK_LINES complete lines repeated at the end of the text — exactly, or with only
    its numbers changing ("# 64. report.py — mentions to_eur", "# 65. report.py — …") when it has words."""
    body_end = text.rfind("\n") + 1  # complete lines only: the last may still be growing
    # Whether the end loops needs only the last few dozen lines; where the loop began, all of them.
    recent = body_end - 1
    for _ in range(MAX_BLOCK_LINES * max(MIN_COPIES, MIN_COUNTED_COPIES) + 1):
        recent = text.rfind("\n", 0, recent)
        if recent < 0:
            break
    if _loop_in(text[recent + 1:body_end].split("\n")[:-1]) is None:
        return None
    lines = text[:body_end].split("\n")[:-1]
    offset = 0
    if not whole and lines:
        offset, lines = len(lines[0]) + 1, lines[1:]  # the tail's first line may be cut: leave it out
    first = _loop_in(lines)
    return None if first is None else offset + sum(len(line) + 1 for line in lines[:first])


def _loop_in(lines: list[str]) -> int | None:
    first = _repeated_block(lines, MIN_COPIES, _filled)
    if first is None and len(lines) > 1:
        last = _NUMBERS.sub("0", lines[-1])  # numbering them all costs: only when the last line could loop
        if any(_NUMBERS.sub("0", lines[-1 - size]) == last for size in range(1, min(MAX_BLOCK_LINES, len(lines) - 1) + 1)):
            first = _repeated_block([_NUMBERS.sub("0", line) for line in lines], MIN_COUNTED_COPIES, _wordy)
    return first


def _filled(block: list[str]) -> bool:
    return any(line.strip() for line in block)  # blank lines are layout, not a loop


def _wordy(block: list[str]) -> bool:
    return sum(len(w) for line in block for w in _WORDS.findall(line)) >= MIN_WORD_CHARS


def _repeated_block(lines: list[str], min_copies: int, counts) -> int | None:
    """The index just after the first copy of a block that repeats to the end of ``lines``, or None.

    A block is judged (``counts``) at its own period: when "7. step 7" does not count as a loop, three of
    them in a row do not either.
    """
    periods: list[int] = []  # sizes that repeat but did not count
    for size in range(1, MAX_BLOCK_LINES + 1):
        copies = max(min_copies, -(-MIN_LOOP_LINES // size))
        span = size * copies
        if len(lines) < span:
            break
        if lines[-1] != lines[-1 - size]:  # cheap first test: most sizes fail here
            continue
        if any(size % period == 0 for period in periods):
            continue
        block = lines[-size:]
        if all(lines[-span + i] == block[i % size] for i in range(span)):
            if not counts(block):
                periods.append(size)
                continue
            # walk back to where the repetition began: the answer keeps that first copy
            first = len(lines) - span
            while first > 0 and lines[first - 1] == lines[first - 1 + size]:
                first -= 1
            return first + size
    return None


# (unit size, copies needed, characters they cover), smallest unit first
_UNITS = [(size, max(MIN_UNIT_COPIES, -(-MIN_LOOP_CHARS // size)), size * max(MIN_UNIT_COPIES, -(-MIN_LOOP_CHARS // size)))
          for size in range(1, MAX_UNIT_CHARS + 1)]


def _unit_loop(text: str) -> int | None:
    """A unit of 1..MAX_UNIT_CHARS characters repeated at the end of the text, within a line or across."""
    last = len(text) - 1
    for size, copies, span in _UNITS:
        if len(text) < span:
            break
        if text[last] != text[last - size]:  # cheap first test: most sizes fail here
            continue
        unit = text[-size:]
        if not unit.strip():
            continue  # runs of spaces or newlines are layout
        if text[-span:] == unit * copies:
            first = len(text) - span
            while first > 0 and text[first - 1] == text[first - 1 + size]:
                first -= 1
            # the first copy may start inside a word ("rame, the DataF"): end it at the end of that word
            end, limit = first + size, min(len(text), first + 2 * size)
            while end < limit and (text[end].isalnum() or text[end] == "_"):
                end += 1
            return end
    return None
