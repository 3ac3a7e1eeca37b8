"""Equal- and random-effects meta-analysis, vectorised over many meta-analyses.

The public façade is :func:`rma`, which mirrors metafor's ``rma()`` (Viechtbauer 2010,
*Journal of Statistical Software* 36(3)) for the intercept-only model together with
``predict()`` (prediction interval) and ``confint()`` (Q-profile CI of τ², I² and H²).
Every number is meant to equal metafor 3.8 and later (checked against metafor 3.8-1 in
``tests/reference/rma.json``), including where metafor stops an iteration early: the
Fisher scoring of ML/REML/EB and R's ``uniroot()`` (used for PM and the Q-profile CI) are
reproduced step for step, so the results are metafor's, not merely close to the exact
roots.

Conventions (stated once, here):

* ``yi`` are effect sizes on the analysis scale, ``vi`` their sampling variances (> 0).
  1-D input is one meta-analysis; 2-D input ``(m, k)`` is ``m`` meta-analyses, one per
  row, with NaN padding ragged rows (a study with NaN in ``yi`` or ``vi`` is left out, as
  metafor omits studies with missing values).
* τ² is truncated at 0 for every estimator (metafor's ``tau2.min = 0``).
* Q is Cochran's Q with equal-effects weights ``1/vi``, on ``k - 1`` degrees of freedom.
* I² (in percent) and H² follow metafor: ``I2 = 100 τ² / (τ² + s²)`` and
  ``H2 = τ² / s² + 1`` with the typical within-study variance
  ``s² = (k - 1) / tr(P)``, ``P = W - W 1 (1' W 1)^-1 1' W``, ``W = diag(1/vi)``
  (Higgins & Thompson 2002, *Stat Med* 21:1539). For the equal-effects model they come
  from Q: ``I2 = max(0, 100 (Q - (k-1)) / Q)``, ``H2 = Q / (k - 1)``.
* Prediction interval (``pi="default"``, metafor's ``predict()``):
  ``estimate ± c sqrt(se² + τ²)`` with ``c`` the normal quantile when ``test="z"`` and
  the t(k−1) quantile otherwise; ``se`` is the standard error of the chosen test (so it
  includes the Knapp–Hartung scaling). ``pi="higgins"``: the same with the t quantile on
  ``k - 2`` degrees of freedom for random-effects models (``k - 1`` for the equal-effects
  model), Higgins, Thompson & Spiegelhalter (2009, *JRSS A* 172:137), i.e. metafor's
  ``predict(pi.type="riley")``; undefined (NaN) when those degrees of freedom are < 1.
* The equal-effects model has no prediction interval (NaN), as metafor's ``predict()``
  gives none for it.
* k = 1: the study's own estimate with a z test (metafor switches to ``test="z"``); τ², Q,
  I², H², their CIs and the prediction interval need k ≥ 2 and are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy import special

from ketameta._batch import EPS, Batch, as_batch, weighted_fit
from ketameta._dist import chi2_sf, t_isf, t_sf
from ketameta._results import WARNING_TEXT, coefficient_records
from ketameta._results import plain as _plain
from ketameta.estimators import (
    CONTROL_EXACT,
    TAU2_ESTIMATORS,
    Control,
    Tau2Estimate,
    _fe_pieces,
    _q_rows,
    as_control,
    fit_design,
    qprofile_bounds,
    tau2_dl,
    tau2_eb,
    tau2_he,
    tau2_hs,
    tau2_ml,
    tau2_pm,
    tau2_reml,
    tau2_root,
    tau2_sj,
)

__all__ = [
    "METHODS",
    "TESTS",
    "BatchFit",
    "Control",
    "MetaRegResult",
    "PredictResult",
    "RMAResult",
    "Tau2Estimate",
    "TAU2_ESTIMATORS",
    "fit_batch",
    "level_to_alpha",
    "q_statistic",
    "qprofile_ci",
    "rma",
    "tau2_dl",
    "tau2_eb",
    "tau2_he",
    "tau2_hs",
    "tau2_ml",
    "tau2_pm",
    "tau2_reml",
    "tau2_root",
    "tau2_sj",
    "design_matrix",
]

METHODS = ("EE", "FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
"""τ² estimators (metafor names); ``EE`` and its alias ``FE`` fit the equal-effects model."""

TESTS = ("z", "knha", "adhoc", "t")
"""Tests of the pooled effect (metafor names)."""

PI_METHODS = ("default", "higgins")

VIMAXMIN = 1e7  # metafor warns when max(vi)/min(vi) >= 1/evtol = 1e7

# Warning texts, keyed by the flag names used in BatchFit.flags (ketameta._results).
_WARNING_TEXT = WARNING_TEXT


def level_to_alpha(level) -> float:
    """Convert metafor's ``level`` to the two-sided error rate alpha.

    As metafor's ``.level()``: values ≥ 1 are percentages (95 → 0.05), values in
    (0.5, 1) are coverage proportions (0.95 → 0.05), values in (0, 0.5] are alpha itself.

    Raises
    ------
    ValueError
        If ``level`` is not in (0, 100).
    """
    level = float(level)
    if not 0.0 < level < 100.0:
        raise ValueError(f"level must be in (0, 100) (a percentage such as 95), got {level!r}")
    if level >= 1.0:
        return (100.0 - level) / 100.0
    if level > 0.5:
        return 1.0 - level
    return level



# ---------------------------------------------------------------------------------------
# heterogeneity statistics and the Q-profile interval
# ---------------------------------------------------------------------------------------


def q_statistic(b: Batch):
    """Cochran's Q with ``w = 1/vi``, its df, p-value and the typical variance ``s²``.

    Returns
    -------
    q, df, p, vt : ndarray (m,)
        ``Q`` (floored at 0 as metafor), ``k - 1``, ``P(χ²_{k-1} > Q)`` and
        ``s² = (k - 1)/tr(P)``; NaN where k < 2.
    """
    _, q, _, trp, _ = _fe_pieces(b)
    few = b.k < 2
    df = b.k - 1.0
    q = np.where(few, np.nan, np.maximum(q, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(few, np.nan, chi2_sf(q, np.where(few, 1.0, df)))
        vt = np.where(few, np.nan, df / trp)
    return q, df, p, vt


def qprofile_ci(b: Batch, tau2: np.ndarray, alpha: float, control=None):
    """Q-profile confidence interval for τ² (Viechtbauer 2007, *Stat Med* 26:37).

    Follows metafor's ``confint.rma.uni()`` exactly: the search interval is
    ``[0, tau2.max]`` with ``tau2.max = max(100, 10 τ²)``; the bounds solve
    ``Q(τ²) = χ²_{k-1; 1-α/2}`` (lower) and ``Q(τ²) = χ²_{k-1; α/2}`` (upper) with R's
    ``uniroot()`` (``tol = .Machine$double.eps^0.25``, 1000 iterations, with
    ``control="metafor"``; to machine precision by default). Where ``Q(0)`` is
    already below the lower critical value, the interval is the null set and both bounds
    are 0 (flag ``"ci_null"``); where ``Q(0)`` is below the upper critical value the lower
    bound is 0; where ``Q(tau2.max)`` is above a critical value that bound is reported as
    ``tau2.max`` (flags ``"ci_ub_max"``, ``"ci_both_max"``).

    Parameters
    ----------
    b : Batch
    tau2 : ndarray (m,)
        The estimate (sets ``tau2.max``); rows where it is NaN are skipped.
    alpha : float
        Two-sided error rate (0.05 for a 95% interval).
    control : see :func:`ketameta.estimators.as_control`

    Returns
    -------
    lower, upper : ndarray (m,)
    flags : dict of str -> ndarray of bool (m,)
    """
    m = b.k.shape[0]
    lower = np.full(m, np.nan)
    upper = np.full(m, np.nan)
    flags = {
        name: np.zeros(m, dtype=bool)
        for name in ("ci_null", "ci_ub_max", "ci_both_max", "ci_search")
    }
    rows = np.nonzero((b.k >= 2) & ~np.isnan(tau2))[0]
    if rows.size == 0:
        return lower, upper, flags

    def qfun(x, sub):
        return _q_rows(b.y, b.v, b.mask, x, sub)

    q_min = qfun(np.zeros(rows.size), rows)
    lb, ub, found = qprofile_bounds(
        qfun, rows, b.k[rows] - 1.0, q_min, tau2[rows], alpha, control
    )
    lower[rows] = lb
    upper[rows] = ub
    for key, val in found.items():
        flags[key][rows] = val
    return lower, upper, flags


# ---------------------------------------------------------------------------------------
# the batch fit
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BatchFit:
    """All results of :func:`fit_batch`, each an array with one value per row.

    Field names and meanings are those of :class:`RMAResult`; ``weights`` is ``(m, k)``
    in percent with NaN at pads, ``flags`` maps warning keys to boolean row masks and
    ``vt`` is the typical within-study variance used for I² and H².
    """

    k: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    df: np.ndarray
    tau2: np.ndarray
    tau: np.ndarray
    se_tau2: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    Q: np.ndarray
    Q_df: np.ndarray
    Q_p: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray
    tau2_ci_low: np.ndarray
    tau2_ci_high: np.ndarray
    I2_ci_low: np.ndarray
    I2_ci_high: np.ndarray
    H2_ci_low: np.ndarray
    H2_ci_high: np.ndarray
    weights: np.ndarray
    converged: np.ndarray
    vt: np.ndarray
    flags: dict


def _check_options(method, test, pi):
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if test not in TESTS:
        raise ValueError(f"test must be one of {', '.join(TESTS)}; got {test!r}")
    if pi not in PI_METHODS:
        raise ValueError(f"pi must be one of {', '.join(PI_METHODS)}; got {pi!r}")


def _t_or_norm_sf(x, df):
    """Upper tail of t(df) (normal where df is infinite)."""
    with np.errstate(invalid="ignore"):
        tdf = np.where(np.isfinite(df), df, 1.0)
        return np.where(np.isfinite(df), t_sf(x, tdf), special.ndtr(-x))


def _t_or_norm_isf(p, df):
    """Upper quantile of t(df) (normal where df is infinite), NaN where df < 1."""
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(df) & (df >= 1)
        tq = t_isf(p, np.where(ok, df, 1.0))
        out = np.where(np.isfinite(df), np.where(ok, tq, np.nan), -special.ndtri(p))
    return out


def fit_batch(
    b: Batch,
    method: str = "REML",
    test: str = "z",
    level=95,
    pi: str = "default",
    tau2_ci: bool = True,
    control=None,
    tau2_fixed=None,
) -> BatchFit:
    """Fit the intercept-only model to every row of a batch at once.

    This is the engine behind :func:`rma`; :mod:`ketameta.sensitivity` and
    :mod:`ketameta.bias` call it directly (e.g. leave-one-out as one batch of ``k`` rows,
    each with one study masked out: ``as_batch(yi_rows, vi_rows, mask=...)``).

    Parameters
    ----------
    b : Batch
        From :func:`ketameta._batch.as_batch`.
    method, test, level, pi
        As :func:`rma`.
    tau2_ci : bool
        Compute the Q-profile CI (skip it to save time when it is not needed).
    control : None, "exact", "metafor" or mapping
        Stopping rules of the iterative estimators (:func:`ketameta.estimators.as_control`);
        default exact optima.
    tau2_fixed : array_like (m,), optional
        Use this τ² for each row instead of estimating it (metafor's ``tau2 =`` argument;
        ``se_tau2`` and the τ² CI are then undefined).

    Returns
    -------
    BatchFit

    Notes
    -----
    Floating-point warnings are silenced inside: undefined quantities are returned as NaN
    (and say so in ``flags``), never announced by numpy.
    """
    _check_options(method, test, pi)
    con = as_control(control)
    with np.errstate(all="ignore"):
        return _fit_batch(b, method, test, level, pi, tau2_ci, con, tau2_fixed)


def _fit_batch(b, method, test, level, pi, tau2_ci, control, tau2_fixed=None):
    alpha = level_to_alpha(level)
    m = b.k.shape[0]
    kf = b.k.astype(float)
    two = b.k >= 2
    one = b.k == 1
    ee = method in ("EE", "FE")
    flags = {}

    if ee:
        tau2_fixed = None  # the equal-effects model has τ² = 0 by definition
    else:
        fixed = None if tau2_fixed is None else np.broadcast_to(
            np.asarray(tau2_fixed, dtype=float), (m,)
        )
    if ee:
        est = Tau2Estimate(
            tau2=np.where(b.k >= 1, 0.0, np.nan),
            se_tau2=np.full(m, np.nan),
            converged=np.ones(m, dtype=bool),
        )
    elif tau2_fixed is not None:
        est = Tau2Estimate(
            tau2=np.where(two, fixed, np.nan),
            se_tau2=np.full(m, np.nan),
            converged=np.ones(m, dtype=bool),
        )
        tau2_ci = False
    else:
        est = TAU2_ESTIMATORS[method](b, control)
        flags.update(est.flags)
    tau2_fit = np.where(two, np.nan_to_num(est.tau2), 0.0)
    if tau2_fixed is not None:  # a given tau2 applies to a single study too, as in metafor
        tau2_fit = np.where(b.k >= 1, fixed, 0.0)

    w = np.where(b.mask, 1.0 / (b.v + tau2_fit[:, None]), 0.0)
    sw, mu, rss, _ = weighted_fit(b.y, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        vb = 1.0 / sw
        if test in ("knha", "adhoc"):
            s2w = np.where(rss <= EPS, 0.0, rss / (kf - 1.0))
            if test == "adhoc":
                s2w = np.maximum(s2w, 1.0)
            vb = np.where(two, s2w * vb, vb)
        se = np.sqrt(vb)
        zval = mu / se
    df = np.where(two & (test != "z"), kf - 1.0, np.inf)
    with np.errstate(invalid="ignore"):
        p_value = 2.0 * _t_or_norm_sf(np.abs(zval), df)
    crit = _t_or_norm_isf(alpha / 2.0, df)
    ci_low = mu - crit * se
    ci_high = mu + crit * se

    q, q_df, q_p, vt = q_statistic(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        if ee:
            I2 = np.maximum(0.0, 100.0 * (q - q_df) / q)
            I2 = np.where(two, I2, np.nan)
            H2 = q / q_df
        else:
            I2 = 100.0 * est.tau2 / (vt + est.tau2)
            H2 = est.tau2 / vt + 1.0

    if pi == "default":
        pi_crit = crit
    else:
        pi_df = kf - (1.0 if ee else 2.0)
        pi_crit = _t_or_norm_isf(alpha / 2.0, np.where(pi_df >= 1, pi_df, 0.0))
        flags["higgins_df"] = two & ~(pi_df >= 1) & (not ee)
    with np.errstate(invalid="ignore"):
        pi_se = np.sqrt(vb + tau2_fit)
    has_pi = two & (not ee)  # metafor's predict() gives no prediction interval for EE
    pi_low = np.where(has_pi, mu - pi_crit * pi_se, np.nan)
    pi_high = np.where(has_pi, mu + pi_crit * pi_se, np.nan)

    nan = np.full(m, np.nan)
    lb, ub = nan, nan
    if tau2_ci and not ee:
        lb, ub, ci_flags = qprofile_ci(b, est.tau2, alpha, control)
        flags.update(ci_flags)
    with np.errstate(invalid="ignore", divide="ignore"):
        i2_lb = 100.0 * lb / (vt + lb)
        i2_ub = 100.0 * ub / (vt + ub)
        h2_lb = lb / vt + 1.0
        h2_ub = ub / vt + 1.0
        weights = np.where(b.mask, 100.0 * w / sw[:, None], np.nan)

    tau2 = np.where(two, est.tau2, np.nan)
    if tau2_fixed is not None:
        tau2 = np.where(b.k >= 1, fixed, np.nan)
    flags["k0"] = b.k == 0
    flags["k1"] = one
    if ee and test in ("knha", "adhoc"):
        flags["ee_knha"] = two.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        vmax = np.where(b.mask, b.v, -np.inf).max(axis=1)
        vmin = np.where(b.mask, b.v, np.inf).min(axis=1)
        flags["vimaxmin"] = (b.k >= 2) & (vmax / vmin >= VIMAXMIN)

    empty = b.k == 0
    est_arr = np.where(empty, np.nan, mu)
    return BatchFit(
        k=b.k.copy(),
        estimate=est_arr,
        se=np.where(empty, np.nan, se),
        ci_low=np.where(empty, np.nan, ci_low),
        ci_high=np.where(empty, np.nan, ci_high),
        statistic=np.where(empty, np.nan, zval),
        p_value=np.where(empty, np.nan, p_value),
        df=df,
        tau2=tau2,
        tau=np.sqrt(tau2),
        se_tau2=np.where(two, est.se_tau2, np.nan),
        I2=np.where(two, I2, np.nan),
        H2=np.where(two, H2, np.nan),
        Q=q,
        Q_df=np.where(empty, np.nan, kf - 1.0),
        Q_p=q_p,
        pi_low=pi_low,
        pi_high=pi_high,
        tau2_ci_low=lb,
        tau2_ci_high=ub,
        I2_ci_low=i2_lb,
        I2_ci_high=i2_ub,
        H2_ci_low=h2_lb,
        H2_ci_high=h2_ub,
        weights=weights,
        converged=est.converged & ~empty,
        vt=vt,
        flags={key: val for key, val in flags.items() if val.any()},
    )


def _row_warnings(fit: BatchFit, method: str) -> list[tuple[str, ...]]:
    """Per-row tuples of warning texts, in a fixed order of the warning table."""
    m = fit.k.shape[0]
    out: list[list[str]] = [[] for _ in range(m)]
    for key, text in _WARNING_TEXT.items():
        mask = fit.flags.get(key)
        if mask is None:
            continue
        msg = text.format(method=method)
        for row in np.nonzero(mask)[0]:
            out[row].append(msg)
    return [tuple(w) for w in out]


# ---------------------------------------------------------------------------------------
# public façade
# ---------------------------------------------------------------------------------------


_SCALAR_FIELDS = (
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "statistic",
    "p_value",
    "df",
    "tau2",
    "tau",
    "se_tau2",
    "I2",
    "H2",
    "Q",
    "Q_df",
    "Q_p",
    "pi_low",
    "pi_high",
    "tau2_ci_low",
    "tau2_ci_high",
    "I2_ci_low",
    "I2_ci_high",
    "H2_ci_low",
    "H2_ci_high",
)

# summary.json keys (docs/contract.md) that the fit itself fills, in contract order.
_ENGINE_KEYS = (
    "k",
    "method",
    "test",
    "level",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "statistic",
    "p_value",
    "tau2",
    "tau",
    "I2",
    "H2",
    "Q",
    "Q_df",
    "Q_p",
    "pi_low",
    "pi_high",
    "tau2_ci_low",
    "tau2_ci_high",
    "I2_ci_low",
    "I2_ci_high",
)


@dataclass(frozen=True, eq=False)
class RMAResult:
    """Result of :func:`rma`: one meta-analysis (scalars) or a batch (arrays of length m).

    Attributes
    ----------
    yi, vi : ndarray
        The input, as float arrays (NaN kept).
    k : int or ndarray of int
        Number of studies used.
    method, test : str
        As requested (metafor names). Rows with k = 1 are tested with z (``df`` is inf).
    level : float
        Confidence level as given (percent).
    estimate, se, ci_low, ci_high, statistic, p_value : float or ndarray
        Pooled effect, its standard error (Knapp–Hartung scaled for ``knha``/``adhoc``),
        confidence interval, z or t statistic and two-sided p-value.
    df : float or ndarray
        Degrees of freedom of the test (``k - 1``; ``inf`` for z).
    tau2, tau, se_tau2 : float or ndarray
        τ² (truncated at 0; 0 for EE), τ and metafor's ``se.tau2`` (NaN for EE).
    I2, H2 : float or ndarray
        I² in percent and H² (see the module docstring for the definitions).
    Q, Q_df, Q_p : float or ndarray
        Cochran's Q (weights 1/vi), ``k - 1`` and its p-value.
    pi_low, pi_high : float or ndarray
        Prediction interval (``pi`` argument; see the module docstring).
    tau2_ci_low, tau2_ci_high, I2_ci_low, I2_ci_high, H2_ci_low, H2_ci_high
        Q-profile confidence intervals (metafor ``confint()``); NaN for EE and k < 2.
    weights : ndarray
        Weights in percent, shape of ``yi``, NaN where a study is missing.
    converged : bool or ndarray of bool
        False where an iterative estimator needed a fallback (then ``warnings`` says which).
    warnings : tuple of str, or tuple of tuples of str (batch)
        Everything the fit had to tell, in words.
    pi : str
        Which prediction interval was computed ("default" or "higgins").
    """

    yi: np.ndarray
    vi: np.ndarray
    k: object
    method: str
    test: str
    level: float
    estimate: object
    se: object
    ci_low: object
    ci_high: object
    statistic: object
    p_value: object
    df: object
    tau2: object
    tau: object
    se_tau2: object
    I2: object
    H2: object
    Q: object
    Q_df: object
    Q_p: object
    pi_low: object
    pi_high: object
    tau2_ci_low: object
    tau2_ci_high: object
    I2_ci_low: object
    I2_ci_high: object
    H2_ci_low: object
    H2_ci_high: object
    weights: np.ndarray
    converged: object
    warnings: tuple
    pi: str = "default"
    control: Control = CONTROL_EXACT

    @property
    def is_batch(self) -> bool:
        """True when the result holds one meta-analysis per row of a 2-D input."""
        return np.ndim(self.yi) == 2

    @property
    def X(self) -> np.ndarray:
        """Design matrix of the intercept-only model: ones, ``(k, 1)`` (batch ``(m, k, 1)``)."""
        return np.ones((*np.shape(self.yi), 1))

    @property
    def names(self) -> tuple[str, ...]:
        """Coefficient names, as metafor (``("intrcpt",)``)."""
        return ("intrcpt",)

    @property
    def coef_names(self) -> tuple[str, ...]:
        """The same as ``names`` (the name :func:`ketameta.robust` reads)."""
        return self.names

    @property
    def beta(self) -> np.ndarray:
        """Coefficients as a vector: ``[estimate]``, shape ``(1,)`` (batch ``(m, 1)``)."""
        return np.asarray(self.estimate, dtype=float)[..., None]

    @property
    def vcov(self) -> np.ndarray:
        """Variance of ``beta``: ``[[se²]]``, shape ``(1, 1)`` (batch ``(m, 1, 1)``)."""
        return (np.asarray(self.se, dtype=float) ** 2)[..., None, None]

    def _engine_dict(self) -> dict:
        """The summary keys computed here (no Egger, trim-and-fill or leave-one-out)."""
        out = {}
        for key in _ENGINE_KEYS:
            val = getattr(self, key)
            if key in ("method", "test"):
                out[key] = [val] * len(self.k) if self.is_batch else val
            elif key == "level":
                lv = _plain(val)
                out[key] = [lv] * len(self.k) if self.is_batch else lv
            elif key in ("k", "Q_df"):
                conv = [None if not np.isfinite(x) else int(x) for x in np.atleast_1d(val)]
                out[key] = conv if self.is_batch else conv[0]
            else:
                conv = [_plain(x) for x in np.atleast_1d(val)]
                out[key] = conv if self.is_batch else conv[0]
        conv = [bool(x) for x in np.atleast_1d(self.converged)]
        out["converged"] = conv if self.is_batch else conv[0]
        if self.is_batch:
            out["warnings"] = [list(w) for w in self.warnings]
        else:
            out["warnings"] = list(self.warnings)
        return out

    def to_dict(self) -> dict:
        """The fit's own summary keys (docs/contract.md), as plain Python.

        Returns
        -------
        dict
            ``k, method, test, level, estimate, se, ci_low, ci_high, statistic, p_value,
            tau2, tau, I2, H2, Q, Q_df, Q_p, pi_low, pi_high, tau2_ci_low, tau2_ci_high,
            I2_ci_low, I2_ci_high, converged, warnings``; undefined values are None. For a
            batch every key maps to a list with one value per row. The small-study tests
            and leave-one-out results of ``summary.json`` are added by
            :func:`ketameta.summary.fit_summary`.
        """
        return self._engine_dict()


def rma(
    yi,
    vi,
    method: str = "REML",
    test: str = "z",
    level=95,
    pi: str = "default",
    mods=None,
    intercept: bool = True,
    control=None,
):
    """Fit an equal- or random-effects meta-analysis or meta-regression (metafor's ``rma()``).

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and sampling variances. 1-D: one meta-analysis. 2-D ``(m, k)``: one
        meta-analysis per row, NaN padding ragged rows. A study with NaN in ``yi`` or
        ``vi`` is left out.
    method : {"REML", "ML", "DL", "HE", "HS", "SJ", "EB", "PM", "EE", "FE"}
        τ² estimator; ``EE`` (alias ``FE``) fits the equal-effects model.
    test : {"z", "knha", "adhoc", "t"}
        ``z``: normal test. ``knha``: Hartung–Knapp–Sidik–Jonkman (Hartung & Knapp 2001,
        *Stat Med* 20:3875; Sidik & Jonkman 2002, *Stat Med* 21:3153), variance scaled by
        ``s² = Σw(y - μ̂)²/(k-p)`` (0 when that sum is below machine epsilon, as metafor)
        and t(k−p). ``adhoc``: knha with ``s²`` truncated below at 1 (Knapp & Hartung
        2003, *Stat Med* 22:2693). ``t``: unscaled variance with t(k−p).
    level : float
        Confidence level in percent (95); metafor's rules for other forms apply
        (:func:`level_to_alpha`).
    pi : {"default", "higgins"}
        Prediction interval: metafor's ``predict()`` or Higgins et al. (2009) t(k−2)
        (intercept-only model only).
    mods : array_like or pandas.DataFrame, optional
        Moderators (metafor's ``mods``): a ``(k,)`` vector, a ``(k, q)`` matrix, a
        ``(m, k, q)`` array for a batch (a ``(k, q)`` matrix is shared by every row), or a
        DataFrame with one row per study, whose categorical columns (strings, booleans or
        pandas categoricals) are dummy-coded against their first level as R's
        ``factor()`` (levels sorted, or the categorical's own order). A study with a
        missing moderator is left out, as metafor does. With ``mods`` the result is a
        :class:`MetaRegResult`.
    intercept : bool
        Add an intercept column to ``mods`` (metafor's default).
    control : None, "exact", "metafor" or mapping
        Stopping rules of the iterations (:func:`ketameta.estimators.as_control`). By
        default every iterative quantity is the exact optimum or root; ``"metafor"``
        reproduces metafor 3.8's default stopping (Fisher scoring to an absolute change of
        1e-5, ``uniroot()`` at ``.Machine$double.eps^0.25``), whose answers can differ from
        the exact ones in the 4th to 6th significant digit on hard problems.

    Returns
    -------
    RMAResult or MetaRegResult

    Raises
    ------
    ValueError
        For invalid input only (unknown method/test, shape mismatch, infinite values,
        ``vi <= 0``, no usable study in 1-D input, moderators of the wrong shape or not of
        full rank). Numerical trouble never raises: the result says what happened in
        ``converged`` and ``warnings``.

    Examples
    --------
    >>> res = rma([0.1, 0.3, 0.35, -0.05], [0.01, 0.02, 0.015, 0.03], method="DL")
    >>> round(res.estimate, 4)
    0.1869
    """
    _check_options(method, test, pi)
    level_to_alpha(level)
    con = as_control(control)
    if mods is not None:
        return _metareg(yi, vi, mods, intercept, method, test, level, con)
    return _rma_intercept(yi, vi, method, test, level, pi, con)


def _rma_intercept(yi, vi, method, test, level, pi, con, tau2_fixed=None) -> RMAResult:
    """The intercept-only :func:`rma`; ``tau2_fixed`` as metafor's ``tau2 =`` argument."""
    b = as_batch(yi, vi)
    fit = fit_batch(
        b, method=method, test=test, level=level, pi=pi, control=con, tau2_fixed=tau2_fixed
    )
    warn = _row_warnings(fit, method)
    omitted = int(b.yi.size - fit.k[0]) if b.squeeze else 0
    if omitted:
        note = (
            f"{omitted} {'study' if omitted == 1 else 'studies'} with missing yi or vi "
            "omitted (metafor omits them likewise)."
        )
        warn[0] = (note,) + warn[0]
    values = {}
    for name in _SCALAR_FIELDS:
        arr = getattr(fit, name)
        values[name] = float(arr[0]) if b.squeeze else arr
    weights = fit.weights[0] if b.squeeze else fit.weights
    return RMAResult(
        yi=b.yi,
        vi=b.vi,
        k=int(fit.k[0]) if b.squeeze else fit.k,
        method=method,
        test=test,
        level=level,
        weights=weights,
        converged=bool(fit.converged[0]) if b.squeeze else fit.converged,
        warnings=warn[0] if b.squeeze else tuple(warn),
        pi=pi,
        control=con,
        **values,
    )


# ---------------------------------------------------------------------------------------
# meta-regression
# ---------------------------------------------------------------------------------------


def design_matrix(mods, k: int | None = None, intercept: bool = True):
    """Model matrix and coefficient names from moderators, as R's ``model.matrix()``.

    Parameters
    ----------
    mods : array_like or pandas.DataFrame
        ``(k,)``, ``(k, q)`` or ``(m, k, q)`` numbers, or a DataFrame (one row per study).
        DataFrame columns that are numeric enter as they are; string, boolean and
        categorical columns are dummy-coded against their first level (R's ``factor()``:
        levels sorted, or the categorical's declared order; booleans as ``FALSE < TRUE``);
        without an intercept the first such column keeps all its levels, as R's
        ``model.matrix()``.
        Array columns are named ``X1``, ``X2``, …
    k : int, optional
        Number of studies, to check the shape.
    intercept : bool
        Prepend a column of ones named ``"intrcpt"`` (metafor's name).

    Returns
    -------
    X : ndarray (k, p) or (m, k, p)
        NaN in a row where a moderator is missing.
    names : tuple of str

    Raises
    ------
    ValueError
        If the shape does not fit ``k``, a value is infinite, or a column is neither
        numeric nor categorical.
    """
    import pandas as pd

    if isinstance(mods, pd.Series):
        mods = mods.to_frame()
    if isinstance(mods, pd.DataFrame):
        columns, names = [], []
        # R's model.matrix(): without an intercept, the first factor keeps all its levels
        full_factor = not intercept
        for col in mods.columns:
            series = mods[col]
            label = str(col)
            categorical = isinstance(series.dtype, pd.CategoricalDtype)
            if categorical or not pd.api.types.is_numeric_dtype(series.dtype) or (
                pd.api.types.is_bool_dtype(series.dtype)
            ):
                missing = series.isna().to_numpy()
                if categorical:
                    levels = [lv for lv in series.cat.categories if (series == lv).any()]
                else:
                    present = series[~missing]
                    if pd.api.types.is_bool_dtype(series.dtype) or all(
                        isinstance(v, (bool, np.bool_)) for v in present
                    ):
                        levels = [lv for lv in (False, True) if (present == lv).any()]
                    else:
                        if not all(isinstance(v, str) for v in present):
                            raise ValueError(
                                f"moderator {label!r} mixes text and other values; give "
                                "numbers or category labels"
                            )
                        levels = sorted(set(present))
                values = series.to_numpy(dtype=object)
                coded = levels if full_factor else levels[1:]
                full_factor = False
                for level in coded:
                    dummy = np.array([v == level for v in values], dtype=float)
                    dummy[missing] = np.nan
                    columns.append(dummy)
                    shown = str(level).upper() if isinstance(level, (bool, np.bool_)) else level
                    names.append(f"{label}{shown}")
            else:
                try:
                    values = series.to_numpy(dtype=float)
                except (TypeError, ValueError) as err:
                    raise ValueError(
                        f"moderator {label!r} is neither numeric nor categorical"
                    ) from err
                columns.append(values)
                names.append(label)
        x = np.column_stack(columns) if columns else np.zeros((len(mods), 0))
    else:
        x = np.asarray(mods, dtype=float)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim not in (2, 3):
            raise ValueError(f"mods must be (k,), (k, q) or (m, k, q); got shape {x.shape}")
        names = [f"X{j + 1}" for j in range(x.shape[-1])]
    if np.isinf(x).any():
        raise ValueError("mods must not contain infinite values (use NaN for missing)")
    if k is not None and x.shape[-2] != k:
        raise ValueError(
            f"mods must have one row per study: {x.shape[-2]} rows for {k} studies"
        )
    if intercept:
        ones = np.ones((*x.shape[:-1], 1))
        x = np.concatenate([ones, x], axis=-1)
        names = ["intrcpt", *names]
    if x.shape[-1] == 0:
        raise ValueError("the model has no coefficient (no moderators and no intercept)")
    return x, tuple(names)


@dataclass(frozen=True, eq=False)
class PredictResult:
    """Predicted effects for given moderator values (metafor's ``predict()``).

    Attributes
    ----------
    pred, se : ndarray (n,) or (m, n)
        ``x' β`` and its standard error ``sqrt(x' V x)`` (``V`` scaled as the test).
    ci_low, ci_high : ndarray
        Confidence interval with the quantile of the test (normal, or t on k − p df).
    pi_low, pi_high : ndarray
        Prediction interval ``pred ± c sqrt(se² + τ²)`` with the same quantile; NaN for the
        equal-effects model (metafor gives none).
    """

    pred: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray


@dataclass(frozen=True, eq=False)
class MetaRegResult:
    """Result of :func:`rma` with moderators: one model (1-D input) or a batch.

    Single models hold ``(p,)`` coefficient vectors and floats; a batch of ``m`` models
    holds ``(m, p)`` arrays and ``(m,)`` arrays.

    Attributes
    ----------
    yi, vi : ndarray
        The input (NaN kept; studies with a missing moderator set to NaN).
    X : ndarray (k, p) or (m, k, p)
        The design matrix (with the intercept column when ``intercept``).
    names : tuple of str
        Coefficient names (``"intrcpt"`` first when there is an intercept).
    intercept : bool
    k, p : int or ndarray
        Studies used and coefficients.
    method, test, level, control
        As requested.
    beta, se, statistic, p_value, ci_low, ci_high : ndarray
        Per coefficient: estimate, standard error (Knapp–Hartung scaled for ``knha`` and
        ``adhoc``), z or t statistic, two-sided p-value and confidence limits.
    vcov : ndarray (p, p) or (m, p, p)
        Variance–covariance matrix of ``beta``.
    df : float or ndarray
        ``k - p`` for ``knha``, ``adhoc`` and ``t``; ``inf`` for ``z``.
    QM, QM_df, QM_p : float or ndarray
        Omnibus test of all coefficients but the intercept (all of them without an
        intercept): Wald χ² on ``QM_df`` df for ``z``; otherwise F = χ²/``QM_df`` on
        (``QM_df``, k − p) df, as metafor.
    QE, QE_df, QE_p : float or ndarray
        Test of residual heterogeneity: weighted residual sum of squares with weights
        ``1/vi`` on k − p df.
    tau2, tau, se_tau2 : float or ndarray
        Residual τ² (0 for EE), its root and metafor's ``se.tau2``.
    I2, H2 : float or ndarray
        Residual I² (percent) and H², with the typical variance ``(k - p)/tr(P)``.
    R2 : float or ndarray
        metafor's pseudo-R² in percent: ``max(0, 100 (τ²₀ - τ²)/τ²₀)`` with τ²₀ from the
        intercept-only model with the same method (Raudenbush 2009); 0 when τ²₀ = 0; for
        EE the adjusted R² of the weighted regression. NaN without an intercept or with
        no moderator.
    tau2_ci_low, tau2_ci_high, I2_ci_low, I2_ci_high : float or ndarray
        Q-profile CI of the residual τ² (Viechtbauer 2007) and of I².
    weights : ndarray
        Weights ``1/(vi + τ²)`` in percent of their sum, NaN where a study is missing.
    converged : bool or ndarray
    warnings : tuple
    """

    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    names: tuple
    intercept: bool
    k: object
    p: int
    method: str
    test: str
    level: float
    control: Control
    beta: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    vcov: np.ndarray
    df: object
    QM: object
    QM_df: object
    QM_p: object
    QE: object
    QE_df: object
    QE_p: object
    tau2: object
    tau: object
    se_tau2: object
    I2: object
    H2: object
    R2: object
    tau2_ci_low: object
    tau2_ci_high: object
    I2_ci_low: object
    I2_ci_high: object
    weights: np.ndarray
    converged: object
    warnings: tuple

    @property
    def is_batch(self) -> bool:
        """True when the result holds one model per row of a 2-D input."""
        return np.ndim(self.yi) == 2

    @property
    def coef_names(self) -> tuple[str, ...]:
        """The same as ``names`` (the name :func:`ketameta.robust` reads)."""
        return self.names

    def coefficients(self) -> list[dict]:
        """One record per coefficient: ``name, beta, se, statistic, p_value, ci_low,
        ci_high`` (single model only)."""
        if self.is_batch:
            raise ValueError("coefficients() describes one model; index a batch first")
        return coefficient_records(
            self.names, beta=self.beta, se=self.se, statistic=self.statistic,
            p_value=self.p_value, ci_low=self.ci_low, ci_high=self.ci_high,
        )

    def predict(self, newmods) -> PredictResult:
        """Predicted effect, CI and PI at moderator values (metafor's ``predict()``).

        Parameters
        ----------
        newmods : array_like, shape (q,), (n, q) or (n, p)
            Moderator values without the intercept column (``q = p - 1`` with an
            intercept), or full rows of the design matrix (``p`` columns).

        Returns
        -------
        PredictResult
            Arrays of shape ``(n,)`` (``(m, n)`` for a batch).
        """
        x = np.atleast_2d(np.asarray(newmods, dtype=float))
        if self.intercept and x.shape[1] == self.p - 1:
            x = np.concatenate([np.ones((x.shape[0], 1)), x], axis=1)
        if x.shape[1] != self.p:
            raise ValueError(
                f"newmods needs {self.p - int(self.intercept)} moderator columns; got "
                f"{x.shape[1]}"
            )
        beta = np.atleast_2d(self.beta)
        vcov = self.vcov if self.is_batch else self.vcov[None]
        tau2 = np.atleast_1d(np.asarray(self.tau2, dtype=float))
        df = np.atleast_1d(np.asarray(self.df, dtype=float))
        alpha = level_to_alpha(self.level)
        with np.errstate(invalid="ignore"):
            pred = beta @ x.T
            se = np.sqrt(np.einsum("np,mpq,nq->mn", x, vcov, x))
            crit = _t_or_norm_isf(alpha / 2.0, df)[:, None]
            pi_se = np.sqrt(se**2 + tau2[:, None])
        no_pi = self.method in ("EE", "FE")
        out = {
            "pred": pred,
            "se": se,
            "ci_low": pred - crit * se,
            "ci_high": pred + crit * se,
            "pi_low": np.where(no_pi, np.nan, pred - crit * pi_se),
            "pi_high": np.where(no_pi, np.nan, pred + crit * pi_se),
        }
        if not self.is_batch:
            out = {key: val[0] for key, val in out.items()}
        return PredictResult(**out)

    def to_dict(self) -> dict:
        """The model as plain Python (NaN → None): coefficients, tests and heterogeneity."""
        scalars = (
            "k", "p", "method", "test", "level", "df", "QM", "QM_df", "QM_p", "QE",
            "QE_df", "QE_p", "tau2", "tau", "se_tau2", "I2", "H2", "R2", "tau2_ci_low",
            "tau2_ci_high", "I2_ci_low", "I2_ci_high", "converged",
        )  # fmt: skip
        out = {"names": list(self.names), "intercept": self.intercept, "control": self.control.name}
        for key in scalars:
            val = getattr(self, key)
            if isinstance(val, str):
                out[key] = val
            elif self.is_batch and key not in ("p", "level"):
                out[key] = [_plain(x) for x in np.asarray(val).tolist()]
            else:
                out[key] = _plain(val)
        for key in ("beta", "se", "statistic", "p_value", "ci_low", "ci_high"):
            out[key] = _nested(getattr(self, key))
        out["vcov"] = _nested(self.vcov)
        out["warnings"] = (
            [list(w) for w in self.warnings] if self.is_batch else list(self.warnings)
        )
        return out


def _nested(x):
    """Array as nested lists of plain Python numbers (NaN → None)."""
    arr = np.asarray(x)
    if arr.ndim == 0:
        return _plain(arr.item())
    return [_nested(row) for row in arr]


def _metareg(yi, vi, mods, intercept, method, test, level, con) -> MetaRegResult:
    """:func:`rma` with moderators (see there)."""
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    if yi.shape != vi.shape or yi.ndim not in (1, 2):
        raise ValueError(
            f"yi and vi must have the same 1-D or 2-D shape, got {yi.shape} and {vi.shape}"
        )
    x, names = design_matrix(mods, k=yi.shape[-1], intercept=intercept)
    if yi.ndim == 1 and x.ndim == 3:
        raise ValueError("a (m, k, q) moderator array needs 2-D yi and vi (m, k)")
    if yi.ndim == 2 and x.ndim == 3 and x.shape[0] != yi.shape[0]:
        raise ValueError(f"mods has {x.shape[0]} rows of models, yi has {yi.shape[0]}")
    missing_mod = np.isnan(x).any(axis=-1)
    y_use = np.where(missing_mod, np.nan, yi)
    v_use = np.where(missing_mod, np.nan, vi)
    b = as_batch(y_use, v_use)
    m, width = b.y.shape
    p = x.shape[-1]
    x3 = np.broadcast_to(x if x.ndim == 3 else x[None], (m, width, p))
    x3 = np.where(b.mask[:, :, None], x3, 0.0)
    if b.squeeze:
        from ketameta.estimators import design_rank_ok

        if not design_rank_ok(x3, b.mask)[0]:
            raise ValueError(
                "the moderators are not of full rank for the studies present (a column is "
                "constant or a combination of others): remove redundant moderators"
            )
    btt = np.arange(1, p) if intercept and p > 1 else np.arange(p)
    alpha = level_to_alpha(level)
    with np.errstate(all="ignore"):
        fit = fit_design(b, x3, method=method, test=test, alpha=alpha, btt=btt, control=con)
        r2 = _pseudo_r2(b, x3, fit, method, intercept and p > 1, con)
        sw = fit.weights.sum(axis=1, keepdims=True)
        weights = np.where(b.mask, 100.0 * fit.weights / sw, np.nan)
    flags = dict(fit.flags)
    flags["k0"] = b.k == 0
    if method in ("EE", "FE") and test in ("knha", "adhoc"):
        flags["ee_knha"] = b.k > p
    vmax = np.where(b.mask, b.v, -np.inf).max(axis=1)
    vmin = np.where(b.mask, b.v, np.inf).min(axis=1)
    flags["vimaxmin"] = (b.k >= 2) & (vmax / vmin >= VIMAXMIN)
    holder = BatchFit.__new__(BatchFit)
    object.__setattr__(holder, "k", b.k)
    object.__setattr__(holder, "flags", {key: val for key, val in flags.items() if val.any()})
    warn = _row_warnings(holder, method)
    dropped = int(np.sum(missing_mod & ~np.isnan(yi) & ~np.isnan(vi))) if b.squeeze else 0
    if dropped:
        note = (
            f"{dropped} {'study' if dropped == 1 else 'studies'} with a missing moderator "
            "omitted (metafor omits them likewise)."
        )
        warn[0] = (note,) + warn[0]

    def one(arr):
        return arr[0] if b.squeeze else arr

    def scalar(arr):
        return float(arr[0]) if b.squeeze else arr

    tau2 = fit.tau2
    return MetaRegResult(
        yi=b.yi,
        vi=b.vi,
        X=x3[0] if b.squeeze else x3,
        names=names,
        intercept=bool(intercept),
        k=int(b.k[0]) if b.squeeze else b.k,
        p=p,
        method=method,
        test=test,
        level=level,
        control=con,
        beta=one(fit.beta),
        se=one(fit.se),
        statistic=one(fit.statistic),
        p_value=one(fit.p_value),
        ci_low=one(fit.ci_low),
        ci_high=one(fit.ci_high),
        vcov=one(fit.vcov),
        df=scalar(fit.df),
        QM=scalar(fit.QM),
        QM_df=scalar(fit.QM_df),
        QM_p=scalar(fit.QM_p),
        QE=scalar(fit.QE),
        QE_df=scalar(fit.QE_df),
        QE_p=scalar(fit.QE_p),
        tau2=scalar(tau2),
        tau=scalar(np.sqrt(tau2)),
        se_tau2=scalar(fit.se_tau2),
        I2=scalar(fit.I2),
        H2=scalar(fit.H2),
        R2=scalar(r2),
        tau2_ci_low=scalar(fit.tau2_ci_low),
        tau2_ci_high=scalar(fit.tau2_ci_high),
        I2_ci_low=scalar(fit.I2_ci_low),
        I2_ci_high=scalar(fit.I2_ci_high),
        weights=one(weights),
        converged=bool(fit.converged[0]) if b.squeeze else fit.converged,
        warnings=warn[0] if b.squeeze else tuple(warn),
    )


def _pseudo_r2(b, x, fit, method, has_r2, con) -> np.ndarray:
    """metafor's R² of a meta-regression (see :class:`MetaRegResult`), NaN where undefined."""
    m = b.k.shape[0]
    if not has_r2:
        return np.full(m, np.nan)
    if method in ("EE", "FE"):
        w = np.where(b.mask, 1.0 / b.v, 0.0)
        sw, _, tss, _ = weighted_fit(b.y, w)
        kf = b.k.astype(float)
        p = x.shape[2]
        resid = b.y - np.einsum("mkp,mp->mk", x, np.nan_to_num(fit.beta))
        rss = (w * resid * resid).sum(axis=1)
        adj = 1.0 - (rss / tss) * (kf - 1.0) / (kf - p)
        y_masked = np.where(b.mask, b.y, np.nan)
        constant = np.nanmax(y_masked, axis=1) == np.nanmin(y_masked, axis=1)
        r2 = np.where(constant, 0.0, np.maximum(0.0, 100.0 * adj))
        return np.where(np.isfinite(fit.QE), r2, np.nan)
    base = TAU2_ESTIMATORS[method](b, con).tau2
    r2 = np.where(base == 0.0, 0.0, np.maximum(0.0, 100.0 * (base - fit.tau2) / base))
    return np.where(np.isfinite(fit.tau2), r2, np.nan)


def _field_names() -> tuple[str, ...]:
    """Names of the :class:`RMAResult` fields (used by tests of the public contract)."""
    return tuple(f.name for f in fields(RMAResult))
