"""Turning code and questions into the same search terms.

Identifiers are split at snake_case and camelCase boundaries and each part is
lightly stemmed, so "NamesConsumer", "names_consumer" and "consumers of names"
meet on the terms {name, consumer}. The whole identifier is kept as a term too,
which makes an exact mention much stronger than a coincidence of parts.
Kebab-case phrases ("used-before-assignment", "--max-line-length") are kept
whole: in linters, CLIs and configs they are the names people quote.
"""
from __future__ import annotations

import re
from collections import Counter

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PHRASE = re.compile(r"(?<![\w\-])-{0,2}([a-z][a-z0-9]*(?:-[a-z0-9]+)+)(?![\w\-])")
# in code, only whole quoted strings count as phrases ("used-before-assignment", "--output-format")
QUOTED_PHRASE = re.compile(r"[\"']-{0,2}([a-z][a-z0-9]*(?:-[a-z0-9]+)+)[\"']")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")

STOPWORDS = frozenset("""
a an and are as at be been but by can could did do does for from had has have how i if in into is it its
just may me might more most must my no nor not of on or our out over own so some such than that the their
them then there these they this those through to too under up very was we were what when where which while
who whom why will with would you your also only both each few other same should all any via per use used
using uses get gets set sets new make makes made let like need needs want wants
self cls def class return import none true false pass elif else try except finally raise lambda yield
global nonlocal assert del async await str int float bool list dict tuple args kwargs
""".split())


def stem(word: str) -> str:
    """A very light English stemmer: plural and verb endings only (fast, predictable)."""
    n = len(word)
    if n > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if n > 4 and word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if n > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    if n > 5 and word.endswith("ing"):
        return word[:-3]
    if n > 4 and word.endswith("ed") and not word.endswith("eed"):
        return word[:-2]
    return word


_split_memo: dict[str, tuple[str, ...]] = {}


def split_identifier(ident: str) -> tuple[str, ...]:
    """'NamesConsumer' -> ('namesconsumer', 'name', 'consumer'); stopword parts dropped."""
    got = _split_memo.get(ident)
    if got is not None:
        return got
    lower = ident.lower().strip("_")
    if lower == ident and "_" not in lower:
        # the common case, a plain lower-case word: no regex needed
        result = (stem(lower),) if len(lower) > 1 and lower not in STOPWORDS else ()
        if len(_split_memo) < 500_000:
            _split_memo[ident] = result
        return result
    out: list[str] = []
    if len(lower) > 1 and lower not in STOPWORDS:
        out.append(lower)
    if ident.islower() or not any(c.isalpha() for c in ident):
        parts = [c for c in ident.split("_") if c]
    else:
        parts = [p for chunk in ident.split("_") if chunk for p in _CAMEL.findall(chunk)]
    if len(parts) > 1 or (parts and parts[0].lower() != lower):
        for p in parts:
            pl = p.lower()
            if len(pl) > 1 and pl not in STOPWORDS and not pl.isdigit():
                out.append(stem(pl))
    elif out and not ident.isupper():
        out[0] = stem(out[0])
    result = tuple(out)
    if len(_split_memo) < 500_000:  # bounded: a pathological repository must not eat memory
        _split_memo[ident] = result
    return result


def identifier_counts(text: str) -> Counter:
    """Raw identifier occurrences in a text (case kept)."""
    return Counter(IDENT.findall(text))


def terms_from_counts(raw: Counter | dict) -> dict[str, int]:
    """Term counts from identifier counts (the hot loop of indexing: memo lookups inlined)."""
    out: dict[str, int] = {}
    memo = _split_memo
    get = out.get
    for ident, n in raw.items():
        parts = memo.get(ident)
        if parts is None:
            parts = split_identifier(ident)
        for t in parts:
            out[t] = get(t, 0) + n
    return out


def text_terms(text: str) -> dict[str, int]:
    return terms_from_counts(identifier_counts(text))


def phrases(text: str) -> list[str]:
    """Kebab-case phrases, without leading dashes: '--max-line-length' -> 'max-line-length'."""
    return PHRASE.findall(text)


def quoted_phrases(code: str) -> list[str]:
    return QUOTED_PHRASE.findall(code) if "-" in code else []


def path_terms(rel: str) -> Counter:
    """Terms of a path: directory and file names split like identifiers, plus whole kebab names."""
    stemless = rel.rsplit(".", 1)[0] if rel.endswith((".py", ".pyi", ".ipynb")) else rel
    out = Counter(text_terms(stemless.replace("-", "_")))
    for part in stemless.split("/"):
        if "-" in part:
            out[part.lower()] += 1
    return out


def looks_like_identifier(word: str) -> bool:
    """Words a person writes when they mean a symbol: snake_case, CamelCase, dotted, or call syntax."""
    if "_" in word.strip("_"):
        return True
    if re.search(r"[a-z][A-Z]", word) or re.match(r"[A-Z][a-z]+[A-Z]", word):
        return True
    return False
