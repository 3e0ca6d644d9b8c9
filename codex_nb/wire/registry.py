"""Every message type that crosses the wire between Python and the lab extension.

Each root becomes a named definition in the wire schema and a named TypeScript
type in ``labextension/src/wire.ts``. To add one: define it as a dataclass (or
a ``Tagged`` union of dataclasses, or a TypedDict) with JSON-serialisable
fields, add it here under the name the TypeScript side should use, and run
``jlpm gen:types`` in ``labextension/`` (the test suite fails until the
checked-in schema and types match).
"""
from __future__ import annotations

from ..edits.live_ops import LiveOp
from ..edits.model import Proposal
from ..engine.events import EngineEvent
from ..engine.gates import GateResult
from ..engine.outcome import Outcome
from ..validate.api import ValidationReport

ROOTS: dict[str, object] = {
    "Proposal": Proposal,  # codex_nb/edits/model.py (with its edits)
    "LiveOp": LiveOp,  # codex_nb/edits/live_ops.py: what the appliers apply
    "ValidationReport": ValidationReport,  # codex_nb/validate/api.py: ValidationReport.to_json()
    "GateResult": GateResult,  # codex_nb/engine/gates.py: GateResult.to_json()
    "EngineEvent": EngineEvent,  # codex_nb/engine/events.py: what the engine streams to every door
    "Outcome": Outcome,  # codex_nb/engine/outcome.py: how an acceptance ended (the "finished" event)
}

# Roots that are JSON Schemas already (not data classes): their definitions join the wire schema, prefixed.
def schema_roots() -> dict[str, dict]:
    from ..audit import AUDIT_SCHEMA

    return {"AuditEntry": AUDIT_SCHEMA}  # codex_nb/audit/schema.py: one line of the audit log
