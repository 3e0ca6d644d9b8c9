"""The trust loop shared by every front door: see ``engine.Engine`` (and DESIGN.md, "One trust loop")."""
from .api import accept_file, build_engine
from .appliers import FileApplier, RemoteApplier, comm_request
from .engine import Engine
from .outcome import Failure, Outcome, UndoEntry
from .run_sync import BackgroundLoop, run_sync
from .settings import Settings, resolve_settings

__all__ = ["accept_file", "build_engine", "BackgroundLoop", "Engine", "Failure", "FileApplier", "Outcome", "RemoteApplier", "Settings",
           "UndoEntry", "comm_request", "resolve_settings", "run_sync"]
