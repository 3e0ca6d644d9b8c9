"""Configuration through traitlets, as everywhere in Jupyter.

`c.CodexNB.model = "ollama:qwen2.5-coder:7b"` works in ipython_config.py (for
the magics) and in codex_nb_config.py / .json in any Jupyter config directory
(for the CLI and the server). Environment variables come next, then flags.
"""
from __future__ import annotations

import copy
import os
import sys

from traitlets import Bool, Dict, Enum, Float, Int, List, Unicode
from traitlets.config import Config, Configurable


class CodexNB(Configurable):
    model = Unicode("", help="Model id provider:model, e.g. openai:gpt-4.1-mini or local:smollm2. "
                    "Empty: CODEX_NB_MODEL, then the first configured provider.").tag(config=True)
    token_budget = Int(0, help="Total context tokens sent to the model; 0 uses the provider's default.").tag(config=True)
    max_answer_tokens = Int(2048, help="Most tokens the model may answer with.").tag(config=True)
    validate = Bool(True, help="Validate accepted edits by re-running the notebook.").tag(config=True)
    validate_mode = Enum(["auto", "targeted", "full"], "auto", help="Which cells a validation re-runs: auto (targeted only where skipping is worth it), targeted, full.").tag(config=True)
    cell_timeout = Float(120.0, help="Seconds one cell may run during validation.").tag(config=True)
    total_timeout = Float(900.0, help="Seconds a whole validation may run.").tag(config=True)
    skip_tags = List(Unicode(), ["codex-skip"], help="Cells with these tags never run in validation.").tag(config=True)
    request_timeout = Float(120.0, help="Seconds to wait for the model before retrying.").tag(config=True)
    validate_in_place = Bool(False, help="Run validation in the notebook's own directory instead of a scratch copy. "
                             "Risk: cells then really create, overwrite and delete your files, and rolling back "
                             "a failed edit does not undo that. Also CODEX_NB_VALIDATE_IN_PLACE=1.").tag(config=True)
    validate_network = Bool(True, help="Whether the validation kernel may open network connections (off: only "
                            "loopback). Also CODEX_NB_VALIDATE_NETWORK=off.").tag(config=True)
    validate_scratch_mb = Float(200.0, help="Most megabytes copied into validation's scratch directory; larger items "
                                "are shared read-only. Also CODEX_NB_VALIDATE_SCRATCH_MB.").tag(config=True)
    drift_fails = Bool(False, help="Treat output drift in cells an edit did not touch as a validation failure.").tag(config=True)
    repair = Int(0, help="How many times a failed validation is sent back to the model for a fix.").tag(config=True)
    tests = Enum(["auto", "all", "off"], "auto", help="Project tests run when a proposal patches repository "
                 "files: auto (the tests that can be affected), all, or off.").tag(config=True)
    test_timeout = Float(600.0, help="Seconds the project's tests may run for one change.").tag(config=True)
    checks = List(Unicode(), [], help="Commands run after a change to repository files, e.g. 'ruff check {files}'; "
                  "{files} becomes the changed paths. Also read from [tool.codex-nb] checks in pyproject.toml.").tag(config=True)
    check_timeout = Float(300.0, help="Seconds one declared check may run.").tag(config=True)
    stream_deadline = Float(600.0, help="Seconds a whole answer may take, retries included; then reading stops.").tag(config=True)
    silent_notice_after = Float(15.0, help="Seconds of silence from the model before the person is told it is still waiting.").tag(config=True)
    redact_patterns = List(Unicode(), [], help="Extra regular expressions whose matches are replaced by [REDACTED] "
                           "before anything leaves the process.").tag(config=True)
    validation_gateway_url = Unicode("", help="A Jupyter Kernel Gateway (or Enterprise Gateway) URL, e.g. "
                                     "http://gateway:8888: validation kernels run there instead of on this machine "
                                     "(also CODEX_NB_VALIDATION_GATEWAY_URL; token in JUPYTER_GATEWAY_AUTH_TOKEN). "
                                     "See docs/team.md for what carries over.").tag(config=True)
    commit = Enum(["off", "ask", "on"], "off",
                  help="In a git repository, make each kept change one commit: 'on' always, 'ask' offers it "
                       "(a prompt or a Commit button), 'off' never.").tag(config=True)
    commit_allow_dirty = Bool(False, help="Let a commit carry your uncommitted edits to a file the change also touches "
                              "(refused by default; other files are never committed).").tag(config=True)
    completion_model = Unicode("", help="Model id for inline (ghost-text) completion in JupyterLab cells, e.g. "
                               "ollama:qwen2.5-coder:1.5b or local:/path/qwen2.5-coder-1.5b.gguf. Empty: the model above.").tag(config=True)
    completion_enabled = Enum(["auto", "on", "off"], "auto", help="Inline completion: auto is on for local and "
                              "OpenAI-compatible servers, off for paid APIs.").tag(config=True)
    completion_debounce_ms = Int(250, help="Milliseconds of typing pause before an inline completion is asked for.").tag(config=True)
    completion_max_lines = Int(3, help="Most lines one inline completion may have.").tag(config=True)
    max_request_mb = Float(8.0, help="Most megabytes one server request may carry on the routes that carry the live "
                           "notebook (chat, context, map, snippet, accept replies, agent); refused with 413 as it "
                           "arrives. Other routes have small limits of their own (request_limits_kb).").tag(config=True)
    request_limits_kb = Dict(default_value={}, help="Per-route body limits in kilobytes that replace "
                             "the defaults, e.g. {'accept': 4096, 'complete': 2048}; names as in the 413 message.").tag(config=True)
    max_request_values = Int(500_000, help="Most JSON values (objects, arrays, strings, numbers …) one request body may "
                             "hold; more is refused with 400 before it is all parsed.").tag(config=True)


def load_config() -> CodexNB:
    """The CodexNB settings for this process: IPython's config inside a kernel, Jupyter's files elsewhere."""
    return CodexNB(config=_ipython_config() or _jupyter_file_config())


def _ipython_config() -> Config | None:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell.config if shell is not None else None


CONFIG_FILE_NAMES = ("codex_nb_config.json", "codex_nb_config.py")

# A server reads the configuration for every chat: the files are parsed again only when
# one appears, disappears or changes, and Jupyter's directory list only when the
# environment that decides it changes.
_dirs_cache: dict[tuple, list[str]] = {}
_files_cache: tuple[tuple, Config] | None = None  # (the files' names, times and sizes; what they say)


def _config_dirs() -> list[str]:
    """Jupyter's config directories, least specific first (the order in which they are merged)."""
    key = (sys.prefix, *sorted((k, v) for k, v in os.environ.items()
                               if k.startswith("JUPYTER") or k in ("HOME", "XDG_CONFIG_HOME", "APPDATA", "PROGRAMDATA")))
    dirs = _dirs_cache.get(key)
    if dirs is None:
        from jupyter_core.paths import jupyter_config_path

        dirs = _dirs_cache[key] = list(reversed(jupyter_config_path()))
    return dirs


def _jupyter_file_config() -> Config:
    files = []
    for directory in _config_dirs():
        for name in CONFIG_FILE_NAMES:
            path = os.path.join(directory, name)
            try:
                st = os.stat(path)
            except OSError:
                continue  # a missing file is the common case
            files.append((directory, name, st.st_mtime_ns, st.st_size))
    global _files_cache
    key = tuple(files)
    cached = _files_cache  # one tuple, replaced whole: threads see the old state or the new one
    if cached is None or cached[0] != key:
        cached = _files_cache = (key, _load_files(files))  # only the files' current state is worth keeping
    return copy.deepcopy(cached[1])  # callers get their own, as when the files are read each time


def _load_files(files) -> Config:
    from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader

    merged = Config()
    for directory, name, _mtime, _size in files:
        loader = JSONFileConfigLoader if name.endswith(".json") else PyFileConfigLoader
        try:
            merged.merge(loader(name, directory).load_config())
        except Exception:
            continue  # an unreadable file is skipped as before: the defaults apply
    return merged
