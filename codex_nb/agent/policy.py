"""Who decides at each gate of a run: the person, or a policy they chose for the rest of the run.

Three choices, as the review offers them: "accept edits that validate" (edits go
to the engine without asking; the engine still keeps only what validates),
"always ask before running cells", "always ask for file patches and deletions".
File patches and deletions never pass without a person unless
``allow_destructive`` was set explicitly (``--approve auto`` alone does not).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..edits.model import DeleteCell, PatchFile

APPROVE = ("auto", "ask")


@dataclass(frozen=True)
class Policy:
    approve: str = "ask"  # auto: accept edits that validate; ask: a person decides every proposal
    ask_before_run: bool = False  # always ask before running cells
    ask_destructive: bool = True  # always ask for file patches and deletions …
    allow_destructive: bool = False  # … unless the person said explicitly that they may pass

    def __post_init__(self):
        if self.approve not in APPROVE:
            from ..errors import UsageProblem

            raise UsageProblem(f"unknown approval mode {self.approve!r}", hint="use --approve auto or --approve ask")

    def needs_person(self, proposal) -> bool:
        if self.destructive(proposal) and not self.allow_destructive:
            return True
        return self.approve == "ask"

    def repair_held(self, proposal) -> str | None:
        """Why a repaired proposal may not be applied without a person (None: it may).

        A repair is the model's answer too: a file patch or a deletion in it is held like one in a step.
        """
        if self.destructive(proposal) and not self.allow_destructive:
            return "it patches a file or deletes a cell, which a person must approve (propose it as a step)"
        return None

    def needs_person_to_run(self) -> bool:
        return self.ask_before_run

    @staticmethod
    def destructive(proposal) -> bool:
        return any(isinstance(e, (PatchFile, DeleteCell)) for e in proposal.edits)

    def choose(self, name: str) -> "Policy":
        """The policy after a person picked one of the review's choices for the rest of the run."""
        if name == "accept_validated":
            return replace(self, approve="auto")
        if name == "ask_before_run":
            return replace(self, ask_before_run=True)
        if name == "ask_destructive":
            return replace(self, ask_destructive=True, allow_destructive=False)
        from ..errors import UsageProblem

        raise UsageProblem(f"unknown policy {name!r}", hint="use accept_validated, ask_before_run or ask_destructive")

    def to_json(self) -> dict:
        return {"approve": self.approve, "ask_before_run": self.ask_before_run,
                "ask_destructive": self.ask_destructive, "allow_destructive": self.allow_destructive}
