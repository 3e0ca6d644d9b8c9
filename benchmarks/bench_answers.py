"""Free-text answers of the embedded model with and without the repetition stop, and what watching costs.

Same run, same questions, same notebooks, same model and settings: once as shipped, once with the stop
turned off (the baseline). Prints per side the median seconds and completion tokens per answer and how
many answers were cut; then the time ratio (goal: below 1.0 — loops no longer run to the token cap).
Then the watcher's own cost: microseconds per streamed piece over a 200,000-character answer (the
answer cap), against only collecting the pieces.

    python benchmarks/bench_answers.py [--rounds 1] [--budget 1000]
"""
from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
QUESTIONS = [
    ("quickstart.ipynb", "what does the DataFrame df contain?"),
    ("quickstart.ipynb", "explain the notebook"),
    ("quickstart.ipynb", "which files does the project have?"),
    ("fix_an_error.ipynb", "why does the merge fail?"),
    ("fix_an_error.ipynb", "what columns do orders and customers share?"),
    ("shop_project/orders.ipynb", "what does the shop package do?"),
]


def answer_all(budget: int, rounds: int) -> list[tuple[float, int, bool]]:
    from codex_nb import assistant
    from codex_nb.providers.repetition import NOTE

    out = []
    for _ in range(rounds):
        for name, question in QUESTIONS:
            start = time.perf_counter()
            result = assistant.run("ask", question, notebook=EXAMPLES / name, model="local:smollm2", budget=budget)
            out.append((time.perf_counter() - start, result.usage.completion_tokens, result.text.endswith(NOTE)))
    return out


def watch_cost(chars: int = 200_000) -> tuple[float, float]:
    """µs per piece: RepetitionStop.feed against appending to a list, on prose that never loops."""
    from codex_nb.providers.base import TextDelta
    from codex_nb.providers.repetition import RepetitionStop

    words = (Path(__file__).resolve().parents[1] / "README.md").read_text().split()
    rng, pieces, size = random.Random(1), [], 0
    while size < chars:
        piece = " " + rng.choice(words) + ("\n" if rng.random() < 0.08 else "")
        pieces.append(TextDelta(piece))
        size += len(piece)
    start = time.perf_counter()
    kept = []
    for p in pieces:
        kept.append(p.text)
    base = (time.perf_counter() - start) / len(pieces) * 1e6
    stop = RepetitionStop(None)
    start = time.perf_counter()
    for p in pieces:
        stop.feed(p)
    watched = (time.perf_counter() - start) / len(pieces) * 1e6
    assert stop.kept is None, "prose was taken for a loop"
    return watched, base


def summary(label: str, rows) -> float:
    seconds = statistics.median(r[0] for r in rows)
    tokens = statistics.median(r[1] for r in rows)
    print(f"{label:<24} median {seconds:5.1f} s, {tokens:5.0f} completion tokens; cut {sum(r[2] for r in rows)}/{len(rows)}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--budget", type=int, default=1000, help="context tokens per question")
    args = parser.parse_args()

    from codex_nb import assistant

    assistant.run("ask", "hello", model="local:smollm2", budget=200)  # load the model outside the figures
    guarded = answer_all(args.budget, args.rounds)
    keep = assistant._loop_stop
    assistant._loop_stop = lambda turn, cancel: None  # the baseline: answers run to their end or the cap
    try:
        unguarded = answer_all(args.budget, args.rounds)
    finally:
        assistant._loop_stop = keep
    with_stop = summary("with the repetition stop", guarded)
    without = summary("without (baseline)", unguarded)
    print(f"time ratio with / without: {with_stop / without:.2f}  (goal < 1.0)")
    watched, base = watch_cost()
    print(f"watching a 200,000-character answer: {watched:.2f} µs per piece vs {base:.2f} µs collecting only")


if __name__ == "__main__":
    main()
