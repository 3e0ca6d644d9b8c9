from __future__ import annotations

import asyncio
import codecs
import gc
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from tornado.web import HTTPError

from codex_nb.config import CodexNB
from codex_nb.server import base, heap
from codex_nb.server.sliced_json import SlicedResult, parse_sliced

MB = 1024 * 1024
RUNS = 3
MAX_VALUES = CodexNB().max_request_values


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


async def longest_gap(work) -> tuple[float, float, float]:
    """(longest loop gap, longest gap in the loop thread's own CPU time, wall time) while ``work()`` runs.

    The CPU-time gap is what the loop itself did between two turns: on a loaded machine the wall
    gap also counts the time the process waited for a core."""
    gaps, cpu_gaps = [0.0], [0.0]
    done = asyncio.Event()

    async def tick():
        last, last_cpu = time.perf_counter(), time.thread_time()
        while not done.is_set():
            await asyncio.sleep(0)
            now, now_cpu = time.perf_counter(), time.thread_time()
            gaps.append(now - last)
            cpu_gaps.append(now_cpu - last_cpu)
            last, last_cpu = now, now_cpu

    ticker = asyncio.ensure_future(tick())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    await work()
    wall = time.perf_counter() - started
    done.set()
    await ticker
    return max(gaps), max(cpu_gaps), wall


async def old_sliced(raw: bytes):
    """The sliced parse as it was before pieces and held collections (kept here to compare in one run)."""
    decoder, pieces = codecs.getincrementaldecoder("utf-8")(), []
    for start in range(0, len(raw), MB):
        pieces.append(decoder.decode(raw[start:start + MB], final=start + MB >= len(raw)))
        await asyncio.sleep(0)
    text = "".join(pieces)
    result = SlicedResult()
    slice_ends = time.perf_counter() + base._SLICE_SECONDS
    for _ in parse_sliced(text, "the request body", result):
        if time.perf_counter() >= slice_ends:
            await asyncio.sleep(0)
            slice_ends = time.perf_counter() + base._SLICE_SECONDS
    return result.value


def before(raw):
    async def work():
        tree = await old_sliced(raw)
        del tree  # the request ends: freed at once
    return work


def after(raw, max_values):
    async def work():
        release = heap.hold_full_collections()
        try:
            tree = await base.parse_body_async(raw, max_values=max_values)
        except HTTPError:
            release()  # refused: what was read so far is being freed in slices, timed here too
            while base._freeing:
                await asyncio.sleep(0)
            return
        holder = [tree]
        del tree
        await base.free_in_slices(holder.pop(), then=release)  # the only reference, as on_finish hands it over
    return work


def in_thread(pool, raw):
    async def work():
        tree = await asyncio.get_running_loop().run_in_executor(pool, base.parse_body, raw)
        del tree
    return work


async def main() -> None:
    pool = ThreadPoolExecutor(2)
    print(f"median of {RUNS} runs: the longest loop gap while a body is parsed and freed, in wall ms and in"
          " the loop thread's CPU ms (wall/cpu); wall time of the whole parse and free (s)")
    print(f"{'body':>18} {'thread':>12} {'before':>12} {'after':>12} {'after, no cap':>14}"
          f" {'before/after wall, cpu':>23} {'before s':>9} {'after s':>8}")
    cases = [(f"notebook {n} MB", notebook_body(n * MB)) for n in (1, 4, 8, 16)]
    cases.append(("empty arrays 4 MB", empty_arrays_body(4 * MB)))
    for name, raw in cases:
        assert await base.parse_body_async(raw) == base.parse_body(raw)
        rows = {"thread": [], "before": [], "after": [], "uncapped": []}
        for _ in range(RUNS):
            for key, work in (("thread", in_thread(pool, raw)), ("before", before(raw)),
                              ("after", after(raw, MAX_VALUES)), ("uncapped", after(raw, None))):
                gc.collect()
                rows[key].append(await longest_gap(work))
        gap = {k: statistics.median(r[0] for r in v) * 1e3 for k, v in rows.items()}
        cpu = {k: statistics.median(r[1] for r in v) * 1e3 for k, v in rows.items()}
        wall = {k: statistics.median(r[2] for r in v) for k, v in rows.items()}
        cell = {k: f"{gap[k]:.1f}/{cpu[k]:.1f}" for k in rows}
        print(f"{name:>18} {cell['thread']:>12} {cell['before']:>12} {cell['after']:>12} {cell['uncapped']:>14}"
              f" {gap['before'] / gap['after']:>14.1f}, {cpu['before'] / max(cpu['after'], 1e-3):>5.1f}"
              f" {wall['before']:9.2f} {wall['after']:8.2f}", flush=True)
        assert heap.holds() == 0
    pool.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
