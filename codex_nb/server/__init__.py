"""The Jupyter server extension: authenticated JSON and streaming routes under ``{base_url}/codex-nb/``.

The routes and their schema are listed in :mod:`codex_nb.server.schema`
(also served at ``GET /codex-nb/schema``). Models are read asynchronously on the
event loop; work that blocks — papermill, the repository index, file I/O, the
embedded model — runs in the extension's own thread pool, so the loop keeps
serving while many chats stream.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from jupyter_server.utils import url_path_join

from .base import ServerState


def setup_handlers(web_app, root_dir: str) -> ServerState:
    from ..completion.handlers import completion_handlers
    from .agent_handler import agent_handlers
    from .accept import AcceptHandler, AcceptReplyHandler, CommitHandler, RejectHandler, RepairHandler, UndoHandler
    from .chat import CancelHandler, ChatHandler
    from .handlers import AuditHandler, ContextHandler, FilesHandler, HistoryHandler, ModelsHandler, SchemaHandler
    from .map_handler import MapHandler
    from .snippet import SnippetHandler

    workers = int(os.environ.get("CODEX_NB_SERVER_WORKERS", "64"))
    from ..notebook_io import confine_repo_roots

    # every worker thread finds repository roots inside root_dir only: no read or write outside it
    executor = ThreadPoolExecutor(workers, thread_name_prefix="codex-nb", initializer=confine_repo_roots,
                                  initargs=(root_dir,))
    state = ServerState(root_dir=Path(root_dir), executor=executor)
    web_app.settings["codex_nb"] = state
    base = url_path_join(web_app.settings["base_url"], "codex-nb")
    web_app.add_handlers(".*$", [
        (url_path_join(base, "schema"), SchemaHandler),
        (url_path_join(base, "models"), ModelsHandler),
        (url_path_join(base, "chat"), ChatHandler),
        (url_path_join(base, "chat", r"([A-Za-z0-9_.-]+)", "cancel"), CancelHandler),
        (url_path_join(base, "context"), ContextHandler),
        (url_path_join(base, "accept"), AcceptHandler),
        (url_path_join(base, "accept", r"(run-[0-9a-f]+)", "reply"), AcceptReplyHandler),
        (url_path_join(base, "reject"), RejectHandler),
        (url_path_join(base, "repair"), RepairHandler),
        (url_path_join(base, "undo"), UndoHandler),
        (url_path_join(base, "commit"), CommitHandler),
        (url_path_join(base, "snippet"), SnippetHandler),
        (url_path_join(base, "audit"), AuditHandler),
        (url_path_join(base, "history"), HistoryHandler),
        (url_path_join(base, "files"), FilesHandler),
        (url_path_join(base, "map"), MapHandler),
        *completion_handlers(web_app, base),
        *agent_handlers(base),
    ])
    return state


def _load_jupyter_server_extension(serverapp) -> None:
    setup_handlers(serverapp.web_app, serverapp.root_dir)
    from ..warmup import warm_in_background

    warm_in_background(sdks=True)  # the first chat must not import the SDKs on the event loop
    serverapp.log.info("codex-nb: routes registered under %s", url_path_join(serverapp.base_url, "codex-nb"))


# The name older Jupyter servers look for.
load_jupyter_server_extension = _load_jupyter_server_extension
