"""The engine's event vocabulary: what every front door draws, and nothing else.

Events are plain data (``to_json`` gives the wire form the panel, the widget,
the terminal and the CLI render alike). The order for one acceptance is

    decided → status* → (refused | applied → progress* → validated → (kept | rolled_back
             → repair_started → repair_delta* → (repair_proposed | repair_failed))) → finished

Stop in the middle of the gates (the awaiting task cancelled, or the door's cancel token set) ends
them as ``validated`` (failed, kind ``cancelled``) → ``rolled_back``; a cancelled task then sends no
``finished`` (the door's await raises ``CancelledError``).

``undone`` and ``committed`` (commit = "ask": the offered commit made) come from their own calls.

``apply_request`` is sent only to appliers that live in another process (the
panel): the engine asks the browser to change the notebook and waits for its reply.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Literal, Optional, Union

from ..wire.fields import Tagged
from .outcome import CommitOffer


@dataclass
class Decided:
    decision: Literal["accepted", "rejected"]
    edits: list[int]
    type: Literal["decided"] = "decided"


@dataclass
class Status:
    text: str
    type: Literal["status"] = "status"
    notice: bool = False  # news the person must see (kept without a commit, a commit with their edits), not progress


@dataclass
class Refused:
    reason: str
    hint: str = ""
    no_frontend: bool = False
    type: Literal["refused"] = "refused"


@dataclass
class Applied:
    edits: list[int]
    cells: list[str]
    files: list[str]
    applier: str
    type: Literal["applied"] = "applied"


@dataclass
class Progress:
    gate: str
    event: dict  # the gate's own progress event (a validation's start / cell_start / cell_done / cell_error / finish)
    type: Literal["progress"] = "progress"


@dataclass
class Validated:
    ok: bool
    summary: str
    gates: list[dict]  # GateResult.to_json() of every gate that ran
    type: Literal["validated"] = "validated"


@dataclass
class Kept:
    commit: Optional[str] = None
    commit_offer: Optional[CommitOffer] = None  # commit = "ask": the commit a door may offer now
    type: Literal["kept"] = "kept"


@dataclass
class Committed:
    """A kept change's offered commit was made (commit = "ask", after the person said yes)."""

    proposal_id: str
    commit: str
    files: list[str]
    type: Literal["committed"] = "committed"


@dataclass
class RolledBack:
    exact: bool  # every file and cell is byte-for-byte / source-for-source as before
    files: list[str]
    failure: dict  # Failure.to_json(): what broke, for people and for the repair prompt
    reason: str = ""  # when not exact: what could not be restored
    type: Literal["rolled_back"] = "rolled_back"


@dataclass
class RepairStarted:
    attempt: int
    type: Literal["repair_started"] = "repair_started"


@dataclass
class RepairDelta:
    text: str
    type: Literal["repair_delta"] = "repair_delta"


@dataclass
class RepairProposed:
    attempt: int
    proposal: dict
    type: Literal["repair_proposed"] = "repair_proposed"


@dataclass
class RepairFailed:
    attempt: int
    error: str
    type: Literal["repair_failed"] = "repair_failed"


@dataclass
class Undone:
    edits: list[int]
    files: list[str]
    commit: Optional[str] = None  # the revert commit, when the change was committed
    type: Literal["undone"] = "undone"


@dataclass
class ApplyRequest:
    request_id: str
    action: Literal["read", "apply"]
    ops: list[dict] = field(default_factory=list)
    type: Literal["apply_request"] = "apply_request"


@dataclass
class RunRequest:
    """Agent mode in the panel: the page runs cells in the notebook's own kernel (or interrupts it)."""
    request_id: str
    action: Literal["run", "interrupt", "variables"]
    cell_ids: list[str] = field(default_factory=list)  # run: in this order, stopping at the first error
    reset: bool = False  # run: clear the kernel's namespace first (a rewind's rebuild)
    names: list[str] = field(default_factory=list)  # variables: whose repr to read
    type: Literal["run_request"] = "run_request"


@dataclass
class Finished:
    outcome: dict  # Outcome.to_json()
    type: Literal["finished"] = "finished"


EVENT_TYPES = (Decided, Status, Refused, Applied, Progress, Validated, Kept, RolledBack, RepairStarted,
               RepairDelta, RepairProposed, RepairFailed, Undone, Committed, ApplyRequest, RunRequest, Finished)

# The union every door draws (and the wire schema / TypeScript types describe), told apart by ``type``.
EngineEvent = Annotated[Union[EVENT_TYPES], Tagged("type")]


def to_json(event: Any) -> dict:
    return asdict(event)
