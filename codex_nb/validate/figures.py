"""Figures nobody compares are laid out but not rendered during validation.

Rendering a matplotlib figure for the notebook (IPython's ``print_figure``:
a layout pass for the tight bounding box, a full raster pass, PNG compression,
base64) is often the most expensive part of a plotting cell, and for most cells
of a validation nobody looks at the result: drift (see ``drift``) compares
only the outputs of unedited cells that have stored outputs, and the copy's
outputs are thrown away afterwards. In every other executed cell — the edited
ones, cells never run before — a figure is *laid out*
(``Figure.draw_without_rendering``: every artist is drawn against a renderer
that paints nothing, so text, mathtext, layout and data errors still raise as
they would when the notebook renders it) and no image is made; the cell's
display keeps its ``text/plain`` line. Compared cells render exactly as in
Jupyter, so image size and MIME-type drift are still found.

The kernel tells the cells apart by their source (a digest of the text
nbclient sends), with a ``pre_run_cell`` hook; a source that also belongs to
a compared cell always renders.
"""
from __future__ import annotations

import hashlib
import json

from .drift import is_compared

_HOOK = r'''
def _codex_nb_quiet_figures(quiet):
    import functools, hashlib, sys
    from IPython.core import pylabtools

    shell = get_ipython()
    state = {"quiet": False}

    def pre_run_cell(info):
        source = getattr(info, "raw_cell", None) or ""
        state["quiet"] = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest() in quiet

    original = pylabtools.print_figure

    def print_figure(fig, *args, **kwargs):
        if not state["quiet"]:
            return original(fig, *args, **kwargs)
        lay_out = getattr(fig, "draw_without_rendering", None)
        if lay_out is None:  # matplotlib before 3.6
            fig.canvas.draw()
        else:
            lay_out()
        return None

    shell.events.register("pre_run_cell", pre_run_cell)
    pylabtools.print_figure = print_figure  # retina_figure and later select_figure_formats calls use it
    # A backend set up before this (the warm-up imports) bound the original into its formatters.
    figure_class = getattr(sys.modules.get("matplotlib.figure"), "Figure", None)
    if figure_class is not None:
        for formatter in shell.display_formatter.formatters.values():
            try:
                bound = formatter.lookup_by_type(figure_class)
            except (KeyError, AttributeError):
                continue
            if isinstance(bound, functools.partial) and bound.func is original:
                formatter.for_type(figure_class, functools.partial(print_figure, *bound.args, **bound.keywords))
'''


def digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


def quiet_cells(nb, selected: list[str], edited: set[str]) -> list[str]:
    """Ids of the selected code cells whose figures no check looks at (see the module's docstring)."""
    chosen = set(selected)
    cells = [c for c in nb.cells if c.get("cell_type") == "code" and c.get("id") in chosen]
    compared_sources = {c.get("source", "") for c in cells if is_compared(c, edited)}
    return [c["id"] for c in cells
            if not is_compared(c, edited) and c.get("source", "") not in compared_sources]


def hook_code(nb, cell_ids: list[str]) -> str | None:
    """Code that installs the hook for these cells, in a namespace of its own; None when there are none."""
    if not cell_ids:
        return None
    wanted = set(cell_ids)
    quiet = sorted({digest(c.get("source", "")) for c in nb.cells if c.get("id") in wanted})
    program = _HOOK + f"\n_codex_nb_quiet_figures(set(__import__('json').loads({json.dumps(quiet)!r})))\n"
    return f"exec({program!r}, {{'get_ipython': get_ipython}})"


def install(kernel, nb, cell_ids: list[str], timeout: float = 30.0) -> bool:
    """Install the hook in ``kernel`` (a ``kernels.StartedKernel``) before the run; False if it did not take.

    A kernel that refuses it (not IPython, no matplotlib integration) simply renders every figure.
    """
    language = ((nb.metadata.get("kernelspec") or {}).get("language") or "python").lower()
    code = hook_code(nb, cell_ids) if language == "python" else None
    if code is None:
        return False
    import time

    client = kernel.km.blocking_client()
    client.start_channels()
    try:
        msg_id = client.execute(code, silent=True, store_history=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                reply = client.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.1))
            except Exception:  # queue.Empty: the kernel did not answer in time
                return False
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply["content"].get("status") == "ok"
        return False
    finally:
        client.stop_channels()
