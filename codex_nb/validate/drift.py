"""Output drift: did cells the edit did not touch produce different outputs?

Compared per cell: error versus no error (and the exception name), the text of
streams and ``text/plain`` results, which MIME types a result carries, and the
pixel size of PNG images. Image bytes, HTML and widget state are not compared:
they change between runs of the same code (timestamps, ids, anti-aliasing) and
would drown real changes. Memory addresses (``at 0x7f…``) are normalised away.
A cell that has no stored outputs (never run) has nothing to drift from.
"""
from __future__ import annotations

import base64
import difflib
import re
import struct

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,16}")
_TIMING_MAGICS = re.compile(r"^\s*%{1,2}(time|timeit|prun)\b", re.MULTILINE)
_DETAIL_CHARS = 200
_DIFF_LINES = 8
_DIFF_LINE_CHARS = 120


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in _ADDRESS.sub("0x…", text).strip().splitlines())


def _png_size(data) -> tuple[int, int] | None:
    head = "".join(_text(data).split())[:64]
    try:
        raw = base64.b64decode(head[: len(head) - len(head) % 4])
    except ValueError:
        return None
    if raw[:8] != b"\x89PNG\r\n\x1a\n" or len(raw) < 24:
        return None
    return struct.unpack(">II", raw[16:24])


def summarise(outputs: list) -> dict:
    """The comparable part of a cell's outputs."""
    error = None
    streams: dict[str, str] = {}
    results: list[dict] = []
    for out in outputs or []:
        kind = out.get("output_type")
        if kind == "error":
            error = out.get("ename")
        elif kind == "stream":
            name = out.get("name", "stdout")
            streams[name] = streams.get(name, "") + _text(out.get("text"))
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            results.append({
                "mimetypes": sorted(data),
                "text": _normalise(_text(data.get("text/plain", ""))) if "text/plain" in data else None,
                "png": _png_size(data["image/png"]) if "image/png" in data else None,
            })
    return {"error": error, "streams": {k: _normalise(v) for k, v in streams.items()}, "results": results}


def _short(text: str) -> str:
    text = text if len(text) <= _DETAIL_CHARS else text[:_DETAIL_CHARS] + "…"
    return text.replace("\n", "⏎")


def small_diff(old: str, new: str) -> list[str]:
    """A few ``-old`` / ``+new`` lines showing where two texts differ."""
    lines = [line for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
             if not line.startswith(("---", "+++", "@@"))]
    shown = [line if len(line) <= _DIFF_LINE_CHARS else line[:_DIFF_LINE_CHARS - 1] + "…"
             for line in lines[:_DIFF_LINES]]
    if len(lines) > _DIFF_LINES:
        shown.append(f"… {len(lines) - _DIFF_LINES} more changed line(s)")
    return shown


def compare_cell(stored: list, new: list, *, compare_text: bool = True) -> list[dict]:
    """Differences between a cell's stored and new outputs, as ``{"kind", "detail"}`` items."""
    old, now = summarise(stored), summarise(new)
    found = []
    if old["error"] != now["error"]:
        if old["error"] is None:
            found.append({"kind": "error_appeared", "detail": f"now raises {now['error']}"})
        elif now["error"] is None:
            found.append({"kind": "error_gone", "detail": f"no longer raises {old['error']}"})
        else:
            found.append({"kind": "error_changed", "detail": f"raises {now['error']} instead of {old['error']}"})
    if compare_text:
        for name in sorted(set(old["streams"]) | set(now["streams"])):
            a, b = old["streams"].get(name, ""), now["streams"].get(name, "")
            if a != b:
                found.append({"kind": "text_changed", "detail": f"{name} was {_short(a)!r}, now {_short(b)!r}",
                              "diff": small_diff(a, b)})
    if len(old["results"]) != len(now["results"]):
        found.append({"kind": "output_count",
                      "detail": f"{len(old['results'])} results before, {len(now['results'])} now"})
    for i, (a, b) in enumerate(zip(old["results"], now["results"])):
        if a["mimetypes"] != b["mimetypes"]:
            found.append({"kind": "mime_changed",
                          "detail": f"result {i + 1} was {', '.join(a['mimetypes'])}; now {', '.join(b['mimetypes'])}"})
        if compare_text and a["text"] is not None and b["text"] is not None and a["text"] != b["text"]:
            found.append({"kind": "text_changed",
                          "detail": f"result {i + 1} was {_short(a['text'])!r}, now {_short(b['text'])!r}",
                          "diff": small_diff(a["text"], b["text"])})
        if a["png"] and b["png"] and a["png"] != b["png"]:
            found.append({"kind": "shape_changed",
                          "detail": f"image {i + 1} was {a['png'][0]}×{a['png'][1]} px, now {b['png'][0]}×{b['png'][1]} px"})
    return found


def is_compared(cell, edited: set[str]) -> bool:
    """Whether a cell's new outputs, once it has run, are compared with its stored ones."""
    if cell.get("cell_type") != "code" or cell.get("id") in edited:
        return False
    return cell.get("execution_count") is not None or bool(cell.get("outputs"))


def output_drift(nb, new_outputs: dict[str, list], edited: set[str]) -> list[dict]:
    """Drift of every executed, unedited cell that has stored outputs, in notebook order."""
    drift = []
    for index, cell in enumerate(nb.cells):
        cid = cell.get("id")
        if cid not in new_outputs or not is_compared(cell, edited):
            continue
        timing = bool(_TIMING_MAGICS.search(cell.get("source", "")))
        for item in compare_cell(cell.get("outputs", []), new_outputs[cid], compare_text=not timing):
            drift.append({"cell_id": cid, "index": index, **item})
    return drift
