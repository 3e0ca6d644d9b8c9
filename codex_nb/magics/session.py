"""What the magics know about the kernel they run in: its notebook, its variables, its last error.

One ``KernelSession`` per shell holds the state that outlives a cell: the
comm to the front end, the undo history, the last error and the cell it came from.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ..errors import UsageProblem


class KernelSession:
    def __init__(self, shell, channel=None):
        from ..widgets.live import LiveChannel

        self.shell = shell
        self.channel = channel or LiveChannel()
        self.history: list[dict] = []  # undo entries, newest last
        self.last_error: dict | None = None  # {"exc_info", "source", "execution_count"}
        self.validator = None  # tests and benchmarks swap in another validate_notebook
        self.ui: str | None = None  # "widget" | "terminal"; None decides from the shell
        self.last_view = None  # the newest review widget (for the next `%codex` and for tests)
        self.ran: dict[str, tuple[str, float]] = {}  # cell id -> (source it ran, when)
        self.found: Path | None = None  # the notebook file found from the cells this kernel ran
        self.told_history = False  # whether the person was told that the cell history stands in for the notebook

    # -- hooks -------------------------------------------------------------------
    def post_run_cell(self, result) -> None:
        """Remember what each cell ran (by cell id) and the cell that raised, for `%codex fix`."""
        info = getattr(result, "info", None)
        cid = self.current_cell_id()
        if cid and info is not None and not (info.raw_cell or "").lstrip().startswith(("%%codex", "%codex")):
            self.ran[cid] = (info.raw_cell, time.time())
        err = getattr(result, "error_in_exec", None)
        if err is None:
            return
        self.last_error = {"exc_info": (type(err), err, err.__traceback__),
                           "source": getattr(info, "raw_cell", "") or "",
                           "execution_count": getattr(result, "execution_count", None)}

    def exc_info(self):
        if self.last_error:
            return self.last_error["exc_info"]
        last = getattr(sys, "last_value", None)
        if last is not None:
            return type(last), last, getattr(sys, "last_traceback", None)
        return None

    # -- front end ---------------------------------------------------------------
    def frontend(self) -> str:
        if self.ui:
            return self.ui
        return "terminal" if type(self.shell).__name__.startswith("Terminal") else "widget"

    def extension_status(self) -> str:
        return self.channel.status_at(getattr(self.shell, "execution_count", None))

    def current_cell_id(self) -> str | None:
        """The id of the cell running now (JupyterLab and Notebook 7 send it with the request)."""
        kernel = getattr(self.shell, "kernel", None)
        try:
            parent = kernel.get_parent() if kernel is not None else None
        except Exception:
            parent = None
        return ((parent or {}).get("metadata") or {}).get("cellId")

    # -- the notebook ----------------------------------------------------------------
    def notebook_path(self, explicit: str | None = None) -> str | None:
        """The notebook of this kernel: --notebook, JPY_SESSION_NAME, VS Code's or IPython's hint, else the file
        holding the cells this kernel ran (papermill, nbconvert and nbclient do not say; see ``locate``)."""
        if explicit:
            path = Path(explicit).expanduser()
            if not path.is_file():
                raise UsageProblem(f"{path} does not exist", hint="pass the path of a saved .ipynb file to --notebook")
            return str(path.resolve())
        ns = self.shell.user_ns
        hints = [os.environ.get("JPY_SESSION_NAME"), ns.get("__vsc_ipynb_file__"), ns.get("__session__")]
        for hint in hints:
            if not hint or not str(hint).endswith(".ipynb"):
                continue
            hint = Path(str(hint)).expanduser()
            # A relative session name is relative to the server root; the kernel runs in the notebook's directory.
            for candidate in (hint, Path.cwd() / hint, Path.cwd() / hint.name):
                if candidate.is_file():
                    return str(candidate.resolve())
        return self._located()

    def _located(self) -> str | None:
        """The notebook whose cells this kernel has been running (kernels only: a terminal has no notebook)."""
        if getattr(self.shell, "kernel", None) is None:
            return None
        from . import locate

        executed = locate.executed_sources(self.shell)
        if not executed:
            return None
        if self.found is not None and locate.holds(self.found, executed):
            return str(self.found)  # the same file again, as long as it holds the running cell
        self.found = locate.find_notebook(executed)
        return str(self.found) if self.found else None

    def _from_history(self):
        """The kernel's own cell history as the notebook, said once per kernel."""
        from .locate import history_notebook

        nb = history_notebook(self.shell)
        if not self.told_history:
            self.told_history = True
            print(f"codex-nb: this kernel was not told its notebook (papermill, nbconvert and nbclient do not say) "
                  f"and no notebook file nearby holds the cell running now; working from the cells this kernel "
                  f"ran instead (In[1]…In[{len(nb.cells)}]). Pass --notebook PATH to use the file.")
        return nb

    def notebook(self, explicit: str | None = None, required: bool = True):
        """(path, NotebookNode): the live front end's copy when it is newer than the file, else the file."""
        from ..notebook_io import read_notebook

        path = self.notebook_path(explicit)
        snap = self.channel.snapshot
        mtime = os.path.getmtime(path) if path else 0
        if snap and not explicit and snap["time"] >= mtime:
            from ..widgets.apply import notebook_from_reply

            return path, self._with_ran(notebook_from_reply(snap), snap["time"])
        if path:
            return path, self._with_ran(read_notebook(path), mtime)
        if getattr(self.shell, "kernel", None) is not None:
            return None, self._from_history()
        if required:
            raise UsageProblem("cannot tell which notebook this kernel belongs to",
                               hint="run it in a notebook opened in Jupyter (the kernel then knows its file), "
                                    "or pass --notebook PATH")
        return None, None

    def _with_ran(self, nb, as_of: float):
        """Cells run since ``as_of`` get the source they ran: the file (or the last snapshot) may predate
        edits the person made and ran without saving, and a proposal must be made against those."""
        for cell in nb.cells:
            ran = self.ran.get(cell.get("id"))
            if ran and ran[1] > as_of and cell.get("cell_type") == "code":
                cell["source"] = ran[0]
        return nb

    def kernel_state(self, with_error: bool = True) -> dict:
        from ..context.kernel import collect_kernel_state

        return collect_kernel_state(self.shell.user_ns, last_exception=self.exc_info() if with_error else None)

    def error_is_fresh(self) -> bool:
        """Did the cell just before this one raise? Then its error belongs in any request's context."""
        count = getattr(self.shell, "execution_count", None)
        return bool(self.last_error and count is not None and self.last_error["execution_count"] == count - 1)

    def error_cell_id(self, nb) -> str | None:
        """The notebook cell whose source is the one that raised last."""
        if nb is None or not self.last_error:
            return None
        wanted = self.last_error["source"].strip()
        for cell in nb.cells:
            if cell.get("cell_type") == "code" and cell.get("source", "").strip() == wanted:
                return cell["id"]
        return None
