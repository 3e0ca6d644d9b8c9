"""Inline completion: latency through the server, and usefulness on real notebooks.

    python benchmarks/bench_inline.py [--part latency|useful|both] [--requests 60] [--cases 40] [--model local:smollm2]

1. Latency.
   added    = time to the first ghost-text token through POST /codex-nb/complete on a real `jupyter
              server` subprocess, minus the same for the same model called directly (POST /v1/completions,
              streamed, to a scripted OpenAI-compatible server on loopback), same run, p50 / p99.
              Every request has a prefix of its own, so no answer comes from the cache.
   embedded = the embedded model through the same server, single-line completions (max_lines 1) while
              "typing" a cell one character at a time: consecutive prompts share their prefix, so
              llama.cpp's prompt cache is warm. End to end (request to the `done` event), p50 / p90,
              for the requests the model answered (answers served by the completion cache — the user
              typed what was suggested — are counted apart: they cost no model call).
2. Usefulness. Held-out cells of real notebooks (numpy tutorials and matplotlib tutorials, copied
   under benchmarks/data/inline/): each code cell of two or more lines is cut after line k (k = half
   its lines), and the model must produce line k+1. With context = the cells above (outputs trimmed),
   the kernel's names after running the cells above (in a fresh namespace, through codex-nb's own
   collector), and repository signatures (none here: these notebooks import only libraries); without
   = the cell alone. Same model, same run. Scores: exact match of the first line (whitespace
   stripped) and edit similarity (1 - Levenshtein distance / longer length).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "benchmarks" / "data" / "inline"
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from scripted_llm import ScriptedLLM  # noqa: E402


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))] if s else float("nan")


# -- a real jupyter server ------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path, env_extra: dict) -> tuple[subprocess.Popen, str, str]:
    token, port = uuid.uuid4().hex, free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "CODEX_NB_MODEL")}
    env.update(env_extra)
    env["PYTHONPATH"] = str(REPO)
    env["CODEX_NB_COMPLETION_STATS"] = str(root / "stats.json")
    cmd = [sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root", f"--port={port}",
           "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--ServerApp.jpserver_extensions=codex_nb=True"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=root)
    base = f"http://127.0.0.1:{port}/"
    import httpx

    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(base + "api/status", headers={"Authorization": f"token {token}"}, timeout=2)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit("jupyter server did not start")
            time.sleep(0.3)
    return proc, base, token


async def first_and_done(client, url: str, body: dict, headers: dict) -> tuple[float, float, dict]:
    """Seconds to the first text and to the end of an SSE stream; the last event's data."""
    start = time.perf_counter()
    first = None
    last: dict = {}
    async with client.stream("POST", url, json=body, headers=headers) as resp:
        resp.raise_for_status()
        event = ""
        async for line in resp.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
                if data.startswith("[DONE]"):
                    continue
                obj = json.loads(data)
                has_text = (event == "delta" and obj.get("text")) or any(c.get("text") for c in obj.get("choices") or ())
                if has_text and first is None:
                    first = time.perf_counter() - start
                if event in ("done", "cancelled", "error"):
                    last = {"event": event, **obj}
    total = time.perf_counter() - start
    return (first if first is not None else total), total, last


# -- 1. latency -----------------------------------------------------------------------------------

# What a notebook sends along while the user types in its 31st cell: 30 cells above with outputs,
# 5 below, 40 kernel names, a repository import (the context the route builds on every keystroke).
CONTEXT_BODY = {
    "path": "analysis.ipynb",
    "cells_above": [{"cell_type": "code", "source": f"from shop.pricing import apply_discount\nx{i} = apply_discount({i}.0)\nprint(x{i})",
                     "outputs": [{"output_type": "stream", "name": "stdout", "text": f"{i * 0.9}\n"}]} for i in range(30)],
    "cells_below": [{"cell_type": "markdown", "source": f"## Part {i}", "outputs": []} for i in range(5)],
    "kernel_state": {"variables": [{"name": f"x{i}", "type": "float"} for i in range(30)]
                     + [{"name": f"frame{i}", "type": "DataFrame", "shape": [100, 3], "columns": {"a": "int64", "b": "float64"}}
                        for i in range(10)]},
}


async def latency_scripted(base: str, token: str, llm: ScriptedLLM, n: int) -> dict:
    import httpx

    auth = {"Authorization": f"token {token}"}
    direct, server, with_context = [], [], []
    async with httpx.AsyncClient(timeout=60) as client:
        for i in range(n + 5):
            prefix = f"value_{i} = compute("
            order = ("direct", "server", "context") if i % 2 else ("context", "server", "direct")
            for path in order:
                if path == "direct":
                    t, _, _ = await first_and_done(client, llm.url + "/completions", {
                        "model": "scripted-model", "prompt": prefix, "suffix": "", "stream": True, "max_tokens": 32}, {})
                    if i >= 5:
                        direct.append(t)
                else:
                    extra = CONTEXT_BODY if path == "context" else {"context": False}
                    t, _, last = await first_and_done(client, base + "codex-nb/complete", {
                        "editor_id": f"bench/{path}/{i}", "prefix": prefix, "max_lines": 1, **extra}, auth)
                    assert last.get("event") == "done", last
                    if i >= 5:
                        (with_context if path == "context" else server).append(t)
                # a typing pause as long as the default debounce: requests never come closer than this,
                # and the speculative request after each answer (the model is on loopback) has finished
                await asyncio.sleep(0.25)
    return {"direct_p50_ms": 1000 * pct(direct, 50), "direct_p99_ms": 1000 * pct(direct, 99),
            "server_p50_ms": 1000 * pct(server, 50), "server_p99_ms": 1000 * pct(server, 99),
            "added_p50_ms": 1000 * (pct(server, 50) - pct(direct, 50)),
            "added_p99_ms": 1000 * (pct(server, 99) - pct(direct, 99)), "n": len(server),
            "context_added_p50_ms": 1000 * (pct(with_context, 50) - pct(direct, 50)),
            "context_added_p99_ms": 1000 * (pct(with_context, 99) - pct(direct, 99))}


TYPED_CELL = ("import numpy as np\n"
              "data = np.loadtxt('transistor_data.csv', delimiter=',', skiprows=1)\n"
              "year = data[:, 0]\n"
              "transistors = data[:, 1]\n"
              "log_transistors = np.log(transistors)\n"
              "slope, intercept = np.polyfit(year, log_transistors, 1)\n")


async def latency_embedded(base: str, token: str, n: int) -> dict:
    import httpx

    auth = {"Authorization": f"token {token}"}
    model_times, cached_times, first_times = [], [], []
    async with httpx.AsyncClient(timeout=120) as client:
        # warm-up: loads the model and fills the prompt cache
        await first_and_done(client, base + "codex-nb/complete", {
            "editor_id": "bench/typing", "prefix": TYPED_CELL[:20], "max_lines": 1, "model": "local:smollm2",
            "context": False}, auth)
        cut = 40
        for _ in range(n):
            cut = cut + 1 if cut < len(TYPED_CELL) else 40
            body = {"editor_id": "bench/typing", "prefix": TYPED_CELL[:cut], "max_lines": 1, "model": "local:smollm2",
                    "context": False}
            first, total, last = await first_and_done(client, base + "codex-nb/complete", body, auth)
            (cached_times if last.get("cached") else model_times).append(total)
            if not last.get("cached"):
                first_times.append(first)
            await asyncio.sleep(0.15)  # a typing pause; a speculation may run meanwhile, as it would in use
    return {"model_p50_ms": 1000 * pct(model_times, 50), "model_p90_ms": 1000 * pct(model_times, 90),
            "first_token_p50_ms": 1000 * pct(first_times, 50),
            "cached_p50_ms": 1000 * pct(cached_times, 50) if cached_times else None,
            "model_answers": len(model_times), "cache_answers": len(cached_times)}


async def latency_embedded_direct(n: int) -> dict:
    """The same typing run against the embedded model in this process, no server: what the model alone costs."""
    from codex_nb.completion.backends import EmbeddedBackend
    from codex_nb.completion.context import build_context
    from codex_nb.completion.service import LineLimit
    from codex_nb.providers.local_provider import bundled_gguf

    backend = EmbeddedBackend("local:smollm2", bundled_gguf())
    times, firsts = [], []

    async def one(prefix: str) -> tuple[float, float]:
        start = time.perf_counter()
        first = None
        limit = LineLimit(1, "")
        cancel = threading.Event()
        stream = backend.stream(build_context(prefix), max_tokens=32, stop=[], cancel=cancel)
        try:
            async for piece in stream:
                first = first if first is not None else time.perf_counter() - start
                limit.feed(piece)
                if limit.full:
                    cancel.set()
                    break
        finally:
            await stream.aclose()
        total = time.perf_counter() - start
        return (first if first is not None else total), total

    await one(TYPED_CELL[:20])
    cut = 40
    for _ in range(n):
        cut = cut + 1 if cut < len(TYPED_CELL) else 40
        first, total = await one(TYPED_CELL[:cut])
        times.append(total)
        firsts.append(first)
        await asyncio.sleep(0.15)
    return {"p50_ms": 1000 * pct(times, 50), "p90_ms": 1000 * pct(times, 90), "first_token_p50_ms": 1000 * pct(firsts, 50)}


# -- 2. usefulness --------------------------------------------------------------------------------

KERNEL_SNAPSHOTS = r"""
import json, sys, os, io, contextlib
import matplotlib
matplotlib.use("Agg")
from codex_nb.context.kernel import collect_kernel_state
cells = json.loads(sys.stdin.read())
ns = {"__name__": "__main__"}
snaps = []
for src in cells:
    snaps.append(collect_kernel_state(ns, max_vars=40, time_limit=0.2))
    code = "\n".join("" if l.lstrip().startswith(("%", "!")) else l for l in src.split("\n"))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, "<cell>", "exec"), ns)
    except Exception:
        pass
    import matplotlib.pyplot as plt
    plt.close("all")
print(json.dumps(snaps, default=str))
"""


def kernel_snapshots(nb_dir: Path, code_cells: list[str]) -> list[dict]:
    """The kernel state before each code cell, from running the cells above in a fresh process."""
    import shutil

    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:  # the notebooks write files: never into benchmarks/data
        work = Path(tmp) / nb_dir.name
        shutil.copytree(nb_dir, work)
        out = subprocess.run([sys.executable, "-c", KERNEL_SNAPSHOTS], input=json.dumps(code_cells), text=True,
                             capture_output=True, cwd=work, env=env, timeout=600)
    if out.returncode != 0:
        return [{} for _ in code_cells]
    return json.loads(out.stdout)


def held_out_cases(limit: int) -> list[dict]:
    cases = []
    for nb_path in sorted(DATA.glob("*/*.ipynb")):
        nb = json.loads(nb_path.read_text())
        cells = nb["cells"]
        code_cells = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                      for c in cells if c["cell_type"] == "code"]
        snaps = kernel_snapshots(nb_path.parent, code_cells)
        k_code = 0
        for i, cell in enumerate(cells):
            if cell["cell_type"] != "code":
                continue
            src = code_cells[k_code]
            snap = snaps[k_code] if k_code < len(snaps) else {}
            k_code += 1
            lines = src.rstrip().split("\n")
            if len(lines) < 2:
                continue
            k = len(lines) // 2
            target = lines[k]
            if not target.strip():
                continue
            cases.append({"notebook": nb_path.name, "prefix": "\n".join(lines[:k]) + "\n", "target": target,
                          "above": cells[max(0, i - 30):i], "below": cells[i + 1:i + 6], "kernel_state": snap})
    # round-robin over notebooks so a small --cases still spans them all
    by_nb: dict[str, list] = {}
    for c in cases:
        by_nb.setdefault(c["notebook"], []).append(c)
    picked = []
    while len(picked) < limit and any(by_nb.values()):
        for name in sorted(by_nb):
            if by_nb[name] and len(picked) < limit:
                picked.append(by_nb[name].pop(0))
    return picked


def levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def similarity(a: str, b: str) -> float:
    a, b = a.strip(), b.strip()
    if not a and not b:
        return 1.0
    return 1.0 - levenshtein(a, b) / max(len(a), len(b))


async def usefulness(model: str, limit: int) -> dict:
    from codex_nb.completion.context import NeighbourCell
    from codex_nb.completion.handlers import CompleteRequest, _build_job
    from codex_nb.completion.service import CompletionService

    cases = held_out_cases(limit)
    scores = {"with": {"exact": 0, "sim": []}, "without": {"exact": 0, "sim": []}}
    service = CompletionService()
    os.environ["CODEX_NB_MODEL"] = model

    def cell(c):
        src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        return NeighbourCell(c["cell_type"], src, c.get("outputs") or [])

    for n, case in enumerate(cases):
        for mode in ("without", "with") if n % 2 else ("with", "without"):
            req = CompleteRequest(editor_id=f"bench/{n}/{mode}", prefix=case["prefix"], path=case["notebook"],
                                  above=[cell(c) for c in case["above"]], below=[cell(c) for c in case["below"]],
                                  kernel_state=case["kernel_state"], model=model, max_lines=1,
                                  use_context=(mode == "with"))
            job, _ = _build_job(req, DATA, lambda rel: DATA / rel)
            job.backend.local = False  # no speculation: each answer is the model's own for this prompt
            outcome = await service.complete(job, lambda _t: None)
            first = outcome.text.split("\n")[0] if not outcome.text.startswith("\n") else outcome.text.strip("\n").split("\n")[0]
            scores[mode]["exact"] += first.strip() == case["target"].strip()
            scores[mode]["sim"].append(similarity(first, case["target"]))
    out = {"cases": len(cases), "notebooks": len({c["notebook"] for c in cases}), "model": model}
    for mode, s in scores.items():
        out[f"exact_{mode}"] = round(s["exact"] / max(1, len(cases)), 3)
        out[f"similarity_{mode}"] = round(statistics.mean(s["sim"]), 3) if s["sim"] else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["latency", "added", "useful", "both"], default="both",
                    help="added: only the server-added latency against the scripted model (no embedded model)")
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--typing", type=int, default=20, help="keystrokes in the embedded-model typing run")
    ap.add_argument("--cases", type=int, default=30)
    ap.add_argument("--model", default="local:smollm2", help="the model for the usefulness part")
    args = ap.parse_args()
    if args.part in ("latency", "added", "both"):
        llm = ScriptedLLM(default="compute_total(items, rate=0.2)").start()
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / ".git").mkdir()
            (root / "shop").mkdir()
            (root / "shop" / "__init__.py").write_text("")
            (root / "shop" / "pricing.py").write_text(
                "def apply_discount(price: float, rate: float = 0.1) -> float:\n    return price * (1 - rate)\n")
            proc, base, token = start_server(root, {"OPENAI_BASE_URL": llm.url, "OPENAI_API_KEY": "sk-bench",
                                                     "CODEX_NB_MODEL": "openai:scripted-model"})
            try:
                lat = asyncio.run(latency_scripted(base, token, llm, args.requests))
                print(f"latency (scripted model, n={lat['n']}): first token direct p50 {lat['direct_p50_ms']:.1f} ms "
                      f"p99 {lat['direct_p99_ms']:.1f} ms; through the server p50 {lat['server_p50_ms']:.1f} ms "
                      f"p99 {lat['server_p99_ms']:.1f} ms; added p50 {lat['added_p50_ms']:.1f} ms "
                      f"p99 {lat['added_p99_ms']:.1f} ms (goal <= 20 ms); with notebook, kernel and repository "
                      f"context added p50 {lat['context_added_p50_ms']:.1f} ms p99 {lat['context_added_p99_ms']:.1f} ms")
                if args.part == "added":
                    return
                emb = asyncio.run(latency_embedded(base, token, args.typing))
                print(f"embedded local:smollm2, single line, warm prompt cache, end to end: p50 {emb['model_p50_ms']:.0f} ms "
                      f"p90 {emb['model_p90_ms']:.0f} ms (goal p50 <= 300, p90 <= 600; first token p50 "
                      f"{emb['first_token_p50_ms']:.0f} ms; {emb['model_answers']} model answers, "
                      f"{emb['cache_answers']} from the cache"
                      + (f" at p50 {emb['cached_p50_ms']:.1f} ms)" if emb["cached_p50_ms"] is not None else ")"))
            finally:
                proc.terminate()
                proc.wait(timeout=20)
                llm.stop()
        direct = asyncio.run(latency_embedded_direct(args.typing))
        print(f"embedded local:smollm2 called directly in-process, same typing run: p50 {direct['p50_ms']:.0f} ms "
              f"p90 {direct['p90_ms']:.0f} ms (first token p50 {direct['first_token_p50_ms']:.0f} ms); "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.part in ("useful", "both"):
        use = asyncio.run(usefulness(args.model, args.cases))
        print(f"usefulness ({use['model']}, {use['cases']} held-out lines from {use['notebooks']} notebooks): "
              f"exact match {use['exact_with']:.3f} with context vs {use['exact_without']:.3f} without; "
              f"edit similarity {use['similarity_with']:.3f} vs {use['similarity_without']:.3f}")


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    # llama.cpp's threads do not survive interpreter shutdown cleanly ("exception not rethrown"):
    # everything is printed, so leave without running the finalisers.
    os._exit(0)
