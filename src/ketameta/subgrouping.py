"""Subgroup analyses of one configured analysis: by route, drug, comparator and design.

Each analysis is split by the descriptive columns its ``subgroups`` setting names (by
default ``route``, ``drug``, ``comparator`` and ``design``); a column is used when the
pooled trials fall into at least two subgroups. ``comparator`` is grouped by kind —
active controls (e.g. midazolam) against inert ones (saline, placebo) — since that is
the distinction that changes what a trial measures; other columns by their value (a trial
without one is "not reported"). Each subgroup is pooled with the analysis's own method
and test, each with its own τ², and the subgroups are compared with the test for subgroup
differences (:func:`ketameta.subgroup`, ``tau2="separate"``, as RevMan and the Cochrane
Handbook section 10.11.3.1 do). A subgroup of one trial is that trial's own result.

Where an analysis holds both intravenous racemic ketamine and intranasal esketamine
trials, those two are also compared on their own (``ketamine_vs_esketamine``): the
question a reader asks first, answered with its caution — the comparison is across
trials, not randomised, so any difference may come from the trials' populations,
comparators or designs (Handbook section 10.11.2).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ketameta._results import finite
from ketameta.mixing import ACTIVE_COMPARATORS, INERT_COMPARATORS
from ketameta.subgroups import subgroup

__all__ = ["DEFAULT_SUBGROUPS", "subgroup_blocks"]

#: Columns an analysis is split by unless its ``subgroups`` setting says otherwise.
DEFAULT_SUBGROUPS = ("route", "drug", "comparator", "design")
NOT_REPORTED = "not reported"


def _labels(frame: pd.DataFrame, column: str) -> list[str]:
    if column not in frame:
        return [NOT_REPORTED] * len(frame)
    out = []
    for value in frame[column]:
        text = str(value).strip() if isinstance(value, str) else ""
        if column == "comparator" and text:
            kind = text.lower()
            text = ("active control" if kind in ACTIVE_COMPARATORS
                    else "inert control" if kind in INERT_COMPARATORS else text)
        out.append(text or NOT_REPORTED)
    return out


def _split(frame: pd.DataFrame, labels: list[str], cfg: Mapping, variable: str) -> dict:
    yi = frame["yi"].to_numpy(dtype=float)
    vi = frame["vi"].to_numpy(dtype=float)
    res = subgroup(yi, vi, labels, method=cfg["method"], test=cfg["test"],
                   level=cfg["level"], tau2="separate")
    studies = np.asarray([str(s) for s in frame["study"]], dtype=object)
    labels_arr = np.asarray(labels, dtype=object)
    groups = []
    for label in res.groups:
        fit = res.fits[label]
        members = studies[labels_arr == label]
        groups.append({
            "label": label, "k": int(len(members)), "studies": [str(s) for s in members],
            "single": bool(len(members) == 1),
            **{f: finite(getattr(fit, f)) for f in ("estimate", "se", "ci_low", "ci_high",
                                                  "p_value")},
            "tau2": finite(fit.tau2) if len(members) > 1 else None,
            "I2": finite(fit.I2) if len(members) > 1 else None,
        })
    return {
        "variable": variable, "tau2_model": "separate", "groups": groups,
        "Q_between": finite(res.Q_between), "Q_between_df": finite(res.Q_between_df),
        "Q_between_p": finite(res.Q_between_p), "warnings": list(res.warnings),
    }


def subgroup_blocks(frame: pd.DataFrame, cfg: Mapping) -> dict:
    """The ``subgroups`` and ``ketamine_vs_esketamine`` blocks of one ``summary.json``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The pooled rows (``study``, ``yi``, ``vi`` and the descriptive columns).
    cfg : mapping
        Effective configuration: ``method``, ``test``, ``level`` and optionally
        ``subgroups`` (list of column names; default :data:`DEFAULT_SUBGROUPS`).

    Returns
    -------
    dict
        ``subgroups``: one entry per column with at least two subgroups, in the order
        configured: ``{variable, tau2_model, groups: [{label, k, studies, single,
        estimate, se, ci_low, ci_high, p_value, tau2, I2}], Q_between, Q_between_df,
        Q_between_p, warnings}`` (analysis scale); ``ketamine_vs_esketamine``: the same
        shape with ``variable: "drug_route"`` and the groups ``IV ketamine`` and ``IN
        esketamine``, for analyses holding both, else ``None``.
    """
    out: dict = {"subgroups": [], "ketamine_vs_esketamine": None}
    if len(frame) < 2:
        return out
    for column in cfg.get("subgroups", DEFAULT_SUBGROUPS):
        labels = _labels(frame, column)
        if len(set(labels)) >= 2:
            out["subgroups"].append(_split(frame, labels, cfg, column))
    drug = [s.lower() for s in _labels(frame, "drug")]
    route = [{"INTRANASAL": "IN", "INTRAVENOUS": "IV"}.get(s.upper(), s.upper())
             for s in _labels(frame, "route")]
    pair = [("IV ketamine" if (d, r) == ("ketamine", "IV") else
             "IN esketamine" if (d, r) == ("esketamine", "IN") else None)
            for d, r in zip(drug, route, strict=True)]
    if "IV ketamine" in pair and "IN esketamine" in pair:
        keep = np.array([p is not None for p in pair])
        out["ketamine_vs_esketamine"] = _split(
            frame[keep].reset_index(drop=True), [p for p in pair if p], cfg, "drug_route")
    return out
