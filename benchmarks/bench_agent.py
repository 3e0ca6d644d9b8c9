"""Agent mode benchmark: its own overhead per step, and robustness over random scripts with Stop.

1. Overhead per step: a scripted model on loopback plays runs of N edit steps
   through the real engine and file applier (validation off, so no cell runs).
   The agent's own time per step is the run's wall time minus the time spent
   waiting for the model, over the number of steps. The baseline, measured in
   the same run, is one bare ``accept_file`` of the same kind of edit (the
   engine alone): the ratio says what the agent adds around it. Goal: ≤ 50 ms/step.
2. Robustness: 200 random scripts (good, breaking, malformed and out-of-vocabulary
   answers; random person decisions; a project check that rejects ``raise``), a
   Stop at a random step in a third of them while the model or a slow check is
   busy. Reports lost cells (the notebook must equal the start replayed with the
   kept proposals: must be 0) and the time from Stop to the run's end.

    python benchmarks/bench_agent.py [--steps 20] [--runs 5] [--scripts 200]
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import agent_script as s  # noqa: E402


def _env(llm, tmp: Path) -> None:
    os.environ.update(OPENAI_BASE_URL=llm.url, OPENAI_API_KEY="sk-bench-not-a-key", CODEX_NB_MODEL="openai:scripted-model",
                      CODEX_NB_AUDIT_LOG=str(tmp / "audit.jsonl"))


def overhead(llm, tmp: Path, steps: int, runs: int, memo: bool = False) -> None:
    from codex_nb.agent import Budget, Policy
    from codex_nb.agent.headless import close, make_run
    from codex_nb.edits.model import InsertCell, Proposal
    from codex_nb.engine import accept_file

    per_step, bare = [], []
    for r in range(runs):
        nb = s.project(tmp / f"over{r}")
        llm.replies.clear()
        llm.queue(s.plan("many small steps"))
        for i in range(steps):
            llm.queue(s.propose(s.insert("end", f"v{i} = {i}")))
        llm.queue(s.finish())
        run = make_run(nb, "insert cells", policy=Policy(approve="auto"), validate=False, runner=None,
                       budget=Budget(max_steps=steps + 1, max_tokens=10**9))

        async def go():
            try:
                return await run.start()
            finally:
                await close(run)

        started = time.perf_counter()
        result = asyncio.run(go())
        wall = time.perf_counter() - started
        assert result.status == "done" and len(result.steps) == steps + 1, result.reason
        per_step.append((wall - run.model_seconds) / (steps + 2) * 1000)  # plan + steps + finish
        other = s.project(tmp / f"bare{r}")
        for i in range(steps):
            t = time.perf_counter()
            accept_file(other, Proposal("bare", (InsertCell(source=f"v{i} = {i}"),)), validate=False)
            bare.append((time.perf_counter() - t) * 1000)
    agent_ms, bare_ms = statistics.median(per_step), statistics.median(bare)
    label = " (load_config memoised)" if memo else ""
    print(f"overhead{label}\n          agent per step (all but model time)  {agent_ms:7.1f} ms  (median of {runs} runs × {steps} steps; goal ≤ 50 ms)")
    print(f"          bare engine accept_file, same edit   {bare_ms:7.1f} ms  (baseline)")
    print(f"          ratio agent step / bare accept       {agent_ms / bare_ms:7.2f}")


class SlowCheck:
    """A project check that fails on ``raise`` and takes ``seconds`` (so a Stop can land mid-check).

    Like every gate that runs for long, it ends early once the engine's cancel token is set (Stop).
    """

    name = "checks"

    def __init__(self, seconds: float):
        self.seconds = seconds

    def applies(self, change):
        return True

    def run(self, change, progress):
        from codex_nb.engine.gates import GateResult

        if change.cancel is not None and change.cancel.wait(self.seconds):
            return GateResult(gate=self.name, ok=False, summary="checks: stopped", detail={"failed": {"kind": "cancelled"}})
        if change.cancel is None:
            time.sleep(self.seconds)
        bad = [c.id for c in change.after.cells if "raise" in c.source]
        return GateResult(gate=self.name, ok=not bad, summary="no raise" if not bad else f"raise in {bad}")


def _answer(rng: random.Random) -> str:
    ids = ["load", "use", "end", "ghost"]
    kind = rng.randrange(7)
    if kind == 0:
        return s.propose(s.insert(rng.choice(ids), rng.choice(["a = 1", "b = 2", "raise X"])))
    if kind == 1:
        return s.propose(s.replace(rng.choice(ids), rng.choice(["x = 3", "raise Y"])))
    if kind == 2:
        return s.propose(s.delete(rng.choice(ids)))
    if kind == 3:
        return "not json {"
    if kind == 4:
        return json.dumps({"tool": "shell", "cell_ids": [], "edits": [], "explanation": "rm -rf"})
    if kind == 5:
        return s.step("read_outputs", [rng.choice(["load", "use"])])
    return s.finish()


def robustness(llm, tmp: Path, scripts: int, seed: int) -> None:
    import nbformat

    from codex_nb.agent import Decision, Policy
    from codex_nb.agent.headless import close, make_run
    from codex_nb.edits.live_ops import apply_proposal
    from codex_nb.edits.model import Proposal

    rng = random.Random(seed)
    lost, stop_times, statuses = 0, [], {}
    for n in range(scripts):
        nb = s.project(tmp / f"rob{n}")
        start = nbformat.read(nb, as_version=4)
        script = [_answer(rng) for _ in range(rng.randint(1, 7))]
        choices = [rng.random() < 0.6 for _ in script]
        stop_at = rng.randint(1, len(script)) if rng.random() < 1 / 3 else None
        slow_model = stop_at is not None and rng.random() < 0.5
        llm.replies.clear()
        llm.queue(s.plan("random"))
        for i, answer in enumerate(script, 1):
            llm.queue(answer, delay=3.0 if slow_model and i == stop_at else 0.0)

        class Person:
            async def approve_plan(self, steps):
                return steps

            async def decide(self, step, proposal, policy):
                return Decision(list(range(len(proposal.edits))) if (choices.pop(0) if choices else True) else [])

            async def approve_run(self, step, ids):
                return False

        kept = []

        def watch(event, run_box=[]):
            inner = event.get("event") or {}
            if event["type"] == "agent_engine" and inner.get("type") == "finished" and inner["outcome"]["status"] == "kept":
                kept.append(inner["outcome"]["proposal"])
            if stop_at is not None and event["type"] == "agent_step_started" and event["step"] == stop_at:
                delay = 0.05 if slow_model else 0.02
                asyncio.get_running_loop().call_later(delay, run.stop)

        run = make_run(nb, "random", policy=Policy(approve=rng.choice(["ask", "auto"])), decider=Person(), emit=watch,
                       gates=[SlowCheck(0.5 if stop_at else 0.0)], runner=None, repair=0)
        run.budget.max_steps, run.budget.max_repairs = len(script), 0

        async def go():
            try:
                result = await run.start()
                return result, time.monotonic()
            finally:
                await close(run)

        result, ended = asyncio.run(go())
        statuses[result.status] = statuses.get(result.status, 0) + 1
        if result.status == "stopped" and run.stop_requested_at is not None:
            stop_times.append((ended - run.stop_requested_at) * 1000)
        expected = start
        for proposal in kept:
            expected, _ = apply_proposal(expected, Proposal.from_json(proposal))
        final = nbformat.read(nb, as_version=4)
        want = [(c.id, c.source) for c in expected.cells]
        got = [(c.id, c.source) for c in final.cells]
        lost += len(set(want) - set(got)) + (0 if want == got else int(set(want) == set(got)))
    print(f"robustness {scripts} random scripts: {statuses}")
    print(f"           lost or misplaced cells            {lost}  (must be 0)")
    if stop_times:
        print(f"           time to stop after Stop            median {statistics.median(stop_times):.0f} ms, "
              f"max {max(stop_times):.0f} ms over {len(stop_times)} stops (goal < 1000 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scripts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    from scripted_llm import ScriptedLLM

    llm = ScriptedLLM().start()
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            _env(llm, tmp)
            overhead(llm, tmp, args.steps, args.runs)
            # What the same steps cost once the configuration is read once per run instead of once per
            # redacted cell (redaction asks load_config for custom patterns on every call).
            from codex_nb import config

            real = config.load_config
            config.load_config = functools.lru_cache(maxsize=1)(real)
            try:
                overhead(llm, tmp, args.steps, args.runs, memo=True)
            finally:
                config.load_config = real
            robustness(llm, tmp, args.scripts, args.seed)
    finally:
        llm.stop()


if __name__ == "__main__":
    main()
