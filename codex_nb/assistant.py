"""The one pipeline behind every front door: context → provider → answer or proposal.

Magics and the CLI call ``run``: synchronous, streaming text through ``on_delta``
as it arrives (widgets run it in a thread). The server, on an event loop, runs the
same three steps itself: ``prepare`` (blocking: config, provider, context) in a
worker thread, ``answer`` (the model, read asynchronously) on the loop, ``record``
(the audit log) in a worker thread; ``arun`` chains them.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat

from . import audit, prompts
from .config import load_config
from .edits.model import Proposal
from .edits.parse import parse_answer
from .edits.schema import answer_schema
from .edits.stream_text import ExplanationStream
from .errors import ProposalError
from .notebook_io import find_repo_root, read_notebook, source_hash
from .providers.base import Completion, StructuredOutput, TextDelta, Usage
from .providers.registry import get_provider
from .providers.repetition import NOTE, RepetitionStop


@dataclass
class Result:
    kind: str
    text: str  # the Markdown answer, or the proposal's explanation
    model: str
    proposal: Proposal | None = None
    usage: Usage = field(default_factory=Usage)
    raw: str = ""  # the model's last raw answer
    context: dict = field(default_factory=dict)  # token counts and files, for display
    cancelled: bool = False

    def to_json(self) -> dict:
        return {"kind": self.kind, "text": self.text, "model": self.model, "cancelled": self.cancelled,
                "proposal": self.proposal.to_json() if self.proposal else None,
                "usage": {"prompt_tokens": self.usage.prompt_tokens, "completion_tokens": self.usage.completion_tokens},
                "context": self.context}


@dataclass
class Turn:
    """One request to the model, prepared: what to send, and what the answer must fit."""

    kind: str
    instruction: str
    provider: object
    notebook: str | os.PathLike | None
    nb: nbformat.NotebookNode | None
    anchor: Path
    repo_root: Path
    messages: list[dict]
    schema: dict | None
    max_tokens: int
    result: Result

    @property
    def structured(self) -> bool:
        return self.schema is not None


def prepare(kind: str, instruction: str, *, notebook=None, notebook_node=None, repo=None, model=None,
             kernel_state=None, active_cell=None, selected_cells=None, extra_context=None, budget=None) -> Turn:
    """Configuration, provider and context: everything before the model is called (blocking I/O and CPU)."""
    from .context import build_context
    from .context.redact import redact_text

    config = load_config()
    provider = get_provider(model, configured=config.model, timeout=config.request_timeout)
    nb = notebook_node if notebook_node is not None else (read_notebook(notebook) if notebook else None)
    anchor = Path(notebook).parent if notebook else Path(repo or os.getcwd())
    repo_root = Path(repo) if repo else find_repo_root(anchor)
    focus = f"{instruction}\n{extra_context or ''}"
    context = build_context(notebook=nb, notebook_path=notebook, query=focus, repo=repo_root, kernel_state=kernel_state,
                            active_cell=active_cell or (selected_cells[0] if selected_cells else None),
                            budget=budget or config.token_budget or provider.default_context_tokens,
                            model=provider.model_id)
    context_text = context.render()
    if extra_context:
        context_text += f"\n\n## Attached by the user\n{redact_text(extra_context)[0]}"
    if selected_cells:
        context_text += f"\n\nThe user selected cells: {', '.join(selected_cells)}"
    structured = kind in prompts.STRUCTURED_KINDS
    file_paths = [f["path"] for f in context.files[:20]] if structured and provider.offers_file_patches else []
    # The instruction can hold a pasted key too: it is redacted like everything else that leaves.
    messages = prompts.build_messages(kind, redact_text(instruction)[0], context_text, allow_files=bool(file_paths))
    schema = answer_schema(context.cell_ids, file_paths=file_paths or None, **provider.answer_limits) if structured else None
    summary = {"total_tokens": context.total_tokens, "files": context.files[:10],
               "sections": {s.name: s.tokens for s in context.sections}}
    max_tokens = min(config.max_answer_tokens, provider.max_answer_tokens or config.max_answer_tokens)
    return Turn(kind=kind, instruction=instruction, provider=provider, notebook=notebook, nb=nb, anchor=anchor,
                 repo_root=repo_root, messages=messages, schema=schema, max_tokens=max_tokens,
                 result=Result(kind=kind, text="", model=provider.model_id, context=summary))


def _settle(turn: Turn, completion, last_attempt: bool, on_delta) -> bool:
    """Take one answer into ``turn.result``; False when the model should be asked again (a malformed proposal)."""
    result = turn.result
    result.usage = Usage(result.usage.prompt_tokens + completion.usage.prompt_tokens,
                         result.usage.completion_tokens + completion.usage.completion_tokens)
    result.raw = completion.text
    result.model = completion.model
    if completion.finish_reason == "cancelled":
        result.cancelled = True
        result.text = completion.text
        return True
    if not turn.structured:
        result.text = completion.text.strip()
        return True
    try:
        proposal = parse_answer(completion.text, turn.nb, model=completion.model,
                                notebook=str(turn.notebook) if turn.notebook else None,
                                finish_reason=completion.finish_reason,
                                file_hash=lambda p: _file_hash(turn.repo_root, p))
    except ProposalError as exc:
        if last_attempt:
            # what the unusable answers cost is counted where tokens are bounded (the agent's budget)
            exc.fields.setdefault("tokens", result.usage.prompt_tokens + result.usage.completion_tokens)
            raise
        turn.messages = [*turn.messages, {"role": "assistant", "content": completion.text[:4000]},
                         prompts.retry_message(str(exc))]
        if on_delta:
            on_delta("\n")
        return False
    result.proposal, result.text = proposal, proposal.explanation
    return True


def record(turn: Turn, *, user: str | None = None) -> Result:
    """Write the finished turn to the audit log (cancelled turns are not recorded); return its Result.

    ``user``: the server's identity-provider user who asked (default: the OS user).
    """
    result = turn.result
    if not result.cancelled:
        audit.record("asked" if not turn.structured else "proposed", turn.notebook or turn.anchor, user=user,
                     notebook=str(turn.notebook) if turn.notebook else None, kind=turn.kind,
                     instruction_hash=audit.instruction_hash(turn.instruction), model=result.model,
                     proposal_id=result.proposal.id if result.proposal else None,
                     edits=[e.op for e in result.proposal.edits] if result.proposal else [],
                     usage=result.to_json()["usage"])
    return result


def run(kind: str, instruction: str, *, notebook: str | os.PathLike | None = None,
        notebook_node: nbformat.NotebookNode | None = None, repo: str | os.PathLike | None = None,
        model: str | None = None, kernel_state: dict | None = None, active_cell: str | None = None,
        selected_cells: list[str] | None = None, extra_context: str | None = None,
        on_delta: Callable[[str], None] | None = None, cancel: threading.Event | None = None,
        budget: int | None = None, attempts: int = 2) -> Result:
    """Ask the model; return an answer (ask/explain) or a checked Proposal (propose/fix/review/notebook)."""
    turn = prepare(kind, instruction, notebook=notebook, notebook_node=notebook_node, repo=repo, model=model,
                    kernel_state=kernel_state, active_cell=active_cell, selected_cells=selected_cells,
                    extra_context=extra_context, budget=budget)
    for attempt in range(max(1, attempts)):
        completion = _stream(turn, on_delta, cancel)
        if _settle(turn, completion, attempt + 1 >= attempts, on_delta):
            break
    return record(turn)


async def arun(kind: str, instruction: str, *, executor=None, on_delta: Callable[[str], None] | None = None,
               cancel: threading.Event | None = None, attempts: int = 2, **options) -> Result:
    """``run`` for an event loop: ``prepare`` and ``record`` (blocking) go to ``executor``, the model is read on the loop.

    Takes the same keyword options as ``run``; ``on_delta`` is called on the loop.
    """
    import asyncio
    import functools

    loop = asyncio.get_running_loop()
    turn = await loop.run_in_executor(executor, functools.partial(prepare, kind, instruction, **options))
    await answer(turn, on_delta=on_delta, cancel=cancel, attempts=attempts)
    return await loop.run_in_executor(executor, record, turn)


async def answer(turn: Turn, *, on_delta: Callable[[str], None] | None = None, cancel: threading.Event | None = None,
                 attempts: int = 2) -> Result:
    """Ask the model for a prepared turn, on the event loop, without a thread (the caller then ``record``s it)."""
    for attempt in range(max(1, attempts)):
        completion = await _astream(turn, on_delta, cancel)
        if _settle(turn, completion, attempt + 1 >= attempts, on_delta):
            break
    return turn.result


def _structured_output(turn: Turn) -> StructuredOutput | None:
    # A provider without native structured output follows the format stated in the prompt;
    # parse_answer then also accepts JSON in prose or fenced code blocks.
    if turn.schema and turn.provider.supports_structured_output:
        return StructuredOutput(schema=turn.schema, name="propose_edits")
    return None


class _Shown:
    """What the user sees of one attempt's stream: the text, or for a proposal its explanation."""

    def __init__(self, turn: Turn, on_delta):
        self.on_delta = on_delta
        self.structured = turn.structured
        self.reader = ExplanationStream() if turn.structured else None

    def __call__(self, event: TextDelta) -> None:
        if self.on_delta is None:
            return
        if event.restart:
            self.reader = ExplanationStream() if self.structured else None
            self.on_delta("\n[connection dropped — retrying]\n")
            return
        if event.notice:  # about the stream, not part of the answer
            self.on_delta(event.text)
            return
        text = self.reader.feed(event.text) if self.reader is not None else event.text
        if text:
            self.on_delta(text)


def _stream(turn: Turn, on_delta, cancel):
    final, show, loop = None, _Shown(turn, on_delta), _loop_stop(turn, cancel)
    for event in turn.provider.stream(turn.messages, structured=_structured_output(turn), max_tokens=turn.max_tokens,
                                      cancel=loop.event if loop else cancel):
        if isinstance(event, TextDelta):
            _show_unless_looping(event, show, loop)
        else:
            final = event
    return _looped(turn, loop, final, show)


async def _astream(turn: Turn, on_delta, cancel):
    final, show, loop = None, _Shown(turn, on_delta), _loop_stop(turn, cancel)
    async for event in turn.provider.astream(turn.messages, structured=_structured_output(turn),
                                             max_tokens=turn.max_tokens, cancel=loop.event if loop else cancel):
        if isinstance(event, TextDelta):
            _show_unless_looping(event, show, loop)
        else:
            final = event
    return _looped(turn, loop, final, show)


def _loop_stop(turn: Turn, cancel) -> RepetitionStop | None:
    """Free-text answers are cut once the model loops; a proposal's JSON repeats by design."""
    return None if turn.structured else RepetitionStop(cancel)


def _show_unless_looping(event: TextDelta, show: _Shown, loop: RepetitionStop | None) -> None:
    """Show the delta; once the answer loops the provider is stopping, and what it still sends is not shown
    (the stream is read to its end all the same: the tokens it cost come with it)."""
    if loop is not None and loop.kept is not None:
        return
    show(event)
    if loop is not None:
        loop.feed(event)


def _looped(turn: Turn, loop: RepetitionStop | None, final, show: _Shown):
    """The attempt's final event; for an answer that looped, cut after the loop's first copy, with a note."""
    if loop is None or loop.kept is None:
        return final
    if final is None:  # the stream was left at the loop: the provider's own end was not read
        final = Completion(loop.kept, turn.provider.model_id, Usage(), "cancelled")
    settled = loop.settled(final)
    if settled.finish_reason == "repetition":
        show(TextDelta(f"\n\n{NOTE}\n", notice=True))
    return settled


def _file_hash(root: Path, relative: str) -> str | None:
    from .edits.files import confined_path

    try:
        path = confined_path(root, relative)
        # the exact text, as the engine hashes it when it checks staleness (read_text would turn CRLF into LF,
        # and every patch to a CRLF file would be refused as stale)
        return source_hash(path.read_bytes().decode("utf-8")) if path.exists() else None
    except Exception:
        return None  # applying reports the exact problem with this path


def propose(notebook, instruction: str, **kw) -> Proposal:
    """Python API: a checked proposal for ``instruction`` on ``notebook``."""
    result = run("propose", instruction, notebook=notebook, **kw)
    return result.proposal


def ask(instruction: str, **kw) -> str:
    return run("ask", instruction, **kw).text


def repair(notebook_path, proposal: Proposal, failure: dict, *, model: str | None = None,
           on_delta: Callable[[str], None] | None = None, cancel: threading.Event | None = None,
           notebook_node: nbformat.NotebookNode | None = None, **kw) -> Proposal:
    """Ask for a corrected proposal after ``proposal`` failed validation (and was rolled back).

    ``notebook_node`` is the live notebook when a front end has it (the file may lag behind).
    """
    return repair_result(notebook_path, proposal, failure, model=model, on_delta=on_delta, cancel=cancel,
                         notebook_node=notebook_node, **kw).proposal


def repair_result(notebook_path, proposal: Proposal, failure: dict, *, model: str | None = None,
                  on_delta: Callable[[str], None] | None = None, cancel: threading.Event | None = None,
                  notebook_node: nbformat.NotebookNode | None = None, **kw) -> Result:
    """``repair`` with the whole Result: the fixed proposal (None if cancelled) and the tokens it took."""
    from .edits.diff import proposal_diffs, render_text

    nb = notebook_node if notebook_node is not None else read_notebook(notebook_path)
    diffs = render_text(proposal_diffs(nb, proposal))
    return run("fix", prompts.repair_instruction(failure, diffs), notebook=notebook_path, notebook_node=nb,
               model=model or proposal.model or None, on_delta=on_delta, cancel=cancel,
               active_cell=failure.get("cell_id"), **kw)


def apply_proposal(notebook_path, proposal: Proposal, *, repo_root=None, validate: bool = False, **flags):
    """Python API: accept a proposal into the notebook file through the engine; returns its Outcome.

    Without ``validate`` the change is kept as applied (all or nothing); with it, it is kept only
    if the notebook (and the project's gates) still pass.
    """
    from .engine import accept_file

    return accept_file(notebook_path, proposal, source="api", repo_root=repo_root, validate=validate, **flags)
