"""`audit.verify`: every kind of tampering names the first bad line; crashes and old logs are told apart.

Also: several real processes appending at once keep one valid chain (the flock).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from codex_nb import audit
from codex_nb.audit.log import entry_hash, line_sha256


@pytest.fixture
def log(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(path))
    return path


def write_events(log: Path, n: int) -> list[bytes]:
    for i in range(n):
        audit.record("decided", log.parent, notebook=f"/p/nb{i % 2}.ipynb", proposal_id=f"p{i}",
                     decision="accepted" if i % 3 else "rejected", edits=[i])
    return lines(log)


def lines(log: Path) -> list[bytes]:
    return log.read_bytes().splitlines()


def rewrite(log: Path, new_lines: list[bytes]) -> None:
    log.write_bytes(b"".join(line + b"\n" for line in new_lines))


def rehashed(raw: bytes, **changes) -> bytes:
    """A line changed by someone who also recomputed its own hash (but cannot fix what follows)."""
    entry = {**json.loads(raw), **changes}
    entry["hash"] = entry_hash(entry)
    return json.dumps(entry).encode()


def test_an_untouched_log_verifies(log):
    write_events(log, 5)
    report = audit.verify(log)
    assert report.ok and report.lines == 5 and report.notes == []
    assert report.summary() == "ok: 5 lines, chain intact"
    head = json.loads(audit.head_path(log).read_text())
    assert head == {"seq": 5, "sha256": line_sha256(lines(log)[-1])}


def test_a_changed_line_in_the_middle_is_named(log):
    original = write_events(log, 6)
    tampered = list(original)
    tampered[2] = original[2].replace(b'"p2"', b'"p9"')
    assert tampered[2] != original[2]
    rewrite(log, tampered)
    report = audit.verify(log)
    assert not report.ok and report.line == 3 and report.kind == "changed"
    assert "does not match its hash" in report.problem


def test_a_changed_and_rehashed_line_breaks_the_link_to_the_next(log):
    original = write_events(log, 6)
    tampered = list(original)
    tampered[2] = rehashed(original[2], user="mallory")
    rewrite(log, tampered)
    report = audit.verify(log)
    assert not report.ok and report.line == 4 and report.kind == "changed"
    assert "line 3 was changed" in report.problem


def test_a_changed_and_rehashed_last_line_is_caught_by_the_head_file(log):
    original = write_events(log, 4)
    rewrite(log, original[:-1] + [rehashed(original[-1], user="mallory")])
    report = audit.verify(log)
    assert not report.ok and report.line == 4 and report.kind == "changed"
    assert "head file" in report.problem


def test_a_line_removed_in_the_middle(log):
    original = write_events(log, 6)
    rewrite(log, original[:3] + original[4:])
    report = audit.verify(log)
    assert not report.ok and report.line == 4 and report.kind == "removed"
    assert report.summary().startswith("line 4: seq is 5, expected 4")


def test_the_first_line_removed(log):
    original = write_events(log, 3)
    rewrite(log, original[1:])
    report = audit.verify(log)
    assert not report.ok and report.line == 1 and report.kind == "removed"


@pytest.mark.parametrize("removed", [1, 2])
def test_lines_removed_from_the_end_are_caught_by_the_head_file(log, removed):
    original = write_events(log, 5)
    rewrite(log, original[:-removed])
    report = audit.verify(log)
    assert not report.ok and report.kind == "removed"
    assert report.line == 5 - removed + 1
    assert "head file records 5 lines" in report.problem


def test_swapped_lines_are_reported_as_reordered(log):
    original = write_events(log, 5)
    rewrite(log, [original[0], original[2], original[1], *original[3:]])
    report = audit.verify(log)
    assert not report.ok and report.line == 2 and report.kind == "reordered"
    assert "seq 2 is at line 3" in report.problem


def test_a_duplicated_line_is_caught(log):
    original = write_events(log, 4)
    rewrite(log, [*original[:3], original[1], original[3]])
    report = audit.verify(log)
    assert not report.ok and report.line == 4 and report.kind == "reordered"


def test_lines_appended_behind_codex_nbs_back_are_caught(log):
    original = write_events(log, 3)
    forged = []
    prev = line_sha256(original[-1])
    for seq in (4, 5):  # a correctly chained forgery, but the head file was not moved on
        entry = {"seq": seq, "time": "2026-01-01T00:00:00.000Z", "event": "kept", "user": "mallory",
                 "source": "cli", "notebook": None, "proposal_id": None, "commit": None, "prev": prev}
        entry["hash"] = entry_hash(entry)
        raw = json.dumps(entry).encode()
        forged.append(raw)
        prev = line_sha256(raw)
    rewrite(log, original + forged)
    report = audit.verify(log)
    assert not report.ok and report.line == 4 and report.kind == "appended"


def test_a_missing_head_file_is_a_problem(log):
    write_events(log, 3)
    audit.head_path(log).unlink()
    report = audit.verify(log)
    assert not report.ok and report.kind == "head" and "missing" in report.problem


def test_a_torn_last_line_is_reported_as_a_crash_not_as_tampering(log):
    original = write_events(log, 3)
    with open(log, "ab") as fh:  # what a writer killed half-way through its write leaves
        fh.write(original[0][: len(original[0]) // 2])
    report = audit.verify(log)
    assert report.ok and report.lines == 3
    assert len(report.notes) == 1 and "line 4 is torn" in report.notes[0] and "crash" in report.notes[0]

    # The next writer seals the torn line and chains past it; the log still verifies.
    entry = audit.record("kept", log.parent, commit=None)
    assert entry["seq"] == 5 and entry["prev"] == line_sha256(original[0][: len(original[0]) // 2])
    report = audit.verify(log)
    assert report.ok and report.lines == 5
    assert any("line 4 is torn" in n and "sealed" in n for n in report.notes)
    assert [e["seq"] for e in audit.read(log.parent)] == [1, 2, 3, 5]


def test_a_last_line_cut_short_after_it_was_complete_is_tampering(log):
    original = write_events(log, 3)
    rewrite(log, original[:-1])
    with open(log, "ab") as fh:
        fh.write(original[-1][:-10])  # the head file still records line 3 as complete
    report = audit.verify(log)
    assert not report.ok and report.line == 3 and report.kind == "changed"


def test_a_log_from_before_the_chain_keeps_working(log):
    old = [{"time": "2026-01-01T00:00:00.000+00:00", "event": "propose", "user": "ann"},
           {"time": "2026-01-01T00:01:00.000+00:00", "event": "accept", "user": "ann"}]
    log.write_text("".join(json.dumps(e) + "\n" for e in old))
    entry = audit.record("kept", log.parent, commit="abc123")
    assert entry["seq"] == 3 and entry["prev"] == line_sha256(lines(log)[1])
    report = audit.verify(log)
    assert report.ok and report.lines == 3
    assert any("lines 1-2 predate the hash chain" in n for n in report.notes)
    # ...but an unchained line after the chain started is an insertion.
    with open(log, "a") as fh:
        fh.write(json.dumps(old[0]) + "\n")
    report = audit.verify(log)
    assert not report.ok and report.line == 4


WRITER = textwrap.dedent("""
    import os, sys, time
    sys.modules.setdefault("rfc3987_syntax", None)
    from codex_nb import audit
    go, me, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    while not os.path.exists(go):
        time.sleep(0.005)
    for i in range(n):
        audit.record("agent_step", ".", run_id=me, step=i, detail="x" * (i * 97 % 3000))
""")


def test_concurrent_writer_processes_keep_one_valid_chain(log, tmp_path):
    go = tmp_path / "go"
    writers, per_writer = 4, 40
    env = {**os.environ, "CODEX_NB_AUDIT_LOG": str(log)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(go), f"w{w}", str(per_writer)], env=env)
             for w in range(writers)]
    time.sleep(0.5)  # let them all reach the starting line
    go.touch()
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    report = audit.verify(log)
    assert report.ok, report.summary()
    assert report.lines == writers * per_writer and report.notes == []
    entries = audit.read(log.parent)
    assert [e["seq"] for e in entries] == list(range(1, writers * per_writer + 1))
    assert sorted((e["run_id"], e["step"]) for e in entries) == sorted(
        (f"w{w}", i) for w in range(writers) for i in range(per_writer))
    times = [e["time"] for e in entries]
    assert times == sorted(times)  # stamped under the lock: line order is time order
    interleaved = sum(1 for a, b in zip(entries, entries[1:]) if a["run_id"] != b["run_id"])
    assert interleaved > 0  # the writers really ran at the same time


def test_verify_of_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        audit.verify(tmp_path / "nope.jsonl")
