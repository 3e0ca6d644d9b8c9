"""The audit trail: a hash-chained JSON-lines log of every proposal, decision, apply and validation.

    from codex_nb import audit
    audit.record("decided", notebook, notebook=str(notebook), proposal_id=p.id,
                 decision="accepted", edits=[0, 2])
    audit.read(notebook, notebook=str(notebook))       # entries, oldest first
    audit.verify(audit.audit_path(notebook)).summary()  # "ok: 12 lines, chain intact"

Modules: ``schema`` (the event vocabulary, ``AUDIT_SCHEMA``, ``validate_entry``), ``log``
(writing under a lock, reading), ``verify`` (the chain check), ``query`` (filters, summaries).
"""
from __future__ import annotations

from .log import audit_path, entry_hash, head_path, instruction_hash, line_sha256, read, read_log, record
from .schema import AUDIT_SCHEMA, EVENTS, SOURCES, validate_entry
from .verify import VerifyReport, verify

__all__ = [
    "AUDIT_SCHEMA", "EVENTS", "SOURCES", "VerifyReport", "audit_path", "entry_hash",
    "head_path", "instruction_hash", "line_sha256", "read", "read_log", "record", "validate_entry", "verify",
]
