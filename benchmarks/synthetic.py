"""Synthetic ketameta projects for the pipeline benchmark (benchmarks/pipeline.sh).

A project is a folder with ``config/config.yaml`` and ``data/raw/{condition}.csv`` that the
pipeline's checks accept (docs/contract.md, sections 1 and 2), holding exactly ``n``
analyses:

- five conditions, each with a pool of 40 trials (label ``Synthetic C1 017``, one year
  each); an analysis draws its 5 to 30 trials from its condition's pool, so one trial
  enters many analyses, as real trials do;
- four outcomes: two continuous ones pooled as SMD (Hedges' g), one continuous one pooled
  as MD, and ``response``, dichotomous, pooled as RR or OR. The analyses cycle through
  conditions, then outcomes, then time points (``1d``, ``2d``, ...), so every analysis is
  one condition × outcome × time point: a quarter of them are binary;
- about nine analyses in ten are written in the configuration, some with their own
  ``method`` and ``test`` or with one trial excluded; the rest are left for the pipeline
  to plan (``ketameta.plan``), as happens with real data;
- the multiverse is turned off: it is per condition, not per analysis, and the hand-written
  R script it is compared with has none.

Everything is drawn from one seeded NumPy generator: the same arguments give the same
bytes.

Usage: ``python benchmarks/synthetic.py OUT_DIR N_ANALYSES [--seed S]``
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

import numpy as np

__all__ = ["CONDITIONS", "OUTCOMES", "write_project"]

#: Condition keys, in report order.
CONDITIONS = ("C1", "C2", "C3", "C4", "C5")
#: Outcome key -> (label, lower_is_better, measure of its configured analyses).
OUTCOMES = {
    "depression_severity": ("Depression severity", True, "SMD"),
    "anxiety_severity": ("Anxiety severity", True, "SMD"),
    "sleep_score": ("Sleep score (points)", True, "MD"),
    "response": ("Response", False, "RR"),
}
TRIALS_PER_CONDITION = 40
K_RANGE = (5, 30)
COLUMNS = (
    "study", "year", "condition", "outcome", "timepoint", "design", "drug", "route",
    "comparator", "rob", "n_treat", "mean_treat", "sd_treat", "n_ctrl", "mean_ctrl",
    "sd_ctrl", "events_treat", "events_ctrl",
)  # fmt: skip


def _trials(rng: np.random.Generator, condition: str) -> list[dict]:
    """The trial pool of one condition: label, year and descriptive columns."""
    drugs = (("ketamine", "IV"), ("esketamine", "IN"), ("ketamine", "oral"))
    pool = []
    for i in range(TRIALS_PER_CONDITION):
        drug, route = drugs[int(rng.integers(len(drugs)))]
        pool.append(
            {
                "study": f"Synthetic {condition} {i + 1:03d}",
                "year": int(rng.integers(2000, 2025)),
                "design": "parallel",
                "drug": drug,
                "route": route,
                "comparator": "placebo",
                "rob": ("low", "some", "high")[int(rng.integers(3))],
                "n": int(rng.integers(12, 150)),  # participants per arm, about
            }
        )
    return pool


def _row(rng, trial, condition, outcome, timepoint, binary, effect) -> dict:
    """One comparison of one trial for one analysis (true effect ``effect``)."""
    n1 = max(5, trial["n"] + int(rng.integers(-4, 5)))
    n2 = max(5, trial["n"] + int(rng.integers(-4, 5)))
    row = {k: trial[k] for k in ("study", "year", "design", "drug", "route", "comparator", "rob")}
    row.update(condition=condition, outcome=outcome, timepoint=timepoint)
    if binary:
        p2 = float(rng.uniform(0.1, 0.4))
        p1 = min(0.95, p2 * float(np.exp(effect)))
        row.update(
            n_treat=n1,
            n_ctrl=n2,
            events_treat=int(rng.binomial(n1, p1)),
            events_ctrl=int(rng.binomial(n2, p2)),
        )
    else:
        sd = float(rng.uniform(5.0, 12.0))
        m2 = float(rng.normal(-8.0, 3.0))
        m1 = m2 + effect * sd + float(rng.normal(0.0, sd / np.sqrt(n1)))
        row.update(
            n_treat=n1,
            mean_treat=f"{m1:.2f}",
            sd_treat=f"{sd * rng.uniform(0.85, 1.15):.2f}",
            n_ctrl=n2,
            mean_ctrl=f"{m2:.2f}",
            sd_ctrl=f"{sd * rng.uniform(0.85, 1.15):.2f}",
        )
    return row


def _entry(name, condition, outcome, timepoint, measure, extra=None) -> str:
    """One ``analyses:`` entry of the configuration, in flow style."""
    items = {"condition": condition, "outcome": outcome, "timepoint": timepoint, "measure": measure}
    items.update(extra or {})
    body = ", ".join(f"{k}: {v}" for k, v in items.items())
    return f"  {name}: {{{body}}}"


def write_project(folder: str | Path, n: int, seed: int = 2024) -> dict[str, dict]:
    """Write a synthetic project of ``n`` analyses into ``folder``.

    Parameters
    ----------
    folder : path-like
        Where ``config/config.yaml`` and ``data/raw/*.csv`` are written (created if needed;
        files of an earlier project there are replaced).
    n : int
        Number of analyses (at least 1), configured and planned together.
    seed : int
        Seed of the random generator.

    Returns
    -------
    dict
        Analysis id -> ``{condition, outcome, timepoint, k, configured}`` (``k``: trials
        in its rows, before exclusions), in the order the analyses were drawn.
    """
    if n < 1:
        raise ValueError(f"the number of analyses must be at least 1 (got {n})")
    folder = Path(folder)
    (folder / "config").mkdir(parents=True, exist_ok=True)
    raw = folder / "data" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for old in raw.glob("*.csv"):
        old.unlink()
    rng = np.random.default_rng(seed)
    pools = {c: _trials(rng, c) for c in CONDITIONS}
    rows: dict[str, list[dict]] = {c: [] for c in CONDITIONS}
    outcomes = list(OUTCOMES)
    config = [
        "# A synthetic project written by benchmarks/synthetic.py (the pipeline benchmark).",
        "data_dir: data/raw",
        "profile: cochrane",
        "multiverse: {enabled: false}",
        "conditions:",
        *(f"  {c}: {{label: Synthetic condition {c}}}" for c in CONDITIONS),
        "outcomes:",
        *(
            f"  {o}: {{label: {label}, lower_is_better: {str(lower).lower()}}}"
            for o, (label, lower, _) in OUTCOMES.items()
        ),
        "analyses:",
    ]
    drawn: dict[str, dict] = {}
    for i in range(n):
        condition = CONDITIONS[i % len(CONDITIONS)]
        outcome = outcomes[(i // len(CONDITIONS)) % len(outcomes)]
        timepoint = f"{i // (len(CONDITIONS) * len(outcomes)) + 1}d"
        label, _, measure = OUTCOMES[outcome]
        binary = outcome == "response"
        k = int(rng.integers(K_RANGE[0], K_RANGE[1] + 1))
        chosen = sorted(rng.choice(TRIALS_PER_CONDITION, size=k, replace=False))
        effect = float(rng.normal(-0.4, 0.2)) if not binary else float(rng.normal(0.5, 0.3))
        spread = float(rng.uniform(0.0, 0.25))  # between-trial SD of the true effects
        for j in chosen:
            true = effect + float(rng.normal(0.0, spread))
            rows[condition].append(
                _row(rng, pools[condition][j], condition, outcome, timepoint, binary, true)
            )
        name = f"{condition.lower()}_{outcome}_{timepoint}"
        configured = i % 10 != 9  # every tenth analysis is left to the planner
        drawn[name] = {
            "condition": condition,
            "outcome": outcome,
            "timepoint": timepoint,
            "k": k,
            "configured": configured,
        }
        if not configured:
            continue
        extra: dict = {}
        if binary and i % 40 < 20:
            measure = "OR"
        if i % 7 == 3:
            extra.update(method="DL", test="z")
        elif i % 11 == 5:
            extra.update(method="PM", test="adhoc")
        if i % 13 == 6 and k > K_RANGE[0]:  # one trial left out, with its reason
            study = pools[condition][chosen[0]]["study"]
            extra["exclude"] = f'{{"{study}": "synthetic exclusion"}}'
        config.append(_entry(name, condition, outcome, timepoint, measure, extra))
    (folder / "config" / "config.yaml").write_text("\n".join(config) + "\n")
    for condition, table in rows.items():
        if not table:
            continue
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
        (raw / f"{condition}.csv").write_text(out.getvalue())
    return drawn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Write a synthetic ketameta project (config/ and data/raw/) of N analyses."
    )
    parser.add_argument("folder", help="project folder to write (created if needed)")
    parser.add_argument("n", type=int, help="number of analyses (at least 1)")
    parser.add_argument("--seed", type=int, default=2024, help="random seed (default 2024)")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"N_ANALYSES must be at least 1 (got {args.n})")
    drawn = write_project(args.folder, args.n, args.seed)
    rows = sum(a["k"] for a in drawn.values())
    print(f"{args.folder}: {len(drawn)} analyses, {rows} rows")


if __name__ == "__main__":
    main()
