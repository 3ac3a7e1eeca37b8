"""Pooled proportions of patients with the outcome in the ketamine and the control arms.

A risk ratio says how much more often patients respond with ketamine; a clinician also
wants to know how often they respond at all. For the dichotomous rows of an analysis, the
proportion of patients with the event is pooled separately in the treatment arms and in
the control arms: logit transformation, ``log(x / (n − x))`` with variance
``1/x + 1/(n − x)`` (1/2 added to both cells of an arm with 0 or n events, metafor's
``escalc(measure="PLO")`` default), random-effects model with the analysis's τ²
estimator and test, back-transformed with the inverse logit (Stijnen, Hamza & Özdemir
2010 discuss this approximate normal model beside the exact binomial one; Schwarzer et al.
2019 show why the Freeman–Tukey transformation is not used instead). This is metafor's ``rma(xi=, ni=, measure="PLO", method=, test=)``
followed by ``predict(res, transf=transf.ilogit)``.

The arms are pooled across trials, so the two proportions are not a comparison: the
randomised comparison is the analysis's relative effect, beside which they are shown.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.special import expit

from ketameta._results import finite
from ketameta.effects import escalc
from ketameta.models import rma

__all__ = ["arm_proportions"]


def _pool(events: np.ndarray, n: np.ndarray, method: str, test: str, level: float) -> dict:
    arms = pd.DataFrame({"events_treat": events, "n_treat": n})
    es = escalc("PLO", arms)
    res = rma(es["yi"].to_numpy(dtype=float), es["vi"].to_numpy(dtype=float), method=method,
              test=test, level=level)
    est, low, high = (finite(getattr(res, f)) for f in ("estimate", "ci_low", "ci_high"))
    return {
        "k": int(len(events)),
        "events": int(round(float(np.sum(events)))),
        "n": int(round(float(np.sum(n)))),
        "estimate": est, "ci_low": low, "ci_high": high,
        "tau2": finite(res.tau2) if len(events) > 1 else None,
        "proportion": finite(expit(est)) if est is not None else None,
        "proportion_ci_low": finite(expit(low)) if low is not None else None,
        "proportion_ci_high": finite(expit(high)) if high is not None else None,
    }


def _numbers(column: pd.Series) -> np.ndarray:
    """A column as floats, NaN where a cell is missing or not a number."""
    if column.dtype.kind in "fiu":
        return column.to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def arm_proportions(frame: pd.DataFrame, cfg: Mapping) -> dict | None:
    """The ``proportions`` block of one analysis's ``summary.json``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The pooled rows; those with dichotomous arm data (``events_treat``, ``n_treat``,
        ``events_ctrl``, ``n_ctrl`` all given) are used.
    cfg : mapping
        Effective configuration: ``method``, ``test`` and ``level`` of the fits.

    Returns
    -------
    dict or None
        ``None`` when no row has dichotomous arm data. Otherwise ``transform: "logit"``,
        ``method``, ``test``, ``level``, ``studies`` (the trials used) and ``treat`` and
        ``ctrl``, each ``{k, events, n, estimate, ci_low, ci_high, tau2}`` on the logit
        scale plus ``proportion, proportion_ci_low, proportion_ci_high`` back-transformed
        (0 to 1). With one trial, its own arm proportions (``tau2`` null).
    """
    needed = ("events_treat", "n_treat", "events_ctrl", "n_ctrl")
    if frame.empty or not all(c in frame for c in needed):
        return None
    v = np.column_stack([_numbers(frame[c]) for c in needed])
    use = ~np.isnan(v).any(axis=1)
    if not use.any():
        return None
    v = v[use]
    method, test, level = cfg["method"], cfg["test"], cfg["level"]
    return {
        "transform": "logit", "method": method, "test": test, "level": level,
        "studies": [str(s) for s in frame["study"][use]],
        "treat": _pool(v[:, 0], v[:, 1], method, test, level),
        "ctrl": _pool(v[:, 2], v[:, 3], method, test, level),
    }
