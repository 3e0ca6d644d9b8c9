"""What a repository's pytest configuration says about which files are tests and what loads globally.

Read from the first of pytest.ini, .pytest.ini, pyproject.toml, tox.ini and setup.cfg
in the repository root that has a pytest section, the way pytest picks its inifile.
Only the options that change test selection are read: ``python_files``,
``testpaths``, ``addopts`` (``-p`` plugins, ``--doctest-modules``, ``--doctest-glob``),
plus the ``pytest11`` entry points the project itself declares.
"""
from __future__ import annotations

import configparser
import fnmatch
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

CONFIG_FILES = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")
DEFAULT_PYTHON_FILES = ("test_*.py", "*_test.py")


@dataclass
class PytestConfig:
    source: str = ""  # the file the options came from ("" when none)
    python_files: tuple[str, ...] = DEFAULT_PYTHON_FILES
    testpaths: tuple[str, ...] = ()
    plugins: list[str] = field(default_factory=list)  # module names pytest loads for every test
    doctest_modules: bool = False
    doctest_glob: bool = False
    error: str = ""  # a configuration file that could not be read

    def collected(self, rel: str) -> bool:
        """Whether ``rel`` is where pytest looks when it is run without arguments (``testpaths``)."""
        return not self.testpaths or any(p == "." or rel == p or rel.startswith(p.rstrip("/") + "/") for p in self.testpaths)

    def is_test_file(self, rel: str) -> bool:
        name = rel.rsplit("/", 1)[-1]
        if name == "conftest.py" or not name.endswith(".py") or not self.collected(rel):
            return False
        return any(fnmatch.fnmatch(rel if "/" in pat else name, pat) for pat in self.python_files)


def read_pytest_config(root: str | Path) -> PytestConfig:
    root = Path(root)
    cfg = PytestConfig()
    for name in CONFIG_FILES:
        path = root / name
        if not path.is_file():
            continue
        try:
            options = _options(path)
        except (OSError, ValueError, configparser.Error, UnicodeDecodeError) as exc:
            cfg.error = f"{name} could not be read: {str(exc)[:160]}"
            break
        if options is None:
            continue
        cfg.source = name
        _apply(cfg, options)
        break
    cfg.plugins.extend(_entry_point_plugins(root))
    return cfg


def _options(path: Path) -> dict | None:
    """The pytest options of one file as {name: str | list}, or None when it has no pytest section."""
    if path.name == "pyproject.toml":
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        tool = data.get("tool", {}).get("pytest")
        if not isinstance(tool, dict):
            return None
        ini = tool.get("ini_options")
        return dict(ini) if isinstance(ini, dict) else {k: v for k, v in tool.items() if k != "ini_options"}
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(path.read_text(encoding="utf-8"))
    section = {"setup.cfg": "tool:pytest"}.get(path.name, "pytest")
    if not parser.has_section(section):
        return {} if path.name in ("pytest.ini", ".pytest.ini") else None  # pytest.ini counts even when empty
    return dict(parser.items(section))


def _words(value) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return shlex.split(str(value)) if value else []


def _apply(cfg: PytestConfig, options: dict) -> None:
    if options.get("python_files"):
        cfg.python_files = tuple(_words(options["python_files"]))
    if options.get("testpaths"):
        cfg.testpaths = tuple(p.strip("./") or "." for p in _words(options["testpaths"]) if p.strip("./"))
    args = _words(options.get("addopts", ""))
    for i, arg in enumerate(args):
        if arg == "-p" and i + 1 < len(args):
            name = args[i + 1]
        elif arg.startswith("-p") and len(arg) > 2:
            name = arg[2:]
        else:
            name = ""
            cfg.doctest_modules |= arg == "--doctest-modules"
            cfg.doctest_glob |= arg.startswith("--doctest-glob")
        if name and not name.startswith("no:"):
            cfg.plugins.append(name)


def _entry_point_plugins(root: Path) -> list[str]:
    """Modules the project registers as pytest plugins (``pytest11`` entry points)."""
    modules: list[str] = []
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            eps = data.get("project", {}).get("entry-points", {}).get("pytest11", {})
            modules.extend(str(v).split(":", 1)[0].strip() for v in eps.values())
        except (OSError, ValueError, AttributeError, UnicodeDecodeError):
            pass
    setup_cfg = root / "setup.cfg"
    if setup_cfg.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(setup_cfg.read_text(encoding="utf-8"))
            raw = parser.get("options.entry_points", "pytest11", fallback="")
        except (OSError, configparser.Error, UnicodeDecodeError):
            raw = ""
        for line in raw.splitlines():
            if "=" in line:
                modules.append(line.split("=", 1)[1].split(":", 1)[0].strip())
    return [m for m in modules if m]
