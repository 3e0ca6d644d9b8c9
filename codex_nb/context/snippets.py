"""Choosing what of a relevant file goes into the context.

Small files go in whole. Large files contribute their best definitions —
functions, methods, or small classes — chosen by how many request terms they
contain, with the enclosing class line kept so that a method reads in context.
"""
from __future__ import annotations

import os
from bisect import bisect_left, bisect_right
from itertools import accumulate

from .parse import notebook_code
from .redact import redact_text
from .tokens import count_tokens, truncate_to_tokens


def read_source(root: str, rel: str) -> str | None:
    """The Python text of a file (code cells joined for a notebook), or None when unreadable."""
    try:
        with open(os.path.join(root, rel), "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    if rel.endswith(".ipynb"):
        try:
            return "\n".join(notebook_code(data)[0])
        except (ValueError, UnicodeDecodeError):
            return None
    if b"\x00" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


def _term_lines(source: str, lines: list[str], query_terms, limit: int = 24) -> dict[str, tuple[float, list[int]]]:
    """For the strongest query terms: the (1-based, sorted) line numbers where each occurs.

    Terms are stems, so a substring search ("assign" in "assignment") is the right match;
    str.find runs in C, far faster than a regex alternation over a large file.
    """
    terms = sorted(((w, t) for t, w in query_terms.items() if len(t) >= 3), reverse=True)[:limit]
    if not terms:
        return {}
    ends = list(accumulate(len(line) + 1 for line in lines))  # offset just past each line
    low = source.lower()  # lines is source.split("\n"): offsets agree
    found: dict[str, tuple[float, list[int]]] = {}
    for w, t in terms:
        at: list[int] = []
        pos = low.find(t)
        while pos != -1:
            at.append(bisect_right(ends, pos) + 1)
            pos = low.find(t, pos + len(t))
        if at:
            found[t] = (w, at)
    return found


def _numbered(lines: list[str], start: int, end: int) -> str:
    return "\n".join(lines[start - 1:end])


def file_snippet(root: str, rel: str, record: dict, query_terms, budget: int, kinds: list[str] | None = None) -> str:
    """The best part of ``rel`` that fits in ``budget`` tokens, as text with line markers."""
    source = read_source(root, rel)
    if source is None or budget < 30:
        return ""
    # before any window is cut: a key whose first line falls outside the window is still a key
    source, found = redact_text(source)
    if kinds is not None:
        kinds.extend(found)
    # code runs 3-4 characters a token: a file six times the budget cannot fit, so skip counting it
    if len(source) <= budget * 6 and count_tokens(source) <= budget:
        return source
    lines = source.split("\n")
    defs = record.get("defs") or []
    classes = {d[0]: d for d in defs if d[1] == "class" and not d[4]}
    hits = _term_lines(source, lines, query_terms)
    candidates = []
    for name, kind, start, end, parent in defs:
        size = end - start + 1
        if kind == "class" and size > 80:
            continue  # a big class is represented by its methods
        score = 0.0
        lname = name.lower()
        for t, (w, at) in hits.items():
            score += w * min(bisect_right(at, end) - bisect_left(at, start), 3)
            if t in lname:
                score += 3 * w
        if score > 0:
            candidates.append((score / (1 + size / 80), start, end, parent))
    candidates.sort(key=lambda c: (-c[0], c[1]))
    chosen: list[tuple[int, int]] = []
    used = 0
    header = record.get("doc") or ""
    if header:
        used += count_tokens(header)
    for _score, start, end, parent in candidates:
        if any(s <= start and end <= e for s, e in chosen):
            continue
        span = [(start, end)]
        if parent and parent in classes and not any(s == classes[parent][2] for s, _ in chosen):
            span.insert(0, (classes[parent][2], classes[parent][2]))
        # estimated (code runs ~3 characters a token); the section is checked exactly afterwards
        cost = sum(sum(len(ln) for ln in lines[s - 1:e]) // 3 + 6 for s, e in span)
        if used + cost > budget:
            if not chosen and budget - used > 60:
                # nothing fits whole: show the head of the best definition
                s, e = span[-1]
                text = truncate_to_tokens(_numbered(lines, s, e), budget - used - 10)
                return f"# lines {s}-{e}\n{text}"
            continue
        chosen.extend(span)
        used += cost
    if not chosen:
        return truncate_to_tokens(source, budget)
    parts = [f'"""{header}"""'] if header else []
    last = 0
    for s, e in sorted(set(chosen)):
        if s <= last:
            continue
        parts.append(f"# lines {s}-{e}")
        parts.append(_numbered(lines, s, e))
        last = e
    return "\n".join(parts)


OUTLINE_MARK = "# outline (signatures only)"


def file_outline(root: str, rel: str, record: dict, query_terms, budget: int, kinds: list[str] | None = None) -> str:
    """The signature lines of ``rel``'s most relevant definitions (a map entry), within ``budget`` tokens.

    For files ranked below the ones shown with their code: the model sees what the file defines and
    where, and can ask for more. Definitions whose names or bodies carry request terms come first,
    then the file's top-level ones; they are shown in file order, methods under their class line.
    """
    defs = record.get("defs") or []
    if budget < 20 or not defs:
        return ""
    source = read_source(root, rel)
    if source is None:
        return ""
    lines = source.split("\n")
    hits = _term_lines(source, lines, query_terms, limit=12)
    scored = []
    for k, (name, kind, start, end, parent) in enumerate(defs):
        lname = name.lower()
        score = 0.0
        for t, (w, at) in hits.items():
            inside = bisect_right(at, end) - bisect_left(at, start)
            score += w * (3 * (t in lname) + min(inside, 3) / (1 + (end - start) / 80))
        # top-level definitions next, in file order; nested ones only when they match
        scored.append((-score, 0 if not parent else 1, k))
    scored.sort()
    classes = {d[0]: d for d in defs if d[1] == "class" and not d[4]}
    picked: set[int] = set()
    used = count_tokens(OUTLINE_MARK)
    for neg, nested, k in scored:
        if neg == 0 and nested:
            continue
        name, _kind, start, _end, parent = defs[k]
        wanted = [start]
        if parent and parent in classes:
            wanted.insert(0, classes[parent][2])
        new = [n for n in wanted if n not in picked and 0 < n <= len(lines)]
        cost = sum(len(lines[n - 1]) // 3 + 2 for n in new)  # ~3 characters a token; checked exactly below
        if used + cost > budget:
            if used > budget * 0.8:
                break
            continue
        picked.update(new)
        used += cost
    if not picked:
        return ""
    rows = [f"{lines[n - 1].rstrip()}  # line {n}" for n in sorted(picked)]
    text = "\n".join([OUTLINE_MARK] + rows)
    while len(rows) > 1 and count_tokens(text) > budget:  # the estimate was short: drop whole lines, never cut one
        rows.pop()
        text = "\n".join([OUTLINE_MARK] + rows)
    # Only these lines leave the file, so only they are redacted (a whole-file pass per outline would cost
    # more than the rest of the context); a def or class line is code the parser read, never the inside
    # of a multi-line string or key block, and the section is redacted once more as a whole.
    text, found = redact_text(text)
    if kinds is not None:
        kinds.extend(found)
    return truncate_to_tokens(text, budget) if count_tokens(text) > budget else text
