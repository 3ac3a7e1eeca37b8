"""Benchmark of a condition job's statistics path: CPU seconds per stage, in a warm process.

Run from the repository root, on a project whose pipeline has run (its plan is cached in
``.ketameta/cache/plan.json``)::

    .venv/bin/python benchmarks/condition_stages.py [PROJECT] [--repeat 5]
        [--baseline SRC --rounds 3]

Each condition's job is replayed as ``workflow/scripts/condition.py`` runs it, into a
temporary folder: its rows are extracted, its analyses fitted (``run_condition``), its
multiverse fitted (``write_condition``) and its page written (``render_condition``). After
one pass that warms the process (imports, compiled templates, fonts), every condition is
run ``--repeat`` times and the median CPU time of each stage is printed: ``fit``,
``multiverse``, ``context`` (the page but its figures: its data, the template and the
writing) and ``figures`` (the SVG figures the page draws, wherever it draws them: the
sections' figures are drawn as the template reaches them). ``stats`` is fit + multiverse +
context, the part that does not draw.

With ``--baseline SRC`` (the ``src`` folder of another checkout, e.g. of ``main``), the
measurement runs alternately with that source and this one, ``--rounds`` times, each in a
fresh process, and the median totals and their ratio are printed. On a shared machine the
absolute times vary, the ratios less so.
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

STAGES = ("fit", "multiverse", "context", "figures")


def measure(project: Path, repeat: int) -> dict[str, dict[str, float]]:
    """Median CPU seconds of each stage of each condition's job (see the module docstring)."""
    from ketameta.analysis import run_condition
    from ketameta.io import extract_condition
    from ketameta.multiverse import write_condition
    from ketameta.report import plots, render_condition, robustness

    plan = json.loads((project / ".ketameta/cache/plan.json").read_text())["plan"]
    spent = {"figures": 0.0}

    def timed(module, name, stage):
        function = getattr(module, name)

        def call(*args, **kwargs):
            start = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent[stage] += time.process_time() - start

        setattr(module, name, call)

    for name in ("forest_svg", "funnel_svg", "timecourse_svg"):
        timed(plots, name, "figures")
    for name in ("specification_curve_svg", "gosh_svg"):
        timed(robustness, name, "figures")

    def job(stage: Path, condition: str) -> dict[str, float]:
        analyses = plan["analyses_of"][condition]
        rows = stage / f"data/interim/{condition}.csv"
        effects = [stage / f"data/processed/{a}/effects.csv" for a in analyses]
        summaries = [stage / f"data/processed/{a}/summary.json" for a in analyses]
        rows.parent.mkdir(parents=True, exist_ok=True)
        os.chdir(project)
        extract_condition(list(plan["raw_files"][condition]), condition, str(rows),
                          dict(plan["config"]["limits"]))
        start = time.process_time()
        run_condition(str(rows), dict(plan["effective"][condition]), [str(p) for p in effects],
                      [str(p) for p in summaries], grade=dict(plan["grade"][condition]))
        fitted = time.process_time()
        primary = plan["multiverse"]["primary"].get(condition)
        shown = []
        if primary is not None:
            table = stage / f"data/processed/multiverse/{condition}.csv"
            table.parent.mkdir(parents=True, exist_ok=True)
            write_condition(str(rows), dict(primary), dict(plan["multiverse"]["settings"]),
                            str(table), str(table.with_suffix(".json")), [])
            shown = [f"data/processed/multiverse/{condition}.{ext}" for ext in ("json", "csv")]
        spread = time.process_time()
        html = stage / f"reports/{condition}.html"
        html.parent.mkdir(parents=True, exist_ok=True)
        spent["figures"] = 0.0
        os.chdir(stage)  # the page names its files by their project paths
        render_condition(condition, dict(plan["pages"][condition]),
                         [os.path.relpath(p, stage) for p in summaries],
                         [os.path.relpath(p, stage) for p in effects], str(html),
                         rows=os.path.relpath(rows, stage), multiverse=shown,
                         links=dict(plan["links"][condition]))
        page = time.process_time() - spread
        return {"fit": fitted - start, "multiverse": spread - fitted,
                "context": page - spent["figures"], "figures": spent["figures"]}

    with tempfile.TemporaryDirectory() as folder:
        for condition in plan["conditions"]:
            job(Path(folder), condition)
        runs = {c: [job(Path(folder), c) for _ in range(repeat)] for c in plan["conditions"]}
    return {c: {s: statistics.median(r[s] for r in rs) for s in STAGES} for c, rs in runs.items()}


def _table(result: dict[str, dict[str, float]]) -> str:
    lines = [f"{'condition':22s}" + "".join(f"{s:>12s}" for s in (*STAGES, "stats"))]
    totals = dict.fromkeys(STAGES, 0.0)
    for condition, times in result.items():
        stats = times["fit"] + times["multiverse"] + times["context"]
        lines.append(f"{condition:22s}" + "".join(f"{times[s]:12.3f}" for s in STAGES)
                     + f"{stats:12.3f}")
        for s in STAGES:
            totals[s] += times[s]
    stats = totals["fit"] + totals["multiverse"] + totals["context"]
    lines.append(f"{'total':22s}" + "".join(f"{totals[s]:12.3f}" for s in STAGES)
                 + f"{stats:12.3f}")
    return "\n".join(lines)


def _run(src: str | None, project: Path, repeat: int) -> dict:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out = subprocess.run(
        [sys.executable, __file__, str(project), "--repeat", str(repeat), "--json"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", nargs="?", default=".", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", metavar="SRC")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    project = args.project.resolve()
    if not (project / ".ketameta/cache/plan.json").is_file():
        parser.error(f"{project}: no .ketameta/cache/plan.json; run the pipeline there first")
    if args.json:
        print(json.dumps(measure(project, args.repeat)))
        return
    if not args.baseline:
        print(_table(measure(project, args.repeat)))
        return
    sides: dict[str, list[dict]] = {"baseline": [], "this": []}
    for _ in range(args.rounds):
        sides["baseline"].append(_run(args.baseline, project, args.repeat))
        sides["this"].append(_run(None, project, args.repeat))
    medians = {}
    for side, runs in sides.items():
        medians[side] = {c: {s: statistics.median(r[c][s] for r in runs) for s in STAGES}
                         for c in runs[0]}
        print(f"{side} (median of {args.rounds} rounds, CPU seconds)")
        print(_table(medians[side]))
    for stage in (*STAGES, "stats"):
        parts = ("fit", "multiverse", "context") if stage == "stats" else (stage,)
        before = sum(t[s] for t in medians["baseline"].values() for s in parts)
        after = sum(t[s] for t in medians["this"].values() for s in parts)
        ratio = f", {before / after:.2f}x" if before > 0.001 and after > 0.001 else ""
        print(f"{stage:>12s}: {before:.3f} s -> {after:.3f} s{ratio}")


if __name__ == "__main__":
    main()
