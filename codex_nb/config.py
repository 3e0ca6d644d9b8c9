"""Configuration through traitlets, as everywhere in Jupyter.

`c.CodexNB.model = "ollama:qwen2.5-coder:7b"` works in ipython_config.py (for
the magics) and in codex_nb_config.py / .json in any Jupyter config directory
(for the CLI and the server). Environment variables come next, then flags.
"""
from __future__ import annotations

from traitlets import Bool, Enum, Float, Int, List, Unicode
from traitlets.config import Config, Configurable


class CodexNB(Configurable):
    model = Unicode("", help="Model id provider:model, e.g. openai:gpt-4.1-mini or local:smollm2. "
                    "Empty: CODEX_NB_MODEL, then the first configured provider.").tag(config=True)
    token_budget = Int(0, help="Total context tokens sent to the model; 0 uses the provider's default.").tag(config=True)
    max_answer_tokens = Int(2048, help="Most tokens the model may answer with.").tag(config=True)
    validate = Bool(True, help="Validate accepted edits by re-running the notebook.").tag(config=True)
    validate_mode = Enum(["targeted", "full"], "targeted", help="Which cells a validation re-runs.").tag(config=True)
    cell_timeout = Float(120.0, help="Seconds one cell may run during validation.").tag(config=True)
    total_timeout = Float(900.0, help="Seconds a whole validation may run.").tag(config=True)
    skip_tags = List(Unicode(), ["codex-skip"], help="Cells with these tags never run in validation.").tag(config=True)
    request_timeout = Float(120.0, help="Seconds to wait for the model before retrying.").tag(config=True)


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


def _jupyter_file_config() -> Config:
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader

    merged = Config()
    # jupyter_config_path() lists the most specific directory first; load the least specific first.
    for directory in reversed(jupyter_config_path()):
        for loader in (JSONFileConfigLoader("codex_nb_config.json", directory), PyFileConfigLoader("codex_nb_config.py", directory)):
            try:
                merged.merge(loader.load_config())
            except Exception:
                continue  # a missing file is the common case
    return merged
