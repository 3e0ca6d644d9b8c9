"""`codex-nb agent NB.ipynb "goal"`: a headless agent run (plan → edit → run → check → fix).

Exit status: 0 when the agent finished the goal, 1 when it stopped, hit a bound,
was cancelled or failed, 2 for a usage problem (the message says how to fix it).
"""
from __future__ import annotations

import argparse

from .validation_flags import add_validation_flags, validation_settings_flags


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("agent", help="run the notebook agent on a goal: plan, edit, run, check, fix",
                       description="Plan the goal, then take one step at a time: every edit goes through the same "
                                   "review, validation and rollback as `codex-nb apply`, every step is checkpointed "
                                   "and audited under one run id (see `codex-nb audit --run RUN_ID`).")
    p.add_argument("notebook", help="the .ipynb file to work on")
    p.add_argument("goal", help="what the agent should reach, in words")
    p.add_argument("--approve", choices=["auto", "ask"], default="ask",
                   help="auto: accept edits that validate; ask: a person decides the plan and every proposal "
                        "(default). File patches and deletions are always asked for, unless --allow-destructive")
    p.add_argument("--allow-destructive", action="store_true",
                   help="let file patches and cell deletions pass without a person (only with --approve auto)")
    p.add_argument("--ask-before-run", action="store_true", help="ask before the agent runs cells")
    p.add_argument("--max-steps", type=int, default=12, metavar="N", help="at most N steps (default 12)")
    p.add_argument("--max-tokens", type=int, default=60_000, metavar="N", help="at most N model tokens (default 60000)")
    p.add_argument("--max-seconds", type=float, default=900.0, metavar="S", help="at most S seconds of wall time")
    p.add_argument("--max-repairs", type=int, default=2, metavar="N", help="at most N repair rounds in the run")
    p.add_argument("--model", help="provider:model (default: the configured model)")
    p.add_argument("--no-validate", action="store_true", help="keep edits without re-running the notebook")
    add_validation_flags(p)
    p.add_argument("--json", action="store_true", help="print the run (plan, steps, status, budget left) as JSON")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    import asyncio
    import json
    import signal
    import sys
    from pathlib import Path

    from ..agent import Budget, Policy, TerminalDecider
    from ..agent.headless import close, make_run
    from ..errors import UsageProblem

    path = Path(args.notebook)
    if not path.is_file():
        raise UsageProblem(f"no notebook at {path}", hint="give the path of an existing .ipynb file")
    if not args.goal.strip():
        raise UsageProblem("the goal is empty", hint='say what the agent should do, e.g. "plot monthly revenue"')
    for name in ("max_steps", "max_tokens", "max_repairs"):
        if getattr(args, name) < (0 if name == "max_repairs" else 1):
            raise UsageProblem(f"--{name.replace('_', '-')} is too small", hint="give a positive number")
    if args.allow_destructive and args.approve != "auto":
        raise UsageProblem("--allow-destructive needs --approve auto", hint="add --approve auto, or drop the flag")
    policy = Policy(approve=args.approve, ask_before_run=args.ask_before_run, allow_destructive=args.allow_destructive)
    budget = Budget(max_steps=args.max_steps, max_tokens=args.max_tokens, max_seconds=args.max_seconds,
                    max_repairs=args.max_repairs)
    decider = TerminalDecider() if args.approve == "ask" else None
    emit = None if args.json else _printer(sys.stderr)
    agent = make_run(path, args.goal, policy=policy, budget=budget, decider=decider, emit=emit, model=args.model,
                     validate=False if args.no_validate else None, **validation_settings_flags(args))

    async def main():
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, agent.stop)  # Ctrl-C is Stop: the notebook stays at a step
            loop.add_signal_handler(signal.SIGTERM, agent.stop)
        except (NotImplementedError, RuntimeError):
            pass
        try:
            return await agent.start()
        finally:
            await close(agent)

    result = asyncio.run(main())
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        print(f"{result.status}: {result.reason} (run {result.run_id}; left: {_left(result.remaining)})")
    return result.exit_code


def _left(remaining: dict) -> str:
    return ", ".join(f"{v} {k}" for k, v in remaining.items())


def _printer(stream):
    def emit(event: dict) -> None:
        kind = event.get("type")
        if kind == "agent_plan":
            stream.write("Plan:\n" + "".join(f"  {i + 1}. {t}\n" for i, t in enumerate(event["steps"])))
        elif kind == "agent_action":
            stream.write(f"step {event['step']}: {event['tool']} {' '.join(event['cell_ids'])} — {event['explanation'][:200]}\n")
        elif kind == "agent_step_done":
            stream.write(f"step {event['step']}: {event['status']} {event['summary'][:200]} (left: {_left(event['remaining'])})\n")
        stream.flush()
    return emit
