"""codex-nb: a Jupyter-native coding assistant.

Importing this package is cheap on purpose: `%load_ext codex_nb` and the Jupyter
server import it at start-up, so SDKs, papermill and widgets load on first use.
"""
from __future__ import annotations

try:
    from ._version import __version__
except ImportError:  # running from a source tree that was never built
    __version__ = "0.0.0+source"


def load_ipython_extension(ipython):
    from .magics import register_magics

    register_magics(ipython)


def unload_ipython_extension(ipython):
    from .magics import unregister_magics

    unregister_magics(ipython)


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "codex-nb"}]


def _jupyter_server_extension_points():
    return [{"module": "codex_nb.server"}]


def __getattr__(name):
    # The Python API (codex_nb.propose / apply / validate) is resolved lazily for the same reason.
    if name in ("propose", "ask", "apply_proposal"):
        from . import assistant

        return getattr(assistant, name)
    if name == "validate":
        from .validate import validate_notebook

        return validate_notebook
    raise AttributeError(f"module 'codex_nb' has no attribute {name!r}")
