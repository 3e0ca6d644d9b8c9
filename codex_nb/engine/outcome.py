"""What an acceptance ended as, and what a failure says — typed data, turned into text only at a door."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Optional


@dataclass
class Failure:
    """Why a change was not kept: the failing gate's verdict plus what the repair prompt needs."""

    gate: str
    summary: str
    cell_id: Optional[str] = None
    kind: Optional[str] = None  # the validation's failure kind: error, timeout, kernel_died, cancelled (Stop), …
    ename: Optional[str] = None
    evalue: Optional[str] = None
    traceback: list[str] = field(default_factory=list)  # plain text lines
    source: Optional[str] = None  # the failing cell's source
    diffs: str = ""  # the rolled-back edits as text diffs
    detail: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    def for_model(self) -> dict:
        """The dict ``prompts.repair_instruction`` reads (the same in every door)."""
        return {"kind": self.kind or self.gate, "cell_id": self.cell_id, "ename": self.ename, "evalue": self.evalue,
                "message": self.summary, "traceback": self.traceback, "source": self.source, "gate": self.gate}


@dataclass
class CommitOffer:
    """With ``commit = "ask"``: the commit a door may offer for a kept change, exactly as ``"on"`` would make it.

    ``hashes`` are the sha256 of each file as the change left it (None: the change removed it);
    ``Engine.commit_offered`` commits only while every file is still that, so what is committed
    is what was validated.
    """

    repo_root: str
    files: list[str]
    message: str  # subject, body and the Codex-Proposal / Codex-Validation trailers
    hashes: dict[str, Optional[str]]
    dirty: list[str] = field(default_factory=list)  # files whose commit also carries the person's own edits


@dataclass
class Outcome:
    id: str
    proposal_id: str
    status: Literal["kept", "rolled_back", "refused"]
    validated: bool = False  # False: kept without validation (validation off or nothing to run)
    edits: list[int] = field(default_factory=list)
    cells: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    gates: list[dict] = field(default_factory=list)
    failure: Optional[dict] = None
    reason: str = ""
    hint: str = ""
    no_frontend: bool = False
    commit: Optional[str] = None
    commit_offer: Optional[CommitOffer] = None  # commit = "ask": a commit a door can offer (None once made)
    attempts: int = 1
    proposal: dict = field(default_factory=dict)  # the proposal that ended this way (a repaired one after repairs)
    repair_tokens: int = 0  # model tokens (prompt + answer) the repairs of this acceptance took

    @property
    def kept(self) -> bool:
        return self.status == "kept"

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Repaired:
    """What a repairer may answer instead of a bare proposal: the fix and the model tokens it took.

    ``proposal`` is None when the model's answer was cut off (Stop).
    """

    proposal: Any
    tokens: int = 0


@dataclass
class UndoEntry:
    """A kept change that ``undo`` can take back: the live ops that invert it and the files' old bytes."""

    outcome_id: str
    proposal_id: str
    edits: list[int]
    undo_ops: list[dict]
    files: object  # FileChange
    applier_kind: str
    notebook: Optional[str]
    commit: Optional[str] = None  # the kept change's commit (at keep, or later from its offer): undone by a revert commit
