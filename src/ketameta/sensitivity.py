"""Sensitivity analyses: leave-one-out, influence diagnostics, cumulative meta-analysis.

The functions reproduce metafor 3.8-1's ``leave1out()``, ``influence()`` and ``cumul()``
for the intercept-only model ``rma(yi, vi, method=, test=, level=)`` (Viechtbauer 2010;
sources read: ``R/leave1out.rma.uni.r``, ``R/influence.rma.uni.r``,
``R/cumul.rma.uni.r``, ``R/hatvalues.rma.uni.r`` and ``R/weights.rma.uni.r``). Each one
is a single call of the batch engine :func:`ketameta.models.fit_batch`: leave-one-out and
influence fit k rows, each with one study masked out; the cumulative meta-analysis fits k
nested subsets. 2-D input (m meta-analyses) becomes one batch of m·k rows.

Conventions
-----------
* 1-D ``yi``/``vi`` (k studies) gives arrays of shape (k,); 2-D input (m × k, NaN-padded)
  gives (m, k). Entries for missing studies (pads) are NaN.
* ``level`` is a confidence level in percent (95).
* A fit to a single study (leave-one-out with k = 2, the first step of a cumulative
  meta-analysis) is reported as metafor reports it: the study's own estimate with a z test,
  τ² = 0, Q = 0, p(Q) = 1, I² = 0 and H² = 1.
* Meta-analyses with fewer than 2 studies give NaN throughout for ``leave1out()`` and
  ``influence()`` (metafor stops: "Stopped because k = 1"). Nothing raises for a numerical
  reason.

References
----------
Viechtbauer W, Cheung MWL (2010). Outlier and influence diagnostics for meta-analysis.
*Research Synthesis Methods* 1(2):112–125. doi:10.1002/jrsm.11

Belsley DA, Kuh E, Welsch RE (1980). *Regression Diagnostics*. Wiley. (DFFITS, DFBETAS,
COVRATIO.)

Cook RD (1977). Detection of influential observation in linear regression.
*Technometrics* 19(1):15–18.

Lau J, Antman EM, Jimenez-Silva J, Kupelnick B, Mosteller F, Chalmers TC (1992).
Cumulative meta-analysis of therapeutic trials for myocardial infarction. *New England
Journal of Medicine* 327(4):248–254.

Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. *Journal of
Statistical Software* 36(3):1–48. doi:10.18637/jss.v036.i03
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._batch import EPS, Batch, as_batch
from ._dist import chi2_cdf
from ._results import ToDict as _ToDict
from .models import BatchFit, fit_batch

__all__ = [
    "Leave1OutResult",
    "InfluenceResult",
    "CumulResult",
    "leave1out",
    "influence",
    "cumul",
]

_FIT_FIELDS = (
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "statistic",
    "p_value",
    "tau2",
    "I2",
    "H2",
    "Q",
    "Q_p",
)


def _shape(x: np.ndarray, squeeze: bool) -> np.ndarray:
    """(m, k) results as (k,) for 1-D input."""
    return x[0] if squeeze else x


def _fit_fields(fit: BatchFit, m: int, k: int) -> dict:
    """The per-fit results of a (m·k)-row batch as (m, k) arrays, metafor's k = 1 values.

    For a single-study fit metafor reports τ² = 0, Q = 0, p(Q) = 1, I² = 0, H² = 1 (its
    ``rma.uni()`` with k = 1); the engine leaves those undefined, so they are set here.
    """
    single = fit.k == 1
    fill = {"tau2": 0.0, "Q": 0.0, "Q_p": 1.0, "I2": 0.0, "H2": 1.0}
    out = {}
    for name in _FIT_FIELDS:
        vals = np.asarray(getattr(fit, name), dtype=float).copy()
        if name in fill:
            vals[single] = fill[name]
        out[name] = vals.reshape(m, k)
    return out


def _leave_one_out_fit(b: Batch, method: str, test: str, level, control=None) -> BatchFit:
    """One batch fit of every meta-analysis with each of its studies left out in turn.

    Row ``r * k + i`` of the batch is meta-analysis ``r`` without column ``i``.
    """
    m, k = b.y.shape
    y = np.repeat(np.atleast_2d(b.yi), k, axis=0)
    v = np.repeat(np.atleast_2d(b.vi), k, axis=0)
    keep = np.tile(~np.eye(k, dtype=bool), (m, 1))
    sub = as_batch(y, v, mask=keep)
    return fit_batch(sub, method=method, test=test, level=level, tau2_ci=False, control=control)


@dataclass(frozen=True)
class Leave1OutResult(_ToDict):
    """Leave-one-out results: entry i is the model refitted without study i.

    Attributes
    ----------
    estimate, se, ci_low, ci_high, statistic, p_value : ndarray, shape (k,) or (m, k)
        Pooled effect of the remaining studies, its standard error, CI, z or t statistic
        (``test``) and two-sided p-value.
    tau2, I2, H2, Q, Q_p : ndarray
        Heterogeneity of the remaining studies (I² in percent; Q with weights 1/vi).
    method, test : str
    level : float
    """

    estimate: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    tau2: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    Q: np.ndarray
    Q_p: np.ndarray
    method: str
    test: str
    level: float


#: Meta-analyses of a batch whose refits :func:`leave1out` fits together.
CHUNK = 32


def leave1out(yi, vi, method="REML", test="z", level=95, control=None) -> Leave1OutResult:
    """Leave-one-out analysis, as metafor ``leave1out(rma(yi, vi, method=, test=, level=))``.

    Each study is removed in turn and the model is refitted with the same method, test and
    level; the k refits of a meta-analysis are one call of the batch engine. Those of a
    batch (m·k rows of k studies, whose memory grows with m·k²) are fitted :data:`CHUNK`
    meta-analyses at a time, each run of rows as wide as the whole batch, so that every
    number is the one a single call gives.

    Parameters
    ----------
    yi, vi : array_like, 1-D or 2-D
        Effect sizes and sampling variances; 2-D is one meta-analysis per row, NaN-padded.
    method, test, level, control
        As :func:`ketameta.rma` (``control``: exact optima by default, ``"metafor"`` for
        metafor's default stopping, which its ``leave1out()`` etc. inherit from the model).

    Returns
    -------
    Leave1OutResult
        Arrays of shape (k,) or (m, k); NaN for missing studies and for meta-analyses with
        fewer than 2 studies.
    """
    b = as_batch(yi, vi)
    m, k = b.y.shape
    y, v = np.atleast_2d(b.yi), np.atleast_2d(b.vi)
    parts = [
        _fit_fields(_leave_one_out_fit(as_batch(y[i : i + CHUNK], v[i : i + CHUNK]), method,
                                       test, level, control), len(y[i : i + CHUNK]), k)
        for i in (range(0, m, CHUNK) or range(1))
    ]
    res = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    undefined = ~b.mask | (b.k < 2)[:, None]
    values = {
        name: _shape(np.where(undefined, np.nan, arr), b.squeeze) for name, arr in res.items()
    }
    return Leave1OutResult(method=method, test=test, level=float(level), **values)


@dataclass(frozen=True)
class InfluenceResult(_ToDict):
    """Case-deletion influence diagnostics (Viechtbauer & Cheung 2010), as metafor.

    Attributes (each shape (k,) or (m, k))
    ----------
    rstudent : ndarray
        Externally studentized residual ``(y_i - μ̂_(-i)) / sqrt(s²_(-i) (v_i + τ²_(-i))
        + Var(μ̂_(-i)))``, with ``s²`` the Knapp–Hartung scale of the deleted fit (1 for
        the z and t tests).
    dffits : ndarray
        ``(μ̂ - μ̂_(-i)) / sqrt(s²_(-i) h_i (τ²_(-i) + v_i))``.
    cook_d : ndarray
        Cook's distance ``(μ̂ - μ̂_(-i))² / Var(μ̂)``.
    cov_r : ndarray
        Covariance ratio ``Var(μ̂_(-i)) / Var(μ̂)``.
    tau2_del, QE_del : ndarray
        τ² and Q of the model without study i.
    hat : ndarray
        Leverage ``h_i = w_i / Σw`` with ``w = 1/(v + τ²)`` of the full model.
    weight : ndarray
        Weight of study i in the full model, in percent.
    dfbetas : ndarray
        ``(μ̂ - μ̂_(-i)) / sqrt(s²_(-i) / Σ_j 1/(v_j + τ²_(-i)))`` (sum over all k).
    influential : ndarray of bool
        metafor's flag (the ``*`` in its output): ``|dffits| > 3 sqrt(1/(k-1))`` or
        ``P(χ²₁ <= cook_d) > 0.5`` or ``hat > 3/k`` or ``|dfbetas| > 1``.
    method, test : str
    level : float
    """

    rstudent: np.ndarray
    dffits: np.ndarray
    cook_d: np.ndarray
    cov_r: np.ndarray
    tau2_del: np.ndarray
    QE_del: np.ndarray
    hat: np.ndarray
    weight: np.ndarray
    dfbetas: np.ndarray
    influential: np.ndarray
    method: str
    test: str
    level: float


def _scale_factor(test: str, y, v, mask, mu, tau2, k) -> np.ndarray:
    """Knapp–Hartung scale ``s²`` of a fit as metafor's ``s2w`` (1 for z and t tests).

    ``s² = Σ w (y - μ̂)² / (k - 1)`` with ``w = 1/(v + τ²)``; 0 when that sum is at most
    machine epsilon; at least 1 for ``adhoc``. A fit to one study is tested with z (s² = 1).
    """
    if test not in ("knha", "adhoc"):
        return np.ones(mu.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(mask, 1.0 / (v + tau2[..., None]), 0.0)
        rss = (w * (y - mu[..., None]) ** 2).sum(axis=-1)
        s2w = np.where(rss <= EPS, 0.0, rss / (k - 1.0))
    if test == "adhoc":
        s2w = np.maximum(s2w, 1.0)
    return np.where(k >= 2, s2w, 1.0)


def influence(yi, vi, method="REML", test="z", level=95, control=None) -> InfluenceResult:
    """Influence diagnostics, as metafor ``influence(rma(yi, vi, method=, test=, level=))``.

    Implements ``influence.rma.uni()`` of metafor 3.8-1 for the intercept-only model
    (Viechtbauer & Cheung 2010): the full model and the k leave-one-out models (one batch
    call) give studentized deleted residuals, DFFITS, Cook's distances, covariance ratios,
    the leave-one-out τ² and Q, hat values, weights and DFBETAS, and metafor's criteria
    flag influential studies (see :class:`InfluenceResult`).

    Parameters
    ----------
    yi, vi : array_like, 1-D or 2-D
        Effect sizes and sampling variances; 2-D is one meta-analysis per row, NaN-padded.
    method, test, level, control
        As :func:`ketameta.rma` (``control``: exact optima by default, ``"metafor"`` for
        metafor's default stopping, which its ``leave1out()`` etc. inherit from the model).

    Returns
    -------
    InfluenceResult
        Arrays of shape (k,) or (m, k); NaN (and not influential) for missing studies and
        for meta-analyses with fewer than 2 studies.

    Notes
    -----
    As in metafor, a residual smaller than ``100 * eps`` in absolute value is set to 0 and
    a hat value above ``1 - 10 * eps`` to 1 (as R's ``lm.influence()``).
    """
    b = as_batch(yi, vi)
    m, k = b.y.shape
    full = fit_batch(b, method=method, test=test, level=level, tau2_ci=False, control=control)
    dele = _fit_fields(_leave_one_out_fit(b, method, test, level, control), m, k)
    kf = b.k.astype(float)
    tau2 = np.where(b.k >= 2, full.tau2, 0.0)
    mu = full.estimate
    vb = full.se**2
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(b.mask, 1.0 / (b.v + tau2[:, None]), 0.0)
        hat = w / w.sum(axis=1, keepdims=True)
        hat = np.where(hat > 1.0 - 10.0 * EPS, 1.0, hat)

        mu_del = dele["estimate"]
        tau2_del = dele["tau2"]
        vb_del = dele["se"] ** 2
        # deleted fits: row (r, i) uses the studies of row r except i
        keep = b.mask[:, None, :] & ~np.eye(k, dtype=bool)[None, :, :]
        s2w = _scale_factor(
            test, b.y[:, None, :], b.v[:, None, :], keep, mu_del, tau2_del, kf[:, None] - 1.0
        )
        diff = mu[:, None] - mu_del
        dffits = diff / np.sqrt(s2w * hat * (tau2_del + b.v))
        w_all = np.where(b.mask[:, None, :], 1.0 / (b.v[:, None, :] + tau2_del[..., None]), 0.0)
        vb_plug = 1.0 / w_all.sum(axis=-1)
        dfbetas = diff / np.sqrt(s2w * vb_plug)
        cook_d = diff**2 / vb[:, None]
        cov_r = vb_del / vb[:, None]
        resid = b.y - mu_del
        resid = np.where(np.abs(resid) < 100.0 * EPS, 0.0, resid)
        rstudent = resid / np.sqrt(b.v * s2w + vb_del + tau2_del * s2w)
        weight = full.weights

        influential = (
            (np.abs(dffits) > 3.0 * np.sqrt(1.0 / (kf[:, None] - 1.0)))
            | (chi2_cdf(cook_d, 1) > 0.5)
            | (hat > 3.0 / kf[:, None])
            | (np.abs(dfbetas) > 1.0)
        )
    undefined = ~b.mask | (b.k < 2)[:, None]

    def blank(x):
        return _shape(np.where(undefined, np.nan, x), b.squeeze)

    return InfluenceResult(
        rstudent=blank(rstudent),
        dffits=blank(dffits),
        cook_d=blank(cook_d),
        cov_r=blank(cov_r),
        tau2_del=blank(tau2_del),
        QE_del=blank(dele["Q"]),
        hat=blank(hat),
        weight=blank(weight),
        dfbetas=blank(dfbetas),
        influential=_shape(influential & ~undefined, b.squeeze),
        method=method,
        test=test,
        level=float(level),
    )


@dataclass(frozen=True)
class CumulResult(_ToDict):
    """Cumulative meta-analysis: entry j is the model fitted to the first j + 1 studies.

    Attributes
    ----------
    order : ndarray of int, shape (k,) or (m, k)
        Column index (into the input) of the study added at each step; -1 for pads.
    estimate, se, ci_low, ci_high, statistic, p_value, tau2, I2, H2, Q, Q_p : ndarray
        Results of each cumulative fit, in that order; NaN after the last present study.
    method, test : str
    level : float
    """

    order: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    tau2: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    Q: np.ndarray
    Q_p: np.ndarray
    method: str
    test: str
    level: float


def cumul(yi, vi, order=None, method="REML", test="z", level=95, control=None) -> CumulResult:
    """Cumulative meta-analysis, as metafor ``cumul(rma(yi, vi, ...), order=order)``.

    The studies are sorted by ``order`` (ascending; ties keep the input order, as R's
    ``order()``; NaN keys last) and the model is refitted after adding each study in turn
    (Lau et al. 1992). All k nested fits (m·k for a batch) are one call of the batch engine.

    Parameters
    ----------
    yi, vi : array_like, 1-D or 2-D
        Effect sizes and sampling variances; 2-D is one meta-analysis per row, NaN-padded.
    order : array_like, optional
        Sort key per study (e.g. publication year), the shape of ``yi`` (or 1-D of length k
        for every row of a batch). metafor ≥ 3.0's meaning: a variable to sort by, not a
        permutation. Default: the input order. For descending order pass ``-key``.
    method, test, level, control
        As :func:`ketameta.rma` (``control``: exact optima by default, ``"metafor"`` for
        metafor's default stopping, which its ``leave1out()`` etc. inherit from the model).

    Returns
    -------
    CumulResult
        The first step is a single-study fit (see the module conventions).
    """
    b = as_batch(yi, vi)
    m, k = b.y.shape
    if order is None:
        key = np.broadcast_to(np.arange(k, dtype=float), (m, k))
    else:
        key = np.asarray(order, dtype=float)
        if key.shape not in ((k,), (m, k)) or (b.squeeze and key.shape != (k,)):
            raise ValueError(f"order must have the shape of yi {np.shape(b.yi)}, got {key.shape}")
        key = np.broadcast_to(key, (m, k))
    perm = np.empty((m, k), dtype=int)
    for r in range(m):
        perm[r] = np.lexsort((key[r], np.isnan(key[r]), ~b.mask[r]))
    y = np.take_along_axis(np.atleast_2d(b.yi), perm, axis=1)
    v = np.take_along_axis(np.atleast_2d(b.vi), perm, axis=1)
    present = np.take_along_axis(b.mask, perm, axis=1)
    steps = np.tril(np.ones((k, k), dtype=bool))
    keep = np.repeat(present, k, axis=0) & np.tile(steps, (m, 1))
    sub = as_batch(np.repeat(y, k, axis=0), np.repeat(v, k, axis=0), mask=keep)
    fit = fit_batch(sub, method=method, test=test, level=level, tau2_ci=False, control=control)
    res = _fit_fields(fit, m, k)
    values = {name: _shape(np.where(present, arr, np.nan), b.squeeze) for name, arr in res.items()}
    order_out = np.where(present, perm, -1)
    return CumulResult(
        order=_shape(order_out, b.squeeze),
        method=method,
        test=test,
        level=float(level),
        **values,
    )
