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
from typing import Literal, Union

from ..errors import ProposalError

PROPOSAL_VERSION = 1
CELL_TYPES = ("code", "markdown", "raw")


@dataclass(frozen=True)
class InsertCell:
    source: str
    cell_type: str = "code"
    after: str | None = None  # insert after this cell id …
    before: str | None = None  # … or before this one; neither means "at the end"
    new_id: str = field(default_factory=lambda: os.urandom(4).hex())
    op: Literal["insert"] = "insert"


@dataclass(frozen=True)
class ReplaceCell:
    cell_id: str
    source: str
    base_hash: str
    cell_type: str | None = None  # None keeps the cell's type
    op: Literal["replace"] = "replace"


@dataclass(frozen=True)
class DeleteCell:
    cell_id: str
    base_hash: str
    op: Literal["delete"] = "delete"


@dataclass(frozen=True)
class PatchFile:
    path: str  # relative to the repository root, POSIX separators
    diff: str | None = None  # a unified diff …
    search: str | None = None  # … or one search/replace pair
    replace: str | None = None
    base_hash: str | None = None  # hash of the file when proposed; None for a new file
    op: Literal["patch_file"] = "patch_file"


Edit = Union[InsertCell, ReplaceCell, DeleteCell, PatchFile]
_EDIT_TYPES = {"insert": InsertCell, "replace": ReplaceCell, "delete": DeleteCell, "patch_file": PatchFile}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Proposal:
    explanation: str
    edits: tuple[Edit, ...] = ()
    model: str = ""
    notebook: str | None = None
    id: str = field(default_factory=lambda: "p-" + os.urandom(6).hex())
    created: str = field(default_factory=_now)
    version: int = PROPOSAL_VERSION

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
                raise ProposalError(f"edit {i} ({raw['op']}) is missing a field: {exc}", hint="see the proposal schema in codex_nb/edits/model.py") from exc
        fields = {k: data[k] for k in ("id", "created", "model", "notebook") if k in data}
        return cls(explanation=str(data.get("explanation", "")), edits=tuple(edits), **fields)

    @property
    def cell_edits(self) -> tuple[Edit, ...]:
        return tuple(e for e in self.edits if not isinstance(e, PatchFile))

    @property
    def file_edits(self) -> tuple[PatchFile, ...]:
        return tuple(e for e in self.edits if isinstance(e, PatchFile))


def proposal_json_schema() -> dict:
    """JSON schema of the stored proposal format (what `propose --json` prints)."""
    cell_id = {"type": "string", "minLength": 1}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "codex-nb proposal",
        "type": "object",
        "required": ["version", "id", "explanation", "edits"],
        "properties": {
            "version": {"const": PROPOSAL_VERSION},
            "id": {"type": "string"},
            "explanation": {"type": "string"},
            "model": {"type": "string"},
            "notebook": {"type": ["string", "null"]},
            "created": {"type": "string"},
            "edits": {
                "type": "array",
                "items": {
                    "oneOf": [
                        {"type": "object", "required": ["op", "source", "new_id"], "properties": {
                            "op": {"const": "insert"}, "source": {"type": "string"}, "new_id": cell_id,
                            "cell_type": {"enum": list(CELL_TYPES)},
                            "after": {"type": ["string", "null"]}, "before": {"type": ["string", "null"]}}},
                        {"type": "object", "required": ["op", "cell_id", "source", "base_hash"], "properties": {
                            "op": {"const": "replace"}, "cell_id": cell_id, "source": {"type": "string"},
                            "base_hash": {"type": "string"}, "cell_type": {"enum": [*CELL_TYPES, None]}}},
                        {"type": "object", "required": ["op", "cell_id", "base_hash"], "properties": {
                            "op": {"const": "delete"}, "cell_id": cell_id, "base_hash": {"type": "string"}}},
                        {"type": "object", "required": ["op", "path"], "properties": {
                            "op": {"const": "patch_file"}, "path": {"type": "string"},
                            "diff": {"type": ["string", "null"]}, "search": {"type": ["string", "null"]},
                            "replace": {"type": ["string", "null"]}, "base_hash": {"type": ["string", "null"]}}},
                    ]
                },
            },
        },
    }
