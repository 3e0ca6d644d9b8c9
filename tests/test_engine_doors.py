"""Every door is the same engine: random sequences of accept / reject / failing validation / undo give the same
notebook and the same audit events whether the notebook is a file, a page behind the kernel comm, or a page
behind the panel's request function — and every audit line is schema-valid."""
from __future__ import annotations

import asyncio
import copy
import os

import nbformat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codex_nb import audit
from codex_nb.edits.live_ops import apply_ops
from codex_nb.edits.model import DeleteCell, InsertCell, Proposal, ReplaceCell
from codex_nb.engine import Engine, FileApplier, RemoteApplier, Settings, comm_request
from codex_nb.engine.gates import GateResult
from codex_nb.errors import CodexError
from codex_nb.notebook_io import source_hash
from codex_nb.widgets.live import LiveChannel
from test_magics_fixtures import FakeLab, make_notebook


class VerdictGate:
    """A gate whose verdicts the test draws (a real validation is covered elsewhere)."""

    name = "notebook"

    def __init__(self):
        self.verdicts: list[bool] = []

    def applies(self, change):
        return True

    def run(self, change, progress):
        ok = self.verdicts.pop(0)
        return GateResult("notebook", ok, "ok" if ok else "FAILED", detail={"failed": None if ok else {
            "cell_id": (change.changed_cells or [None])[0], "ename": "E", "evalue": "x", "kind": "error"}})


class Page:
    """The panel's page: applies the engine's ops to its notebook model and answers with it."""

    def __init__(self, nb):
        self.nb = copy.deepcopy(nb)

    async def request(self, message):
        if message["type"] == "apply":
            try:
                self.nb = apply_ops(self.nb, message["ops"])
            except CodexError as exc:
                return {"ok": False, "reason": exc.message, "notebook": dict(self.nb)}
        return {"ok": True, "notebook": copy.deepcopy(dict(self.nb))}


def door(kind: str, tmp_path, nb):
    """(applier, a function that returns the notebook as the door sees it)."""
    if kind == "file":
        path = tmp_path / "nb.ipynb"
        nbformat.write(nb, path)
        return (lambda loop: FileApplier(path)), (lambda: nbformat.read(path, as_version=4))
    if kind == "kernel":
        lab = FakeLab(nb)
        channel = LiveChannel(comm_factory=lab.factory, timeout=5)
        return (lambda loop: RemoteApplier("kernel", comm_request(channel, loop), notebook_path=tmp_path / "nb.ipynb")), (lambda: lab.nb)
    page = Page(nb)
    return (lambda loop: RemoteApplier("panel", page.request, notebook_path=tmp_path / "nb.ipynb")), (lambda: page.nb)


def plays(data, nb):
    """A script of steps, each valid for the notebook as it will be if every earlier step did what it says."""
    steps = []
    for n in range(data.draw(st.integers(1, 5), label="steps")):
        steps.append((data.draw(st.sampled_from(["accept", "accept", "reject", "undo"]), label="what"),
                      data.draw(st.sampled_from(["insert", "replace", "delete"]), label="kind"),
                      data.draw(st.integers(0, 10), label="cell"),
                      data.draw(st.booleans(), label="passes"),
                      f"v = {n}"))
    return steps


async def run_script(kind, tmp_path, nb, steps):
    make_applier, current = door(kind, tmp_path / kind, nb)
    gate = VerdictGate()
    engine = Engine(Settings(validate=True, lock_timeout=10), source="api", anchor=tmp_path / kind, gates=[gate])
    for n, (what, edit_kind, pick, passes, text) in enumerate(steps):
        applier = make_applier(asyncio.get_running_loop())
        live = current()
        cells = live.cells
        if what == "undo":
            if engine.history:
                await engine.undo(applier)
            continue
        cell = cells[pick % len(cells)] if cells else None
        if edit_kind == "insert" or cell is None:
            edit = InsertCell(source=text, new_id=f"n{n}", after=cell["id"] if cell else None)
        elif edit_kind == "delete" and len(cells) > 1:
            edit = DeleteCell(cell_id=cell["id"], base_hash=source_hash(cell["source"]))
        else:
            edit = ReplaceCell(cell_id=cell["id"], source=text, base_hash=source_hash(cell["source"]))
        proposal = Proposal(explanation="", edits=(edit,), id=f"p-{n}")
        if what == "reject":
            engine.reject(proposal, [0], notebook=tmp_path / kind / "nb.ipynb")
            continue
        gate.verdicts.append(passes)
        await engine.accept(proposal, applier)
    return current()


def summary(nb):
    return [(c["id"], c["cell_type"], c["source"]) for c in nb["cells"]]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_door_gives_the_same_notebook_and_the_same_audit_events(tmp_path_factory, data):
    tmp_path = tmp_path_factory.mktemp("doors")
    nb = make_notebook()
    steps = plays(data, nb)
    results, logs = {}, {}
    for kind in ("file", "kernel", "panel"):
        (tmp_path / kind).mkdir()
        (tmp_path / kind / ".git").mkdir()
        os.environ["CODEX_NB_AUDIT_LOG"] = str(tmp_path / kind / "audit.jsonl")
        try:
            results[kind] = summary(asyncio.run(run_script(kind, tmp_path, nb, steps)))
        finally:
            os.environ.pop("CODEX_NB_AUDIT_LOG")
        log = tmp_path / kind / "audit.jsonl"
        entries = audit.read_log(log) if log.exists() else []
        for entry in entries:
            assert audit.validate_entry(entry) == [], entry
        assert not entries or audit.verify(log).ok
        logs[kind] = [(e["event"], e.get("proposal_id"), e.get("decision"), e.get("exact")) for e in entries]
        # never an unaudited change: every applied change is kept or rolled back, and said so
        applied = [e for e in entries if e["event"] == "applied"]
        closed = [e for e in entries if e["event"] in ("kept", "rolled_back")]
        assert len(applied) == len(closed)
    assert results["file"] == results["kernel"] == results["panel"]
    assert logs["file"] == logs["kernel"] == logs["panel"]
