"""Exceptions that carry fields; front doors turn them into their own error type.

Each error has a ``hint`` that says how to fix the problem. The CLI prints it and
exits with ``exit_code``; the magics raise ``UsageError``; the server answers 4xx.
"""
from __future__ import annotations


class CodexError(Exception):
    """Base class. ``message`` says what happened, ``hint`` how to fix it."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "", **fields):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.fields = fields

    def __str__(self) -> str:
        return f"{self.message}\n  → {self.hint}" if self.hint else self.message


class UsageProblem(CodexError):
    """The request itself is wrong (bad flag, missing file)."""

    exit_code = 2


class ConfigurationError(CodexError):
    """No usable model, unknown provider, missing key."""

    exit_code = 2


class ProviderError(CodexError):
    """The model could not be reached or answered with an error after retries."""


class ProposalError(CodexError):
    """Model output that cannot become a valid proposal (bad JSON, unknown cells, too big)."""


class NotebookError(CodexError):
    """A file that is not a valid notebook."""


class EditRefused(CodexError):
    """An edit that cannot be applied: stale, unknown cell, path outside the repository."""
