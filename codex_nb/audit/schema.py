"""The audit event vocabulary: one list of events, each with its required fields, as JSON Schema.

``EVENTS`` is the single source: event name -> {field: JSON Schema of the field}. Every
event also has the common fields in ``COMMON``. ``AUDIT_SCHEMA`` is generated from both
(one ``$defs`` entry per event, a ``oneOf`` over them, discriminated by ``event``), so the
Python writer, ``validate_entry`` and any generated TypeScript types agree. Extra fields
are allowed (``additionalProperties``) but the listed ones are typed and required.
"""
from __future__ import annotations

import copy

SCHEMA_ID = "https://codex-nb.invalid/schemas/audit-event.json"

ZERO_HASH = "0" * 64
SOURCES = ("cli", "kernel", "server", "agent", "api")
APPLIERS = ("file", "kernel", "panel")
DECISIONS = ("accepted", "rejected")

_STR = {"type": "string"}
_STR_OR_NULL = {"type": ["string", "null"]}
_BOOL = {"type": "boolean"}
_HASH = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_STRS = {"type": "array", "items": _STR}
_INDEXES = {"type": "array", "items": {"type": "integer", "minimum": 0}}
_SECONDS = {"type": "number", "minimum": 0}
_GATE = {
    "type": "object",
    "required": ["gate", "ok", "summary"],
    "properties": {"gate": _STR, "ok": _BOOL, "summary": _STR},
}
_AGENT = {"run_id": _STR, "step": {"type": "integer", "minimum": 0}, "detail": {"type": ["string", "object"]}}

# Stamped by the writing process (never taken from a caller's fields), in line order.
COMMON = {
    "seq": {"type": "integer", "minimum": 1, "description": "1-based line number in the log"},
    "time": {"type": "string", "format": "date-time",
             "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", "description": "UTC, milliseconds"},
    "event": {"type": "string"},  # narrowed to a constant per event below
    "user": {"type": "string", "minLength": 1,
             "description": "the Jupyter user from the server's identity provider, else the OS user"},
    "source": {"enum": list(SOURCES)},
    "notebook": {**_STR_OR_NULL, "description": "absolute path of the notebook, or null"},
    "proposal_id": _STR_OR_NULL,
    "prev": {**_HASH, "description": "sha256 of the previous line's bytes; 64 zeros on line 1"},
    "hash": {**_HASH, "description": "sha256 of this entry without 'hash' (sorted keys, compact, ASCII JSON)"},
}
STAMPED = ("seq", "time", "user", "prev", "hash")  # a caller can never set these

EVENTS: dict[str, dict[str, dict]] = {
    "asked": {"instruction_hash": _STR, "model": _STR_OR_NULL},
    "proposed": {"instruction_hash": _STR, "model": _STR_OR_NULL, "edits": _STRS},
    "decided": {"decision": {"enum": list(DECISIONS)}, "edits": _INDEXES},
    "refused": {"reason": _STR},
    "applied": {"edits": _INDEXES, "cells": _STRS, "files": _STRS, "applier": {"enum": list(APPLIERS)}},
    "validated": {"ok": _BOOL, "mode": _STR, "gates": {"type": "array", "items": _GATE}, "seconds": _SECONDS},
    "kept": {"commit": _STR_OR_NULL},
    "rolled_back": {"exact": _BOOL, "files": _STRS, "reason": _STR},
    "repair": {"attempt": {"type": "integer", "minimum": 1}, "new_proposal_id": _STR_OR_NULL},
    "undone": {"edits": _INDEXES, "files": _STRS},
    "committed": {"commit": _STR, "files": _STRS},
    "fallback": {"inserted": _BOOL, "missed": _STRS},
    "validation_run": {"ok": _BOOL, "mode": _STR},
    "failed": {"kind": _STR, "instruction_hash": _STR, "error": {"type": "object"}},
    "agent_run": dict(_AGENT),
    "agent_step": dict(_AGENT),
    "agent_rewind": dict(_AGENT),
}

DESCRIPTIONS = {
    "asked": "an ask / explain answer (no edits)",
    "proposed": "a proposal: the ops of its edits",
    "decided": "a person accepted or rejected edits (indexes into the proposal)",
    "refused": "an acceptance refused before anything changed (stale, bad path, …)",
    "applied": "edits written: cells changed, files patched, by which applier",
    "validated": "the gates run on an applied change",
    "kept": "a validated change kept (and the commit, if one was made)",
    "rolled_back": "an applied change undone because validation failed (or on request)",
    "repair": "a failed change handed to the model for a fix",
    "undone": "a kept change undone by the user (by a revert commit, named in 'commit', when it was committed)",
    "committed": "a kept change committed after it was kept (commit = 'ask': the person accepted the offered commit)",
    "fallback": "a model answer inserted as a plain cell because it could not be applied as edits",
    "validation_run": "a standalone validation (`codex-nb validate`), not tied to a proposal",
    "failed": "a request to the model that ended in an error: what was asked (as a hash) and why it failed",
    "agent_run": "agent mode: a run started or finished",
    "agent_step": "agent mode: one step of a run",
    "agent_rewind": "agent mode: a run rewound to an earlier step",
}


def _event_schema(event: str) -> dict:
    own = EVENTS[event]
    props = copy.deepcopy(COMMON)
    props["event"] = {"const": event}
    props.update(copy.deepcopy(own))
    return {
        "type": "object",
        "description": DESCRIPTIONS[event],
        "required": list(COMMON) + [name for name in own if name not in COMMON],
        "properties": props,
        "additionalProperties": True,
    }


def _build_schema() -> dict:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "AuditEvent",
        "description": "One line of .codex_nb/audit.jsonl",
        "$defs": {name: _event_schema(name) for name in EVENTS},
        "oneOf": [{"$ref": f"#/$defs/{name}"} for name in EVENTS],
    }


AUDIT_SCHEMA = _build_schema()


def validate_entry(entry) -> list[str]:
    """Problems with one audit entry against ``AUDIT_SCHEMA`` (empty when it is valid).

    The event's own definition is checked (not the ``oneOf``) so that each problem names
    the field, e.g. ``"applied: 'cells' is a required property"``.
    """
    if not isinstance(entry, dict):
        return [f"an entry must be an object, not {type(entry).__name__}"]
    event = entry.get("event")
    if event not in EVENTS:
        return [f"unknown event {event!r}; the vocabulary is {', '.join(EVENTS)}"]
    return _problems(entry, event)


def _problems(entry: dict, event: str) -> list[str]:
    from jsonschema import Draft202012Validator

    validator = _validators.get(event)
    if validator is None:
        validator = _validators[event] = Draft202012Validator(_event_schema(event))
    problems = []
    for error in sorted(validator.iter_errors(entry), key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in error.path)
        problems.append(f"{event}: {where + ': ' if where else ''}{error.message}")
    return problems


_validators: dict = {}
