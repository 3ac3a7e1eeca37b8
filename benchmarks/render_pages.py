"""Benchmark of the report pages: CPU seconds to render each page in a warm process.

Run from the repository root, on a project whose pipeline has run (``make report``, which
leaves the jobs' inputs in ``.ketameta/stage/``)::

    .venv/bin/python benchmarks/render_pages.py [PROJECT] [--repeat 5] [--pages TRD,MDD]
        [--baseline SRC --rounds 3] [--out DIR]

For each page, in one process whose imports are done and which has rendered every page
once (templates compiled, fonts loaded), the page is rendered ``--repeat`` times with the
remembered text measurements cleared before each (each page measures its own labels, as a
workflow job does) and the best CPU time is printed. With ``--baseline SRC`` (the ``src``
folder of another checkout, e.g. ``git worktree add /tmp/main main``), the same
measurement runs alternately with that source and this one, ``--rounds`` times, and the
median of each page and the ratio are printed; the pages the two write are compared byte
for byte. On a shared machine the absolute times vary, the ratios less so.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _jobs(project: Path, out: Path) -> list[tuple[str, object]]:
    """The page renderings of the workflow's render jobs, as (page, callable)."""
    from ketameta.analysis import check_inputs
    from ketameta.io import load_config, validate_config
    from ketameta.plan import plan_analyses
    from ketameta.report import page_config, render_condition, render_index

    os.chdir(project)
    config, lines = load_config("config/config.yaml")
    validate_config(config, ROOT / "workflow" / "schemas" / "config.schema.yaml",
                    "config/config.yaml", lines)
    config["analyses"] = plan_analyses(config, check_inputs(config, "config/config.yaml"),
                                       "config/config.yaml")
    conditions = list(dict.fromkeys(c for c in config["conditions"]
                                    for a in config["analyses"].values()
                                    if a["condition"] == c))
    os.chdir(project / ".ketameta" / "stage")

    def of(condition):
        return [a for a, e in config["analyses"].items() if e["condition"] == condition]

    def files(ids, name):
        return [f"data/processed/{a}/{name}" for a in ids]

    all_rows = {c: f"data/interim/{c}.csv" for c in conditions}
    with_multiverse = {p.stem for p in Path("data/processed/multiverse").glob("*.json")}
    jobs = []
    for c in conditions:
        multiverse = ([f"data/processed/multiverse/{c}.{e}" for e in ("json", "csv")]
                      if c in with_multiverse else [])
        ids = of(c)
        jobs.append((c, lambda c=c, ids=ids, mv=multiverse: render_condition(
            c, page_config([c], config), files(ids, "summary.json"), files(ids, "effects.csv"),
            str(out / f"{c}.html"), rows=f"data/interim/{c}.csv", all_rows=all_rows,
            multiverse=mv)))
    ids = [a for c in conditions for a in of(c)]
    jobs.append(("index", lambda: render_index(page_config(conditions, config),
                                               files(ids, "summary.json"),
                                               files(ids, "effects.csv"),
                                               str(out / "index.html"))))
    return jobs


def measure(project: Path, out: Path, repeat: int, pages: list[str] | None) -> dict[str, float]:
    """Best CPU seconds of each page (see the module docstring)."""
    try:
        from ketameta.report import _svg
    except ImportError:  # a source without remembered measurements
        _svg = None
    jobs = _jobs(project, out)
    for _, render in jobs:
        render()
    times = {}
    for page, render in jobs:
        if pages and page not in pages:
            continue
        best = []
        for _ in range(repeat):
            if _svg is not None:
                _svg._EXTENTS.clear()
                _svg._LINE_METRICS.clear()
            start = time.process_time()
            render()
            best.append(time.process_time() - start)
        times[page] = min(best)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("project", nargs="?", default=".", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pages", default="")
    parser.add_argument("--baseline", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    project = args.project.resolve()
    pages = [p for p in args.pages.split(",") if p]
    if args.baseline is None:
        out = (args.out or Path(tempfile.mkdtemp(prefix="ketameta-pages-"))).resolve()
        out.mkdir(parents=True, exist_ok=True)
        times = measure(project, out, args.repeat, pages)
        if args.json:
            print(json.dumps(times))
            return
        for page, seconds in times.items():
            print(f"{page:24s} {seconds:7.3f} s")
        return

    runs: dict[str, list[dict[str, float]]] = {"baseline": [], "this": []}
    with tempfile.TemporaryDirectory(prefix="ketameta-pages-") as tmp:
        for i in range(args.rounds):
            for name, src in (("baseline", args.baseline.resolve()), ("this", ROOT / "src")):
                out = Path(tmp) / name
                env = {**os.environ, "PYTHONPATH": str(src)}
                cmd = [sys.executable, __file__, str(project), "--repeat", str(args.repeat),
                       "--pages", args.pages, "--out", str(out), "--json"]
                done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
                runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(f"round {i + 1}, {name}: " + ", ".join(
                    f"{p} {s:.3f}" for p, s in runs[name][-1].items()), file=sys.stderr)
        same = all((Path(tmp) / "baseline" / f.name).read_bytes() == f.read_bytes()
                   for f in (Path(tmp) / "this").glob("*.html"))
    print(f"{'page':24s} {'baseline':>9s} {'this':>9s} {'ratio':>6s}   (median CPU s of "
          f"{args.rounds} alternating rounds, best of {args.repeat} each)")
    for page in runs["this"][0]:
        before = statistics.median(r[page] for r in runs["baseline"])
        after = statistics.median(r[page] for r in runs["this"])
        print(f"{page:24s} {before:9.3f} {after:9.3f} {before / after:6.2f}")
    print("pages byte-identical to the baseline's:", "yes" if same else "NO")


if __name__ == "__main__":
    main()
