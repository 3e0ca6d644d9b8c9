"""Embedded provider throughput vs raw xllamacpp, and CLI start-up (--help, apply --dry-run) vs `python -c pass`.

Both sides run in this process/run on the same GGUF file and prompt, so the
ratios compare our overhead (thread + queue + event objects) with the library
alone. Goals: tokens/s ratio ≥ 0.9; CLI start-up reported as a ratio.

    python benchmarks/bench_embedded.py [--rounds 3] [--tokens 128]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

PROMPT = [{"role": "user", "content": "Write a short Python function that returns the squares of a list of numbers."}]


def raw_tokens_per_second(server, max_tokens: int) -> float:
    counted = []

    def on_chunk(chunk):
        for choice in chunk.get("choices", ()):
            if (choice.get("delta") or {}).get("content"):
                counted.append(1)
        return False

    start = time.perf_counter()
    server.handle_chat_completions({"messages": PROMPT, "max_tokens": max_tokens, "temperature": 0.0,
                                    "stream": True}, on_chunk)
    return len(counted) / (time.perf_counter() - start)


def provider_tokens_per_second(provider, max_tokens: int) -> float:
    from codex_nb.providers.base import TextDelta

    start = time.perf_counter()
    n = sum(1 for e in provider.stream(PROMPT, max_tokens=max_tokens, temperature=0.0) if isinstance(e, TextDelta))
    return n / (time.perf_counter() - start)


def startup_seconds(cmd: list[str], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=128)
    args = ap.parse_args()

    from codex_nb.providers.local_provider import LocalProvider, load_server, resolve_gguf

    provider = LocalProvider()
    server = load_server(resolve_gguf(""), provider.n_ctx)  # the same loaded model for both sides
    raw_tokens_per_second(server, 8)  # warm-up
    raw, ours = [], []
    for _ in range(args.rounds):  # interleaved so drift in machine load hits both sides
        raw.append(raw_tokens_per_second(server, args.tokens))
        ours.append(provider_tokens_per_second(provider, args.tokens))
    r, o = statistics.median(raw), statistics.median(ours)
    print(f"embedded tokens/s: raw xllamacpp {r:.1f}  codex-nb provider {o:.1f}  ratio {o / r:.3f}  (goal >= 0.9)")

    base = startup_seconds([sys.executable, "-c", "pass"], args.rounds + 2)
    cli = startup_seconds([sys.executable, "-m", "codex_nb", "--help"], args.rounds + 2)
    print(f"start-up: python -c pass {base * 1000:.0f} ms  codex-nb --help {cli * 1000:.0f} ms  "
          f"ratio {cli / base:.2f}  added {1000 * (cli - base):.0f} ms")
    # A command that reads a notebook: what a person waits for before the diff is on screen.
    import json
    import shutil
    import tempfile
    from pathlib import Path

    here = Path(tempfile.mkdtemp(prefix="codex-nb-bench-"))
    notebook = here / "quickstart.ipynb"
    notebook.write_bytes((Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb").read_bytes())
    proposal = here / "proposal.json"
    proposal.write_text(json.dumps({"version": 1, "id": "p-bench", "explanation": "",
                                    "edits": [{"op": "insert", "new_id": "bench1", "source": "y = 2"}]}))
    try:
        dry = startup_seconds([sys.executable, "-m", "codex_nb", "apply", str(notebook), str(proposal), "--dry-run"],
                              args.rounds + 2)
    finally:
        shutil.rmtree(here, ignore_errors=True)
    print(f"codex-nb apply --dry-run {dry * 1000:.0f} ms  ratio to python -c pass {dry / base:.2f}  "
          f"added {1000 * (dry - base):.0f} ms")


if __name__ == "__main__":
    main()
