"""The readable part of a proposal while it streams: the text of its "explanation".

A proposal arrives as JSON (``{"explanation": "…", "edits": [...]}``, explanation first in
the schema, so models write it first). Showing that raw JSON as it streams is noise; the
diffs follow once the proposal is complete. ``ExplanationStream.feed`` takes the raw
deltas and returns the explanation text they complete, with JSON escapes decoded (an
escape split across deltas waits for its other half). An answer that does not start
as JSON — prose from a provider without structured output — passes through unchanged.
"""
from __future__ import annotations

import re

_KEY = re.compile(r'"explanation"\s*:\s*"')
_PLAIN = re.compile(r'[^"\\]+')  # a run of characters that need no decoding
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "\\": "\\", "/": "/"}
_KEEP_WHILE_SEEKING = 256  # of text without the key, only this tail can still begin it
_ESCAPE_TAIL = 12  # the longest escape (a surrogate pair, \uXXXX\uXXXX)


class ExplanationStream:
    """Linear in the answer's length: each delta is looked at once, plus a short tail kept between deltas."""

    def __init__(self):
        self.mode: str | None = None  # None until the answer's first character: "json" or "prose"
        self.state = "seek"  # json mode: "seek" the key, then "inside" its string, then "done"
        self.pending = ""  # text not yet decided: a tail that may begin the key, or a split escape

    def feed(self, delta: str) -> str:
        """The readable text ``delta`` adds ("" while it is JSON structure)."""
        if self.mode is None:
            head = delta.lstrip()
            if not head:
                self.pending += delta
                return ""
            self.mode = "json" if head[0] in "{`" else "prose"
            if self.mode == "prose":
                text, self.pending = self.pending + delta, ""
                return text
            self.pending = ""
        if self.mode == "prose":
            return delta
        if self.state == "seek":
            buffer = self.pending + delta
            found = _KEY.search(buffer)
            if found is None:
                # the key may be split across deltas: keep from its last possible start
                at = buffer.rfind('"explanation"')
                self.pending = buffer[at:] if at >= 0 and len(buffer) - at <= 4096 else buffer[-_KEEP_WHILE_SEEKING:]
                return ""
            self.state, self.pending = "inside", buffer[found.end():]
            return self._decode("")
        if self.state == "inside":
            return self._decode(delta)
        return ""

    def _decode(self, delta: str) -> str:
        raw = self.pending + delta
        out: list[str] = []
        i, n = 0, len(raw)
        while i < n:
            plain = _PLAIN.match(raw, i)
            if plain is not None:
                out.append(plain.group())
                i = plain.end()
                continue
            char = raw[i]
            if char == '"':
                self.state = "done"
                i = n
                break
            if i + 1 >= n:
                break  # the escape's other half has not arrived
            kind = raw[i + 1]
            if kind != "u":
                out.append(_ESCAPES.get(kind, kind))
                i += 2
                continue
            decoded, used = _unicode_escape(raw, i)
            if used == 0:
                break
            out.append(decoded)
            i += used
        self.pending = raw[i:] if self.state == "inside" else ""
        return "".join(out)


def _unicode_escape(raw: str, i: int) -> tuple[str, int]:
    """Decode ``\\uXXXX`` (or a surrogate pair) at ``raw[i]``; (text, characters used), or ("", 0) if incomplete."""
    if i + 6 > len(raw):
        return "", 0
    try:
        code = int(raw[i + 2: i + 6], 16)
    except ValueError:
        return raw[i: i + 6], 6  # not an escape after all: show it as written
    if 0xD800 <= code < 0xDC00:  # high surrogate: its pair follows
        if i + 12 > len(raw):
            return "", 0
        if raw[i + 6: i + 8] == "\\u":
            try:
                low = int(raw[i + 8: i + 12], 16)
            except ValueError:
                low = 0
            if 0xDC00 <= low < 0xE000:
                return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), 12
    return chr(code), 6
