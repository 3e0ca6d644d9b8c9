"""Ranking repository files for a request.

score = BM25F over path / definition / docstring / text / phrase fields
      + a bonus for files that define an identifier the request names
      then × a prior (tests and docs count less unless the request is about them)
      + personalised PageRank over the import/use graph, seeded by the text
        scores before the prior (a test that matches well points at the module
        it exercises) and by the notebook's imports and traceback frames.
PageRank runs as a local "push" approximation, so its cost depends on the
neighbourhood of the seeds, not on the size of the repository.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from .index import RepoIndex
from .terms import IDENT, looks_like_identifier, phrases, split_identifier

K1 = 1.2
MENTION_BONUS = 0.6  # share of the best text score given for defining a named identifier
PPR_WEIGHT = 0.5  # weight of the normalised PageRank score in the final score
PPR_ALPHA = 0.25  # restart probability
PPR_SEEDS = 30
MAX_QUERY_TERMS = 80  # the strongest terms of request + notebook; the tail adds time, not accuracy
PRIOR_SECONDARY = 0.35  # tests/, docs/, examples/ when the request is not about them

_TEST_PARTS = re.compile(r"(^|/)(tests?|testing)(/|$)|(^|/)test_[^/]*$|_tests?\.py$|(^|/)conftest\.py$")
_HEXISH = re.compile(r"(?=[a-f]*\d)[0-9a-f]{7,}")
_WORDLIKE = re.compile(r"[a-z][a-z_\-]{0,39}")
# Each starts only where the previous character cannot continue it (a look-behind), so a long run of
# word characters is scanned once, not once per position.
_DOTTED = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?![\w.])")
_FILE_NAME = re.compile(r"(?<![\w\-./])[\w\-./]+\.(?:py|pyi|ipynb)\b")
_BACKTICKED = re.compile(r"`([A-Za-z_][\w.]*)`")
_CALLED = re.compile(r"(?<![\w.])(?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*)\(")
_DOC_PARTS = re.compile(r"(^|/)(docs?|examples?|samples?|demos?|benchmarks?)(/|$)")


@dataclass
class Query:
    """What to look for: weighted terms, identifiers named outright, and files known to matter."""
    terms: Counter = field(default_factory=Counter)
    mentions: Counter = field(default_factory=Counter)  # raw identifiers -> weight
    seed_paths: Counter = field(default_factory=Counter)  # repo-relative path or module -> weight
    text: str = ""

    def add_text(self, text: str, weight: float = 1.0) -> None:
        """Terms, named modules and files, and mentioned identifiers of a request (linear in its length)."""
        self.text += "\n" + text
        for ph in phrases(text):
            self.terms[ph] += 2.0 * weight
        # commit hashes, UUIDs and other hex ids name no file
        raw = [w for w in IDENT.findall(text) if not _HEXISH.fullmatch(w)]
        for ident in raw:
            for t in split_identifier(ident):
                self.terms[t] += weight
        # a module or file named outright is a strong hint (resolved against the index when ranking)
        for name in _DOTTED.findall(text):
            self.seed_paths[name] += 0.5 * weight
        for path in _FILE_NAME.findall(text):
            self.seed_paths[path.lstrip("./")] += weight
        # looked up in sets, not searched for in the text once per identifier (that was quadratic)
        quoted = set(_BACKTICKED.findall(text))
        called = set(_CALLED.findall(text))
        for ident in set(raw) | quoted:
            base = ident.rsplit(".", 1)[-1]
            if looks_like_identifier(base) or ident in quoted or base in called:
                self.mentions[base] = max(self.mentions[base], weight)

    def add_code(self, code: str, weight: float) -> None:
        """Terms from notebook code: identifiers only, weaker than the request itself."""
        for ident, n in Counter(IDENT.findall(code)).items():
            for t in split_identifier(ident):
                self.terms[t] += weight * min(n, 3) / 3
            if len(ident) >= 4 and not ident.startswith("_"):
                self.mentions[ident] = max(self.mentions[ident], weight / 2)


@dataclass
class Ranked:
    index: int
    path: str
    score: float
    why: str


def _path_flags(index: RepoIndex) -> list[tuple[bool, bool]]:
    """(is a test, is docs/examples) per file, computed once per version of the file list."""
    cached = getattr(index, "_flags", None)
    if cached is not None and cached[0] is index.paths:
        return cached[1]
    flags = [(bool(_TEST_PARTS.search(p)), bool(_DOC_PARTS.search(p))) for p in index.paths]
    index._flags = (index.paths, flags)
    return flags


def _path_positions(index: RepoIndex) -> dict[str, int]:
    cached = getattr(index, "_positions", None)
    if cached is not None and cached[0] is index.paths:
        return cached[1]
    positions = {p: i for i, p in enumerate(index.paths)}
    index._positions = (index.paths, positions)
    return positions


def _prior(flags: tuple[bool, bool], about_tests: bool, about_docs: bool) -> float:
    if flags[0] and not about_tests:
        return PRIOR_SECONDARY
    if flags[1] and not about_docs:
        return PRIOR_SECONDARY
    return 1.0


def _query_terms(index: RepoIndex, terms: Counter, max_terms: int) -> list[tuple[float, str, dict]]:
    """(weight x idf, term, postings) of the strongest query terms found in the index."""
    n = max(len(index.paths), 1)
    out = []
    for t, qw in terms.items():
        post = index.postings.get(t)
        if post:
            idf = math.log(1.0 + (n - len(post) + 0.5) / (len(post) + 0.5))
            out.append((qw * idf, t, post))
    out.sort(key=lambda x: (-x[0], x[1]))
    return out[:max_terms]


def _text_scores(weighted: list[tuple[float, str, dict]]) -> dict[int, float]:
    scores: dict[int, float] = {}
    get = scores.get
    for weight, _t, post in weighted:
        for i, tfw in post.items():
            scores[i] = get(i, 0.0) + weight * tfw / (K1 + tfw)
    return scores


def _contributions(weighted: list[tuple[float, str, dict]], i: int) -> list[tuple[float, str]]:
    """Which query terms made file ``i`` score, strongest first (computed for listed files only)."""
    out = []
    for weight, t, post in weighted:
        tfw = post.get(i)
        if tfw:
            out.append((weight * tfw / (K1 + tfw), t))
    return out


def personalised_pagerank(edges: list[dict[int, float]], seeds: dict[int, float], *,
                          alpha: float = PPR_ALPHA, eps: float = 3e-4) -> dict[int, float]:
    """Approximate PPR by forward push (Andersen, Chung & Lang 2006): touches only nodes near the seeds."""
    total = sum(seeds.values())
    if total <= 0:
        return {}
    residual = {i: w / total for i, w in seeds.items()}
    estimate: dict[int, float] = {}
    queue = [i for i, r in residual.items() if r > eps]
    steps = 0
    while queue and steps < 200_000:
        u = queue.pop()
        r = residual.get(u, 0.0)
        out = edges[u]
        deg = len(out) or 1
        if r <= eps * deg:
            continue
        estimate[u] = estimate.get(u, 0.0) + alpha * r
        residual[u] = 0.0
        if not out:
            continue
        wsum = sum(out.values())
        spread = (1.0 - alpha) * r / wsum
        for v, w in out.items():
            before = residual.get(v, 0.0)
            after = before + spread * w
            residual[v] = after
            if after > eps * (len(edges[v]) or 1) >= before:
                queue.append(v)
        steps += 1
    return estimate


def rank_files(index: RepoIndex, query: Query, *, top: int = 20) -> list[Ranked]:
    lowered = query.text.lower()
    about_tests = bool(re.search(r"\btests?\b|\btesting\b|pytest|unittest|fixture", lowered))
    about_docs = bool(re.search(r"\bdoc(s|umentation)?\b|\bexamples?\b|\bbenchmarks?\b", lowered))
    weighted = _query_terms(index, query.terms, MAX_QUERY_TERMS)
    text = _text_scores(weighted)
    best = max(text.values(), default=0.0) or 1.0
    base = {i: s / best for i, s in text.items()}
    defined_by: dict[int, list[str]] = {}
    for ident, w in query.mentions.items():
        files = index.defines.get(ident)
        if files and len(files) <= 5:
            for i in files:
                base[i] = base.get(i, 0.0) + MENTION_BONUS * w / len(files) ** 0.5
                defined_by.setdefault(i, []).append(ident)
    seeds = dict(sorted(base.items(), key=lambda kv: -kv[1])[:PPR_SEEDS])
    seeded_by: dict[int, str] = {}
    by_path = _path_positions(index)
    for key, w in query.seed_paths.items():
        i = by_path.get(key)
        if i is None:
            i = index.modules.get(key)
        if i is None:
            continue
        seeds[i] = seeds.get(i, 0.0) + w
        base[i] = base.get(i, 0.0) + 0.5 * w
        seeded_by[i] = key
    ppr = personalised_pagerank(index.edges, seeds)
    top_ppr = max(ppr.values(), default=0.0) or 1.0
    flags = _path_flags(index)
    final: dict[int, float] = {}
    for i in set(base) | set(ppr):
        s = base.get(i, 0.0) + PPR_WEIGHT * ppr.get(i, 0.0) / top_ppr
        final[i] = s * _prior(flags[i], about_tests, about_docs)
    order = sorted(final, key=lambda i: (-final[i], index.paths[i]))
    if len(order) < top:
        # no match is still an answer: fill with the most central files
        seen = set(order)
        indeg: Counter = Counter()
        for out in index.edges:
            indeg.update(out.keys())
        rest = sorted((i for i in range(len(index.paths)) if i not in seen),
                      key=lambda i: (-indeg[i] * _prior(flags[i], about_tests, about_docs), index.paths[i]))
        order.extend(rest[: top - len(order)])
    out = []
    for i in order[:top]:
        out.append(Ranked(i, index.paths[i], round(final.get(i, 0.0), 4),
                          _why(index, i, _contributions(weighted, i), defined_by.get(i), seeded_by.get(i), ppr.get(i, 0) / top_ppr)))
    return out


def _why(index: RepoIndex, i: int, contrib: list, defines: list[str] | None, seeded: str | None,
         ppr: float) -> str:
    reasons = []
    if seeded:
        reasons.append(f"used by the notebook ({seeded})")
    if defines:
        reasons.append("defines " + ", ".join(sorted(set(defines))[:3]))
    if contrib:
        # only word-like terms: a long alphanumeric term could be a fragment of a key
        terms = [t for _s, t in sorted(contrib, key=lambda x: -x[0]) if _WORDLIKE.fullmatch(t)][:4]
        if terms:
            reasons.append("mentions " + ", ".join(terms))
    if ppr > 0.1 and not contrib:
        reasons.append("imported or used by relevant files")
    return "; ".join(reasons) or "central file (no direct match)"
