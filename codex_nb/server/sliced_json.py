"""JSON request bodies parsed in slices, so that the event loop runs between them.

``json.loads`` is C code that holds the GIL for the whole document: a 14 MB live
notebook took 340 ms, an array of 5 million empty arrays 2.5 s, and a thread does not
help because the GIL is held throughout. Here a large document is parsed in bounded
steps instead: every value that fits in a window of ``WINDOW`` characters is still
parsed by the C scanner (so the common case keeps C speed), containers larger than
the window are walked here one member at a time, and long strings are decoded piece
by piece. ``parse_sliced`` is a generator that yields after each step; the caller
decides how often to let its loop run (see ``base.parse_body_async``).

The result equals ``json.loads`` on every valid document (tests/test_harden_body.py
checks that with a tiny window, which exercises every cut), and errors are
``json.JSONDecodeError`` with the same wording and the absolute position.
"""
from __future__ import annotations

import json
import re
from json.decoder import JSONDecodeError, scanstring
from typing import Iterator

from ..limits import MAX_JSON_DEPTH, TooDeep, check_depth

#: characters handed to the C scanner at once: about 1 ms at its slowest (nested empty arrays)
WINDOW = 8192

_scan = json.JSONDecoder().scan_once
_WS = re.compile(r"[ \t\n\r]*")
# A run of a string's content: plain characters and complete escapes (never half of one).
_PIECE = re.compile(r'(?:[^"\\\x00-\x1f]++|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*+')
_HIGH_SURROGATE_END = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}$")
_LONGEST_ESCAPE = 6  # \uXXXX (pairs are kept together separately)


class SlicedResult:
    """Where ``parse_sliced`` leaves the parsed value."""

    value = None


def parse_sliced(text: str, what: str = "the document", result: SlicedResult | None = None) -> Iterator[None]:
    """Parse ``text`` into ``result.value``, yielding between bounded steps.

    Raises JSONDecodeError for malformed JSON and TooDeep past MAX_JSON_DEPTH levels.
    """
    return _Parser(text, what).run(result if result is not None else SlicedResult())


class _Parser:
    def __init__(self, text: str, what: str):
        self.s = text
        self.n = len(text)
        self.what = what
        self.window, self.window_start = "", 0

    def fail(self, message: str, pos: int):
        raise JSONDecodeError(message, self.s, pos)

    def run(self, result: SlicedResult) -> Iterator[None]:
        s = self.s
        stack: list[tuple[object, str | None]] = []  # open containers, each with its pending key (objects)
        pos = yield from self.skip_ws(0)
        while True:
            value, pos, opened = yield from self.value_at(pos, len(stack))
            if opened is not None:  # a container too large for one window: walk its members
                if len(stack) + 1 > MAX_JSON_DEPTH:
                    raise TooDeep(self.what, MAX_JSON_DEPTH)
                pos = yield from self.skip_ws(pos)
                closer = "}" if opened == "{" else "]"
                if s.startswith(closer, pos):
                    value, pos = ({} if opened == "{" else []), pos + 1
                else:
                    container = {} if opened == "{" else []
                    key = None
                    if opened == "{":
                        key, pos = yield from self.key_at(pos, len(stack) + 1)
                    stack.append((container, key))
                    yield
                    continue
            # a complete value: attach it, then close every container that ends here
            while True:
                if not stack:
                    pos = yield from self.skip_ws(pos)
                    if pos != self.n:
                        self.fail("Extra data", pos)
                    result.value = value
                    return
                container, key = stack[-1]
                if key is None:
                    container.append(value)
                else:
                    container[key] = value
                pos = yield from self.skip_ws(pos)
                char = s[pos:pos + 1]
                if char == ",":
                    pos = yield from self.skip_ws(pos + 1)
                    if isinstance(container, dict):
                        key, pos = yield from self.key_at(pos, len(stack))
                        stack[-1] = (container, key)
                    break
                if char == ("}" if isinstance(container, dict) else "]"):
                    stack.pop()
                    value, pos = container, pos + 1
                    continue
                self.fail("Expecting ',' delimiter", pos)
            yield

    def key_at(self, pos: int, depth: int):
        if not self.s.startswith('"', pos):
            self.fail("Expecting property name enclosed in double quotes", pos)
        key, pos, _ = yield from self.value_at(pos, depth)
        pos = yield from self.skip_ws(pos)
        if not self.s.startswith(":", pos):
            self.fail("Expecting ':' delimiter", pos)
        pos = yield from self.skip_ws(pos + 1)
        return key, pos

    def value_at(self, pos: int, depth: int):
        """``(value, end, None)`` for a value the C scanner read in one window, else ``(None, pos+1, '{' or '[')``
        for a container to walk (a long string is decoded here)."""
        for fresh in (False, True):
            start = self.window_start
            if fresh or not start <= pos < start + len(self.window):
                self.window, self.window_start = self.s[pos:pos + WINDOW], pos
                start = pos
            window = self.window
            try:
                value, end = _scan(window, pos - start)
            except StopIteration as exc:
                if start < pos:
                    continue
                if start + len(window) >= self.n:
                    self.fail("Expecting value", start + exc.value)
                break  # a container cut short by the window's end
            except RecursionError:
                if start < pos:
                    continue
                break  # deeper than the C scanner goes: walked here, where the depth limit speaks
            except JSONDecodeError as exc:
                if start < pos:
                    continue  # perhaps only cut short by the window's end
                if start + len(window) >= self.n:
                    raise JSONDecodeError(exc.msg, self.s, exc.pos + start) from None
                break  # larger than one window (or broken inside): walked or decoded piecewise
            # a number cut by the window's end can still read as a shorter one ("1.5" cut to "1." reads 1):
            # accept only values that end at least two characters before it
            if end + 2 < len(window) or start + len(window) >= self.n:
                if isinstance(value, (dict, list)):
                    check_depth(value, self.what, MAX_JSON_DEPTH - depth)
                return value, start + end, None
            if start == pos:
                break  # touches the window's end: perhaps a longer number, or a value cut short
        char = self.s[pos]
        if char in "{[":
            return None, pos + 1, char
        if char == '"':
            text, end = yield from self.long_string(pos)
            return text, end, None
        try:  # a number or constant as long as the window (only an attack writes one)
            value, end = _scan(self.s, pos)
        except StopIteration:
            self.fail("Expecting value", pos)
        return value, end, None

    def long_string(self, pos: int):
        s, parts, i = self.s, [], pos + 1
        while True:
            stop = min(self.n, i + WINDOW)
            j = _PIECE.match(s, i, stop).end()
            while j < self.n and s[j] == "\\" and _HIGH_SURROGATE_END.search(s, i, j):
                # never end a piece between the halves of a surrogate pair: together they are one character
                stop, before = min(self.n, j + 6), j
                j = _PIECE.match(s, i, stop).end()
                if j == before:
                    break  # not an escape after all: reported below
            piece = s[i:j]
            parts.append(scanstring(piece + '"', 0)[0] if "\\" in piece else piece)
            if j < self.n and s[j] == '"':
                return "".join(parts), j + 1
            cut_by_window = stop < self.n and j > stop - _LONGEST_ESCAPE and j > i
            if not cut_by_window:
                if j >= self.n:
                    self.fail("Unterminated string starting at", pos)
                self.fail("Invalid control character at" if s[j] < " " else "Invalid \\escape", j)
            i = j
            yield

    def skip_ws(self, pos: int):
        while True:
            end = _WS.match(self.s, pos, min(self.n, pos + WINDOW)).end()
            if end < pos + WINDOW or end >= self.n:
                return end
            pos = end
            yield
