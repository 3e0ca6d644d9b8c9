"""The one trust loop: decision → lock → plan → apply → gates → keep | roll back → repair → audit.

Every front door hands ``Engine.accept`` a proposal, the indexes of the edits a
person accepted and an *applier* (where the notebook lives), and draws the
events it emits. Nothing else in codex-nb applies, validates or rolls back.

    async with locks(notebook, patched files):
        before = applier.read()                 # re-read under the lock: staleness is checked against this
        ops, undo = plan(before, edits)         # refuses stale / dangling / invalid edits; nothing written yet
        files.write(); after = applier.apply(ops)   # all or nothing: a refused apply restores the files
        verify(after)                           # reported done only once read back
        gates(change) → keep (audit, undo entry) | applier.revert + files.restore (exact) → repair?
"""
from __future__ import annotations

import asyncio
import dataclasses
import inspect
import os
import uuid
from pathlib import Path
from typing import Callable

from .. import audit
from ..cancel import Cancel
from ..errors import CodexError, EditRefused
from . import events as ev
from .filechange import FileChange
from .gates import ChangeUnderTest, GateResult
from .locks import PathLocks
from .notebook_gate import accepts
from .outcome import CommitOffer, Failure, Outcome, Repaired, UndoEntry
from .settings import Settings

Emit = Callable[[dict], None]
# async (proposal, failure: Failure, notebook, notebook_path, on_delta[, cancel]) -> Proposal | Repaired
Repairer = Callable[..., "asyncio.Future"]
CANCEL_GRACE = 3.0  # seconds a stopped gate gets to end what it runs (a validation kernel) before the rollback


class Engine:
    def __init__(self, settings: Settings, *, source: str, anchor=None, repo_root=None, user: str | None = None,
                 gates: list | None = None, repairer=None, history: list | None = None):
        self.settings = settings
        self.source = source  # cli | kernel | server | agent | api — stamped on every audit line
        self.anchor = anchor  # where the audit log is found (the notebook, or a directory)
        self.repo_root = Path(repo_root) if repo_root else None
        self.user = user  # set only by trusted code (the server's identity provider)
        self.gates = gates if gates is not None else default_gates()
        self.repairer = repairer or self._assistant_repair
        self.history = history if history is not None else []  # UndoEntry, newest last (shared with %codex undo)

    # -- decisions ------------------------------------------------------------------------
    def reject(self, proposal, indexes: list[int], notebook=None, emit: Emit | None = None) -> None:
        event = ev.Decided("rejected", list(indexes))
        self._audit("decided", notebook, proposal.id, decision="rejected", edits=list(indexes))
        _send(emit, event)

    async def accept(self, proposal, applier, indexes: list[int] | None = None, *, emit: Emit | None = None,
                     repair: int | None = None, cancel=None, repair_tokens: int | None = None,
                     repair_check=None) -> Outcome:
        """Apply the chosen edits, judge them, keep or roll back; with ``repair`` > 0 ask for fixes and retry.

        ``cancel`` (a ``threading.Event``: the door's Stop) stops the validation in flight, and so does
        cancelling the task that awaits this: the gate ends its kernel, the change is rolled back exactly
        and is not repaired. ``repair_tokens`` bounds the model tokens repairs may take: no repair starts
        once they are spent (``Outcome.repair_tokens`` says how many the repairs took). ``repair_check``
        (proposal -> reason or None) may hold a repaired proposal back for a person (the agent's policy:
        file patches and deletions never pass unasked); the rollback then stands and the reason is told.
        """
        indexes = list(range(len(proposal.edits))) if indexes is None else sorted(set(indexes))
        rounds = self.settings.repair if repair is None else repair
        notebook = applier.notebook_path
        token = Cancel(cancel)
        _send(emit, ev.Decided("accepted", indexes))
        self._audit("decided", notebook, proposal.id, decision="accepted", edits=indexes)
        current = _subset(proposal, indexes)
        outcome = None
        spent = 0
        try:
            for attempt in range(rounds + 1):
                outcome = await self._attempt(current, indexes if attempt == 0 else list(range(len(current.edits))),
                                              applier, emit, attempt + 1, token)
                outcome.repair_tokens = spent
                if outcome.status != "rolled_back" or attempt == rounds or token.is_set():
                    break
                if repair_tokens is not None and spent >= repair_tokens:
                    _send(emit, ev.Status(f"Not repaired: the model tokens allowed for repairs ({repair_tokens}) "
                                          "are spent.", notice=True))
                    break
                fixed = await self.repair(outcome, applier, emit=emit, attempt=attempt + 1, cancel=token)
                spent = outcome.repair_tokens
                if fixed is None or token.is_set():
                    break
                held = repair_check(fixed) if repair_check is not None else None
                if held:
                    _send(emit, ev.Status(f"The repair was not applied: {held}", notice=True))
                    self._audit("refused", notebook, fixed.id, reason=f"repair held for a person: {held}")
                    break
                current = fixed
        except asyncio.CancelledError:
            token.set()  # what still runs in a worker thread for this acceptance (a repair's model call) ends too
            raise
        _send(emit, ev.Finished(outcome.to_json()))
        return outcome

    async def repair(self, outcome: Outcome, applier, *, emit: Emit | None = None, attempt: int = 1, cancel=None):
        """Ask the model to fix a rolled-back change; the fixed proposal (not applied), or None.

        The model tokens the repair took are added to ``outcome.repair_tokens`` (when the repairer says).
        """
        from ..edits.model import Proposal

        failure = Failure(**outcome.failure) if outcome.failure else Failure(gate="unknown", summary=outcome.reason)
        proposal = Proposal.from_json(outcome.proposal)
        _send(emit, ev.RepairStarted(attempt))
        try:
            notebook = await applier.read()
            extra = {"cancel": cancel} if cancel is not None and accepts(self.repairer, "cancel") else {}
            fixed = self.repairer(proposal, failure, notebook, applier.notebook_path,
                                  lambda text: _send(emit, ev.RepairDelta(text)), **extra)
            if inspect.isawaitable(fixed):
                fixed = await fixed
        except CodexError as exc:
            outcome.repair_tokens += int(exc.fields.get("tokens") or 0)  # a malformed answer was paid for too
            _send(emit, ev.RepairFailed(attempt, str(exc)))
            return None
        if isinstance(fixed, Repaired):
            outcome.repair_tokens += fixed.tokens
            fixed = fixed.proposal
        if fixed is None:  # the model's answer was cut off by Stop
            _send(emit, ev.RepairFailed(attempt, "the repair was stopped"))
            return None
        self._audit("repair", applier.notebook_path, proposal.id, attempt=attempt, new_proposal_id=fixed.id)
        _send(emit, ev.RepairProposed(attempt, fixed.to_json()))
        return fixed

    # -- one attempt ----------------------------------------------------------------------
    async def _attempt(self, proposal, indexes, applier, emit, attempt: int, cancel: Cancel) -> Outcome:
        notebook = applier.notebook_path
        outcome = Outcome(id="a-" + uuid.uuid4().hex[:12], proposal_id=proposal.id, status="refused",
                          edits=indexes, attempts=attempt, proposal=proposal.to_json())
        root = self._root(notebook)
        try:
            files = FileChange.planned(root, proposal.file_edits)
        except EditRefused as exc:
            return self._refused(outcome, exc, notebook, emit)
        async with PathLocks([*applier.lock_paths, *files.paths], timeout=self.settings.lock_timeout):
            try:
                _send(emit, ev.Status("Reading the notebook…"))
                before = await applier.read()
                ops, undo_ops = _plan(before, proposal)
                files.recheck()
                ask = None
                if self.settings.commit == "on" and (files.paths or (ops and applier.kind == "file")):
                    from ..gates.commit import check_clean

                    # a commit must not carry the person's unfinished edits, unless they allowed it
                    dirty = check_clean(root, _committed(files, applier if ops else None, root),
                                        allow_dirty=self.settings.commit_allow_dirty)
                    if dirty:
                        _send(emit, ev.Status(f"The commit will also carry your uncommitted edits to "
                                              f"{', '.join(dirty)} (allowed by commit_allow_dirty).", notice=True))
                elif self.settings.commit == "ask" and (files.paths or (ops and applier.kind == "file")):
                    ask = _ask_state(root, _committed(files, applier if ops else None, root))
            except CodexError as exc:
                return self._refused(outcome, exc, notebook, emit)
            try:
                files.write()
                after = before
                if ops:
                    _send(emit, ev.Status("Applying to the notebook…"))
                    after = await applier.apply(ops)
                    _verify_landed(after, ops)
            except NotLanded as exc:
                await _quiet(applier.revert(undo_ops))
                files.restore()
                return self._refused(outcome, exc, notebook, emit)
            except EditRefused as exc:
                files.restore()
                return self._refused(outcome, exc, notebook, emit)
            except BaseException:
                files.restore()
                raise
            from ..edits.live_ops import touched_cell_ids

            outcome.cells = touched_cell_ids(before, proposal)
            outcome.files = files.relative()
            change = ChangeUnderTest(repo_root=root, notebook_path=notebook, before=before, after=after,
                                     changed_cells=outcome.cells, changed_files=outcome.files, settings=self.settings,
                                     cancel=cancel)
            try:
                self._audit("applied", notebook, proposal.id, edits=indexes, cells=outcome.cells, files=outcome.files,
                            applier=applier.kind)
                _send(emit, ev.Applied(indexes, outcome.cells, outcome.files, applier.kind))
                results = await self._judge(change, proposal.id, emit) if self.settings.validate else []
            except BaseException:
                # Stop, an interrupt or a crash mid-validation must not leave an unvalidated edit behind.
                stopped = cancel.is_set()
                problems = await _put_back(applier, before, undo_ops, files)
                reason = "validation was stopped" if stopped else "validation did not finish"
                self._audit("rolled_back", notebook, proposal.id, exact=not problems, files=outcome.files,
                            reason=reason if not problems else "; ".join(problems),
                            **({"kind": "cancelled"} if stopped else {}))
                failure = Failure(gate="validation", summary=reason,
                                  kind="cancelled" if stopped else None)
                _send(emit, ev.RolledBack(not problems, outcome.files, failure.to_json(), "; ".join(problems)))
                raise
            outcome.gates = [r.to_json() for r in results]
            outcome.validated = bool(results)
            if all(r.ok for r in results):
                return self._keep(outcome, proposal, undo_ops, files, applier, emit, results, root, ask)
            return await self._roll_back(outcome, proposal, results, before, undo_ops, files, applier, emit,
                                         stopped=cancel.is_set())

    async def _judge(self, change: ChangeUnderTest, proposal_id: str, emit) -> list[GateResult]:
        results = []
        loop = asyncio.get_running_loop()
        for gate in self.gates:
            if not gate.applies(change):
                continue
            if change.cancel.is_set():  # stopped between gates: a change not fully judged is not kept
                results.append(GateResult(gate=gate.name, ok=False, summary=f"{gate.name}: not run, validation "
                                          "was stopped", detail={"failed": {"kind": "cancelled"}}))
                break
            _send(emit, ev.Status(f"Validating ({gate.name})…"))

            def progress(event, name=gate.name):
                # Gates run in a worker thread; doors draw events on the engine's loop (an SSE stream must).
                loop.call_soon_threadsafe(_send, emit, ev.Progress(name, event))

            running = loop.run_in_executor(None, gate.run, change, progress)
            try:
                # shielded: on Stop the gate's thread is told through change.cancel and waited for below
                result = await asyncio.shield(running)
            except asyncio.CancelledError:
                change.cancel.set()
                # The gate kills what it runs (the validation kernel) on the token; wait for that, so
                # nothing it started outlives the rollback. A gate deaf to the token is left behind.
                await asyncio.wait({running}, timeout=CANCEL_GRACE)
                if running.done() and not running.cancelled() and running.exception() is None:
                    results.append(running.result())
                    self._validated(change, proposal_id, emit, results)
                raise
            except Exception as exc:  # a crashing gate must not make an unchecked edit look checked
                result = GateResult(gate=gate.name, ok=False, summary=f"{gate.name} check could not run: "
                                    f"{type(exc).__name__}: {exc}", repair_text="")
            results.append(result)
            if not result.ok:
                break  # the change is rolled back anyway; later gates would judge a change that is going away
        self._validated(change, proposal_id, emit, results)
        return results

    def _validated(self, change: ChangeUnderTest, proposal_id: str, emit, results: list[GateResult]) -> None:
        summary = "; ".join(r.summary for r in results) or "nothing to validate"
        self._audit("validated", change.notebook_path, proposal_id, ok=all(r.ok for r in results),
                    mode=next((r.detail.get("mode") for r in results if r.gate == "notebook" and r.detail.get("mode")),
                              "not run"),
                    gates=[{"gate": r.gate, "ok": r.ok, "summary": r.summary} for r in results],
                    seconds=round(sum(r.seconds for r in results), 3))
        _send(emit, ev.Validated(all(r.ok for r in results), summary, [r.to_json() for r in results]))

    def _keep(self, outcome, proposal, undo_ops, files, applier, emit, results, root, ask=None) -> Outcome:
        outcome.status = "kept"
        entry = UndoEntry(outcome.id, proposal.id, outcome.edits, undo_ops, files, applier.kind,
                          str(applier.notebook_path) if applier.notebook_path else None)
        self.history.append(entry)
        wrote_notebook = applier if getattr(applier, "written", None) is not None else None
        paths = _committed(files, wrote_notebook, root)
        outcome.commit = entry.commit = self._commit(proposal, paths, results, root, emit)
        if ask is not None:
            outcome.commit_offer = self._offer(proposal, paths, results, root, ask, emit)
        before = None
        written = {rel: files.plan[p] for rel, p in zip(files.relative(), files.paths)}
        if getattr(applier, "written", None) is not None:  # the notebook file itself (the file applier)
            written[_relative_or_absolute(applier.notebook_path, root)] = applier.written
        if outcome.commit is None and written:  # what `codex-nb undo` puts back when there is no commit
            from ..gates.before import snapshot

            before = snapshot(root, proposal.id, written)
        self._audit("kept", applier.notebook_path, proposal.id, commit=outcome.commit, validated=outcome.validated,
                    repo_root=str(root), files=outcome.files, before=before, live=applier.kind != "file",
                    changed_cells=outcome.cells, commit_offered=outcome.commit_offer is not None)
        _send(emit, ev.Kept(outcome.commit, outcome.commit_offer))
        return outcome

    def _commit(self, proposal, paths: list[str], results, root, emit) -> str | None:
        """With ``commit = "on"`` in a git repository: one commit of exactly the files the change wrote."""
        if self.settings.commit != "on" or not paths:
            return None
        from ..gates.commit import commit_kept
        from ..gates.summary import commit_trailers

        try:
            return commit_kept(root, paths, _subject(proposal), commit_trailers(proposal.id, results))
        except CodexError as exc:  # the change stands; only the commit could not be made
            _send(emit, ev.Status(f"Kept, but not committed: {exc.message}", notice=True))
            return None

    def _offer(self, proposal, paths: list[str], results, root, ask, emit) -> CommitOffer | None:
        """With ``commit = "ask"``: the commit "on" would have made, for a door to offer (None: none to offer)."""
        if isinstance(ask, CodexError):
            _send(emit, ev.Status(f"Kept without a commit: {ask.message}" + (f" ({ask.hint})" if ask.hint else ""),
                                  notice=True))
            return None
        from ..gates.commit import commit_message, file_digests
        from ..gates.summary import commit_trailers

        if ask and not self.settings.commit_allow_dirty:
            _send(emit, ev.Status(f"Kept without a commit: {', '.join(ask)} had uncommitted edits of yours, and a commit "
                                  "would carry them; commit by hand, or allow it (codex-nb apply --allow-dirty, "
                                  "c.CodexNB.commit_allow_dirty = True).", notice=True))
            return None
        if ask:
            _send(emit, ev.Status(f"A commit would also carry your uncommitted edits to {', '.join(ask)} "
                                  "(allowed by commit_allow_dirty).", notice=True))
        return CommitOffer(repo_root=str(root), files=list(paths), hashes=file_digests(root, paths), dirty=list(ask),
                           message=commit_message(_subject(proposal), commit_trailers(proposal.id, results)))

    # -- commit = "ask": the commit a door offered, made when the person says yes ---------------
    async def commit_offered(self, outcome: Outcome, emit: Emit | None = None) -> str:
        """Commit a kept change's offered commit if its files are still as kept; return the sha.

        Raises CodexError (``CommitRefused`` / ``GitProblem``) saying what changed and how to
        commit by hand; nothing is committed then. Recorded as a "committed" audit event, and
        the undo history learns the commit, so every undo door reverts it by a revert commit.
        """
        from ..gates.commit import CommitRefused, commit_as_kept

        offer = outcome.commit_offer
        if outcome.commit:
            raise CommitRefused(f"this change is already committed as {outcome.commit[:12]}",
                                hint="see git log; codex-nb undo reverts it")
        if offer is None or outcome.status != "kept":
            raise CommitRefused("this change has no commit to offer (it was not kept in a git repository with "
                                "commit = 'ask')", hint="commit by hand with git add and git commit")
        entry = next((e for e in self.history if e.outcome_id == outcome.id), None)
        root = Path(offer.repo_root)
        notebook = entry.notebook if entry else self.anchor
        paths = [p if os.path.isabs(p) else root / p for p in offer.files]
        async with PathLocks(paths, timeout=self.settings.lock_timeout):
            loop = asyncio.get_running_loop()
            sha = await loop.run_in_executor(None, commit_as_kept, root, offer.files, offer.message, offer.hashes)
        outcome.commit, outcome.commit_offer = sha, None
        if entry is not None:
            entry.commit = sha
        self._audit("committed", notebook, outcome.proposal_id, commit=sha, files=list(offer.files),
                    repo_root=str(root), dirty=list(offer.dirty))
        _send(emit, ev.Committed(outcome.proposal_id, sha, list(offer.files)))
        return sha

    async def _roll_back(self, outcome, proposal, results, before, undo_ops, files, applier, emit, *,
                         stopped: bool = False) -> Outcome:
        failed = next(r for r in results if not r.ok)
        _send(emit, ev.Status("Validation failed — rolling back…"))
        problems = await _put_back(applier, before, undo_ops, files, quiet=False)
        failure = _failure(failed, before, proposal, self._root(applier.notebook_path))
        if stopped:  # whichever gate was running, it failed because of Stop, not because of the change
            failure.kind = "cancelled"
        outcome.status = "rolled_back"
        outcome.failure = failure.to_json()
        outcome.reason = failed.summary
        exact = not problems
        self._audit("rolled_back", applier.notebook_path, proposal.id, exact=exact, files=outcome.files,
                    reason=failed.summary if exact else "; ".join(problems))
        _send(emit, ev.RolledBack(exact, outcome.files, outcome.failure, "" if exact else "; ".join(problems)))
        return outcome

    def _refused(self, outcome, exc: CodexError, notebook, emit) -> Outcome:
        outcome.status, outcome.reason, outcome.hint = "refused", exc.message, exc.hint
        outcome.no_frontend = bool(exc.fields.get("no_frontend"))
        self._audit("refused", notebook, outcome.proposal_id, reason=exc.message)
        _send(emit, ev.Refused(exc.message, exc.hint, outcome.no_frontend))
        return outcome

    # -- undo -----------------------------------------------------------------------------
    async def undo(self, applier, entry: UndoEntry | None = None, emit: Emit | None = None) -> UndoEntry | None:
        """Take back the newest kept change (or ``entry``); None when there is nothing to undo.

        A committed change is undone by a revert commit (gates/undo.py, as ``codex-nb undo``
        does): the files come back from git, and the notebook's cells through the applier unless
        the notebook file itself is in the commit.
        """
        if entry is None:
            if not self.history:
                return None
            entry = self.history[-1]
        reverted = revert = None
        async with PathLocks([*applier.lock_paths, *entry.files.paths], timeout=self.settings.lock_timeout):
            files = entry.files.relative()
            if entry.commit:
                from ..gates.undo import revert_kept

                root = self._root(applier.notebook_path)
                loop = asyncio.get_running_loop()
                revert = await loop.run_in_executor(None, revert_kept, root, entry.proposal_id, entry.commit)
                reverted = entry.commit
                in_commit = applier.kind == "file" and applier.notebook_path is not None and \
                    _relative_or_absolute(applier.notebook_path, root) in _commit_paths(root, entry.commit)
                if entry.undo_ops and not in_commit:
                    await applier.revert(entry.undo_ops)
            else:
                if entry.undo_ops:
                    await applier.revert(entry.undo_ops)
                entry.files.restore()
        if entry in self.history:
            self.history.remove(entry)
        extra = {"reverted_commit": reverted, "commit": revert} if revert else {}
        self._audit("undone", applier.notebook_path, entry.proposal_id, edits=entry.edits, files=files, **extra)
        _send(emit, ev.Undone(entry.edits, files, revert))
        return entry

    async def _assistant_repair(self, proposal, failure: Failure, notebook, notebook_path, on_delta,
                                cancel=None) -> Repaired:
        """The model's fix for a rolled-back proposal (the same prompt from every door), with its tokens."""
        from .. import assistant

        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(None, lambda: assistant.repair_result(
            notebook_path, proposal, failure.for_model(), notebook_node=notebook, on_delta=on_delta,
            model=self.settings.model, repo=self.repo_root, cancel=cancel))
        return Repaired(result.proposal, result.usage.prompt_tokens + result.usage.completion_tokens)

    # -- helpers --------------------------------------------------------------------------
    def _root(self, notebook) -> Path:
        if self.repo_root is not None:
            return self.repo_root
        from ..notebook_io import find_repo_root

        return find_repo_root(notebook or self.anchor or os.getcwd())

    def _audit(self, event: str, notebook, proposal_id, **fields) -> None:
        anchor = notebook or self.anchor or os.getcwd()
        identity = {"user": self.user} if self.user else {}
        try:
            audit.record(event, anchor, source=self.source, notebook=str(notebook) if notebook else None,
                         proposal_id=proposal_id, **identity, **fields)
        except OSError:
            pass  # an unwritable log must not turn a kept change into a crash; the change itself stands


class NotLanded(EditRefused):
    """The page said it applied the edit, but the notebook read back does not have it."""


def default_gates() -> list:
    from .notebook_gate import NotebookGate

    gates = [NotebookGate()]
    try:
        from ..gates import project_gates
    except ImportError:
        return gates
    return gates + list(project_gates())


def _committed(files, applier, root) -> list[str]:
    """The files a commit of this change holds: the patched files, and the notebook file when the change wrote it."""
    paths = files.relative()
    if applier is not None and applier.kind == "file" and applier.notebook_path is not None:
        rel = _relative_or_absolute(applier.notebook_path, root)
        if not Path(rel).is_absolute():
            paths.append(rel)
    return paths


def _ask_state(root, paths: list[str]):
    """Before the change is written: the files whose commit would carry the person's edits, or why none can be offered.

    A list (empty: clean) when a commit can be offered; the CodexError (outside a git repository,
    or dirty files without commit_allow_dirty) when it cannot. Never a refusal of the change itself:
    with "ask", the commit is optional.
    """
    from ..gates.commit import check_clean

    if not paths:
        return None
    try:
        return check_clean(root, paths, allow_dirty=True)
    except CodexError as exc:
        return exc


def _subject(proposal) -> str:
    return proposal.explanation.strip() or f"codex-nb: {proposal.id}"


def _commit_paths(root, sha: str) -> list[str]:
    from ..gates.commit import commit_files

    return commit_files(root, sha)


def _relative_or_absolute(path, root) -> str:
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(Path(path).resolve())


def _subset(proposal, indexes):
    bad = [i for i in indexes if not 0 <= i < len(proposal.edits)]
    if bad:
        raise EditRefused(f"the proposal has no edit {bad[0]}", hint="choose edits by their index in the proposal")
    return dataclasses.replace(proposal, edits=tuple(proposal.edits[i] for i in indexes))


def _plan(before, proposal):
    from ..edits.live_ops import apply_ops, inverse_ops, proposal_ops
    from .appliers import checked_notebook

    ops = proposal_ops(before, proposal)
    if ops:
        checked_notebook(apply_ops(before, ops))
    return ops, inverse_ops(before, ops)


def _verify_landed(after, ops) -> None:
    """An edit is done only when the notebook read back has it (no phantom "applied")."""
    cells = {c.get("id"): c for c in after.cells}
    for op in ops:
        kind = op["op"]
        if kind == "insert":
            cell = cells.get(op["new_id"])
            ok = cell is not None and cell.get("source") == op["source"]
        elif kind == "replace":
            cell = cells.get(op["cell_id"])
            ok = cell is not None and cell.get("source") == op["source"]
        elif kind in ("delete", "remove"):
            ok = op["cell_id"] not in cells
        else:
            ok = True
        if not ok:
            raise NotLanded(f"the edit to cell {op.get('new_id') or op.get('cell_id')} did not land in the notebook",
                              hint="the page reported success but the notebook does not have it; reload the page and try again")


def _differences(before, restored) -> list[str]:
    want = [(c.get("id"), c.get("cell_type"), c.get("source")) for c in before.cells]
    have = [(c.get("id"), c.get("cell_type"), c.get("source")) for c in restored.cells]
    return [] if want == have else ["the notebook's cells differ from before the change"]


def _failure(result: GateResult, before, proposal, root) -> Failure:
    from ..edits.diff import proposal_diffs, render_text

    failed = (result.detail or {}).get("failed")
    failed = dict(failed) if isinstance(failed, dict) else {}  # the notebook gate names one cell; others list theirs
    cells = {c.get("id"): c for c in before.cells}
    for edit in proposal.cell_edits:  # the failing cell may be one the change inserted
        if getattr(edit, "new_id", None) == failed.get("cell_id") or getattr(edit, "cell_id", None) == failed.get("cell_id"):
            source = getattr(edit, "source", None)
            break
    else:
        source = cells.get(failed.get("cell_id"), {}).get("source")
    try:
        diffs = render_text(proposal_diffs(before, proposal, root), color=False)
    except CodexError:
        diffs = ""
    return Failure(gate=result.gate, summary=result.summary, cell_id=failed.get("cell_id"), kind=failed.get("kind"),
                   ename=failed.get("ename"), evalue=failed.get("evalue"),
                   traceback=(result.repair_text or "").splitlines(), source=source, diffs=diffs,
                   detail={k: v for k, v in failed.items() if k not in ("traceback",)})


async def _put_back(applier, before, undo_ops, files, *, quiet: bool = True) -> list[str]:
    """Revert the notebook and restore the files exactly; what could not be put back (expected: nothing).

    ``quiet``: any error of the applier is a problem to report (the abort path, where the exception
    that got us here is the one to raise), else only a refused revert is.
    """
    problems = []
    if undo_ops:
        try:
            problems += _differences(before, await applier.revert(undo_ops))
        except EditRefused as exc:
            problems.append(exc.message)
        except Exception as exc:
            if not quiet:
                raise
            problems.append(f"the notebook could not be reverted: {type(exc).__name__}: {exc}")
    return problems + [f"{p} could not be restored" for p in files.restore()]


async def _quiet(awaitable) -> None:
    try:
        await awaitable
    except Exception:
        pass  # the exact restore of files still happens; the door reports what it can


def _send(emit: Emit | None, event) -> None:
    if emit is None:
        return
    try:
        emit(ev.to_json(event))
    except Exception:
        pass  # a listener that raises must not interrupt the loop between an apply and its rollback
