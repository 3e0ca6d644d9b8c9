"""Subcommands that do not ask the model: context, models, config, history, undo."""
from __future__ import annotations

import json
import os

from ..errors import UsageProblem
from .args import interpolate


def _show(session, html: str, text: str):
    if session.frontend() == "terminal":
        print(text)
        return None
    from IPython.display import display

    display({"text/html": html, "text/plain": text}, raw=True)
    return None


def context(session, req):
    """What would be sent for this request: sections with token counts, ranked files, redactions."""
    from ..config import load_config
    from ..context import build_context
    from ..widgets.render import escape, table_html, table_text

    path, nb = session.notebook(req.notebook, required=False)
    config = load_config()
    budget, model = config.token_budget or None, None
    try:
        from ..providers.registry import get_provider

        provider = get_provider(req.model, configured=config.model)
        budget, model = budget or provider.default_context_tokens, provider.model_id
    except Exception:
        pass  # no model configured: preview with the default budget; the request itself will say what is missing
    text = interpolate(req.text, session.shell.user_ns)
    ctx = build_context(notebook=nb, query=text, repo=req.repo, kernel_state=session.kernel_state(session.error_is_fresh()),
                        active_cell=session.current_cell_id(), budget=budget, model=model)
    rows = [{"section": s.name, "tokens": s.tokens} for s in ctx.sections]
    rows.append({"section": "total", "tokens": f"{ctx.total_tokens} of {ctx.budget}"})
    files = [{"path": f["path"], "score": round(f["score"], 3), "why": f["why"]} for f in ctx.files[:10]]
    head = f"Context for {path or 'no notebook'} (model {model or 'not configured'})"
    redacted = f"{len(ctx.redactions)} secret(s) redacted" if ctx.redactions else "no secrets found"
    html = (f"<div class='codex-context'><b>{escape(head)}</b> — {escape(redacted)}"
            + table_html(rows, ["section", "tokens"]) + "<b>Most relevant files</b>"
            + table_html(files, ["path", "score", "why"])
            + "".join(f"<details><summary>{escape(s.name)} ({s.tokens} tokens)</summary>"
                      f"<pre style='white-space:pre-wrap'>{escape(s.text)}</pre></details>" for s in ctx.sections)
            + "</div>")
    plain = "\n".join([head, redacted, table_text(rows, ["section", "tokens"]), "", table_text(files, ["path", "score", "why"]),
                       "", ctx.render()])
    return _show(session, html, plain)


def models(session, req):
    from ..providers.registry import list_models
    from ..widgets.render import table_html, table_text

    rows = [{**r, "default": "✓" if r.get("default") else "", "configured": "yes" if r["configured"] else "no"}
            for r in list_models()]
    cols = ["id", "configured", "default", "detail"]
    return _show(session, table_html(rows, cols), table_text(rows, cols))


def config(session, req):
    """Show the CodexNB settings, or set one for this session: %codex config key=value."""
    from traitlets import TraitError

    from ..config import CodexNB, load_config
    from ..widgets.render import table_html, table_text

    names = sorted(CodexNB.class_trait_names(config=True))
    if req.text:
        key, eq, raw = req.text.partition("=")
        key = key.strip()
        if not eq or key not in names:
            raise UsageProblem(f"cannot set {req.text!r}", hint=f"write %codex config KEY=VALUE with KEY one of {', '.join(names)}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw.strip()
        try:
            CodexNB(**{key: value})
        except TraitError as exc:
            raise UsageProblem(f"invalid value for {key}: {exc}", hint=CodexNB.class_traits()[key].help) from None
        session.shell.config.CodexNB[key] = value
    current = load_config()
    rows = [{"setting": n, "value": repr(getattr(current, n)), "help": CodexNB.class_traits()[n].help} for n in names]
    return _show(session, table_html(rows, ["setting", "value", "help"]), table_text(rows, ["setting", "value"]))


def history(session, req):
    from .. import audit
    from ..widgets.render import table_html, table_text

    path = session.notebook_path(req.notebook)
    entries = audit.read(path or os.getcwd(), notebook=path)
    rows = [{"time": e.get("time", "")[:19], "event": e.get("event"), "kind": e.get("kind", ""),
             "proposal": e.get("proposal_id") or "", "edits": e.get("edits", ""),
             "result": {True: "ok", False: "failed"}.get(e.get("ok"), e.get("decision", ""))} for e in entries[-50:]]
    if not rows:
        return _show(session, "<i>No codex-nb activity recorded for this notebook yet.</i>",
                     "No codex-nb activity recorded for this notebook yet.")
    cols = ["time", "event", "kind", "proposal", "edits", "result"]
    return _show(session, table_html(rows, cols), table_text(rows, cols))


def undo(session, req):
    from ..widgets.apply import undo_last
    from .run import apply_context

    if not session.history:
        raise UsageProblem("there is no accepted edit to undo in this kernel session",
                           hint="edits made before the kernel restarted can be undone with Edit → Undo in the notebook")
    entry = session.history[-1]
    ctx = apply_context(session, req, entry.notebook)
    if entry.applier_kind == "file":  # applied to a file (terminal IPython): restore it now, in this cell
        events: list[dict] = []
        done = undo_last(ctx, events.append).result(60)
        refused = next((e for e in events if e["type"] == "refused"), None)
        if refused is not None:
            raise UsageProblem(f"could not undo proposal {entry.proposal_id}: {refused['reason']}",
                               hint=refused.get("hint") or "undo it by hand (codex-nb audit shows the change)")
        if done is not None:
            revert = next((e.get("commit") for e in events if e["type"] == "undone" and e.get("commit")), None)
            print(f"Restored {entry.notebook} to how it was before proposal {entry.proposal_id}"
                  + (f", by revert commit {revert[:12]}." if revert else "."))
        return None
    # The page answers after this cell has finished; only a widget can still change on the page then.
    import ipywidgets as W
    from IPython.display import display

    from ..widgets.review import mark_undone

    status = W.HTML("Undoing the last accepted edit…")
    status.add_class("codex-undo")
    display(status)

    def on_event(event: dict) -> None:
        if event["type"] == "undone":
            reverted = f" Its commit is reverted by commit {event['commit'][:12]}." if event.get("commit") else ""
            status.value = "Undone: the notebook is back to how it was before the edit." + reverted
            mark_undone(entry.proposal_id, event.get("edits") or [])
        elif event["type"] == "refused":
            status.value = f"Could not undo: {event['reason']}. Use Edit → Undo in the notebook."

    undo_last(ctx, on_event)
    return None


from ..agent.magic import agent  # noqa: E402 - the agent's door lives with the agent

COMMANDS = {"context": context, "models": models, "config": config, "history": history, "undo": undo, "agent": agent}
