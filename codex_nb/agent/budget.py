"""The bounds of a run — steps, model tokens, wall time, repairs — and what is left of each."""
from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Budget:
    max_steps: int = 12
    max_tokens: int = 60_000
    max_seconds: float = 900.0
    max_repairs: int = 2
    steps: int = 0
    tokens: int = 0
    repairs: int = 0
    started: float = field(default_factory=time.monotonic)

    def exhausted(self) -> str | None:
        """Which bound is reached (a sentence), or None while the run may take another step."""
        if self.steps >= self.max_steps:
            return f"the step bound ({self.max_steps}) is reached"
        if self.tokens >= self.max_tokens:
            return f"the token bound ({self.max_tokens}) is reached"
        if self.elapsed() >= self.max_seconds:
            return f"the time bound ({self.max_seconds:g} s) is reached"
        return None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def tokens_left(self) -> int:
        return max(0, self.max_tokens - self.tokens)

    @property
    def repairs_left(self) -> int:
        return max(0, self.max_repairs - self.repairs)

    def remaining(self) -> dict:
        return {"steps": max(0, self.max_steps - self.steps), "tokens": max(0, self.max_tokens - self.tokens),
                "seconds": round(max(0.0, self.max_seconds - self.elapsed()), 1), "repairs": self.repairs_left}
