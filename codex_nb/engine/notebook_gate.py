"""The notebook gate: re-run the edited notebook in a fresh kernel (papermill) and judge it.

Targeted runs start from the edited cells and, for patched repository files,
from the cells that import or read them; when no cell can be linked to a
changed file the run widens to the whole notebook and says why.
"""
from __future__ import annotations

import ast
import threading
import time
from pathlib import Path

from .gates import ChangeUnderTest, GateResult, Progress

_SCAN_LIMIT = 2000  # repository .py files read to link a changed module to the modules cells import


class NotebookGate:
    name = "notebook"

    def __init__(self, validator=None):
        self.validator = validator  # validate_notebook-compatible; None: the real one
        self._preparing: threading.Thread | None = None

    def prepare(self, notebook, settings) -> None:
        """Start, in the background, the kernel that validating an edit of ``notebook`` will take.

        Called when a proposal for the notebook is about to be reviewed, so that the validation
        after Accept does not wait for a kernel to start. Only for the real validator: another
        one (a test's) starts no kernels.
        """
        if self.validator is not None or not settings.validate:
            return
        self._preparing = threading.Thread(target=_prepare, args=(notebook, settings), daemon=True,
                                           name="codex-nb-prepare-validation")
        self._preparing.start()

    def applies(self, change: ChangeUnderTest) -> bool:
        return change.after is not None and any(c.get("cell_type") == "code" for c in change.after.cells)

    def run(self, change: ChangeUnderTest, progress: Progress) -> GateResult:
        validator = self.validator
        if validator is None:
            from ..validate import validate_notebook as validator
        settings = change.settings
        if self._preparing is not None:
            # The spare is registered within milliseconds of the review opening; a validation that
            # comes sooner waits for that (not for the kernel) rather than start a second kernel.
            self._preparing.join(timeout=10)
        seeds, widened = cells_using_files(change)
        changed = list(dict.fromkeys([*change.changed_cells, *seeds]))
        mode = settings.validate_mode
        if mode != "full" and (widened or not changed):
            widened = widened or "no edited cell is left to target"
            mode = "full"
        started = time.monotonic()
        options = dict(changed=changed or None, mode=mode, previous=change.before, cwd=str(change.cwd),
                       progress=progress, **validation_options(settings))
        if change.cancel is not None and accepts(validator, "cancel"):
            options["cancel"] = change.cancel  # Stop kills the validation kernel, not only the wait for it
        report = validator(change.after, **options)
        if widened:
            report.widened = widened
            report.requested_mode = settings.validate_mode
        return GateResult(gate=self.name, ok=bool(report.ok), summary=report.summary(),
                          seconds=getattr(report, "seconds", None) or time.monotonic() - started,
                          detail=report.to_json(), repair_text="" if report.ok else report.failure_text())


def accepts(function, name: str) -> bool:
    """Whether ``function`` takes the keyword ``name`` (a test's validator or repairer may predate it)."""
    import inspect

    try:
        params = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)


def prepare_validation(gates, notebook, settings) -> None:
    """Let the notebook gate among ``gates`` start its kernel for ``notebook`` (a path) ahead of time."""
    if notebook is None or not str(notebook).endswith(".ipynb"):
        return
    for gate in gates:
        if isinstance(gate, NotebookGate):
            gate.prepare(notebook, settings)


def _prepare(notebook, settings) -> None:
    from ..validate import prepare

    try:
        prepare(notebook, kernel_name=settings.kernel_name, skip_tags=tuple(settings.skip_tags),
                **validation_safety(settings))
    except Exception:  # a spare only saves time: the validation starts its own kernel and reports any problem
        return


def validation_options(settings) -> dict:
    """The settings' limits, skipped tags, drift rule, kernel and safety, as ``validate_notebook`` arguments."""
    options = dict(cell_timeout=settings.cell_timeout, total_timeout=settings.total_timeout,
                   skip_tags=tuple(settings.skip_tags), drift_fails=settings.drift_fails, **validation_safety(settings))
    if settings.kernel_name:
        options["kernel_name"] = settings.kernel_name
    return options


def validation_safety(settings) -> dict:
    """Where the validation kernel runs and what it may reach, as ``validate_notebook`` arguments."""
    where = dict(in_place=settings.validate_in_place, network=settings.validate_network,
                 scratch_limit_mb=settings.validate_scratch_mb)
    if settings.validation_gateway_url is not None:  # else validate_notebook reads CODEX_NB_VALIDATION_GATEWAY_URL
        where["gateway_url"] = settings.validation_gateway_url  # '' validates here, whatever the environment says
    return where


def cells_using_files(change: ChangeUnderTest) -> tuple[list[str], str | None]:
    """(ids of code cells that import or read a changed file, why the run must widen — or None)."""
    if not change.changed_files:
        return [], None
    cells = [c for c in change.after.cells if c.get("cell_type") == "code"]
    local = _local_importers(change)
    seeds: list[str] = []
    unlinked = []
    for rel in change.changed_files:
        name = Path(rel).name
        hits = []
        for cell in cells:
            source = cell.get("source", "")
            if name in source or (rel.endswith(".py") and _imports_any(source, local.get(rel, set()))):
                hits.append(cell["id"])
        if not hits:
            unlinked.append(rel)
        seeds.extend(hits)
    if unlinked:
        return seeds, f"no cell imports or reads {', '.join(unlinked)}, so every cell runs"
    return seeds, None


def _imports_any(source: str, modules: set[str]) -> bool:
    for top in _top_imports(source):
        if top in modules:
            return True
    return False


def _top_imports(source: str) -> set[str]:
    try:
        tree = ast.parse(_strip_magics(source))
    except SyntaxError:
        return set()
    tops = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            tops.add(node.module.split(".")[0])
    return tops


def _strip_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _local_importers(change: ChangeUnderTest) -> dict[str, set[str]]:
    """For each changed .py file: the top-level local modules whose import (transitively) reaches it.

    Modules are named as the kernel would import them: relative to the notebook's directory
    (the kernel's working directory is on sys.path) and to the repository root.
    """
    roots = [change.cwd, change.repo_root]
    files: dict[Path, set[str]] = {}
    seen = 0
    for base in dict.fromkeys(Path(r).resolve() for r in roots):
        for path in base.rglob("*.py"):
            if any(part.startswith(".") or part in ("node_modules", "__pycache__") for part in path.relative_to(base).parts):
                continue
            seen += 1
            if seen > _SCAN_LIMIT:
                break
            try:
                files.setdefault(path, set()).update(_top_imports(path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError):
                continue
    def top_of(path: Path) -> set[str]:
        names = set()
        for base in (Path(r).resolve() for r in roots):
            try:
                names.add(path.relative_to(base).parts[0].removesuffix(".py"))
            except ValueError:
                continue
        return names

    out: dict[str, set[str]] = {}
    for rel in change.changed_files:
        if not rel.endswith(".py"):
            continue
        target = (Path(change.repo_root) / rel).resolve()
        reach = set(top_of(target))
        grew = True
        while grew:  # a module that imports a reaching module reaches it too
            grew = False
            for path, imports in files.items():
                tops = top_of(path)
                if imports & reach and not tops <= reach:
                    reach |= tops
                    grew = True
        out[rel] = reach
    return out
