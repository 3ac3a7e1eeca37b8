"""Time course of an outcome: how fast the effect comes and how long it lasts.

The analyses of one condition pool one outcome at one time point each. This module lines
up, for every outcome of a condition, the analyses that share its main effect measure
(the measure with the most time points that can be placed on the day axis, then the most
time points; ties in the order SMD, MD, RR, OR, RD, GEN, PLO)
along the time since the first dose, and says at which time points the pooled effect is
clear (its confidence interval excludes no effect).

Placing a time point on the day axis
------------------------------------
``40min``, ``24h``, ``7d``, ``3w`` … are converted to days (``1w`` = 7 days). ``end`` (end
of treatment) has no day of its own: it is placed at the ``day`` column of its rows (days
from the first dose) when every pooled row gives one — at their median, and the block
records the range when they differ. ``end`` rows without a ``day`` are not placed, and the
block lists them with that reason.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ketameta._results import finite

__all__ = ["MEASURE_ORDER", "add_time_courses", "time_course", "timepoint_days"]

#: Preference among measures of one outcome with as many time points each.
MEASURE_ORDER = ("SMD", "MD", "RR", "OR", "RD", "GEN", "PLO", "PFT", "PR")
_LOG = {"RR", "OR"}


_DAYS = {"min": 1 / 1440, "h": 1 / 24, "d": 1.0, "w": 7.0}


def timepoint_days(timepoint: str) -> float:
    """Days from the first dose of a ``timepoint`` value (``24h`` → 1.0); NaN for ``end``."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(min|h|d|w)", str(timepoint))
    if not match:
        return float("nan")
    return float(match.group(1)) * _DAYS[match.group(2)]


def _clear(point: Mapping) -> bool:
    low, high = point.get("ci_low"), point.get("ci_high")
    if low is None or high is None:
        return False
    return low > 0 or high < 0


def _day_of(summary: Mapping, frame: pd.DataFrame) -> tuple[float | None, str | None, list]:
    """Day of an analysis's time point, a note on how it was placed, its range of days."""
    timepoint = str(summary["timepoint"])
    if timepoint != "end":
        return timepoint_days(timepoint), None, []
    if "day" not in frame or frame.empty:
        return None, "end of treatment without a day column", []
    days = pd.to_numeric(frame["day"], errors="coerce")
    if days.isna().any():
        missing = ", ".join(str(s) for s in frame["study"][days.isna().to_numpy()])
        return None, f"end of treatment without a day for {missing}", []
    values = sorted(float(d) for d in days)
    day = float(statistics.median(values))
    note = None if values[0] == values[-1] else (
        f"end of treatment placed at the median day {day:g} (days {values[0]:g}–{values[-1]:g})")
    return day, note, [values[0], values[-1]]


def _active_comparators(frame: pd.DataFrame) -> list[str]:
    """The comparators of an analysis whose every trial has an active comparator, else [].

    Inert and active placebos (:data:`ketameta.grade.DEFAULTS` ``direct_comparators``:
    placebo, saline, midazolam) answer the question of the time course; an active treatment
    (ECT, an antidepressant) answers another one.
    """
    from ketameta.grade import DEFAULTS

    if "comparator" not in frame or frame.empty:
        return []
    direct = {c.lower() for c in DEFAULTS["direct_comparators"]}
    values = [str(c).strip() for c in frame["comparator"] if isinstance(c, str) and c.strip()]
    if len(values) < len(frame) or any(v.lower() in direct for v in values):
        return []
    return sorted(set(values))


def time_course(items: Sequence[tuple[Mapping, pd.DataFrame]], outcome: str,
                measure: str) -> dict:
    """The ``time_course`` block of the analyses of one outcome and measure.

    Parameters
    ----------
    items : sequence of (summary, frame)
        The analyses of one condition whose outcome is ``outcome`` and measure
        ``measure``, in config order: each ``summary.json`` dict and its pooled rows
        (``study``, ``yi``, ``vi`` and, for ``end``, ``day``).
    outcome, measure : str

    Returns
    -------
    dict
        ``outcome``, ``measure``, ``log_scale`` (ratios pooled as logs), ``points`` (one
        per placed analysis, by day: ``analysis, timepoint, day, day_range, placement, k,
        estimate, ci_low, ci_high, p_value, headline, clear``; values on the analysis
        scale; the analysis's headline result — its ``few_trials`` posterior median and
        credible interval where it has one (``headline: "bayesian"``, ``p_value`` null),
        else its pooled estimate and CI (``"frequentist"``); a point with ``k = 1`` is a
        single trial's own result), ``not_placed`` (``analysis,
        timepoint, reason``), ``earliest_clear`` and ``last_clear`` (the first and the last
        point, by day, whose CI excludes no effect: ``{analysis, timepoint, day}`` or
        null), ``last_point`` (the latest placed point) and ``model``: the multilevel
        model of the module docstring, ``{fitted: true, k, n_trials, method, robust,
        level, sigma2, sigma2_names, coefficients: {day1, per_log10_day: {estimate, se,
        df, p_value, ci_low, ci_high}}, curve: [{day, estimate, ci_low, ci_high}],
        warnings}`` or ``{fitted: false, reason}``.
    """
    points, not_placed = [], []
    seen: set[str] = set()
    for summary, frame in items:
        timepoint = str(summary["timepoint"])
        if timepoint in seen:  # a second analysis of the same time point (e.g. excluded)
            continue
        seen.add(timepoint)
        if not summary.get("k"):
            not_placed.append({"analysis": summary["analysis"], "timepoint": timepoint,
                               "reason": "no trial with a defined effect"})
            continue
        active = _active_comparators(frame)
        if active:
            not_placed.append({
                "analysis": summary["analysis"], "timepoint": timepoint,
                "reason": f"every trial compares ketamine with an active treatment "
                          f"({', '.join(active)}), a different question from the control "
                          "arms of the other time points",
            })
            continue
        day, note, day_range = _day_of(summary, frame)
        if day is None:
            not_placed.append({"analysis": summary["analysis"], "timepoint": timepoint,
                               "reason": note})
            continue
        point = {
            "analysis": summary["analysis"], "timepoint": timepoint, "day": day,
            "day_range": day_range, "placement": note, "k": int(summary["k"]),
            "estimate": summary.get("estimate"), "ci_low": summary.get("ci_low"),
            "ci_high": summary.get("ci_high"), "p_value": summary.get("p_value"),
            "headline": "frequentist",
        }
        few = summary.get("few_trials")
        if isinstance(few, Mapping) and isinstance(few.get("mu"), Mapping):
            # the analysis's headline is its Bayesian result (ketameta.fewtrials)
            point.update(estimate=few["mu"].get("median"), ci_low=few["mu"].get("ci_low"),
                         ci_high=few["mu"].get("ci_high"), p_value=None, headline="bayesian")
        point["clear"] = _clear(point)
        points.append(point)
    points.sort(key=lambda p: (p["day"], p["timepoint"]))
    clear = [p for p in points if p["clear"]]

    def ref(p):
        return None if p is None else {k: p[k] for k in ("analysis", "timepoint", "day")}

    seen_items = [(s, f) for s, f in items if any(p["analysis"] == s["analysis"]
                                                  for p in points)]
    return {
        "outcome": outcome, "measure": measure, "log_scale": measure in _LOG,
        "points": points, "not_placed": not_placed,
        "model": _model(_placed_rows(seen_items)),
        "earliest_clear": ref(clear[0] if clear else None),
        "last_clear": ref(clear[-1] if clear else None),
        "last_point": ref(points[-1] if points else None),
    }


#: Fewest trials (clusters) for the multilevel model with robust CIs.
MODEL_MIN_TRIALS = 3


def _model(rows: pd.DataFrame, level: float = 95) -> dict:
    """The multilevel model over all placed rows (``yi, vi, study, timepoint, day``)."""
    from ketameta._dist import t_ppf
    from ketameta.multilevel import rma_mv
    from ketameta.robust import robust

    trials = rows["study"].nunique()
    days = np.unique(rows["day"].to_numpy(dtype=float))
    per_day = rows.groupby("day")["study"].nunique()
    supported = int((per_day >= 2).sum())
    if trials < MODEL_MIN_TRIALS or supported < 2:
        return {"fitted": False, "reason": (
            f"needs at least {MODEL_MIN_TRIALS} trials and two time points with two or more "
            f"trials each (has {trials} trial{'s' if trials != 1 else ''}; "
            f"{supported} time point{'s' if supported != 1 else ''} with two or more)")}
    x = np.log10(rows["day"].to_numpy(dtype=float))
    fit = rma_mv(rows["yi"].to_numpy(dtype=float), rows["vi"].to_numpy(dtype=float),
                 cluster=rows["study"].to_numpy(dtype=object),
                 effect=rows["timepoint"].to_numpy(dtype=object), mods=x.reshape(-1, 1),
                 method="REML", test="t", level=level)
    rob = robust(fit, cluster=rows["study"].to_numpy(dtype=object), type="CR2")
    df = float(np.min(rob.df))
    q = float(t_ppf(0.5 + level / 200, df)) if np.isfinite(df) and df > 0 else np.nan
    grid = np.geomspace(days[0], days[-1], 25)
    design = np.column_stack([np.ones_like(grid), np.log10(grid)])
    est = design @ rob.beta
    with np.errstate(invalid="ignore"):  # a robust variance can be negative with few trials
        se = np.sqrt(np.einsum("ij,jk,ik->i", design, rob.vcov, design))

    names = ("day1", "per_log10_day")
    return {
        "fitted": True, "k": int(fit.k), "n_trials": int(rob.n_clusters),
        "method": "REML", "robust": "CR2", "level": level,
        "sigma2": [finite(v) for v in fit.sigma2], "sigma2_names": list(fit.sigma2_names),
        "coefficients": {name: {"estimate": finite(rob.beta[j]), "se": finite(rob.se[j]),
                                "df": finite(rob.df[j]), "p_value": finite(rob.p_value[j]),
                                "ci_low": finite(rob.ci_low[j]), "ci_high": finite(rob.ci_high[j])}
                         for j, name in enumerate(names)},
        "curve": [{"day": finite(d), "estimate": finite(e), "ci_low": finite(e - q * s),
                   "ci_high": finite(e + q * s)} for d, e, s in zip(grid, est, se, strict=True)],
        "warnings": list(fit.warnings) + list(rob.warnings),
    }


def _placed_rows(items) -> pd.DataFrame:
    """Every pooled row of the placed time points, with its own day."""
    parts = []
    for summary, frame in items:
        if not summary.get("k") or frame.empty:
            continue
        timepoint = str(summary["timepoint"])
        if timepoint == "end":
            if "day" not in frame:
                continue
            day = pd.to_numeric(frame["day"], errors="coerce").to_numpy(dtype=float)
        else:
            day = np.full(len(frame), timepoint_days(timepoint))
        part = pd.DataFrame({"study": frame["study"].astype(str).to_numpy(),
                             "yi": frame["yi"].to_numpy(dtype=float),
                             "vi": frame["vi"].to_numpy(dtype=float),
                             "timepoint": timepoint, "day": day})
        parts.append(part[np.isfinite(day) & (day > 0)])
    if not parts:
        return pd.DataFrame(columns=["study", "yi", "vi", "timepoint", "day"])
    return pd.concat(parts, ignore_index=True)


def add_time_courses(results: Sequence[tuple[dict, pd.DataFrame]]) -> None:
    """Add the ``time_course`` block to the summaries of one condition's analyses.

    For each outcome, the analyses of its main measure (see the module docstring) get the
    block of that outcome, the same in each; the analyses of other measures get ``None``
    (their own result stands alone). Each element of ``results`` is ``(summary dict,
    pooled rows)``; the dicts are updated in place.
    """
    by_outcome: dict[str, list] = {}
    for summary, frame in results:
        by_outcome.setdefault(str(summary["outcome"]), []).append((summary, frame))
    for outcome, items in by_outcome.items():
        timepoints: dict[str, set] = {}
        placeable: dict[str, set] = {}
        for summary, frame in items:
            timepoints.setdefault(summary["measure"], set()).add(summary["timepoint"])
            if summary.get("k") and _day_of(summary, frame)[0] is not None:
                placeable.setdefault(summary["measure"], set()).add(summary["timepoint"])
        rank = {m: i for i, m in enumerate(MEASURE_ORDER)}
        main = min(timepoints, key=lambda m: (-len(placeable.get(m, ())), -len(timepoints[m]),
                                              rank.get(m, math.inf)))
        chosen = [(s, f) for s, f in items if s["measure"] == main]
        block = time_course(chosen, outcome, main)
        for summary, _ in items:
            summary["time_course"] = block if summary["measure"] == main else None
