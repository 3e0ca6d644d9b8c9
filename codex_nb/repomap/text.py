"""The map as plain text, for terminals and the `%codex map` fallback."""
from __future__ import annotations

from .sent import sent_phrase


def map_text(data: dict) -> str:
    lines = [f"Repository {data['repo']}: {data['files']} files in {len(data['groups'])} folders"
             + (" (drawn by package)" if data["collapsed"] else "")]
    imports = [e for e in data["edges"] if e["kind"] == "import"]
    lines.append(f"{len(imports)} import edges, {len(data['edges']) - len(imports)} name-use edges")
    if data["sent"]:
        lines.append(f"Files the context would send for {data['query']!r} "
                     f"({data['context_tokens']} of {data['budget']} tokens in all):")
        for f in data["sent"]:
            code = sent_phrase(f)
            lines.append(f"  {f['rank']:>2}. {f['path']} — {code}; {f['why']}")
    nb = data.get("notebook")
    if nb:
        lines.append(f"Notebook {nb['path'] or ''}: {len(nb['cells'])} cells, {len(nb['edges'])} dependencies")
        label = {c["id"]: c["label"] for c in nb["cells"]}
        for c in nb["cells"]:
            if c["kind"] != "code":
                continue
            defines = ", ".join(c["defines"]) or "nothing"
            rerun = [label[r] for r in c["rerun"] if r != c["id"]]
            lines.append(f"  {c['label']}: defines {defines}"
                         + (f"; an edit re-runs {len(rerun)} other cell(s)" if rerun else ""))
    return "\n".join(lines)
