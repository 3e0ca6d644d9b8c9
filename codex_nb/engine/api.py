"""The engine as a plain Python call, for scripts, notebooks and the CLI: accept a proposal into a file."""
from __future__ import annotations

from .appliers import FileApplier
from .engine import Engine
from .run_sync import run_sync
from .settings import resolve_settings


def accept_file(notebook, proposal, indexes=None, *, source: str = "api", repo_root=None, emit=None,
                validator=None, repairer=None, gates=None, create: bool = False, **flags):
    """Apply ``proposal`` (or the edits at ``indexes``) to the notebook file; keep it only if it validates.

    ``flags`` override the configured settings (``validate``, ``validate_mode``, ``repair``,
    ``cell_timeout``, ``total_timeout``, ``kernel_name``, ``drift_fails``, ``model`` …). Returns the
    engine's ``Outcome``: ``status`` is kept, rolled_back or refused.
    """
    engine = build_engine(source=source, anchor=notebook, repo_root=repo_root, validator=validator,
                          repairer=repairer, gates=gates, **flags)
    return run_sync(engine.accept(proposal, FileApplier(notebook, create=create), indexes, emit=emit))


def commit_offered(outcome, *, source: str, anchor=None, emit=None) -> str:
    """Make the commit a kept change offered (commit = "ask") if its files are still as kept; its sha.

    For doors that do not keep their engine (the CLI); the others call ``Engine.commit_offered``.
    """
    engine = Engine(resolve_settings(with_model=False), source=source, anchor=anchor, gates=[])
    return run_sync(engine.commit_offered(outcome, emit=emit))


def build_engine(*, source: str, anchor=None, repo_root=None, validator=None, repairer=None, gates=None,
                 history=None, user=None, settings=None, **flags) -> Engine:
    """An engine with the settings every door shares (config → env → these flags)."""
    from .engine import default_gates
    from .notebook_gate import NotebookGate, prepare_validation

    settings = settings if settings is not None else resolve_settings(**flags)
    if gates is None:
        gates = default_gates()
        if validator is not None:
            gates = [NotebookGate(validator) if g.name == "notebook" else g for g in gates]
    engine = Engine(settings, source=source, anchor=anchor, repo_root=repo_root, user=user, gates=gates,
                    repairer=repairer, history=history)
    if anchor is not None:
        # A proposal for this notebook is about to be reviewed: its validation kernel can start now.
        prepare_validation(engine.gates, anchor, settings)
    return engine


def prepare_review(notebook, *, validator=None, **flags) -> None:
    """A proposal for ``notebook`` is on its way to a person: start its validation kernel now.

    For doors that build the engine only at Accept (the panel): the kernel starts while the
    person reads the diff, as it does for the doors that build it when the card is drawn.
    A test's ``validator`` starts no kernels.
    """
    from .engine import default_gates
    from .notebook_gate import prepare_validation

    if validator is None:
        prepare_validation(default_gates(), notebook, resolve_settings(**flags))

