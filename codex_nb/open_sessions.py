"""Is a notebook open in a running Jupyter server? Writing its file then would go behind the editor's back.

JupyterLab keeps its own copy of an open notebook and saves it over the file; a change
written to disk meanwhile is either lost at the next save or met by a "file changed on
disk" dialog. ``codex-nb apply`` therefore asks each Jupyter server running on this
machine (found through the runtime directory, as `jupyter server list` does) whether
it has a session — a notebook with a kernel — for this file, and refuses if one does.
"""
from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .errors import EditRefused

REQUEST_TIMEOUT = 1.5  # seconds per server; an unresponsive server does not hold up the CLI


@dataclass(frozen=True)
class OpenSession:
    server_url: str
    path: str  # the notebook's path as the server names it
    kernel: str


def running_servers() -> list[dict]:
    """Server info files of live Jupyter servers on this machine."""
    from jupyter_core.paths import jupyter_runtime_dir

    servers = []
    for info_file in sorted(Path(jupyter_runtime_dir()).glob("jpserver-*.json")):
        try:
            info = json.loads(info_file.read_text(encoding="utf-8"))
            os.kill(int(info["pid"]), 0)  # a crashed server leaves its file behind
        except (OSError, ValueError, KeyError, TypeError):
            continue
        servers.append(info)
    return servers


def sessions_for(notebook: str | os.PathLike) -> list[OpenSession]:
    """The sessions that running servers have for ``notebook`` (none if no server can be asked)."""
    target = Path(notebook).resolve()
    found = []
    for info in running_servers():
        try:
            rel = target.relative_to(Path(info["root_dir"]).resolve()).as_posix()
        except (KeyError, ValueError):
            continue  # outside this server's root: it cannot have the file open
        request = urllib.request.Request(info["url"].rstrip("/") + "/api/sessions",
                                         headers={"Authorization": f"token {info.get('token', '')}"})
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
                sessions = json.load(response)
        except (OSError, ValueError):
            continue
        for session in sessions if isinstance(sessions, list) else ():
            path = session.get("path") or (session.get("notebook") or {}).get("path")
            if path == rel:
                kernel = (session.get("kernel") or {}).get("name", "")
                found.append(OpenSession(server_url=info["url"], path=path, kernel=kernel))
    return found


def refuse_if_open(notebook: str | os.PathLike, *, override: str = "") -> None:
    """Raise EditRefused if a running Jupyter server has ``notebook`` open; ``override`` names the way past it."""
    sessions = sessions_for(notebook)
    if sessions:
        where = ", ".join(f"{s.server_url} ({s.kernel or 'a'} kernel)" for s in sessions)
        raise EditRefused(
            f"{notebook} is open in Jupyter at {where}; writing the file now would go behind the editor's back",
            hint="accept the proposal in that notebook instead (the Codex panel, or %codex in the notebook), or "
                 "close the notebook and shut down its kernel first" + (f"; {override}" if override else ""))
