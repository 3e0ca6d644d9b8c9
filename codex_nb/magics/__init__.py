"""``%codex`` and ``%%codex``: the front door in every front end that runs an IPython kernel.

Loading is cheap on purpose (``%load_ext codex_nb`` must add little to start-up):
this module imports only IPython's magic machinery; the pipeline's modules are then
imported in a background thread, and papermill and ipywidgets load on first use.

Errors from the pipeline (``CodexError``: message + hint) become ``UsageError``
here and only here.
"""
from __future__ import annotations

import re

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand

from ..errors import CodexError
from .args import parse, usage


@magics_class
class CodexMagics(Magics):
    def __init__(self, shell, session=None):
        super().__init__(shell)
        if session is None:
            from .session import KernelSession

            session = KernelSession(shell)
        self.session = session

    # {var} is expanded by our own interpolation, which hides secret-named variables and redacts
    # values before they are cut; IPython's expansion would paste them raw into the request.
    @no_var_expand
    @line_cell_magic
    def codex(self, line: str, cell: str | None = None):
        """Ask codex-nb for edits, answers, reviews or new notebooks. `%codex help` lists everything."""
        try:
            return self._dispatch(line, cell)
        except CodexError as exc:
            raise UsageError(str(exc)) from None

    def _dispatch(self, line: str, cell: str | None):
        req = parse(line, cell)
        command = req.command
        if command == "help":
            print(usage())
            return None
        from . import info, run

        if command == "map":
            from ..repomap.magic import show_map

            return show_map(self.session, req)
        if command in info.COMMANDS:
            return info.COMMANDS[command](self.session, req)
        return run.dispatch(self.session, req)


_QUESTION = re.compile(r"^(\s*)%codex\b(.*\?)\s*$")


def keep_question_marks(lines: list[str]) -> list[str]:
    """`%codex ask why is it empty?` would be read by IPython as a help request (``x?``) for ``empty``.

    Runs before IPython's own transforms and turns such lines into the call the magic would have been.
    """
    if lines and lines[0].lstrip().startswith("%%"):
        return lines  # a cell magic's body is its own business
    out = []
    for line in lines:
        m = _QUESTION.match(line)
        out.append(f"{m.group(1)}get_ipython().run_line_magic('codex', {m.group(2).strip()!r})\n" if m else line)
    return out


def register_magics(ipython) -> CodexMagics:
    magics = CodexMagics(ipython)
    ipython.register_magics(magics)
    if keep_question_marks not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(keep_question_marks)
    ipython.events.register("post_run_cell", magics.session.post_run_cell)
    channel = magics.session.channel
    magics.running = (lambda *_: setattr(channel, "cell_running", True), lambda *_: setattr(channel, "cell_running", False))
    ipython.events.register("pre_run_cell", magics.running[0])
    ipython.events.register("post_run_cell", magics.running[1])
    ipython._codex_nb_magics = magics
    if getattr(ipython, "kernel", None) is not None:
        channel.listen()
        _ping_when_a_cell_runs(ipython, magics.session)
    from ..warmup import warm_in_background

    warm_in_background()  # the first %codex does not wait for nbformat and the providers
    return magics


def _ping_when_a_cell_runs(ipython, session) -> None:
    """Ask the front end for the live notebook; the answer also tells whether the lab extension is there.

    From `%load_ext` in a cell the request goes now and is answered when the cell ends. Loaded from
    the config at kernel start, the front end may not have registered its comm target yet, so the
    request waits for the first cell.
    """
    try:
        in_a_cell = bool(ipython.kernel.get_parent())
    except Exception:
        in_a_cell = True
    if in_a_cell:
        session.channel.ping(ipython.execution_count)
        return

    def first_cell(*_):
        ipython.events.unregister("pre_run_cell", first_cell)
        session.pending_ping = None
        session.channel.ping(ipython.execution_count)

    session.pending_ping = first_cell
    ipython.events.register("pre_run_cell", first_cell)


def unregister_magics(ipython) -> None:
    magics = getattr(ipython, "_codex_nb_magics", None)
    if magics is None:
        return
    for event, callback in (("post_run_cell", magics.session.post_run_cell),
                            ("pre_run_cell", getattr(magics.session, "pending_ping", None)),
                            ("pre_run_cell", magics.running[0]), ("post_run_cell", magics.running[1])):
        try:
            ipython.events.unregister(event, callback)
        except ValueError:
            pass  # already gone
    if keep_question_marks in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.remove(keep_question_marks)
    magics.session.channel.close()
    ipython.magics_manager.magics["line"].pop("codex", None)
    ipython.magics_manager.magics["cell"].pop("codex", None)
    del ipython._codex_nb_magics
