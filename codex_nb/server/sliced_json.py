"""JSON request bodies parsed in slices, so that the event loop runs between them.

``json.loads`` is C code that holds the GIL for the whole document: a 14 MB live
notebook took 340 ms, an array of 5 million empty arrays 2.5 s, and a thread does not
help because the GIL is held throughout. Here a large document is parsed in bounded
steps instead: every value that fits in a window of ``WINDOW`` characters is still
parsed by the C scanner (so the common case keeps C speed), containers larger than
the window are walked here one member at a time, and long strings are decoded piece
by piece. ``parse_sliced`` is a generator that yields after each step; the caller
decides how often to let its loop run (see ``base.parse_body_async``).

The document may be given as consecutive pieces (the body decoded 64 KB at a time as it was
received): it is never joined into one string, which for a body of megabytes of non-ASCII
text would itself hold the loop for 10-20 ms. Values are counted as they are read, so a body
of millions of tiny values is refused early (``TooManyValues``): each container is an object
the garbage collector walks, whatever the body's size in bytes.

The result equals ``json.loads`` on every valid document (tests/test_harden_body.py
checks that with a tiny window, which exercises every cut), and errors are
``json.JSONDecodeError`` with the same wording and the absolute position.
"""
from __future__ import annotations

import json
import re
from bisect import bisect_right
from json.decoder import JSONDecodeError, scanstring
from typing import Iterator

from ..limits import MAX_JSON_DEPTH, TooDeep, TooManyValues, check_depth

#: characters handed to the C scanner at once: about 1 ms at its slowest (nested empty arrays)
WINDOW = 8192

_scan = json.JSONDecoder().scan_once
_WS = re.compile(r"[ \t\n\r]*")
# A run of a string's content: plain characters and complete escapes (never half of one).
_PIECE = re.compile(r'(?:[^"\\\x00-\x1f]++|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*+')
_HIGH_SURROGATE_END = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}$")
_NUMBER_RUN = re.compile(r"[-+0-9.eE]*")
_LONGEST_ESCAPE = 6  # \uXXXX (pairs are kept together separately)


class SlicedResult:
    """Where ``parse_sliced`` leaves the parsed value; ``open`` holds the containers still open when it stops
    (after an error: the part read so far, which the caller may free a slice at a time)."""

    value = None
    open: list | None = None


def parse_sliced(text: str | list[str], what: str = "the document", result: SlicedResult | None = None,
                 max_values: int | None = None) -> Iterator[None]:
    """Parse ``text`` (one string, or consecutive pieces of one) into ``result.value``, yielding between bounded steps.

    Raises JSONDecodeError for malformed JSON, TooDeep past MAX_JSON_DEPTH levels and TooManyValues
    past ``max_values`` values (counted as they are read: the rest is not parsed).
    """
    return _Parser(_Text([text] if isinstance(text, str) else text), what, max_values).run(
        result if result is not None else SlicedResult())


class _Text:
    """A document kept as the pieces it arrived in, read through short slices (never joined whole)."""

    def __init__(self, pieces: list[str]):
        self.pieces = [p for p in pieces if p] or [""]
        self.starts, n = [], 0
        for piece in self.pieces:
            self.starts.append(n)
            n += len(piece)
        self.n = n
        self._last = 0  # the piece read last: reads mostly go forward, a piece at a time

    def locate(self, pos: int) -> int:
        i = self._last
        if not self.starts[i] <= pos < self.starts[i] + len(self.pieces[i]):
            i = self._last = max(0, bisect_right(self.starts, pos) - 1)
        return i

    def slice(self, a: int, b: int) -> str:
        b = min(b, self.n)
        if a >= b:
            return ""
        i = self.locate(a)
        piece, start = self.pieces[i], self.starts[i]
        if b <= start + len(piece):
            return piece[a - start:b - start]
        parts = [piece[a - start:]]  # across pieces: at most a window's worth is joined
        while b > self.starts[i] + len(self.pieces[i]):
            i += 1
            parts.append(self.pieces[i][:b - self.starts[i]])
        return "".join(parts)

    def char(self, pos: int) -> str:
        if pos >= self.n:
            return ""
        i = self.locate(pos)
        return self.pieces[i][pos - self.starts[i]]

    def match_end(self, pattern: re.Pattern, pos: int, endpos: int) -> int:
        """Where ``pattern`` (a run of characters) matched at ``pos`` stops, looking no further than ``endpos``."""
        endpos = min(endpos, self.n)
        if pos >= endpos:
            return pos
        i = self.locate(pos)
        piece, start = self.pieces[i], self.starts[i]
        if endpos <= start + len(piece):
            return start + pattern.match(piece, pos - start, endpos - start).end()
        return pos + pattern.match(self.slice(pos, endpos)).end()

    def line_and_column(self, pos: int) -> tuple[int, int]:
        """What JSONDecodeError computes from a whole document (only on an error: it reads every piece before pos)."""
        lines, last_newline = 1, -1
        for piece, start in zip(self.pieces, self.starts):
            if start >= pos:
                break
            end = min(len(piece), pos - start)
            lines += piece.count("\n", 0, end)
            found = piece.rfind("\n", 0, end)
            if found >= 0:
                last_newline = start + found
        return lines, pos - last_newline


def _decode_error(message: str, text: _Text, pos: int) -> JSONDecodeError:
    if len(text.pieces) == 1:
        return JSONDecodeError(message, text.pieces[0], pos)
    lineno, colno = text.line_and_column(pos)
    exc = JSONDecodeError.__new__(JSONDecodeError)
    ValueError.__init__(exc, f"{message}: line {lineno} column {colno} (char {pos})")
    exc.msg, exc.doc, exc.pos, exc.lineno, exc.colno = message, "", pos, lineno, colno
    return exc


class _Parser:
    def __init__(self, text: _Text, what: str, max_values: int | None = None):
        self.text = text
        self.n = text.n
        self.what = what
        self.window, self.window_start = "", 0
        self.values, self.max_values = 0, max_values

    def fail(self, message: str, pos: int):
        raise _decode_error(message, self.text, pos)

    def counted(self, values: int) -> None:
        self.values += values
        if self.max_values is not None and self.values > self.max_values:
            raise TooManyValues(self.what, self.values, self.max_values)

    def run(self, result: SlicedResult) -> Iterator[None]:
        text = self.text
        stack: list[tuple[object, str | None]] = []  # open containers, each with its pending key (objects)
        result.open = stack
        pos = yield from self.skip_ws(0)
        while True:
            value, pos, opened = yield from self.value_at(pos, len(stack))
            if opened is not None:  # a container too large for one window: walk its members
                if len(stack) + 1 > MAX_JSON_DEPTH:
                    raise TooDeep(self.what, MAX_JSON_DEPTH)
                pos = yield from self.skip_ws(pos)
                closer = "}" if opened == "{" else "]"
                if text.char(pos) == closer:
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
                char = text.char(pos)
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
        if self.text.char(pos) != '"':
            self.fail("Expecting property name enclosed in double quotes", pos)
        key, pos, _ = yield from self.value_at(pos, depth, is_key=True)
        pos = yield from self.skip_ws(pos)
        if self.text.char(pos) != ":":
            self.fail("Expecting ':' delimiter", pos)
        pos = yield from self.skip_ws(pos + 1)
        return key, pos

    def value_at(self, pos: int, depth: int, is_key: bool = False):
        """``(value, end, None)`` for a value the C scanner read in one window, else ``(None, pos+1, '{' or '[')``
        for a container to walk (a long string is decoded here)."""
        for fresh in (False, True):
            start = self.window_start
            if fresh or not start <= pos < start + len(self.window):
                self.window, self.window_start = self.text.slice(pos, pos + WINDOW), pos
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
                    self.fail(exc.msg, exc.pos + start)
                break  # larger than one window (or broken inside): walked or decoded piecewise
            # a number cut by the window's end can still read as a shorter one ("1.5" cut to "1." reads 1):
            # accept only values that end at least two characters before it
            if end + 2 < len(window) or start + len(window) >= self.n:
                if isinstance(value, (dict, list)):
                    self.counted(check_depth(value, self.what, MAX_JSON_DEPTH - depth))
                elif not is_key:  # keys are not values (check_depth does not count them either)
                    self.counted(1)
                return value, start + end, None
            if start == pos:
                break  # touches the window's end: perhaps a longer number, or a value cut short
        char = self.text.char(pos)
        if not is_key:
            self.counted(1)
        if char in "{[":
            return None, pos + 1, char
        if char == '"':
            text, end = yield from self.long_string(pos)
            return text, end, None
        # a number as long as the window (only an attack writes one): read whole, from where its characters stop
        stop = pos
        while True:
            run_end = self.text.match_end(_NUMBER_RUN, stop, stop + WINDOW)
            if run_end < stop + WINDOW or run_end >= self.n:
                break
            stop = run_end
            yield
        try:
            value, end = _scan(self.text.slice(pos, run_end + 1), 0)
        except StopIteration:
            self.fail("Expecting value", pos)
        return value, pos + end, None

    def long_string(self, pos: int):
        text, parts, i = self.text, [], pos + 1
        while True:
            stop = min(self.n, i + WINDOW)
            chunk = text.slice(i, stop)
            j = i + _PIECE.match(chunk).end()
            while j < self.n and text.char(j) == "\\" and _HIGH_SURROGATE_END.search(chunk, 0, j - i):
                # never end a piece between the halves of a surrogate pair: together they are one character
                stop, before = min(self.n, j + 6), j
                chunk = text.slice(i, stop)
                j = i + _PIECE.match(chunk).end()
                if j == before:
                    break  # not an escape after all: reported below
            piece = chunk[:j - i]
            parts.append(scanstring(piece + '"', 0)[0] if "\\" in piece else piece)
            if j < self.n and text.char(j) == '"':
                return "".join(parts), j + 1
            cut_by_window = stop < self.n and j > stop - _LONGEST_ESCAPE and j > i
            if not cut_by_window:
                if j >= self.n:
                    self.fail("Unterminated string starting at", pos)
                self.fail("Invalid control character at" if text.char(j) < " " else "Invalid \\escape", j)
            i = j
            yield

    def skip_ws(self, pos: int):
        while True:
            end = self.text.match_end(_WS, pos, pos + WINDOW)
            if end < pos + WINDOW or end >= self.n:
                return end
            pos = end
            yield
