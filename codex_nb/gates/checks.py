"""Declared checks: the project's own commands that a change to its files must pass.

Commands come from ``c.CodexNB.checks`` and from ``[tool.codex-nb] checks = [...]`` in
the repository's pyproject.toml. ``{files}`` becomes the changed paths, each quoted
for the shell. A command runs in the repository root with ``check_timeout``; one with
shell syntax (pipes, ``&&``, redirections, ``$VAR``) runs through ``/bin/sh``, any
other directly. ``python`` means the interpreter codex-nb runs in — the one that also
runs the tests — and its ``bin`` directory comes first on PATH, so tools installed
beside it (ruff, mypy) are found.
"""
from __future__ import annotations

import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..engine.gates import ChangeUnderTest, GateResult, Progress
from .proc import run_command, trim

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SETTINGS_SOURCE = "c.CodexNB.checks"
PYPROJECT_SOURCE = "[tool.codex-nb] checks"
_SHELL_TOKENS = frozenset({"|", "||", "&", "&&", ";", ";;", ">", ">>", "<", "<<", "(", ")", "|&", ">&", "<&"})
MAX_REPAIR_CHARS = 5000


@dataclass(frozen=True)
class Check:
    command: str  # as declared, with {files} unexpanded
    source: str  # where it was declared, for messages that say where to fix it


def declared_checks(repo_root: str | os.PathLike, settings) -> tuple[list[Check], str]:
    """The checks for this repository, and a problem reading them ("" when none)."""
    found = [Check(str(c), SETTINGS_SOURCE) for c in (getattr(settings, "checks", None) or []) if str(c).strip()]
    problem = ""
    path = Path(repo_root) / "pyproject.toml"
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            return found, f"pyproject.toml cannot be read ({exc}) — fix it so that its [tool.codex-nb] checks can run"
        table = data.get("tool", {}).get("codex-nb", {})
        declared = table.get("checks", []) if isinstance(table, dict) else []
        if not isinstance(declared, list) or not all(isinstance(c, str) for c in declared):
            problem = ('[tool.codex-nb] checks in pyproject.toml must be a list of command strings, '
                       'e.g. checks = ["ruff check {files}"]')
        else:
            known = {c.command for c in found}
            found.extend(Check(c, PYPROJECT_SOURCE) for c in declared if c.strip() and c not in known)
    return found, problem


def expand(command: str, files: list[str]) -> tuple[list[str], bool]:
    """The argv for ``command`` with ``{files}`` expanded, and whether it needs a shell."""
    quoted = " ".join(shlex.quote(f) for f in files)
    needs_shell = _needs_shell(command.replace("{files}", "FILES"))
    text = command.replace("{files}", quoted)
    if needs_shell:
        return ["/bin/sh", "-c", text], True
    argv = shlex.split(text)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv, False


def _needs_shell(command: str) -> bool:
    if "$" in command or "`" in command:
        return True
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return any(token in _SHELL_TOKENS for token in lexer)
    except ValueError:
        return False  # unbalanced quotes: shlex.split reports it when the command is expanded


def _env() -> dict:
    env = dict(os.environ)
    bindir = os.path.dirname(sys.executable)
    if bindir not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = bindir + (os.pathsep + env["PATH"] if env.get("PATH") else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _short(command: str) -> str:
    return command if len(command) <= 60 else command[:57] + "…"


def run_check(check: Check, root: Path, files: list[str], timeout: float, cancel=None) -> dict:
    """Run one check; the result is JSON-able and says what ran, how it ended and what it printed."""
    entry = {"command": check.command, "source": check.source, "exit_code": None, "seconds": 0.0,
             "timed_out": False, "output": "", "error": ""}
    try:
        argv, shell = expand(check.command, files)
    except ValueError as exc:
        entry["error"] = f"check '{_short(check.command)}' cannot be parsed ({exc}) — fix its quoting in {check.source}"
        return entry
    if not argv:
        entry["error"] = f"check '{check.command}' is empty — remove it from {check.source}"
        return entry
    entry["argv"] = argv
    program = shlex.split(check.command)[0] if shell else argv[0]
    try:
        finished = run_command(argv, root, timeout, env=_env(), cancel=cancel)
    except FileNotFoundError:
        entry["error"] = _not_found(check, program)
        return entry
    except PermissionError:
        entry["error"] = f"check '{_short(check.command)}': {program} is not executable — fix its permissions or remove it from {check.source}"
        return entry
    entry.update(exit_code=finished.exit_code, seconds=round(finished.seconds, 3), timed_out=finished.timed_out,
                 output=finished.output)
    if shell and finished.exit_code == 127 and "not found" in finished.output:
        entry["error"] = _not_found(check, program)
    elif finished.cancelled:
        entry["error"] = f"check '{_short(check.command)}' was stopped before it finished (Stop)"
    elif finished.timed_out:
        entry["error"] = f"check '{_short(check.command)}' was stopped at the {timeout:g} s limit (check_timeout)"
    return entry


def _not_found(check: Check, program: str) -> str:
    name = os.path.basename(program)
    return f"check '{_short(check.command)}': command not found — install {name} or remove it from {check.source}"


class ChecksGate:
    """Runs every declared check against a change to repository files; all must exit with 0."""

    name = "checks"

    def applies(self, change: ChangeUnderTest) -> bool:
        if not change.changed_files:
            return False
        checks, problem = declared_checks(change.repo_root, change.settings)
        return bool(checks or problem)

    def run(self, change: ChangeUnderTest, progress: Progress) -> GateResult:
        started = time.monotonic()
        root = Path(change.repo_root)
        checks, problem = declared_checks(root, change.settings)
        if problem:
            return GateResult(self.name, False, f"checks: {problem}", time.monotonic() - started,
                              {"checks": [], "error": problem}, problem)
        timeout = float(getattr(change.settings, "check_timeout", None) or 300.0)
        files = [f for f in change.changed_files if (root / f).exists()]  # a removed file cannot be checked
        results = []
        for check in checks:
            progress({"gate": self.name, "stage": "start", "command": check.command})
            if "{files}" in check.command and not files:
                results.append({"command": check.command, "source": check.source, "exit_code": 0, "seconds": 0.0,
                                "timed_out": False, "output": "", "error": "", "skipped": "no changed file left to check"})
                continue
            entry = run_check(check, root, files, timeout, cancel=change.cancel)
            results.append(entry)
            progress({"gate": self.name, "stage": "done", "command": check.command, "exit_code": entry["exit_code"],
                      "error": entry["error"]})
            if change.cancel is not None and change.cancel.is_set():
                break  # Stop: the checks left would judge a change that is going away
        failed = [r for r in results if r["error"] or r["exit_code"] != 0]
        seconds = time.monotonic() - started
        detail = {"checks": results, "files": files}
        if not failed:
            return GateResult(self.name, True, f"checks: {len(results)} passed; {seconds:.1f} s", seconds, detail)
        first = failed[0]
        why = first["error"] or f"'{_short(first['command'])}' exited with {first['exit_code']}"
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        summary = f"checks: {len(failed)} of {len(results)} failed — {why}{more}"
        return GateResult(self.name, False, summary, seconds, detail, _repair(failed))


def _repair(failed: list[dict]) -> str:
    parts = ["The project's declared checks failed after the change."]
    for r in failed:
        head = r["error"] or f"Check `{r['command']}` failed with exit code {r['exit_code']}:"
        parts.append(f"{head}\n{trim(r['output'], 400, 1600)}".rstrip())
    text = "\n\n".join(parts)
    return text if len(text) <= MAX_REPAIR_CHARS else text[: MAX_REPAIR_CHARS - 20] + "\n… [trimmed]"
