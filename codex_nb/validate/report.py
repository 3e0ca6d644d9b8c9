"""``ValidationReport``: what one validation ran, where, why, and what it found.

People read cells as they see them in Jupyter: by position and execution
count, with the first line of the source (``cell [7] (In [5]) “df = load()”``,
from ``codex_nb.cellnames``). Cell ids appear only in the JSON, where programs read them.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def labels_of(nb) -> dict[str, str]:
    """Each code cell's name as the cards and drift warnings give it (``cellnames``): one style everywhere."""
    from ..cellnames import cell_name

    return {c.get("id"): cell_name(i, c) for i, c in enumerate(nb.cells) if c.get("cell_type") == "code"}


@dataclass
class ValidationReport:
    """The outcome of one validation; ``to_json()`` is the documented report format."""

    ok: bool
    mode: str  # what ran: "full" or "targeted" (a widened targeted request is "full")
    cells_run: list[str]
    seconds: float
    failed: dict | None = None
    drift: list[dict] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # cell id -> why it was selected
    widened: str | None = None  # why a targeted request ran in full
    skipped: dict[str, str] = field(default_factory=dict)  # code cells never executed, and why
    cells_selected: list[str] = field(default_factory=list)
    requested_mode: str = "full"  # "auto", "full" or "targeted"
    mode_reason: str | None = None  # why this mode ran (auto's choice, a widening)
    estimate: dict = field(default_factory=dict)  # auto: seconds a full and a targeted run would take, and from what
    kernel: str | None = None
    notebook: str | None = None
    labels: dict[str, str] = field(default_factory=dict)  # cell id -> "cell [7] (In [5]) “first line”"
    workdir: str | None = None  # where the kernel ran
    in_place: bool = False  # ran in the notebook's own directory (its files may have changed)
    linked: list[str] = field(default_factory=list)  # too large to copy: shared with the original, read-only
    network: bool = True  # whether the kernel could open network connections
    kernel_start: dict = field(default_factory=dict)  # {"spare": bool, "waited": s, "start": s}
    cell_seconds: dict[str, float] = field(default_factory=dict)  # cell id -> seconds it ran
    quiet_figures: list[str] = field(default_factory=list)  # cells whose figures were laid out, not rendered
    # On a Kernel Gateway: {"url", "kernel_id", "host", "cwd", "wanted", "sees_files", "note"}; None: this machine
    gateway: dict | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "ValidationReport":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def label(self, cell_id: str | None) -> str:
        return self.labels.get(cell_id) or (f"cell {cell_id}" if cell_id else "a cell")

    def where(self) -> str:
        if self.gateway:
            return self.gateway.get("note") or f"on the kernel gateway at {self.gateway.get('url')}"
        if self.in_place:
            return f"in place in {self.workdir}" if self.workdir else "in place"
        if not self.workdir:
            return ""
        shared = f", {len(self.linked)} large item(s) shared read-only" if self.linked else ""
        return f"in a scratch copy ({self.workdir}{shared})"

    def summary(self) -> str:
        """One line for people: what ran, why, where, how long, what broke."""
        ran = f"{len(self.cells_run)} cell{'s' if len(self.cells_run) != 1 else ''}"
        head = f"{self.mode} validation, {ran} in {self.seconds:.1f} s"
        if self.mode_reason:
            head += f" ({self.mode_reason})"
        elif self.widened:
            head += f" (widened: {self.widened})"
        where = self.where()
        if where:
            head += f", {where}"
        if self.ok:
            cells = len({d.get("cell_id") for d in self.drift})
            tail = f"; outputs changed in {cells} cell{'s' if cells != 1 else ''}" if self.drift else ""
            return f"ok: {head}{tail}"
        failed = self.failed or {}
        at = f" in {self.label(failed['cell_id'])}" if failed.get("cell_id") else ""
        return f"FAILED{at}: {failed.get('message', 'validation failed')} ({head})"

    def failure_text(self) -> str:
        """The failing cell's traceback without terminal colours, for people and for the model."""
        if not self.failed:
            return ""
        lines = [_ANSI.sub("", line) for line in self.failed.get("traceback") or []]
        return "\n".join(lines) or self.failed.get("message", "")

    def drift_by_cell(self) -> dict[str, list[dict]]:
        grouped: dict[str, list[dict]] = {}
        for item in self.drift:
            grouped.setdefault(item.get("cell_id"), []).append(item)
        return grouped

    def drift_text(self) -> str:
        """Drift per cell, each with its small diff, for people."""
        lines = []
        for cid, items in self.drift_by_cell().items():
            lines.append(f"{items[0].get('name') or self.label(cid)}: outputs changed")
            for item in items:
                lines.append(f"  {item['detail']}")
                lines.extend(f"    {d}" for d in item.get("diff", []))
        return "\n".join(lines)
