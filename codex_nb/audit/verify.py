"""Check an audit log's hash chain: find the first changed, removed, reordered or added line.

Each line's ``seq`` must be its line number, its ``hash`` must match its content and its
``prev`` the sha256 of the line before; the head file (``audit.head``) must name the last
line and its sha256, which is what shows lines removed from the end. A torn line — a
writer that stopped mid-line, which the next writer seals with a newline and chains past —
is not tampering: it is reported as such (the event it held is lost) and the log still
verifies. Lines written before the log had a chain (no ``seq``/``hash``) may only come first.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .log import _locked_log, _pread, entry_hash, head_path, line_sha256
from .schema import ZERO_HASH


@dataclass
class VerifyReport:
    path: str
    lines: int  # complete lines in the log
    ok: bool = True
    line: int | None = None  # the first bad line
    kind: str | None = None  # changed | removed | reordered | appended | malformed | head
    problem: str | None = None
    notes: list[str] = field(default_factory=list)  # torn lines, lines from before the chain, a lagging head

    def summary(self) -> str:
        if self.ok:
            return f"ok: {self.lines} lines, chain intact"
        return f"line {self.line}: {self.problem}"

    def to_json(self) -> dict:
        return {"path": self.path, "ok": self.ok, "lines": self.lines, "line": self.line, "kind": self.kind,
                "problem": self.problem, "notes": list(self.notes)}


class _Bad(Exception):
    def __init__(self, line: int, kind: str, problem: str):
        super().__init__(problem)
        self.line, self.kind, self.problem = line, kind, problem


def verify(path: str | os.PathLike) -> VerifyReport:
    """Verify the log at ``path`` (FileNotFoundError when there is none)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(str(path))
    with _locked_log(path, shared=True) as fd:  # a consistent snapshot: no writer is half-way
        data = _read_all(fd)
        head = _read_head(head_path(path))
    lines = data.split(b"\n")
    fragment = lines.pop()  # b"" when the file ends with a newline
    report = VerifyReport(path=str(path), lines=len(lines))
    try:
        shas, chained = _check_lines(lines, fragment, report)
        if fragment:
            report.notes.append(f"line {len(lines) + 1} is torn: the last write stopped mid-line "
                                "(a crash); the event it held is lost")
        if chained:
            _check_head(head, shas, bool(fragment), head_path(path), report)
    except _Bad as bad:
        report.ok, report.line, report.kind, report.problem = False, bad.line, bad.kind, bad.problem
    return report


def _check_lines(lines: list[bytes], fragment: bytes, report: VerifyReport) -> tuple[list[str], bool]:
    shas: list[str] = []
    expected_prev = ZERO_HASH
    legacy = 0
    chained = False
    for number, raw in enumerate(lines, start=1):
        following = lines[number] if number < len(lines) else fragment
        try:
            entry = json.loads(raw)
        except ValueError:
            entry = None
        if not isinstance(entry, dict):
            if _sealed_torn(raw, following):
                report.notes.append(f"line {number} is torn: a write stopped mid-line (a crash) and the next "
                                    "writer sealed it; the event it held is lost")
                expected_prev = line_sha256(raw)
                shas.append(expected_prev)
                continue
            raise _Bad(number, "malformed", "not a JSON object — the line was changed or damaged")
        if "hash" not in entry and "seq" not in entry:
            if chained:
                raise _Bad(number, "changed", "has no seq/prev/hash — a line was inserted or rewritten")
            legacy += 1
            expected_prev = line_sha256(raw)
            shas.append(expected_prev)
            continue
        if not chained and legacy:
            report.notes.append(f"lines 1-{legacy} predate the hash chain (written by an earlier codex-nb) "
                                "and cannot be verified")
        chained = True
        _check_entry(number, entry, expected_prev, lines)
        expected_prev = line_sha256(raw)
        shas.append(expected_prev)
    return shas, chained


def _check_entry(number: int, entry: dict, expected_prev: str, lines: list[bytes]) -> None:
    seq = entry.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise _Bad(number, "changed", f"seq is {seq!r}, not a line number — the line was changed")
    if seq > number:
        moved = _line_holding(number, lines, start=number)
        if moved:
            raise _Bad(number, "reordered", f"seq is {seq}, expected {number} — lines were reordered "
                                            f"(seq {number} is at line {moved})")
        raise _Bad(number, "removed", f"seq is {seq}, expected {number} — "
                                      + (f"line {number} was removed" if seq == number + 1
                                         else f"lines {number}-{seq - 1} were removed"))
    if seq < number:
        raise _Bad(number, "reordered", f"seq is {seq}, expected {number} — lines were reordered, "
                                        "duplicated or inserted")
    if entry.get("hash") != entry_hash(entry):
        raise _Bad(number, "changed", "its content does not match its hash — the line was changed")
    if entry.get("prev") != expected_prev:
        if number == 1:
            raise _Bad(1, "removed", "prev is not 64 zeros — lines were removed from the start")
        raise _Bad(number, "changed", f"prev does not match the sha256 of line {number - 1} — line "
                                      f"{number - 1} was changed, or lines were removed or reordered")


def _line_holding(seq: int, lines: list[bytes], start: int) -> int | None:
    """The line number (after ``start``) whose entry has this seq, if any."""
    for number, raw in enumerate(lines[start:], start=start + 1):
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("seq") == seq:
            return number
    return None


def _sealed_torn(raw: bytes, following: bytes) -> bool:
    """A torn line the next writer sealed: the line after it chains to its bytes."""
    if not following:
        return False
    try:
        nxt = json.loads(following)
    except ValueError:
        return False
    return isinstance(nxt, dict) and nxt.get("prev") == line_sha256(raw)


def _check_head(head, shas: list[str], torn_tail: bool, where: Path, report: VerifyReport) -> None:
    total = len(shas)
    if head is None:
        raise _Bad(total, "head", f"the head file {where} is missing — cannot tell whether lines were "
                                  "removed from the end")
    if not (isinstance(head, dict) and isinstance(head.get("seq"), int) and isinstance(head.get("sha256"), str)):
        raise _Bad(total, "head", f"the head file {where} is not valid — it should hold the last line's "
                                  "seq and sha256")
    seq, sha = head["seq"], head["sha256"]
    if seq > total:
        if torn_tail and seq == total + 1:
            raise _Bad(seq, "changed", "cut short — the head file records it complete")
        raise _Bad(total + 1, "removed", f"missing — the log ends at line {total} but the head file records "
                                         f"{seq} lines (lines were removed from the end)")
    if seq < 1 or shas[seq - 1] != sha:
        raise _Bad(max(seq, 1), "changed", "does not match the head file — the line was changed")
    if seq == total - 1:
        report.notes.append(f"line {total} is not in the head file yet (a writer stopped between appending "
                            "and updating the head); the next write brings it up to date")
    elif seq < total:
        raise _Bad(seq + 1, "appended", f"lines {seq + 1}-{total} were appended by something other than "
                                        f"codex-nb (the head file ends at line {seq})")


def _read_all(fd: int) -> bytes:
    chunks, offset = [], 0
    while True:
        block = _pread(fd, 1 << 20, offset)
        if not block:
            return b"".join(chunks)
        chunks.append(block)
        offset += len(block)


def _read_head(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return "invalid"
