"""What an analysis combines, said in words, and the result without crossover trials.

A pooled estimate averages over whatever its trials differ in. A reader needs to know,
right under the headline, when an analysis pools crossover with parallel trials, change
with final scores, active with inert controls, different drugs or routes, "end of
treatment" at different days, or different scales in a standardised mean difference
(Cochrane Handbook, chapter 10.10 on heterogeneity, and 23.2 on crossover trials). This
module finds those mixtures in the rows an analysis pooled and, where crossover trials
are pooled with parallel ones, refits the analysis without them: crossover trials carry
within-patient comparisons whose variance depends on a correlation that publications
rarely give (Elbourne et al. 2002), so their effect on the pooled result is worth seeing.

Score type (change from baseline or final score) has no column of its own in the data
contract: an optional ``score`` column (``change`` or ``final``) is used when present,
otherwise the row's ``notes`` and ``scale`` are read ("change from baseline", "change
scores" → change; "post-infusion scores", "not change", "final" → final).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ketameta._results import finite
from ketameta.models import rma

__all__ = ["ACTIVE_COMPARATORS", "INERT_COMPARATORS", "mixture", "score_type"]

#: Control conditions that have effects of their own (active placebos).
ACTIVE_COMPARATORS = frozenset({"midazolam", "active", "remifentanil", "propofol", "ect",
                                "diphenhydramine", "ketorolac"})
#: Control conditions without a pharmacological effect.
INERT_COMPARATORS = frozenset({"saline", "placebo", "placebo_spray", "sham", "usual care",
                               "standard of care"})

_FINAL = re.compile(r"post-?infusion scores?|post scores?|not change|\bfinal (?:scores?|values?)",
                    re.I)
_CHANGE = re.compile(r"\bchange\b", re.I)
_UNSTATED = re.compile(r"post scores? or change|whether post", re.I)


def score_type(row: Mapping) -> str | None:
    """``"change"``, ``"final"`` or ``None`` (not stated) for one continuous row."""
    given = str(row.get("score") or "").strip().lower()
    if given in ("change", "final"):
        return given
    text = f"{row.get('notes') or ''} {row.get('scale') or ''}"
    if _UNSTATED.search(text):
        return None
    if _FINAL.search(text):
        return "final"
    if _CHANGE.search(text):
        return "change"
    return None


def _values(frame: pd.DataFrame, column: str) -> list[str]:
    if column not in frame:
        return []
    values = [str(v).strip() for v in frame[column] if isinstance(v, str) and v.strip()]
    return list(dict.fromkeys(values))


def _count(frame: pd.DataFrame, column: str, value: str) -> int:
    if isinstance(frame[column].dtype, pd.StringDtype):  # text or missing (never counted)
        return sum(1 for v in frame[column] if type(v) is str and v.strip() == value)
    return int((frame[column].astype(str).str.strip() == value).sum())


def _listed(frame: pd.DataFrame, column: str, values: list[str]) -> str:
    return ", ".join(f"{v} ({_count(frame, column, v)})" for v in values)


def mixture(frame: pd.DataFrame, cfg: Mapping) -> dict:
    """The ``mixed`` and ``without_crossover`` blocks of one analysis's ``summary.json``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The pooled rows (``yi``, ``vi`` and the descriptive columns), in fitting order.
    cfg : mapping
        The analysis's effective configuration (``measure``, ``timepoint``, ``method``,
        ``test``, ``level``).

    Returns
    -------
    dict
        ``mixed``: a list of ``{"what", "text"}``, one per way the trials differ
        (``design``, ``score``, ``comparator``, ``drug``, ``route``, ``day``, ``scale``),
        empty when they differ in none; ``without_crossover``: when crossover and parallel
        trials are pooled, the fit of the parallel trials alone (``k, estimate, se,
        ci_low, ci_high, p_value, tau2, I2, studies``; for one parallel trial its own
        effect with ``k = 1``), else ``None``.
    """
    mixed: list[dict] = []
    k = len(frame)
    design = frame["design"].astype(str) if "design" in frame else pd.Series([""] * k)
    crossover = (design.str.strip() == "crossover").to_numpy()
    parallel = (design.str.strip() == "parallel").to_numpy()
    if crossover.any() and parallel.any():
        mixed.append({"what": "design", "text": f"crossover ({int(crossover.sum())}) and "
                                                f"parallel ({int(parallel.sum())}) trials"})
    if cfg.get("measure") in ("SMD", "MD"):
        # score_type reads three columns; a row of those is what it is given
        present = [c for c in ("score", "notes", "scale") if c in frame]
        kinds = [
            score_type(dict(zip(present, values, strict=True)))
            for values in zip(*(frame[c] for c in present), strict=True)
        ] if present else [score_type({}) for _ in range(k)]
        if "change" in kinds and "final" in kinds:
            unknown = sum(t is None for t in kinds)
            mixed.append({"what": "score", "text": (
                f"change from baseline ({kinds.count('change')}) and final scores "
                f"({kinds.count('final')})" + (f"; not stated for {unknown}" if unknown else ""))})
    comparators = _values(frame, "comparator")
    active = [c for c in comparators if c.lower() in ACTIVE_COMPARATORS]
    inert = [c for c in comparators if c.lower() in INERT_COMPARATORS]
    if active and inert:
        mixed.append({"what": "comparator", "text": "active controls ("
                      + _listed(frame, "comparator", active) + ") and inert controls ("
                      + _listed(frame, "comparator", inert) + ")"})
    for column, noun in (("drug", "drugs"), ("route", "routes")):
        values = _values(frame, column)
        if len(values) > 1:
            mixed.append({"what": column,
                          "text": f"different {noun}: " + _listed(frame, column, values)})
    if cfg.get("timepoint") == "end" and k > 1:
        days = frame["day"] if "day" in frame else pd.Series([np.nan] * k)
        days = pd.to_numeric(days, errors="coerce")
        known = sorted({float(d) for d in days.dropna()})
        missing = int(days.isna().sum())
        if len(known) > 1 or missing:
            parts = []
            if known:
                parts.append("day " + ", ".join(f"{d:g}" for d in known))
            if missing:
                parts.append(f"not dated for {missing} trial{'s' if missing > 1 else ''}")
            mixed.append({"what": "day", "text": "end of treatment at different times: "
                          + "; ".join(parts)})
    if cfg.get("measure") == "SMD":
        scales = _values(frame, "scale")
        if len(scales) > 1:
            mixed.append({"what": "scale", "text": "different scales, standardised: "
                          + _listed(frame, "scale", scales)})
    return {"mixed": mixed, "without_crossover": _without_crossover(frame, cfg, crossover,
                                                                     parallel)}


def _without_crossover(frame, cfg, crossover, parallel) -> dict | None:
    if not (crossover.any() and parallel.any()):
        return None
    keep = ~crossover
    yi = frame["yi"].to_numpy(dtype=float)[keep]
    vi = frame["vi"].to_numpy(dtype=float)[keep]
    res = rma(yi, vi, method=cfg["method"], test=cfg["test"], level=cfg["level"])
    fields = ("estimate", "se", "ci_low", "ci_high", "p_value", "tau2", "I2")
    return {"k": int(keep.sum()), **{f: finite(getattr(res, f)) for f in fields},
            "studies": [str(s) for s in frame["study"][keep]]}
