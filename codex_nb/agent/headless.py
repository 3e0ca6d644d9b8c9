"""An agent run over a notebook file: the engine's FileApplier, a fresh kernel for runs (the CLI's door)."""
from __future__ import annotations

from pathlib import Path

from ..engine import FileApplier, build_engine
from .budget import Budget
from .policy import Policy
from .run import AgentRun, RunResult


def make_run(notebook, goal: str, *, policy: Policy | None = None, budget: Budget | None = None, decider=None,
             emit=None, model: str | None = None, repo_root=None, gates=None, runner="kernel", **flags) -> AgentRun:
    """An ``AgentRun`` on the file ``notebook``; ``flags`` are the engine's settings flags (validate, …)."""
    from .model import AgentModel
    from .runner import KernelRunner

    path = Path(notebook).resolve()
    engine = build_engine(source="agent", anchor=path, repo_root=repo_root, gates=gates, model=model, **flags)
    agent_model = AgentModel(model or engine.settings.model, repo_root=engine._root(path))
    if runner == "kernel":
        runner = KernelRunner(engine.settings.kernel_name, cwd=path.parent, cell_timeout=engine.settings.cell_timeout)
    return AgentRun(goal, applier=FileApplier(path), engine=engine, model=agent_model, runner=runner or None,
                    policy=policy, budget=budget, decider=decider, emit=emit)


async def run_file(notebook, goal: str, **options) -> RunResult:
    run = make_run(notebook, goal, **options)
    try:
        return await run.start()
    finally:
        await close(run)


async def close(run: AgentRun) -> None:
    """End what a run owns on this loop: its kernel and the model's async HTTP clients."""
    from ..providers.clients import close_async_clients

    if run.runner is not None:
        await run.runner.close()
    await close_async_clients()
