"""What a validation ran, in words: the ``Codex-Validation`` trailer and the report text.

Both are built from the gates' results alone (``GateResult.detail``), so the widget,
the panel, the CLI, the audit log and the commit say the same thing. A notebook gate
is described by its validation report: ``detail["mode"]`` ("targeted" / "full") and
``detail["cells_run"]`` (the ids of the cells that ran).
"""
from __future__ import annotations

from ..engine.gates import GateResult

MAX_LISTED = 12


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def gate_phrase(result: GateResult) -> str:
    """A few words for one gate: 'notebook targeted 4 cells', '12 tests', '2 checks'."""
    d = result.detail or {}
    if result.gate == "notebook":
        cells = d.get("cells_run")  # the ids of the cells that ran (a count is accepted too)
        words = ["notebook", str(d.get("mode") or "").strip()]
        if isinstance(cells, (list, tuple)):
            cells = len(cells)
        if isinstance(cells, int):
            words.append(_plural(cells, "cell"))
        return " ".join(w for w in words if w)
    if result.gate == "tests":
        return _plural(int(d.get("tests") or 0), "test")
    if result.gate == "checks":
        return _plural(len(d.get("checks") or []), "check")
    return result.gate


def validation_line(results: list[GateResult]) -> str:
    """'passed (notebook targeted 4 cells; 12 tests; 2 checks)', or 'failed (tests)' naming the failing gates."""
    if not results:
        return "not validated"
    failed = [r for r in results if not r.ok]
    if failed:
        return f"failed ({'; '.join(gate_phrase(r) for r in failed)})"
    return f"passed ({'; '.join(gate_phrase(r) for r in results)})"


def commit_trailers(proposal_id: str, results: list[GateResult]) -> list[tuple[str, str]]:
    """The trailers that link a commit to its audit entries."""
    return [("Codex-Proposal", proposal_id), ("Codex-Validation", validation_line(results))]


def report_text(results: list[GateResult]) -> str:
    """What ran, for people: each gate's summary, which tests and why, each check's exit code, and times."""
    if not results:
        return "Nothing was validated."
    total = sum(r.seconds for r in results)
    status = "passed" if all(r.ok for r in results) else "failed"
    lines = [f"Validation {status} in {total:.1f} s"]
    for r in results:
        lines.append(f"  {'ok' if r.ok else 'FAILED'}  {r.summary}")
        if r.gate == "tests":
            lines.extend(_test_lines(r.detail or {}))
        elif r.gate == "checks":
            lines.extend(_check_lines(r.detail or {}))
    return "\n".join(lines)


def _test_lines(d: dict) -> list[str]:
    sel = d.get("selection") or {}
    out = []
    if sel.get("widened"):
        out.append(f"      whole suite: {sel['widened']}")
    reasons = sel.get("reasons") or {}
    for path in sorted(reasons)[:MAX_LISTED]:
        out.append(f"      {path} — {reasons[path]}")
    if len(reasons) > MAX_LISTED:
        out.append(f"      … and {len(reasons) - MAX_LISTED} more test files")
    for f in (d.get("failed") or [])[:MAX_LISTED]:
        out.append(f"      failed: {f['nodeid']}" + (f" — {f['message']}" if f.get("message") else ""))
    return out


def _check_lines(d: dict) -> list[str]:
    out = []
    for c in d.get("checks") or []:
        if c.get("skipped"):
            how = f"skipped ({c['skipped']})"
        elif c.get("error"):
            how = c["error"]
        else:
            how = f"exit {c.get('exit_code')}"
        out.append(f"      {c['command']} — {how}, {c.get('seconds', 0.0):.1f} s")
    return out
