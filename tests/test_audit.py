"""The audit log's writer and schema: one vocabulary, stamped fields, bounded and redacted lines."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from codex_nb import audit
from codex_nb.audit.log import MAX_ITEMS, MAX_STRING

# One valid set of event-specific fields per event of the vocabulary.
EXAMPLES = {
    "asked": {"instruction_hash": "ab12", "model": "local:smollm2"},
    "proposed": {"instruction_hash": "ab12", "model": "openai:gpt", "edits": ["replace", "insert"]},
    "decided": {"decision": "accepted", "edits": [0, 1]},
    "refused": {"reason": "stale: the notebook changed since the proposal"},
    "applied": {"edits": [0], "cells": ["c1"], "files": ["pkg/util.py"], "applier": "kernel"},
    "validated": {"ok": False, "mode": "targeted", "seconds": 1.25,
                  "gates": [{"gate": "notebook", "ok": False, "summary": "cell c2 raised NameError"}]},
    "kept": {"commit": None},
    "rolled_back": {"exact": True, "files": ["pkg/util.py"], "reason": "validation failed"},
    "repair": {"attempt": 1, "new_proposal_id": "p-2"},
    "undone": {"edits": [0], "files": ["nb.ipynb"]},
    "committed": {"commit": "0123abc", "files": ["pkg/mod.py"]},
    "fallback": {"inserted": True, "missed": ["c9"]},
    "validation_run": {"ok": True, "mode": "full"},
    "failed": {"kind": "ask", "instruction_hash": "abc", "error": {"error": "ProviderError", "message": "down"}},
    "agent_run": {"run_id": "r1", "step": 0, "detail": "started"},
    "agent_step": {"run_id": "r1", "step": 1, "detail": {"tool": "edit"}},
    "agent_rewind": {"run_id": "r1", "step": 0, "detail": "back to the start"},
}


@pytest.fixture
def log(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(path))
    return path


def test_the_schema_is_valid_json_schema_and_covers_the_whole_vocabulary():
    Draft202012Validator.check_schema(audit.AUDIT_SCHEMA)
    assert set(audit.AUDIT_SCHEMA["$defs"]) == set(audit.EVENTS) == set(EXAMPLES)
    for name, definition in audit.AUDIT_SCHEMA["$defs"].items():
        assert definition["properties"]["event"] == {"const": name}
        assert {"seq", "time", "event", "user", "source", "notebook", "proposal_id", "prev", "hash"} <= set(
            definition["required"])


def test_every_event_recorded_is_valid_against_exactly_one_definition(log):
    whole = Draft202012Validator(audit.AUDIT_SCHEMA)
    for event, fields in EXAMPLES.items():
        entry = audit.record(event, log.parent, notebook="/work/nb.ipynb", proposal_id="p-1", **fields)
        assert audit.validate_entry(entry) == []
        assert list(whole.iter_errors(entry)) == []  # the oneOf is discriminated by "event"
    on_disk = audit.read(log.parent)
    assert [e["event"] for e in on_disk] == list(EXAMPLES)
    assert all(audit.validate_entry(e) == [] for e in on_disk)
    assert audit.verify(log).ok


def test_validate_entry_names_the_field_that_is_wrong(log):
    entry = audit.record("applied", log.parent, **EXAMPLES["applied"])
    assert audit.validate_entry({**entry, "applier": "telepathy"}) == [
        "applied: applier: 'telepathy' is not one of ['file', 'kernel', 'panel']"]
    missing = {k: v for k, v in entry.items() if k != "cells"}
    assert audit.validate_entry(missing) == ["applied: 'cells' is a required property"]
    assert audit.validate_entry({**entry, "seq": 0})[0].startswith("applied: seq: 0 is less than")
    assert audit.validate_entry({**entry, "time": "yesterday"})[0].startswith("applied: time:")
    assert audit.validate_entry({**entry, "event": "approve-everything"})[0].startswith("unknown event")
    assert audit.validate_entry([]) == ["an entry must be an object, not list"]
    assert audit.validate_entry({**entry, "extra": {"free": "form"}}) == []  # extra fields are allowed


def test_unknown_events_and_missing_fields_are_programming_errors(log):
    with pytest.raises(ValueError, match="unknown audit event 'approve-everything'"):
        audit.record("approve-everything", log.parent)
    with pytest.raises(ValueError, match="'decision' is a required property"):
        audit.record("decided", log.parent, edits=[0])
    with pytest.raises(ValueError, match="unknown audit source"):
        audit.record("kept", log.parent, source="browser", commit=None)
    assert not log.exists() or log.read_text() == ""  # nothing half-written


def test_time_user_and_the_chain_are_stamped_here_never_by_the_caller(log):
    entry = audit.record("kept", log.parent, commit=None, time="1999-01-01T00:00:00.000Z", seq=42,
                         prev="f" * 64, hash="0" * 64)
    assert entry["seq"] == 1 and entry["prev"] == "0" * 64
    assert entry["time"] != "1999-01-01T00:00:00.000Z" and entry["time"].endswith("Z")
    assert entry["hash"] == audit.entry_hash(entry)
    import getpass

    assert entry["user"] == getpass.getuser()
    trusted = audit.record("kept", log.parent, user="ann@hub", source="server", commit="abc")
    assert trusted["user"] == "ann@hub" and trusted["source"] == "server"
    assert [json.loads(line)["user"] for line in log.read_text().splitlines()] == [getpass.getuser(), "ann@hub"]


@pytest.mark.parametrize("old", ["accept", "reject", "apply", "validate", "rollback", "undo", "propose", "ask"])
def test_names_from_before_the_vocabulary_are_refused(log, old):
    with pytest.raises(ValueError, match=f"unknown audit event '{old}'"):
        audit.record(old, log.parent, proposal_id="p", edits=[0])
    with pytest.raises(ValueError, match="unknown audit source 'panel'"):
        audit.record("decided", log.parent, source="panel", decision="accepted", edits=[0])


def test_long_fields_are_trimmed_with_a_marker_and_the_line_stays_one_line(log):
    entry = audit.record("refused", log.parent, reason="x" * (MAX_STRING + 123), notes=list(range(MAX_ITEMS + 7)),
                         nested={"a": [{"b": "y\n" * 10}]}, path=Path("/tmp/some/where"))
    assert entry["reason"] == "x" * MAX_STRING + "…[123 more characters]"
    assert entry["notes"][-1] == "…[7 more items]" and len(entry["notes"]) == MAX_ITEMS + 1
    assert entry["path"] == "/tmp/some/where"
    assert len(log.read_text().splitlines()) == 1
    assert audit.read(log.parent)[0] == entry


def test_secrets_are_redacted_and_the_chain_covers_the_redacted_line(log):
    key = "sk-proj-" + "A1b2C3d4" * 5
    entry = audit.record("refused", log.parent, reason=f"the model echoed OPENAI_API_KEY={key}")
    text = log.read_text()
    assert key not in text and "[REDACTED]" in entry["reason"]
    assert audit.verify(log).ok


def test_read_filters_by_notebook_and_skips_a_torn_line(log):
    audit.record("kept", log.parent, notebook="/a.ipynb", commit=None)
    audit.record("kept", log.parent, notebook="/b.ipynb", commit=None)
    with open(log, "a") as fh:
        fh.write('{"seq": 3, "event": "ke')
    assert [e["notebook"] for e in audit.read(log.parent)] == ["/a.ipynb", "/b.ipynb"]
    assert [e["notebook"] for e in audit.read(log.parent, notebook="/b.ipynb")] == ["/b.ipynb"]
    assert len(audit.read(log.parent, limit=1)) == 1


def test_the_log_lives_at_the_repository_root_and_is_not_ignored_by_git(tmp_path, monkeypatch):
    git = shutil.which("git")
    if git is None:
        pytest.fail("git is needed to check what the repository ignores")
    monkeypatch.delenv("CODEX_NB_AUDIT_LOG", raising=False)
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    subprocess.run([git, "init", "-q", str(repo)], check=True)
    audit.record("kept", repo / "sub", commit=None)
    assert audit.audit_path(repo / "sub") == repo / ".codex_nb" / "audit.jsonl"
    from codex_nb.context.index import ensure_local_state_ignored

    (repo / ".codex_nb" / "cache").mkdir()
    (repo / ".codex_nb" / "cache" / "index.json").write_text("{}")
    (repo / ".codex_nb" / "history").mkdir()
    (repo / ".codex_nb" / "history" / "nb.jsonl").write_text("{}")
    ensure_local_state_ignored(repo / ".codex_nb")

    def ignored(rel: str) -> bool:
        return subprocess.run([git, "-C", str(repo), "check-ignore", "-q", rel]).returncode == 0

    assert not ignored(".codex_nb/audit.jsonl") and not ignored(".codex_nb/audit.head")
    assert ignored(".codex_nb/cache/index.json") and ignored(".codex_nb/history/nb.jsonl")


def test_the_old_ignore_everything_file_is_replaced_but_a_users_own_is_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("CODEX_NB_AUDIT_LOG", raising=False)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".codex_nb").mkdir()
    gi = tmp_path / ".codex_nb" / ".gitignore"
    gi.write_text("*\n")  # what earlier versions wrote
    audit.record("kept", tmp_path, commit=None)
    assert "cache/" in gi.read_text() and "*\n" != gi.read_text()
    gi.write_text("cache/\n# mine\n")
    audit.record("kept", tmp_path, commit=None)
    assert gi.read_text() == "cache/\n# mine\n"
