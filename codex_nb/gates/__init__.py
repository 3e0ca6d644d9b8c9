"""Gates beyond the notebook: the project's own tests and declared checks, and kept changes as commits.

Each gate implements :class:`codex_nb.engine.gates.Gate`; the engine runs them after
the notebook re-run and before a change is kept (see README, "Project gates").
"""
from __future__ import annotations


def project_gates() -> list:
    """The gates that judge changes to repository files, in the order they run."""
    from .checks import ChecksGate
    from .tests import TestGate

    return [TestGate(), ChecksGate()]
