"""`%codex map [question]`: the map in the notebook — the files a question would send and the cell graph."""
from __future__ import annotations


def show_map(session, req):
    from IPython.display import display

    from ..widgets.render import escape, table_html
    from . import build_map
    from .sent import sent_phrase
    from .text import map_text

    path, nb = session.notebook(req.notebook, required=False)
    data = build_map(repo=req.repo, notebook=nb, query=req.text, notebook_path=path,
                     active_cell=session.current_cell_id())
    text = map_text(data)
    if session.frontend() == "terminal":
        print(text)
        return None
    head = (f"<b>Map of {escape(data['repo'])}</b> — {data['files']} files in {len(data['groups'])} folders, "
            f"{sum(e['kind'] == 'import' for e in data['edges'])} import edges")
    parts = [f"<div class='codex-map'>{head}"]
    if data["sent"]:
        rows = [{"rank": f["rank"], "file": f["path"], "tokens": sent_phrase(f),
                 "why": f["why"]} for f in data["sent"]]
        parts.append(f"<div>Sent for {escape(req.text or 'this notebook')!s} "
                     f"({data['context_tokens']} of {data['budget']} tokens)</div>")
        parts.append(table_html(rows, ["rank", "file", "tokens", "why"]))
    if data["notebook"]:
        labels = {c["id"]: c["label"] for c in data["notebook"]["cells"]}
        rows = [{"cell": c["label"], "defines": ", ".join(c["defines"]), "reads": ", ".join(c["uses"]),
                 "an edit re-runs": ", ".join(labels[r].split(" “")[0] for r in c["rerun"])}
                for c in data["notebook"]["cells"] if c["kind"] == "code"]
        parts.append("<div>Cell dependencies (from the def-use analysis)</div>")
        parts.append(table_html(rows, ["cell", "defines", "reads", "an edit re-runs"]))
    parts.append("<div>Open the Map in the Codex panel to see the graph and jump to files and cells.</div></div>")
    display({"text/html": "".join(parts), "text/plain": text}, raw=True)
    return None
