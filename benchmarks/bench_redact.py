"""Redacting and ranking a big attachment must be linear in its size.

Times ``redact_text`` followed by ``Query.add_text`` (what a request does with an attached
variable summary or file) on 1, 2 and 4 MB of mixed text — code, prose, long identifier runs,
URLs and secrets — and prints each time with the ratio to the previous size. Linear work gives
about 2.0 per doubling; a quadratic step would give 4.0. CPU time (process_time) is measured: on a
shared machine wall-clock time mostly measures the neighbours.

    python benchmarks/bench_redact.py
"""
from __future__ import annotations

import random
import string
import time

from codex_nb.context.rank import Query
from codex_nb.context.redact import redact_text

MB = 1024 * 1024


def sample(size: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    pieces = [
        "def load_orders(path):\n    return pd.read_csv(path)\n",
        "The merge in `clean_orders` drops rows when the key is missing.\n",
        "engine = create_engine('postgresql://admin:pa/ss@db.internal:5432/sales')\n",
        "password: Hunter-Two-Example\nAuthorization: Bearer abcdefghijklmnopqrstuvwx\n",
        "see src/app/models.py and app.models.Order for the schema\n",
        "".join(rng.choices(string.ascii_letters + string.digits, k=2000)) + "\n",  # a long word run
        "x" * 5000 + " ",
    ]
    out, n = [], 0
    while n < size:
        piece = rng.choice(pieces)
        out.append(piece)
        n += len(piece)
    return "".join(out)[:size]


def measure(text: str, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        clean, _kinds = redact_text(text)
        Query().add_text(clean)
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    previous = None
    print("size   redact+rank   ratio to previous (linear ≈ 2.0)")
    for mb in (1, 2, 4):
        seconds = measure(sample(mb * MB))
        ratio = f"{seconds / previous:.2f}" if previous else "—"
        print(f"{mb} MB   {seconds:8.3f} s   {ratio}")
        previous = seconds


if __name__ == "__main__":
    main()
