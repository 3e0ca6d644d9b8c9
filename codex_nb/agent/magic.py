"""``%codex agent "goal"``: an agent run in the notebook, drawn as a widget.

The plan is an editable list (one step per line) with Approve / Cancel; each
step's proposal is drawn with the review cards (read-only: the decision buttons
below them answer the run, and the engine's events update the cards); policies
for the rest of the run; Stop; Rewind to a completed step. The live notebook is
changed only through the engine with the kernel comm applier. Cells the agent
runs (and the cells of kept edits) run in this kernel, through the page, so their
outputs are in the notebook (liverunner.py); a rewind can rebuild this kernel's
state by re-running the notebook up to there. Without a page that can run cells,
a fresh kernel of the run stands in, and the widget says so.
"""
from __future__ import annotations


def agent(session, req):
    from ..errors import UsageProblem

    goal = req.text.strip().strip("\"'").strip()
    if not goal:
        raise UsageProblem("say what the agent should do", hint='e.g. %codex agent "load sales.csv and plot revenue"')
    if session.frontend() == "terminal":
        raise UsageProblem("agent mode needs the notebook widgets",
                           hint=f'in a terminal run: codex-nb agent NOTEBOOK.ipynb "{goal}"')
    path, _nb = session.notebook(req.notebook, required=True)
    from IPython.display import display

    from .widget import AgentWidget

    widget = AgentWidget(session, req, path, goal)
    session.last_agent = widget  # the newest run of this kernel (for tests and for a person's own inspection)
    display(widget)
    widget.start()
    return None
