"""The repository as a graph: files grouped by package, import and name-use edges.

A file's group is its directory ("" for the root). Above ``COLLAPSE_FILES`` files
the graph is drawn by package instead: one node per group, with the edges between
groups counted, so a big tree stays readable and quick to draw.
"""
from __future__ import annotations

import posixpath
from collections import Counter

COLLAPSE_FILES = 300
IMPORT_WEIGHT = 1.0  # the index's edge weight for "A imports B"; name-use edges weigh less


def group_of(path: str) -> str:
    return posixpath.dirname(path)


def file_graph(index, sent: dict[str, dict], *, collapse_over: int = COLLAPSE_FILES) -> dict:
    """Nodes, groups and edges of ``index`` (a RepoIndex); ``sent`` marks the files a question sends."""
    groups: dict[str, dict] = {}
    for path, rec in zip(index.paths, index.records):
        g = groups.setdefault(group_of(path), {"id": group_of(path), "label": group_of(path) or ".",
                                               "files": 0, "sent": 0, "package": False})
        g["files"] += 1
        g["sent"] += path in sent
        if posixpath.basename(path) == "__init__.py":
            g["package"] = True
    collapsed = len(index.paths) > collapse_over
    if collapsed:
        nodes = [{"id": g["id"], "kind": "package", "label": g["label"], "group": g["id"], "files": g["files"],
                  "sent": g["sent"]} for g in sorted(groups.values(), key=lambda g: g["id"])]
        return {"collapsed": True, "groups": sorted(groups.values(), key=lambda g: g["id"]), "nodes": nodes,
                "edges": _group_edges(index)}
    nodes = []
    for path, rec in zip(index.paths, index.records):
        node = {"id": path, "kind": "notebook" if rec["kind"] == "nb" else "module", "label": posixpath.basename(path),
                "group": group_of(path), "module": rec.get("module") or None}
        hit = sent.get(path)
        if hit:
            node.update(rank=hit["rank"], score=hit["score"], tokens=hit["tokens"], why=hit["why"],
                        outline=hit["outline_sent"])
        nodes.append(node)
    edges = [{"source": index.paths[i], "target": index.paths[j],
              "kind": "import" if w >= IMPORT_WEIGHT else "uses"}
             for i, out in enumerate(index.edges) for j, w in sorted(out.items())]
    return {"collapsed": False, "groups": sorted(groups.values(), key=lambda g: g["id"]), "nodes": nodes,
            "edges": edges}


def _group_edges(index) -> list[dict]:
    """Edges between packages, counted as the files of one that import from (or use names of) the other."""
    imports: Counter = Counter()
    uses: Counter = Counter()
    for i, out in enumerate(index.edges):
        a = group_of(index.paths[i])
        imported, used = set(), set()
        for j, w in out.items():
            b = group_of(index.paths[j])
            if a != b:
                (imported if w >= IMPORT_WEIGHT else used).add(b)
        for b in imported:
            imports[(a, b)] += 1
        for b in used - imported:
            uses[(a, b)] += 1
    out = [{"source": a, "target": b, "kind": "import", "count": n} for (a, b), n in sorted(imports.items())]
    out += [{"source": a, "target": b, "kind": "uses", "count": n} for (a, b), n in sorted(uses.items())
            if (a, b) not in imports]
    return out
