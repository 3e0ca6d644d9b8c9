"""How long the server's event loop is held while it parses a request body, per body size.

A ticker task on the loop records the longest gap between its turns while a body is parsed
(1) the old way, json.loads in the thread pool, which holds the GIL and so the loop for the
whole body, and (2) the way the server does it now, ``base.parse_body_async`` (slices of the
C scanner with the loop running between them). Bodies: live-notebook shaped JSON of 1, 4 and
16 MB, and 4 MB of the slowest shape for json.loads (an array of empty arrays). The baseline is
the longest gap while a 16 KB body is parsed at once (the largest the server still parses in
one go), measured in the same run; every figure is printed with its ratio to that baseline.
Wall times are printed too, with the ratio sliced / thread (the cost of slicing). What is left
of the sliced gap on big bodies is not the parser: it is the cyclic garbage collector's full
passes over the millions of objects the body becomes, and one join of the decoded pieces.

    python benchmarks/bench_body.py
"""
from __future__ import annotations

import asyncio
import gc
import json
import time
from concurrent.futures import ThreadPoolExecutor

from codex_nb.server.base import parse_body, parse_body_async

MB = 1024 * 1024


def notebook_body(size: int) -> bytes:
    cells, total, i = [], 0, 0
    while total < size:
        source = f"frame_{i} = load('orders_{i}.csv')  # é ☃\nprint(frame_{i}.head())\n"
        cell = {"cell_type": "code", "id": f"c{i}", "source": source, "metadata": {}, "execution_count": i,
                "outputs": [{"output_type": "stream", "name": "stdout", "text": f"   a  b\n0  {i}  2\n"}]}
        cells.append(cell)
        total += len(json.dumps(cell))
        i += 1
    return json.dumps({"kind": "ask", "instruction": "explain", "path": "nb.ipynb",
                       "notebook": {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}}).encode()


def empty_arrays_body(size: int) -> bytes:
    return b'{"k": [' + b",".join([b"[]"] * (size // 3)) + b"]}"


async def longest_gap(parse) -> tuple[float, float]:
    """(longest loop gap, wall time) while ``parse()`` runs."""
    gaps = [0.0]
    done = asyncio.Event()

    async def tick():
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.ensure_future(tick())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    parsed = await parse()
    wall = time.perf_counter() - started
    done.set()
    await ticker
    del parsed  # freed after the ticker stops: this measures parsing, not freeing millions of objects
    return max(gaps), wall


async def main() -> None:
    pool = ThreadPoolExecutor(2)
    loop = asyncio.get_running_loop()

    def in_thread(raw):
        return lambda: loop.run_in_executor(pool, parse_body, raw)

    def sliced(raw):
        return lambda: parse_body_async(raw)

    small = notebook_body(16 * 1024 - 512)

    async def at_once():
        parse_body(small)

    baseline = max([(await longest_gap(at_once))[0] for _ in range(5)])
    print(f"baseline: longest loop gap while a {len(small) / 1024:.0f} KB body is parsed at once: {baseline * 1e3:.2f} ms")
    print(f"{'body':>24} {'thread gap ms':>14} {'x base':>7} {'sliced gap ms':>14} {'x base':>7}"
          f" {'thread s':>9} {'sliced s':>9} {'sliced/thread':>14}")
    cases = [(f"notebook {n} MB", notebook_body(n * MB)) for n in (1, 4, 16)]
    cases.append(("empty arrays 4 MB", empty_arrays_body(4 * MB)))
    for name, raw in cases:
        assert await parse_body_async(raw) == parse_body(raw)
        gc.collect()
        thread_gap, thread_wall = await longest_gap(in_thread(raw))
        sliced_gap, sliced_wall = await longest_gap(sliced(raw))
        print(f"{name:>24} {thread_gap * 1e3:14.1f} {thread_gap / baseline:7.1f} {sliced_gap * 1e3:14.1f}"
              f" {sliced_gap / baseline:7.1f} {thread_wall:9.2f} {sliced_wall:9.2f} {sliced_wall / thread_wall:14.2f}")
    pool.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
