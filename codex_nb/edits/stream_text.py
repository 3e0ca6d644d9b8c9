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
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "\\": "\\", "/": "/"}


class ExplanationStream:
    def __init__(self):
        self.raw = ""
        self.mode: str | None = None  # None until the answer's first character: "json" or "prose"
        self.state = "seek"  # json mode: "seek" the key, then "inside" its string, then "done"
        self.pos = 0  # where decoding continues in ``raw``

    def feed(self, delta: str) -> str:
        """The readable text ``delta`` adds ("" while it is JSON structure)."""
        self.raw += delta
        if self.mode is None:
            head = self.raw.lstrip()
            if not head:
                return ""
            self.mode = "json" if head[0] in "{`" else "prose"
            if self.mode == "prose":
                return self.raw
        if self.mode == "prose":
            return delta
        if self.state == "seek":
            found = _KEY.search(self.raw)
            if found is None:
                return ""
            self.state, self.pos = "inside", found.end()
        if self.state == "inside":
            return self._decode()
        return ""

    def _decode(self) -> str:
        out: list[str] = []
        raw, i = self.raw, self.pos
        while i < len(raw):
            char = raw[i]
            if char == '"':
                self.state = "done"
                i += 1
                break
            if char != "\\":
                out.append(char)
                i += 1
                continue
            if i + 1 >= len(raw):
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
        self.pos = i
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
