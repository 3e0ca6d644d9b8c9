"""Validation kernels on a Jupyter Kernel Gateway (or Enterprise Gateway) instead of this machine.

``c.CodexNB.validation_gateway_url`` (or ``codex-nb validate --gateway-url URL``) names the
gateway. The run itself does not change: papermill drives nbclient as before; only the kernel
manager is jupyter_server's ``GatewayKernelManager``, which starts the kernel through the
gateway's REST API and talks to it over its websocket. Failures come back in the same shape.

What does not carry over is the machine: a remote kernel does not start in the notebook's
directory and does not see its files. The manager sends the directory as ``KERNEL_WORKING_DIR``
(Enterprise Gateway starts the kernel there); Kernel Gateway ignores it, so the copy that runs
gets one set-up cell first, which moves the kernel there when the gateway host has that path
(a shared or mounted project directory) and otherwise leaves it in the gateway's own directory —
then a cell that reads a relative file fails, and the report says so like any other failure.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import nbformat

SETUP_CELL_ID = "codex-nb-gateway-workdir"
SETUP_TAG = "codex-nb-gateway-setup"
SETUP_SOURCE = (
    "import os as _codex_nb_os\n"
    "_codex_nb_dir = _codex_nb_os.environ.get('KERNEL_WORKING_DIR')\n"
    "if _codex_nb_dir and _codex_nb_os.path.isdir(_codex_nb_dir):\n"
    "    _codex_nb_os.chdir(_codex_nb_dir)\n"
    "del _codex_nb_os, _codex_nb_dir"
)


def gateway_url(explicit: str | None = None) -> str | None:
    """The gateway to validate on: the caller's, else ``c.CodexNB.validation_gateway_url``; None runs locally."""
    if explicit:
        return explicit.rstrip("/")
    from ..config import load_config

    return (load_config().validation_gateway_url or "").rstrip("/") or None


def kernel_manager_class(url: str):
    """jupyter_server's manager for kernels on a gateway, pointed at ``url``."""
    from jupyter_server.gateway.gateway_client import GatewayClient
    from jupyter_server.gateway.managers import GatewayKernelManager

    client = GatewayClient.instance()
    client.url = url
    return GatewayKernelManager


def kernel_problem(url: str, nb, kernel_name: str | None, failure) -> tuple[str | None, dict | None]:
    """The kernel to ask the gateway for, or a ``missing_kernel`` failure (same shape as a local one)."""
    name = kernel_name or (nb.metadata.get("kernelspec") or {}).get("name")
    try:
        with urllib.request.urlopen(f"{url}/api/kernelspecs", timeout=30) as resp:
            specs = json.load(resp).get("kernelspecs") or {}
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return name, failure("engine_error", ename=type(exc).__name__, evalue=str(exc),
                             message=f"the kernel gateway at {url} cannot be reached ({exc}); start it, "
                                     "or unset CodexNB.validation_gateway_url to validate on this machine")
    if not name or name not in specs:
        what = f"no kernel named {name!r}" if name else "the notebook names no kernel"
        return name, failure("missing_kernel", ename="NoSuchKernel", evalue=what,
                             message=f"{what} on the kernel gateway at {url}; pass --kernel NAME "
                                     f"(the gateway has: {', '.join(sorted(specs)) or 'none'})")
    return name, None


def with_setup_cell(nb_copy):
    """The copy with the cell that moves a remote kernel into the notebook's directory when it can."""
    cell = nbformat.v4.new_code_cell(SETUP_SOURCE)
    cell["id"] = SETUP_CELL_ID
    cell["metadata"]["tags"] = [SETUP_TAG]
    nb_copy.cells.insert(0, cell)
    return nb_copy
