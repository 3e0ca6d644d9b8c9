"""Agent mode: plan → edit → run → check → fix, with a person at every gate that matters.

``AgentRun`` (run.py) drives one run over the engine; ``schema`` builds the
per-request answer formats, ``policy`` and ``decide`` say who approves what,
``checkpoint`` and ``runner`` take and restore state, ``budget`` bounds the run.
``headless.run_file`` runs one over a notebook file (the CLI).
"""
from .budget import Budget
from .decide import AutoDecider, Decision, PendingDecider, TerminalDecider
from .policy import Policy
from .run import AgentRun, RunResult, StepRecord

__all__ = ["AgentRun", "AutoDecider", "Budget", "Decision", "PendingDecider", "Policy", "RunResult", "StepRecord",
           "TerminalDecider"]
