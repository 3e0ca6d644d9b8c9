"""The proposal data model: plain, versioned, JSON-serialisable.

A proposal is an explanation plus a list of edits. Notebook edits address
cells by nbformat cell id; file edits address a path relative to the
repository root. Every edit that changes existing content records the hash of
the content it was made against (``base_hash``), so that applying it to a
notebook that changed since is refused as stale.

JSON form (``Proposal.to_json``)::

    {"version": 1, "id": "p-…", "explanation": "…", "model": "local:smollm2",
     "notebook": "analysis.ipynb", "created": "2026-…Z",
     "edits": [
       {"op": "insert", "new_id": "…", "after": "<cell id>" | null, "before": null,
        "cell_type": "code", "source": "…"},
       {"op": "replace", "cell_id": "…", "source": "…", "cell_type": null, "base_hash": "…"},
       {"op": "delete", "cell_id": "…", "base_hash": "…"},
       {"op": "patch_file", "path": "pkg/io.py", "diff": "unified diff" | null,
        "search": "…" | null, "replace": "…" | null, "base_hash": "…" | null}]}
"""
from __future__ import annotations

import datetime as _dt
import os
from dataclasses import asdict, dataclass, field
from typing import Annotated, Literal, Union

from ..errors import ProposalError
from ..wire.fields import CellId, CellRef, CellType, Tagged

PROPOSAL_VERSION = 1
CELL_TYPES = ("code", "markdown", "raw")


@dataclass(frozen=True)
class InsertCell:
    """A new cell, placed after one cell, before one, or (neither) at the end."""

    source: str
    cell_type: CellType = "code"
    after: CellRef | None = None  # insert after this cell id …
    before: CellRef | None = None  # … or before this one; neither means "at the end"
    new_id: CellId = field(default_factory=lambda: os.urandom(4).hex())
    op: Literal["insert"] = "insert"


@dataclass(frozen=True)
class ReplaceCell:
    """New source (and maybe a new type) for an existing cell."""

    cell_id: CellRef
    source: str
    base_hash: str
    cell_type: CellType | None = None  # None keeps the cell's type
    op: Literal["replace"] = "replace"


@dataclass(frozen=True)
class DeleteCell:
    """Remove an existing cell."""

    cell_id: CellRef
    base_hash: str
    op: Literal["delete"] = "delete"


@dataclass(frozen=True)
class PatchFile:
    """A change to a repository file: a unified diff or one search/replace pair."""

    path: str  # relative to the repository root, POSIX separators
    diff: str | None = None  # a unified diff …
    search: str | None = None  # … or one search/replace pair
    replace: str | None = None
    base_hash: str | None = None  # hash of the file when proposed; None for a new file
    op: Literal["patch_file"] = "patch_file"


Edit = Annotated[Union[InsertCell, ReplaceCell, DeleteCell, PatchFile], Tagged("op")]
_EDIT_TYPES = {"insert": InsertCell, "replace": ReplaceCell, "delete": DeleteCell, "patch_file": PatchFile}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Proposal:
    """An explanation and the edits that carry it out, as `codex-nb propose --json` prints it."""

    explanation: str
    edits: tuple[Edit, ...] = ()
    model: str = ""
    notebook: str | None = None
    id: str = field(default_factory=lambda: "p-" + os.urandom(6).hex())
    created: str = field(default_factory=_now)
    version: Literal[1] = PROPOSAL_VERSION

    def to_json(self) -> dict:
        d = asdict(self)
        d["edits"] = [asdict(e) for e in self.edits]
        return d

    @classmethod
    def from_json(cls, data: dict) -> "Proposal":
        if not isinstance(data, dict):
            raise ProposalError("a proposal must be a JSON object", hint="pass the file written by `codex-nb propose --json`")
        version = data.get("version", PROPOSAL_VERSION)
        if version != PROPOSAL_VERSION:
            raise ProposalError(
                f"proposal version {version} is not supported (this codex-nb reads version {PROPOSAL_VERSION})",
                hint="re-create the proposal with this version of codex-nb",
            )
        edits = []
        for i, raw in enumerate(data.get("edits") or []):
            if not isinstance(raw, dict) or raw.get("op") not in _EDIT_TYPES:
                raise ProposalError(
                    f"edit {i} has an unknown op {raw.get('op') if isinstance(raw, dict) else raw!r}",
                    hint=f"ops are {', '.join(_EDIT_TYPES)}",
                )
            kind = _EDIT_TYPES[raw["op"]]
            known = set(kind.__dataclass_fields__)
            try:
                edits.append(kind(**{k: v for k, v in raw.items() if k in known}))
            except TypeError as exc:
                raise ProposalError(f"edit {i} ({raw['op']}) is missing a field: {exc}", hint="see the proposal schema: python -m codex_nb.wire schema") from exc
        fields = {k: data[k] for k in ("id", "created", "model", "notebook") if k in data}
        return cls(explanation=str(data.get("explanation", "")), edits=tuple(edits), **fields)

    @property
    def cell_edits(self) -> tuple[Edit, ...]:
        return tuple(e for e in self.edits if not isinstance(e, PatchFile))

    @property
    def file_edits(self) -> tuple[PatchFile, ...]:
        return tuple(e for e in self.edits if isinstance(e, PatchFile))


def proposal_json_schema() -> dict:
    """JSON schema of the stored proposal format (what `propose --json` prints), cut from the wire schema."""
    from ..wire.schema import root_schema

    return root_schema("Proposal", title="codex-nb proposal")
