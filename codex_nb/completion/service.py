"""Running inline completions: one at a time per editor, cached, and speculated ahead for local models.

A person types faster than a model answers. Each keystroke that pauses sends a
new request; the one before it is then useless, so a newer request from the same
editor cancels the older one *on the server*: the model is told to stop (the
llama.cpp callback returns True, an HTTP stream is closed), not just ignored.

The cache remembers recent answers by what the model saw. It also serves
typing-through: when the user types the first characters of the suggestion
shown, the rest of that suggestion is still the answer, with no model call.
After a local model's answer, the completion that would follow it (if the user
accepts) is prepared in the background, so Tab and the next pause find it ready.

A job may ask for several suggestions (Alt-] / Alt-[ cycle through them). The first
streams as before; the others come from the same model response where the backend
can give them (``Backend.alternatives``), are cut by the same line limit, and are
kept only when they differ from the first and from each other.
"""
from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

from .backends import Backend
from .context import CompletionContext

CACHE_SIZE = 256
TYPE_THROUGH_PER_GROUP = 8  # answers per context kept for typing-through


@dataclass
class Job:
    """One completion request as the service runs it."""

    editor_id: str
    backend: Backend
    ctx: CompletionContext
    raw_prefix: str  # the cell's text before the cursor, before budgeting (the cache key's part)
    max_lines: int
    max_tokens: int = 64
    suggestions: int = 1  # how many distinct suggestions are wanted (the first streams)
    seq: int = 0  # arrival order among this editor's requests (CompletionService.arrive)

    @property
    def group(self) -> tuple:
        return (self.backend.model_id, self.ctx.key(), self.max_lines, self.suggestions > 1)

    @property
    def key(self) -> tuple:
        return (*self.group, self.raw_prefix)


@dataclass
class Outcome:
    text: str
    cached: bool = False
    speculated: bool = False
    cancelled: bool = False
    alternatives: list[str] = field(default_factory=list)  # the other distinct suggestions, best first


def distinct_alternatives(first: str, others: list[str], limit: int) -> list[str]:
    """The non-empty ``others`` that differ from ``first`` and each other (whitespace at the ends ignored)."""
    seen = {first.strip()}
    kept = []
    for text in others:
        if text.strip() and text.strip() not in seen and len(kept) < limit:
            seen.add(text.strip())
            kept.append(text)
    return kept


@dataclass
class _Running:
    cancel: threading.Event = field(default_factory=threading.Event)
    task: asyncio.Task | None = None
    key: tuple | None = None
    speculative: bool = False

    def stop(self) -> None:
        self.cancel.set()
        if self.task is not None and not self.task.done():
            self.task.cancel()


class LineLimit:
    """Cuts streamed text after ``max_lines`` lines, or where it starts to repeat the code after the cursor."""

    def __init__(self, max_lines: int, suffix: str):
        self.max_lines = max_lines
        self.text = ""
        self.full = False
        following = [ln.strip() for ln in suffix.split("\n") if ln.strip()]
        self.next_line = following[0] if following else ""

    def feed(self, piece: str) -> str:
        """The part of ``piece`` that is kept ("" once the limit is reached; then ``full`` is True)."""
        if self.full:
            return ""
        candidate = self.text + piece
        lines = candidate.split("\n")
        keep_lines = None
        if len(lines) > self.max_lines:
            keep_lines = self.max_lines
        if self.next_line:
            # only whole lines (followed by a newline) can be compared; the first is the cursor's own line
            for k in range(1, len(lines) - 1):
                if lines[k].strip() == self.next_line:
                    keep_lines = k if keep_lines is None else min(k, keep_lines)
                    break
        if keep_lines is None:
            self.text = candidate
            return piece
        self.full = True
        cut = "\n".join(lines[:keep_lines])
        kept = cut[len(self.text):] if len(cut) > len(self.text) else ""
        self.text = self.text + kept
        return kept

    def result(self) -> str:
        return self.text.rstrip("\n") if self.text.strip() else ""


class CompletionService:
    """One per server: the running job per editor, the answer cache, speculation."""

    def __init__(self, cache_size: int = CACHE_SIZE):
        self.cache_size = cache_size
        self.cache: OrderedDict[tuple, str] = OrderedDict()
        self.alternatives: dict[tuple, list[str]] = {}  # cache key -> the other suggestions (pruned with the cache)
        self.groups: dict[tuple, OrderedDict[str, str]] = {}  # group -> {raw prefix: answer}, for typing-through
        self.running: dict[str, _Running] = {}
        self.speculations: dict[tuple, asyncio.Task] = {}
        self.arrivals: dict[str, int] = {}  # editor -> number of its newest request
        self.counts = {"requests": 0, "hits": 0, "type_through": 0, "speculation_hits": 0, "cancelled": 0,
                       "model_calls": 0, "speculations": 0}

    # -- cache ----------------------------------------------------------------------------------
    def lookup(self, job: Job) -> str | None:
        hit = self.cache.get(job.key)
        if hit is not None:
            self.cache.move_to_end(job.key)
            return hit
        for prefix, answer in reversed((self.groups.get(job.group) or {}).items()):
            whole = prefix + answer
            if job.raw_prefix.startswith(prefix) and whole.startswith(job.raw_prefix) and len(whole) > len(job.raw_prefix):
                self.counts["type_through"] += 1
                return whole[len(job.raw_prefix):]
        return None

    def remember(self, job: Job, text: str, alternatives: list[str] = ()) -> None:
        self.cache[job.key] = text
        if alternatives:
            self.alternatives[job.key] = list(alternatives)
        else:
            self.alternatives.pop(job.key, None)
        self.cache.move_to_end(job.key)
        while len(self.cache) > self.cache_size:
            old = self.cache.popitem(last=False)[0]
            self.alternatives.pop(old, None)
            group = self.groups.get(old[:-1])
            if group is not None:
                group.pop(old[-1], None)
                if not group:
                    self.groups.pop(old[:-1], None)
        if text:
            group = self.groups.setdefault(job.group, OrderedDict())
            group[job.raw_prefix] = text
            while len(group) > TYPE_THROUGH_PER_GROUP:
                group.popitem(last=False)

    # -- running ----------------------------------------------------------------------------------
    def cancel_editor(self, editor_id: str, *, keep: tuple | None = None, speculation: bool = True) -> None:
        """Stop what runs for this editor. A speculation goes on when it is for ``keep`` (the answer
        wanted) or ``speculation`` is False (the next request may want it)."""
        running = self.running.get(editor_id)
        if running is None or (running.speculative and (running.key == keep or not speculation)):
            return
        self.running.pop(editor_id, None)
        if not running.speculative:
            self.counts["cancelled"] += 1
        running.stop()

    def arrive(self, editor_id: str) -> int:
        """Number a request as it arrives: one that overtakes an older one (its context was built
        sooner) must not be cancelled by that older one when it catches up."""
        if len(self.arrivals) > 10_000:
            self.arrivals.clear()
        seq = self.arrivals[editor_id] = self.arrivals.get(editor_id, 0) + 1
        return seq

    def cancel_job(self, job: Job) -> None:
        """Stop ``job`` if it is still the one running for its editor (its client has gone)."""
        running = self.running.get(job.editor_id)
        if running is not None and running.key == job.key and not running.speculative:
            self.cancel_editor(job.editor_id)

    async def complete(self, job: Job, on_text: Callable[[str], None]) -> Outcome:
        """Answer ``job``, calling ``on_text`` with each new piece; a newer job for the editor cancels this one."""
        self.counts["requests"] += 1
        if job.seq and job.seq < self.arrivals.get(job.editor_id, 0):
            self.counts["cancelled"] += 1
            return Outcome("", cancelled=True)  # a newer request from this editor has arrived meanwhile
        self.cancel_editor(job.editor_id, keep=job.key)
        hit = self.lookup(job)
        if hit is not None:
            self.counts["hits"] += 1
            on_text(hit)
            self._speculate_after(job, hit)
            return Outcome(hit, cached=True, alternatives=list(self.alternatives.get(job.key, ())))
        speculation = self.speculations.get(job.key)
        if speculation is not None and not speculation.done():
            running = self.running[job.editor_id] = _Running(task=speculation, key=job.key, speculative=True)
            try:
                text = await asyncio.shield(speculation)
            except asyncio.CancelledError:
                if self.running.get(job.editor_id) is running:
                    self.running.pop(job.editor_id, None)
                return Outcome("", cancelled=True)
            if text is not None:
                self.counts["speculation_hits"] += 1
                on_text(text)
                self._speculate_after(job, text)
                return Outcome(text, cached=True, speculated=True,
                               alternatives=list(self.alternatives.get(job.key, ())))
        running = self.running[job.editor_id] = _Running(key=job.key)
        running.task = asyncio.ensure_future(self._generate(job, running.cancel, on_text))
        try:
            text = await running.task
        except asyncio.CancelledError:
            if running.task.cancelled():
                return Outcome("", cancelled=True)
            running.stop()
            raise  # the caller itself is being cancelled
        finally:
            if self.running.get(job.editor_id) is running:
                self.running.pop(job.editor_id, None)
        if text is None:
            return Outcome("", cancelled=True)
        self._speculate_after(job, text)
        return Outcome(text, alternatives=list(self.alternatives.get(job.key, ())))

    async def _generate(self, job: Job, cancel: threading.Event, on_text: Callable[[str], None] | None) -> str | None:
        """Run the model; the kept text, or None when cancelled. Stops the model at the line limit."""
        self.counts["model_calls"] += 1
        limit = LineLimit(job.max_lines, job.ctx.suffix)
        others: dict[int, LineLimit] = {}
        wanted = min(job.suggestions - 1, job.backend.alternatives)

        def on_alternative(index: int, piece: str) -> None:
            if 1 <= index <= wanted:
                others.setdefault(index, LineLimit(job.max_lines, job.ctx.suffix)).feed(piece)

        stream = job.backend.stream(job.ctx, max_tokens=job.max_tokens, stop=[], cancel=cancel,
                                    on_alternative=on_alternative if wanted else None)
        loop_closing = False
        try:
            async for piece in stream:
                if cancel.is_set() and not limit.full:
                    return None
                kept = limit.feed(piece) if not limit.full else ""
                if kept and on_text is not None:
                    on_text(kept)
                if limit.full and (not wanted or (len(others) == wanted and all(o.full for o in others.values()))):
                    cancel.set()  # enough lines: the model stops now, not at max_tokens
                    break
        except GeneratorExit:
            # The event loop is closing this coroutine while the stream is mid-read: nothing can be awaited
            # any more, and the loop's own async-generator finaliser closes the stream.
            loop_closing = True
            cancel.set()
            raise
        finally:
            if not loop_closing:
                await stream.aclose()
        if cancel.is_set() and not limit.full:
            return None
        text = limit.result()
        alternatives = distinct_alternatives(text, [others[i].result() for i in sorted(others)], wanted)
        self.remember(job, text, alternatives)
        return text

    def _speculate_after(self, job: Job, text: str) -> None:
        """For a local model: prepare the completion that follows ``text`` once it is accepted."""
        if not job.backend.local or not text.strip():
            return
        prefix = job.raw_prefix + text
        nxt = dataclasses.replace(job, raw_prefix=prefix, ctx=dataclasses.replace(job.ctx, prefix=job.ctx.prefix + text))
        if nxt.key in self.cache or nxt.key in self.speculations or job.editor_id in self.running:
            return
        self.counts["speculations"] += 1
        running = self.running[job.editor_id] = _Running(key=nxt.key, speculative=True)

        async def run():
            try:
                return await self._generate(nxt, running.cancel, None)
            finally:
                self.speculations.pop(nxt.key, None)
                if self.running.get(job.editor_id) is running:
                    self.running.pop(job.editor_id, None)

        running.task = self.speculations[nxt.key] = asyncio.ensure_future(run())
        running.task.add_done_callback(_ignore_result)


def _ignore_result(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()  # a failed speculation is only a missed chance; do not log it as unhandled
