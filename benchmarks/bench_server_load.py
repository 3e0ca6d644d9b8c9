"""Load test of the streaming chat route: N concurrent streamed chats through the server vs the model directly.

    python benchmarks/bench_server_load.py [--concurrency 50] [--rounds 3] [--chunks 40] [--chunk-delay 0.01] [--ramp 0]

    # the burst (all 50 start in the same millisecond, 0.4 s answers):
    python benchmarks/bench_server_load.py
    # chat-like: 3 s answers, the 50 chats arriving over 2 s:
    python benchmarks/bench_server_load.py --chunks 100 --chunk-delay 0.03 --ramp 2

A ScriptedLLM (a real OpenAI-compatible HTTP server on 127.0.0.1) streams the same
answer to every request. Two paths are timed, each with N requests in flight at once:

direct   = the official `openai` SDK (AsyncOpenAI, stream=True) against the scripted model:
           what a client calling the model itself would see.
pipeline = codex_nb.assistant.arun("ask", …) as N coroutines in this process: the same work the
           route does (config, provider, context, async stream) without the server around it.
server = POST {base}/codex-nb/chat (kind "ask", a small notebook) on a real `jupyter server`
         subprocess with the codex_nb extension; the route builds context, calls the same
         model through the provider in its thread pool and relays deltas as Server-Sent Events.

Latency is request start → last byte (the `done` event / the last chunk), and start → first
text, each measured from the request's own start (with --ramp, request i starts at
i * ramp / N). "added" is server minus direct, and server minus pipeline (what the server itself adds:
HTTP, SSE relay, thread hand-off, history), at p50 / p99; the goal is p99 added ≤ 50 ms.
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
import time
import uuid
from pathlib import Path

import httpx
import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from scripted_llm import ScriptedLLM  # noqa: E402


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(q / 100 * (len(s) - 1))))
    return s[k]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path, llm: ScriptedLLM, workers: int) -> tuple[subprocess.Popen, str, str]:
    token, port = uuid.uuid4().hex, free_port()
    config = root.parent / "config"
    config.mkdir(exist_ok=True)
    (config / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {"jpserver_extensions": {"codex_nb": True}}}))
    env = {**os.environ, "OPENAI_BASE_URL": llm.url, "OPENAI_API_KEY": "sk-bench", "CODEX_NB_MODEL": "openai:scripted-model",
           "JUPYTER_CONFIG_DIR": str(config), "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "CODEX_NB_SERVER_WORKERS": str(workers), "CODEX_NB_AUDIT_LOG": str(root.parent / "audit.jsonl")}
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root", f"--port={port}",
                             "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
                             "--ServerApp.log_level=WARN"],
                            env=env, stdout=subprocess.DEVNULL, stderr=open(root.parent / "server.log", "wb"))
    base = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}api/status", headers={"Authorization": f"token {token}"}, timeout=2).raise_for_status()
            return proc, base, token
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit(f"jupyter server did not start; see {root.parent / 'server.log'}")
            time.sleep(0.3)


async def one_direct(client, model: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    first = None
    stream = await client.chat.completions.create(model=model, stream=True,
                                                  messages=[{"role": "user", "content": "explain the notebook"}])
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - t0
    return first or 0.0, time.perf_counter() - t0


async def one_server(client: httpx.AsyncClient, base: str, token: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    first = None
    body = {"kind": "ask", "instruction": "explain the notebook", "path": "bench.ipynb"}
    done = False
    async with client.stream("POST", f"{base}codex-nb/chat", json=body,
                             headers={"Authorization": f"token {token}"}) as resp:
        resp.raise_for_status()
        failed = False
        async for line in resp.aiter_lines():
            if first is None and line.startswith("event: delta"):
                first = time.perf_counter() - t0
            if line.startswith("event: done"):
                done = True
            if line.startswith("event: error"):
                failed = True
            elif failed and line.startswith("data:"):
                raise RuntimeError(f"server chat failed: {line[5:].strip()}")
    if not done:
        raise RuntimeError("the stream ended without a done event")
    return first or 0.0, time.perf_counter() - t0


async def _later(i: int, n: int, ramp: float, make):
    if ramp:
        await asyncio.sleep(i * ramp / n)
    return await make()


async def run_round(kind: str, n: int, llm: ScriptedLLM, answer: str, chunk: int, delay: float, base=None, token=None,
                    ramp: float = 0.0):
    for _ in range(n):
        llm.queue(answer, chunk_size=chunk, chunk_delay=delay)
    if kind == "pipeline":
        return await asyncio.gather(*[_later(i, n, ramp, lambda: one_pipeline(base)) for i in range(n)])
    if kind == "direct":
        from openai import AsyncOpenAI

        client = AsyncOpenAI(base_url=llm.url, api_key="sk-bench", max_retries=0)
        results = await asyncio.gather(*[_later(i, n, ramp, lambda: one_direct(client, "scripted-model")) for i in range(n)])
        await client.close()
    else:
        limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            results = await asyncio.gather(*[_later(i, n, ramp, lambda: one_server(client, base, token)) for i in range(n)])
    return results


async def one_pipeline(notebook: str) -> tuple[float, float]:
    from codex_nb import assistant

    t0 = time.perf_counter()
    first: list[float] = []

    def on_delta(text: str) -> None:
        if not first and text:
            first.append(time.perf_counter() - t0)

    await assistant.arun("ask", "explain the notebook", notebook=notebook, on_delta=on_delta)
    return (first[0] if first else 0.0), time.perf_counter() - t0


def summarise(samples: list[tuple[float, float]]) -> dict:
    firsts, totals = [s[0] * 1000 for s in samples], [s[1] * 1000 for s in samples]
    return {"n": len(samples), "total_p50_ms": round(pct(totals, 50), 1), "total_p99_ms": round(pct(totals, 99), 1),
            "first_p50_ms": round(pct(firsts, 50), 1), "first_p99_ms": round(pct(firsts, 99), 1),
            "total_mean_ms": round(statistics.mean(totals), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--chunks", type=int, default=40, help="streamed chunks per answer")
    ap.add_argument("--chunk-delay", type=float, default=0.01, help="seconds between chunks (model speed)")
    ap.add_argument("--ramp", type=float, default=0.0, help="spread the N starts over this many seconds")
    ap.add_argument("--workers", type=int, default=64, help="server thread pool size")
    ap.add_argument("--json", help="also write the summary here")
    args = ap.parse_args()

    chunk = 8
    answer = ("The notebook loads a table and plots it. " * (args.chunks // 4 + 1))[: args.chunks * chunk]
    # 50 connections arrive at once; the stdlib default listen backlog (5) would refuse some.
    import http.server

    http.server.ThreadingHTTPServer.request_queue_size = 512
    llm = ScriptedLLM().start()
    tmp = Path(tempfile.mkdtemp(prefix="codex-nb-load-"))
    root = tmp / "root"
    root.mkdir()
    # Mark the root as a repository so the context engine indexes it, not whatever is above it.
    (root / ".codexignore").write_text("")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("import math\nvalues = [math.sqrt(i) for i in range(10)]", id="a1"),
                nbformat.v4.new_code_cell("total = sum(values)\nprint(total)", id="a2")]
    nbformat.write(nb, root / "bench.ipynb")
    proc, base, token = start_server(root, llm, args.workers)
    os.environ.update(OPENAI_BASE_URL=llm.url, OPENAI_API_KEY="sk-bench", CODEX_NB_MODEL="openai:scripted-model",
                      CODEX_NB_AUDIT_LOG=str(tmp / "audit-pipeline.jsonl"))
    sys.path.insert(0, str(REPO))
    nb_path = str(root / "bench.ipynb")
    try:
        # Warm every path (imports, the provider, the context cache) before timing.
        asyncio.run(run_round("direct", 2, llm, answer, chunk, 0, base, token))
        asyncio.run(run_round("server", 2, llm, answer, chunk, 0, base, token))
        asyncio.run(run_round("pipeline", 2, llm, answer, chunk, 0, nb_path))
        direct, server, pipeline = [], [], []
        for _ in range(args.rounds):  # interleaved so drift in machine load hits all alike
            direct += asyncio.run(run_round("direct", args.concurrency, llm, answer, chunk, args.chunk_delay, base, token, args.ramp))
            server += asyncio.run(run_round("server", args.concurrency, llm, answer, chunk, args.chunk_delay, base, token,
                                            args.ramp))
            pipeline += asyncio.run(run_round("pipeline", args.concurrency, llm, answer, chunk, args.chunk_delay, nb_path,
                                              ramp=args.ramp))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        llm.stop()
    d, s, p = summarise(direct), summarise(server), summarise(pipeline)
    out = {"concurrency": args.concurrency, "rounds": args.rounds, "ramp_s": args.ramp, "chunks": args.chunks, "chunk_delay_s": args.chunk_delay,
           "cpus": os.cpu_count(), "direct": d, "pipeline": p, "server": s,
           "added_vs_direct_total_p50_ms": round(s["total_p50_ms"] - d["total_p50_ms"], 1),
           "added_vs_direct_total_p99_ms": round(s["total_p99_ms"] - d["total_p99_ms"], 1),
           "added_vs_pipeline_total_p50_ms": round(s["total_p50_ms"] - p["total_p50_ms"], 1),
           "added_vs_pipeline_total_p99_ms": round(s["total_p99_ms"] - p["total_p99_ms"], 1),
           "pipeline_vs_direct_total_p99_ms": round(p["total_p99_ms"] - d["total_p99_ms"], 1)}
    print(json.dumps(out, indent=2))
    for key, what in (("added_vs_direct_total_p99_ms", "server vs the model directly"),
                      ("added_vs_pipeline_total_p99_ms", "server vs the same pipeline in-process")):
        verdict = "meets" if out[key] <= 50 else "MISSES"
        print(f"p99 added latency, {what}: {out[key]} ms ({verdict} the 50 ms goal) at {args.concurrency} concurrent chats")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
