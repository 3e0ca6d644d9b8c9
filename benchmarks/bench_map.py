"""The map on a 2,000-file tree: building its JSON, and drawing it in Chromium, collapsed vs not.

    python benchmarks/bench_map.py [--files 2000] [--repeat 3]

Generates a tree of packages with imports between them, then measures
  * build: `build_map(repo, query=...)` with a warm index (what the Map view asks for);
  * draw: `drawRepository` from the built extension (labextension/lib/mapdraw.js, `jlpm build:lib`)
    in headless Chromium, until the browser has laid the SVG out — for the collapsed map (by package,
    what a large repository gets) and, as the baseline measured in the same run, for every file drawn.
Goal: the collapsed draw under one second. Prints times and the ratio to the baseline.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
MAPDRAW = HERE.parent / "labextension" / "lib" / "mapdraw.js"
CHROMIUM = os.environ.get("CODEX_NB_CHROMIUM", "/usr/bin/chromium")


def make_tree(root: Path, files: int) -> None:
    (root / ".git").mkdir()
    packages = max(1, files // 50)
    per = files // packages
    for p in range(packages):
        pkg = root / f"pkg{p:03d}"
        pkg.mkdir()
        (pkg / "__init__.py").write_text(f'"""Package {p}."""\n')
        for m in range(per - 1):
            other = (p * 7 + m) % packages
            body = [f"from pkg{other:03d} import mod{m % (per - 1)}\n" if m % 4 == 0 else "",
                    f"def handle_{p}_{m}(order, rate=0.{m % 9 + 1}):\n",
                    f'    """Handle order {m} of package {p}."""\n',
                    "    return order * rate\n"]
            (pkg / f"mod{m}.py").write_text("".join(body))


DRAW = """async ([source, data, width]) => {
  if (!window.drawRepository) {
    const url = URL.createObjectURL(new Blob([source], {type: 'text/javascript'}));
    const mod = await import(url);
    window.drawRepository = mod.drawRepository;
  }
  document.body.replaceChildren();
  const t = performance.now();
  const svg = window.drawRepository(data, width, () => {});
  document.body.appendChild(svg);
  svg.getBoundingClientRect();           // force layout
  document.body.offsetHeight;
  await new Promise(r => requestAnimationFrame(() => r()));  // and a paint
  return {ms: performance.now() - t, nodes: svg.querySelectorAll('.codex-map-node').length};
}"""


def time_draws(datas: dict, repeat: int) -> dict:
    from playwright.sync_api import sync_playwright

    source = MAPDRAW.read_text()
    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_content("<html><body></body></html>")
        for label, data in datas.items():
            runs = [page.evaluate(DRAW, [source, data, 1200]) for _ in range(repeat)]
            out[label] = (statistics.median(r["ms"] for r in runs), runs[0]["nodes"])
        browser.close()
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    if not MAPDRAW.exists():
        sys.exit(f"{MAPDRAW} is missing: run `cd labextension && jlpm build:lib`")
    from codex_nb.repomap import build_map

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_tree(root, args.files)
        t = time.perf_counter()
        build_map(repo=root, query="handle order rate", use_cache=False)
        cold = time.perf_counter() - t
        warm = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            collapsed = build_map(repo=root, query="handle order rate")
            warm.append(time.perf_counter() - t)
        every_file = build_map(repo=root, query="handle order rate", collapse_over=10**9)
    collapsed["root"] = every_file["root"] = "."
    print(f"tree: {collapsed['files']} files in {len(collapsed['groups'])} packages; "
          f"JSON {len(json.dumps(collapsed)) // 1024} KiB collapsed, {len(json.dumps(every_file)) // 1024} KiB by file")
    print(f"build_map: cold (index built) {cold:.2f} s, warm median {statistics.median(warm):.2f} s")
    draws = time_draws({"collapsed": collapsed, "every file": every_file}, args.repeat)
    (c_ms, c_nodes), (f_ms, f_nodes) = draws["collapsed"], draws["every file"]
    print(f"draw collapsed:  {c_ms:7.1f} ms for {c_nodes} package nodes (goal < 1000 ms)")
    print(f"draw every file: {f_ms:7.1f} ms for {f_nodes} file nodes (baseline, same run)")
    print(f"ratio collapsed/baseline: {c_ms / f_ms:.3f}x")


if __name__ == "__main__":
    main()
