"""Validation: does the notebook still run after an edit?

``validate_notebook`` re-runs a copy of a notebook in a fresh kernel through
papermill (all of it, or only the cells an edit can affect), in a scratch copy
of its directory, and returns a ``ValidationReport``; ``prepare`` starts that
kernel ahead of time. ``workflow.apply_validated`` applies a proposal, keeps
it only if validation passes, and otherwise restores the files exactly.

The package itself is callable, ``codex_nb.validate(path, ...)``: importing a
subpackage makes it an attribute of ``codex_nb``, which would otherwise hide the
lazy ``codex_nb.validate`` function the top-level package promises.
"""
from __future__ import annotations

import sys
import types

from .api import ValidationReport, ValidationUsageError, prepare, validate_notebook

__all__ = ["ValidationReport", "ValidationUsageError", "prepare", "validate_notebook"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return validate_notebook(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
