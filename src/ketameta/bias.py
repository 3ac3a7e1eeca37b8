"""Small-study effects: Egger's regression test, Begg's rank correlation test, trim and fill.

The three functions reproduce metafor 3.8-1 (Viechtbauer 2010): :func:`regtest` is
``regtest(yi, vi, model="lm")``, :func:`ranktest` is ``ranktest(yi, vi)`` and
:func:`trimfill` is ``trimfill(rma(yi, vi, method=, test=, level=), estimator=, side=,
test=, level=)``. The metafor sources read to fix every detail are ``R/regtest.r``,
``R/ranktest.r`` and ``R/trimfill.rma.uni.r`` of that version, together with R's
``stats::cor.test.default`` and ``src/library/stats/src/kendall.c`` for the exact null
distribution of Kendall's statistic.

Conventions
-----------
* 1-D ``yi``/``vi`` is one meta-analysis and gives scalars; 2-D input (m × k) is m
  meta-analyses, one per row, padded with NaN, and gives arrays of length m. A study with NaN
  in ``yi`` or ``vi`` is left out, as metafor's default ``na.action`` does.
* ``level`` is a confidence level in percent (95), as metafor's ``level`` argument.
* Where metafor stops with an error (too few studies, a model matrix that is not of full
  rank, an iteration that does not converge), these functions return NaN (``None`` in
  ``to_dict()``) for the undefined values and say why in ``warnings``; they never raise for
  a numerical reason. Invalid input (shapes, infinite values, ``vi <= 0``) raises
  ``ValueError`` as :func:`ketameta.rma` does.

References
----------
Egger M, Davey Smith G, Schneider M, Minder C (1997). Bias in meta-analysis detected by a
simple, graphical test. *BMJ* 315(7109):629–634. doi:10.1136/bmj.315.7109.629

Sterne JAC, Egger M (2005). Regression methods to detect publication and other bias in
meta-analysis. In: Rothstein HR, Sutton AJ, Borenstein M (eds), *Publication Bias in
Meta-Analysis*, Wiley, 99–110.

Begg CB, Mazumdar M (1994). Operating characteristics of a rank correlation test for
publication bias. *Biometrics* 50(4):1088–1101. doi:10.2307/2533446

Kendall MG (1970). *Rank Correlation Methods*, 4th ed. Griffin. (Null distribution of S, the
tie-corrected variance.)

Duval S, Tweedie R (2000). Trim and fill: a simple funnel-plot-based method of testing and
adjusting for publication bias in meta-analysis. *Biometrics* 56(2):455–463.
doi:10.1111/j.0006-341X.2000.00455.x

Duval S, Tweedie R (2000). A nonparametric "trim and fill" method of accounting for
publication bias in meta-analysis. *Journal of the American Statistical Association*
95(449):89–98. doi:10.1080/01621459.2000.10473905

Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. *Journal of
Statistical Software* 36(3):1–48. doi:10.18637/jss.v036.i03
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import special

from ._batch import EPS, Batch, as_batch
from ._dist import t_isf, t_sf
from ._results import ToDict as _ToDict
from ._results import out as _out
from ._results import row_warnings as _row_warnings
from .estimators import fit_design
from .models import METHODS, TESTS, RMAResult, fit_batch, level_to_alpha, rma

__all__ = [
    "RegtestResult",
    "RanktestResult",
    "TrimFillResult",
    "regtest",
    "ranktest",
    "trimfill",
]

# lm()'s QR rank tolerance: a column is dropped when its norm after projection on the
# preceding columns is below this fraction of its own norm.
_QR_TOL = 1e-7
# metafor's trimfill() iteration limit.
_TRIMFILL_MAXITER = 100
# Largest n for which R's exact Kendall p-value is finite (n! overflows a double beyond).
_KENDALL_EXACT_MAX_N = 170


# ---------------------------------------------------------------------------------------
# Weighted simple regression of y on x (two parameters: intercept and slope)


def _wls2(y: np.ndarray, x: np.ndarray, w: np.ndarray):
    """Weighted least squares of ``y`` on ``[1, x]`` per row, with weights ``w`` (0 at pads).

    Centred two-pass sums are used throughout, so no precision is lost when ``x`` is far
    from 0 relative to its spread, and a constant ``y`` gives a slope of exactly 0.

    Returns
    -------
    dict of ndarray
        ``sw`` (sum of weights), ``xw`` (weighted mean of x), ``sxx`` (weighted sum of
        squared deviations of x), ``sxx0`` (weighted sum of x²), ``slope``, ``intercept``,
        ``resid`` (y minus fitted), ``rss`` (weighted residual sum of squares) and ``dx``
        (x minus ``xw``).
    """
    # means are accumulated about the first study's values: exact for constant columns
    first = np.argmax(w > 0, axis=1)[:, None]
    x0 = np.take_along_axis(x, first, axis=1)
    y0 = np.take_along_axis(y, first, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sw = w.sum(axis=1)
        xw = x0[:, 0] + (w * (x - x0)).sum(axis=1) / sw
        yw = y0[:, 0] + (w * (y - y0)).sum(axis=1) / sw
        dx = x - xw[:, None]
        dy = y - yw[:, None]
        sxx = (w * dx * dx).sum(axis=1)
        sxy = (w * dx * dy).sum(axis=1)
        slope = sxy / sxx
        intercept = yw - slope * xw
        resid = dy - slope[:, None] * dx
        rss = (w * resid * resid).sum(axis=1)
        sxx0 = (w * x * x).sum(axis=1)
    return {
        "sw": sw,
        "xw": xw,
        "sxx": sxx,
        "sxx0": sxx0,
        "slope": slope,
        "intercept": intercept,
        "resid": resid,
        "rss": rss,
        "dx": dx,
    }


def _full_rank(fit: dict) -> np.ndarray:
    """True where ``[1, x]`` is of full rank by lm()'s QR criterion (tolerance 1e-7)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(fit["sxx"] / fit["sxx0"]) >= _QR_TOL


# ---------------------------------------------------------------------------------------
# Egger's regression test


@dataclass(frozen=True)
class RegtestResult(_ToDict):
    """Egger's regression test for funnel-plot asymmetry (classical or mixed-effects).

    Attributes
    ----------
    statistic : float or ndarray
        Test statistic of the predictor's coefficient (metafor's ``zval``): t for
        ``model="lm"`` and for the t-based tests of ``model="rma"``, z otherwise.
    p_value : float or ndarray
        Two-sided p-value.
    df : float or ndarray
        Degrees of freedom, k − 2 (``inf`` for ``model="rma"`` with ``test="z"``).
    slope, slope_se : float or ndarray
        Coefficient of the predictor and its standard error.
    limit_estimate, limit_ci_low, limit_ci_high : float or ndarray
        Intercept of the regression (the "limit estimate": the expected effect as the
        standard error, variance or 1/n goes to 0) and its CI at ``level``; NaN for the
        predictors ``ni`` and ``sqrtni``, where it has no such meaning (metafor omits it).
    k : int or ndarray
        Number of studies used.
    level : float
        Confidence level in percent.
    warnings : tuple
        Why a value is undefined (one tuple per row for a batch).
    model : {"lm", "rma"}
        Weighted regression with a multiplicative dispersion, or the mixed-effects
        meta-regression.
    predictor : str
        ``sei``, ``vi``, ``ni``, ``ninv``, ``sqrtni`` or ``sqrtninv``.
    tau2 : float or ndarray
        Residual τ² of the mixed-effects model (NaN for ``model="lm"``).
    """

    statistic: object
    p_value: object
    df: object
    slope: object
    slope_se: object
    limit_estimate: object
    limit_ci_low: object
    limit_ci_high: object
    k: object
    level: float
    warnings: tuple
    model: str = "lm"
    predictor: str = "sei"
    tau2: object = math.nan


PREDICTORS = ("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")
_LIMIT_PREDICTORS = ("sei", "vi", "ninv", "sqrtninv")


def _predictor(b: Batch, ni, predictor: str):
    """Predictor values (m, k) and the batch with studies lacking ``ni`` left out."""
    if predictor in ("sei", "vi"):
        return (np.sqrt(b.v) if predictor == "sei" else b.v), b
    if ni is None:
        raise ValueError(f"predictor={predictor!r} needs the sample sizes ni")
    n = np.asarray(ni, dtype=float)
    if n.shape != np.shape(b.yi):
        raise ValueError(f"ni must have the shape of yi {np.shape(b.yi)}, got {n.shape}")
    n2 = np.atleast_2d(n)
    if (n2[~np.isnan(n2)] <= 0).any():
        raise ValueError("sample sizes ni must be positive")
    b = as_batch(b.yi, b.vi, mask=~np.isnan(n))
    n2 = np.where(b.mask, n2, 1.0)
    values = {"ni": n2, "ninv": 1.0 / n2, "sqrtni": np.sqrt(n2), "sqrtninv": 1.0 / np.sqrt(n2)}
    return values[predictor], b


def regtest(
    yi,
    vi,
    level=95,
    model: str = "rma",
    predictor: str = "sei",
    ni=None,
    method: str = "REML",
    test: str = "z",
    control=None,
) -> RegtestResult:
    """Egger's regression test for funnel-plot asymmetry, as metafor ``regtest()``.

    ``model="rma"`` (metafor's default) fits the mixed-effects meta-regression
    ``rma(yi, vi, mods = predictor, method, test)`` and tests the predictor's
    coefficient with the model's test (z, or t on k − 2 df); ``model="lm"`` is the
    classical test of Egger et al. (1997): weighted least squares of ``yi`` on the
    predictor with weights ``1/vi`` and the residual variance estimated from the data (a
    multiplicative dispersion model, R's ``lm(yi ~ sei, weights = 1/vi)``), t test on
    k − 2 df (Sterne & Egger 2005). The intercept is metafor's "limit estimate".

    Parameters
    ----------
    yi, vi : array_like, 1-D or 2-D
        Effect sizes and sampling variances; 2-D is one meta-analysis per row, NaN-padded.
    level : float, default 95
        Confidence level in percent for the CI of the limit estimate.
    model : {"rma", "lm"}
    predictor : {"sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"}
        Standard error (default), variance, sample size, its inverse, its root or the
        inverse of its root (Peters et al. 2006 use ``ninv``).
    ni : array_like, optional
        Sample sizes, the shape of ``yi`` (needed for the n-based predictors); a study
        with NaN is left out.
    method, test, control
        τ² estimator, test and stopping rules of the mixed-effects model (as
        :func:`ketameta.rma`); ignored for ``model="lm"``.

    Returns
    -------
    RegtestResult

    Notes
    -----
    Undefined cases follow metafor/R: with ``model="lm"`` and k = 2 the slope and the
    limit estimate exist but the standard errors, the test and the CI are NaN (no residual
    degrees of freedom); with k < 2, a constant predictor (e.g. all ``sei`` equal) or,
    for ``model="rma"`` with a random-effects method, k ≤ 2 the model cannot be fitted
    (metafor stops) and everything is NaN. When all ``yi`` are identical the ``lm`` fit is
    exact: the slope is 0 and its standard error 0, and the statistic and p-value are NaN
    (R would report a ratio of rounding errors there).
    """
    if model not in ("rma", "lm"):
        raise ValueError(f"model must be 'rma' or 'lm'; got {model!r}")
    if predictor not in PREDICTORS:
        raise ValueError(f"predictor must be one of {', '.join(PREDICTORS)}; got {predictor!r}")
    if method not in METHODS or test not in TESTS:
        raise ValueError(f"unknown method {method!r} or test {test!r} (metafor names expected)")
    alpha = level_to_alpha(level)
    b = as_batch(yi, vi)
    x, b = _predictor(b, ni, predictor)
    limit = predictor in _LIMIT_PREDICTORS
    if model == "lm":
        return _regtest_lm(b, x, level, predictor, limit)
    return _regtest_rma(b, x, level, alpha, predictor, limit, method, test, control)


def _regtest_rma(b, x, level, alpha, predictor, limit, method, test, control):
    m = b.k.shape[0]
    w_fe = np.where(b.mask, 1.0 / b.v, 0.0)
    ok = (b.k >= 2) & _full_rank(_wls2(b.y, x, w_fe))
    fit = fit_design(
        b, np.stack([np.ones_like(x), x], axis=2), method=method, test=test, alpha=alpha,
        control=control, tau2_ci=False,
    )  # fmt: skip
    ok &= np.isfinite(fit.beta[:, 1])
    messages = []
    for i in range(m):
        if ok[i]:
            messages.append([])
        elif b.k[i] == 2 and method not in ("EE", "FE"):
            messages.append(["Egger test undefined with k = 2 for a random-effects model"])
        else:
            messages.append([
                "Egger test undefined: too few studies or the predictor is constant "
                "(model matrix not of full rank)"
            ])  # fmt: skip
    nan = np.full(m, np.nan)

    def pick(values):
        return _out(np.where(ok, values, nan), b.squeeze)

    def pick_limit(values):
        return pick(values if limit else nan)

    return RegtestResult(
        statistic=pick(fit.statistic[:, 1]),
        p_value=pick(fit.p_value[:, 1]),
        df=pick(fit.df),
        slope=pick(fit.beta[:, 1]),
        slope_se=pick(fit.se[:, 1]),
        limit_estimate=pick_limit(fit.beta[:, 0]),
        limit_ci_low=pick_limit(fit.ci_low[:, 0]),
        limit_ci_high=pick_limit(fit.ci_high[:, 0]),
        k=_out(b.k, b.squeeze),
        level=float(level),
        warnings=_row_warnings(messages, b.squeeze),
        model="rma",
        predictor=predictor,
        tau2=pick(fit.tau2),
    )


def _regtest_lm(b, x, level, predictor, limit) -> RegtestResult:
    """The classical Egger test (``model="lm"``) of :func:`regtest`."""
    w = np.where(b.mask, 1.0 / b.v, 0.0)
    fit = _wls2(b.y, x, w)
    df = (b.k - 2).astype(float)
    ok = (b.k >= 2) & _full_rank(fit)
    y_masked = np.where(b.mask, b.y, np.nan)
    with np.errstate(all="ignore"):
        constant = np.nanmax(y_masked, axis=1, initial=-np.inf) == np.nanmin(
            y_masked, axis=1, initial=np.inf
        )
        s2 = np.where(df > 0, fit["rss"] / df, np.nan)
        s2 = np.where(constant, 0.0, s2)
        slope = np.where(constant, 0.0, fit["slope"])
        intercept = np.where(
            constant, np.nanmax(y_masked, axis=1, initial=-np.inf), fit["intercept"]
        )
        slope_se = np.sqrt(s2 / fit["sxx"])
        int_se = np.sqrt(s2 * (1.0 / fit["sw"] + fit["xw"] ** 2 / fit["sxx"]))
        stat = np.where(constant | (df <= 0), np.nan, slope / slope_se)
        pval = 2.0 * t_sf(np.abs(stat), np.where(df > 0, df, np.nan))
        crit = t_isf((1.0 - level / 100.0) / 2.0, np.where(df > 0, df, np.nan))
        ci_low = intercept - crit * int_se
        ci_high = intercept + crit * int_se
    nan = np.full(b.k.shape, np.nan)
    messages = []
    for i in range(b.k.shape[0]):
        msg = []
        if not ok[i]:
            msg.append(
                "Egger test undefined: fewer than 2 studies or the predictor is constant "
                "(model matrix not of full rank)"
            )
        elif df[i] <= 0:
            msg.append("Egger test undefined with k = 2 (no residual degrees of freedom)")
        elif constant[i]:
            msg.append("Egger test undefined: all effect sizes are identical")
        messages.append(msg)

    def pick(values):
        return _out(np.where(ok, values, nan), b.squeeze)

    return RegtestResult(
        statistic=pick(stat),
        p_value=pick(pval),
        df=_out(np.where(b.k >= 2, df, np.nan), b.squeeze),
        slope=pick(slope),
        slope_se=pick(slope_se),
        limit_estimate=pick(np.where(limit, intercept, np.nan)),
        limit_ci_low=pick(np.where(limit, ci_low, np.nan)),
        limit_ci_high=pick(np.where(limit, ci_high, np.nan)),
        k=_out(b.k, b.squeeze),
        level=float(level),
        warnings=_row_warnings(messages, b.squeeze),
        model="lm",
        predictor=predictor,
    )


# ---------------------------------------------------------------------------------------
# Begg and Mazumdar's rank correlation test


@dataclass(frozen=True)
class RanktestResult(_ToDict):
    """Begg and Mazumdar's rank correlation test for funnel-plot asymmetry.

    Attributes
    ----------
    tau : float or ndarray
        Kendall's tau (tau-b, as R's ``cor(method="kendall")``) between the standardized
        effects and the sampling variances.
    p_value : float or ndarray
        Two-sided p-value: exact when there are no ties, else the normal approximation with
        the tie-corrected variance (R's ``cor.test(method="kendall", exact=TRUE)``).
    exact : bool or ndarray
        True where the exact null distribution was used.
    k : int or ndarray
        Number of studies used.
    warnings : tuple
        Why a value is undefined or approximate (one tuple per row for a batch).
    """

    tau: object
    p_value: object
    exact: object
    k: object
    warnings: tuple


@lru_cache(maxsize=64)
def _kendall_null_cdf(n: int) -> np.ndarray:
    """Cumulative null distribution of the number of concordant pairs among ``n`` items.

    Without ties, under independence every permutation is equally likely; the number of
    concordant (equivalently, of discordant) pairs is then distributed as the number of
    inversions of a random permutation (Kendall 1970), whose counts follow the recursion
    ``c(n, q) = sum_{i=0}^{n-1} c(n-1, q-i)`` that R's ``ckendall()`` uses. Here the
    probabilities are built by convolving with the uniform distribution on {0, …, j−1} for
    j = 1, …, n; only additions of non-negative numbers are involved, so the result is
    accurate to rounding. Returns ``P(T <= q)`` for q = 0, …, n(n−1)/2.
    """
    dist = np.ones(1)
    for j in range(2, n + 1):
        dist = np.convolve(dist, np.full(j, 1.0 / j))
    return np.cumsum(dist)


def _kendall_exact_p(tau: float, n: int) -> float:
    """Two-sided exact p-value of Kendall's tau without ties, as R's ``cor.test``."""
    cdf = _kendall_null_cdf(n)
    npairs = n * (n - 1) // 2
    q = round((tau + 1.0) * n * (n - 1) / 4.0)

    def pk(qq: float) -> float:
        qq = math.floor(qq + 1e-7)
        if qq < 0:
            return 0.0
        if qq > npairs:
            return 1.0
        return float(cdf[int(qq)])

    p = 1.0 - pk(q - 1) if q > n * (n - 1) / 4.0 else pk(q)
    return min(2.0 * p, 1.0)


def _tie_counts(values: np.ndarray) -> np.ndarray:
    """Sizes of the groups of tied values (groups of size >= 2 only)."""
    _, counts = np.unique(values, return_counts=True)
    return counts[counts > 1].astype(float)


def _kendall_normal_p(tau: float, x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided p-value of Kendall's tau-b from the normal approximation with ties.

    The variance of S is Kendall's (1970) tie-corrected expression, as in R's
    ``cor.test.default`` (no continuity correction).
    """
    n = x.shape[0]
    tx = _tie_counts(x)
    ty = _tie_counts(y)
    t0 = n * (n - 1) / 2.0
    t1 = np.sum(tx * (tx - 1)) / 2.0
    t2 = np.sum(ty * (ty - 1)) / 2.0
    s = tau * math.sqrt((t0 - t1) * (t0 - t2))
    v0 = n * (n - 1) * (2 * n + 5)
    vt = np.sum(tx * (tx - 1) * (2 * tx + 5))
    vu = np.sum(ty * (ty - 1) * (2 * ty + 5))
    v1 = np.sum(tx * (tx - 1)) * np.sum(ty * (ty - 1))
    v2 = np.sum(tx * (tx - 1) * (tx - 2)) * np.sum(ty * (ty - 1) * (ty - 2))
    var_s = (v0 - vt - vu) / 18.0 + v1 / (2.0 * n * (n - 1))
    if n > 2:
        var_s += v2 / (9.0 * n * (n - 1) * (n - 2))
    with np.errstate(all="ignore"):
        z = s / math.sqrt(var_s) if var_s > 0 else np.nan
    return float(2.0 * min(special.ndtr(z), special.ndtr(-z)))


def _kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b as R's ``cor(x, y, method="kendall")``: sum of sign products over
    pairs divided by the square roots of the numbers of pairs untied in x and in y."""
    sx = np.sign(x[:, None] - x[None, :])
    sy = np.sign(y[:, None] - y[None, :])
    num = float(np.sum(sx * sy))
    den = math.sqrt(float(np.sum(sx * sx))) * math.sqrt(float(np.sum(sy * sy)))
    return num / den if den > 0 else math.nan


def ranktest(yi, vi) -> RanktestResult:
    """Begg and Mazumdar's rank correlation test, as metafor ``ranktest(yi, vi)``.

    The effects are standardized against the equal-effects estimate,
    ``(yi - theta) / sqrt(vi - 1/sum(1/vi))`` with ``theta`` the inverse-variance weighted
    mean, and Kendall's tau is computed between them and ``vi`` (Begg & Mazumdar 1994).
    metafor calls ``cor.test(..., method="kendall", exact=TRUE)``: the p-value is exact
    when neither variable has ties, and otherwise the normal approximation with Kendall's
    tie-corrected variance (R warns "Cannot compute exact p-value with ties").

    Parameters
    ----------
    yi, vi : array_like, 1-D or 2-D
        Effect sizes and sampling variances; 2-D is one meta-analysis per row, NaN-padded.

    Returns
    -------
    RanktestResult

    Notes
    -----
    Undefined cases: k < 2 (R's ``cor.test`` stops), or tau undefined because all
    standardized effects (e.g. identical ``yi``) or all variances are equal; then tau and p
    are NaN. For k > 170 without ties R's exact computation overflows (``n!`` exceeds the
    double range) and metafor 3.8-1 returns NA; later metafor versions fall back to the
    normal approximation, which is what this function does there.
    """
    b = as_batch(yi, vi)
    m = b.k.shape[0]
    tau = np.full(m, np.nan)
    pval = np.full(m, np.nan)
    exact = np.zeros(m, dtype=bool)
    messages: list[list[str]] = []
    for i in range(m):
        msg: list[str] = []
        y = b.y[i, b.mask[i]]
        v = b.v[i, b.mask[i]]
        n = y.shape[0]
        with np.errstate(all="ignore"):
            w = 1.0 / v
            # weighted mean computed about the first value: exact when all yi are equal
            # (R's long-double sum() gets that case exact too), identical otherwise
            theta = y[0] + np.sum(w * (y - y[0])) / np.sum(w) if n else np.nan
            vstar = v - 1.0 / np.sum(w)
            ystar = (y - theta) / np.sqrt(vstar)
        keep = np.isfinite(ystar)
        ystar, v = ystar[keep], v[keep]
        n = ystar.shape[0]
        if n < 2:
            msg.append("rank correlation test undefined with fewer than 2 studies")
            messages.append(msg)
            continue
        t = _kendall_tau_b(ystar, v)
        if not math.isfinite(t):
            msg.append(
                "rank correlation test undefined: all standardized effects or all "
                "variances are equal"
            )
            messages.append(msg)
            continue
        tau[i] = t
        ties = min(np.unique(ystar).size, np.unique(v).size) < n
        if not ties and n <= _KENDALL_EXACT_MAX_N:
            pval[i] = _kendall_exact_p(t, n)
            exact[i] = True
        else:
            pval[i] = _kendall_normal_p(t, ystar, v)
            msg.append(
                "exact p-value not available with ties; normal approximation used"
                if ties
                else "exact p-value not available for k > 170; normal approximation used"
            )
        messages.append(msg)
    return RanktestResult(
        tau=_out(tau, b.squeeze),
        p_value=_out(pval, b.squeeze),
        exact=_out(exact, b.squeeze),
        k=_out(b.k, b.squeeze),
        warnings=_row_warnings(messages, b.squeeze),
    )


# ---------------------------------------------------------------------------------------
# Trim and fill


def _egger_side(b: Batch, method: str, control=None):
    """Side of the funnel plot on which studies are missing, as metafor's trimfill().

    metafor fits the mixed-effects meta-regression of ``yi`` on ``sqrt(vi)`` with the
    model's τ² estimator (``rma(yi, vi, mods = sqrt(vi), method)``, here through the
    design-matrix core :func:`ketameta.estimators.fit_design`) and imputes on the right
    when the slope is negative, on the left otherwise. Returns ``(side, ok, tau2, slope)``
    with ``side`` +1 (left) or −1 (right) per row and ``ok`` False where metafor stops:
    k ≤ 2 for a random-effects model (as many coefficients as studies), all ``vi`` equal
    (the slope is not estimable, by lm()'s QR criterion) or, with ``control="metafor"``, a
    τ² iteration that fails.
    """
    x = np.sqrt(b.v)
    w_fe = np.where(b.mask, 1.0 / b.v, 0.0)
    ok = (b.k >= 2) & _full_rank(_wls2(b.y, x, w_fe))
    if method not in ("EE", "FE"):
        ok &= b.k >= 3
    m = b.k.shape[0]
    tau2 = np.full(m, np.nan)
    slope = np.full(m, np.nan)
    rows = np.nonzero(ok)[0]
    if rows.size:
        sub = Batch(
            y=b.y[rows], v=b.v[rows], mask=b.mask[rows], k=b.k[rows], squeeze=False,
            yi=b.y[rows], vi=b.v[rows],
        )  # fmt: skip
        design = np.stack([np.ones_like(sub.v), np.sqrt(sub.v)], axis=2)
        fit = fit_design(sub, design, method=method, control=control, tau2_ci=False)
        failed = ~fit.converged  # metafor stops where its iteration fails
        tau2[rows] = fit.tau2
        y_sub = np.where(sub.mask, sub.y, np.nan)
        constant = np.nanmax(y_sub, axis=1) == np.nanmin(y_sub, axis=1)
        # identical effects: the slope is 0 exactly (not the sign of a rounding residue)
        slope[rows] = np.where(constant, 0.0, fit.beta[:, 1])
        ok[rows] &= ~failed & np.isfinite(fit.beta[:, 1])
    side = np.where(slope < 0, -1, 1)
    return side, ok, tau2, slope


def _ranks_first(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Ranks 1..k within each row among present cells, ties by position (R "first")."""
    keyed = np.where(mask, values, np.inf)
    order = np.argsort(keyed, axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(values.shape[0])[:, None]
    ranks[rows, order] = np.arange(1, values.shape[1] + 1)[None, :]
    return np.where(mask, ranks, 0).astype(float)


@dataclass(frozen=True)
class TrimFillResult(_ToDict):
    """Result of :func:`trimfill`.

    Attributes
    ----------
    k0 : float or ndarray
        Estimated number of missing studies (a whole number); NaN where undefined.
    se_k0 : float or ndarray
        metafor's standard error of the (unrounded) k0 estimate.
    p_k0 : float or ndarray
        For R0, metafor's ``p.k0``: the p-value of the test of no missing studies based on
        the rightmost run of positive ranks (Duval & Tweedie 2000, JASA), which metafor's
        sum reduces to ``0.5^(k0+1)``; NaN for L0.
    side : str, None, or ndarray of object
        ``"left"`` or ``"right"``: where the studies were imputed.
    estimator : str
        ``"L0"`` or ``"R0"``.
    estimate, se, ci_low, ci_high, statistic, p_value, tau2, I2, Q : float or ndarray
        Pooled results of the model refitted to the observed and the filled studies (the
        original model when k0 = 0).
    k : int or ndarray
        Number of studies in that model (observed + filled).
    filled_yi, filled_vi : ndarray
        The imputed studies, shape (k0,) (1-D input) or (m, max k0) with NaN padding; in
        metafor's order (by increasing distance from the centre on the trimmed side).
    model : RMAResult or None
        The refitted model on the augmented data (1-D: one meta-analysis, None where k0 is
        undefined; 2-D: a batch, whose rows with undefined k0 hold a one-study placeholder
        fit and must be ignored).
    warnings : tuple
        Why a value is undefined (one tuple per row for a batch).
    """

    k0: object
    se_k0: object
    p_k0: object
    side: object
    estimator: str
    estimate: object
    se: object
    ci_low: object
    ci_high: object
    statistic: object
    p_value: object
    tau2: object
    I2: object
    Q: object
    k: object
    filled_yi: np.ndarray
    filled_vi: np.ndarray
    model: RMAResult
    warnings: tuple

    _skip = ("model",)


def _k0_estimate(yc: np.ndarray, mask: np.ndarray, kf: np.ndarray, estimator: str):
    """One step of the L0 or R0 estimator (Duval & Tweedie 2000, JASA), as metafor.

    ``yc`` are the (side-flipped) effects centred at the current trimmed estimate. Ranks of
    ``|yc|`` (ties by position) are signed by ``yc``. L0 = (4 S_r − k(k+1)) / (2k − 1) with
    S_r the sum of the positive signed ranks; R0 = γ − 1 with γ the length of the rightmost
    run of positive ranks, i.e. k minus the largest rank of a centred value ≤ 0.

    metafor takes the largest rank of a *negative* value for R0 and stops with an error when
    there is none; the two agree whenever no centred value is exactly 0, which happens only
    in degenerate data (see :func:`trimfill`). Returns the unrounded k0 and its standard
    error as metafor: ``4 sqrt(Var(S_r)) / (2k − 1)`` for L0, ``sqrt(2 max(0, k0) + 2)``
    for R0.
    """
    ranks = _ranks_first(np.abs(yc), mask)
    signed = np.where(mask, np.sign(yc), 0.0) * ranks
    with np.errstate(invalid="ignore"):
        if estimator == "L0":
            sr = np.where(signed > 0, signed, 0.0).sum(axis=1)
            k0 = (4.0 * sr - kf * (kf + 1.0)) / (2.0 * kf - 1.0)
            var_sr = (
                kf * (kf + 1.0) * (2.0 * kf + 1.0)
                + 10.0 * k0**3
                + 27.0 * k0**2
                + 17.0 * k0
                - 18.0 * kf * k0**2
                - 18.0 * kf * k0
                + 6.0 * kf**2 * k0
            ) / 24.0
            se = 4.0 * np.sqrt(var_sr) / (2.0 * kf - 1.0)
        else:
            last_nonpositive = np.where(mask & (yc <= 0.0), ranks, 0.0).max(axis=1)
            k0 = kf - last_nonpositive - 1.0
            se = np.sqrt(2.0 * np.maximum(0.0, k0) + 2.0)
    return k0, se


def trimfill(
    yi, vi, method="REML", test="z", level=95, estimator="L0", side=None, control=None
) -> TrimFillResult:
    """Duval and Tweedie's trim-and-fill method, as metafor ``trimfill()``.

    Equivalent to ``trimfill(rma(yi, vi, method=method, test=test, level=level),
    estimator=estimator, side=side, test=test, level=level)`` in metafor 3.8-1 (see
    Notes on ``test``). Steps (``R/trimfill.rma.uni.r``):

    1. Side: unless given, the mixed-effects meta-regression of ``yi`` on ``sqrt(vi)``
       is fitted with the same τ² estimator; a negative slope puts the missing studies on
       the right, otherwise on the left. For the right side the effects are negated so that
       the algorithm always trims the right-hand tail.
    2. Iteration: starting with k0 = 0, the model (same method) is fitted to the studies
       left after removing the k0 largest effects, the k0 estimator (L0 or R0; Duval &
       Tweedie 2000) is evaluated on all k studies centred at that estimate and rounded
       (half to even, as R's ``round()``) and truncated at 0, until k0 no longer changes
       (at most 100 iterations).
    3. Fill: the k0 largest studies are mirrored about the last trimmed estimate
       (``2 * estimate - yi``, same ``vi``) and the model is refitted to the k + k0
       studies with ``method``, ``test`` and ``level``. With k0 = 0 this is the original
       model.

    Parameters
    ----------
    yi, vi : array_like, 1-D or 2-D
        Effect sizes and sampling variances; 2-D is one meta-analysis per row, NaN-padded.
        The whole algorithm runs on the batch at once (masks for the trimmed studies).
    method, test, level
        As :func:`ketameta.rma`; ``method`` is used in every fit, ``test`` and ``level``
        in the final model.
    estimator : {"L0", "R0"}
        Estimator of the number of missing studies.
    side : {None, "left", "right"}
        Side on which studies are missing; None chooses it as metafor does (step 1).
    control : None, "exact", "metafor" or mapping
        Stopping rules of every τ² fit (:func:`ketameta.rma`); metafor's ``trimfill()``
        passes ``control`` through ``...`` to its refits.

    Returns
    -------
    TrimFillResult

    Notes
    -----
    metafor's ``trimfill()`` refits the augmented data with ``rma.uni()``'s default
    ``test="z"`` and ``level=95`` unless they are passed again through ``...``, but keeps
    the original model (with its own test) when k0 = 0; this function always uses the
    ``test`` and ``level`` it is given. The point estimate, τ² and k0 do not depend on
    either. ``trimfill(..., test="z")`` reproduces metafor's call without ``test``.

    Undefined cases (NaN, with a warning; metafor stops with an error): k < 2; side not
    given and k ≤ 2 for a random-effects model, all ``vi`` equal, or a failed τ²
    iteration in the meta-regression; no convergence within 100 iterations.

    Degenerate data: a centred value within rounding error of 0
    (``|yi - estimate| <= 4 k eps max|yi|``) is taken as exactly 0, and the trimmed
    estimate of a single remaining study is that study's effect. With identical effects
    this gives k0 = 0, where metafor's result depends on rounding noise (for five identical
    effects metafor 3.8-1 returns k0 = 3 with L0 and stops with an error with R0).
    """
    if estimator not in ("L0", "R0"):
        raise ValueError(f"estimator must be 'L0' or 'R0'; got {estimator!r}")
    if side not in (None, "left", "right"):
        raise ValueError(f"side must be None, 'left' or 'right'; got {side!r}")
    if method not in METHODS or test not in TESTS:
        raise ValueError(f"unknown method {method!r} or test {test!r} (metafor names expected)")
    level_to_alpha(level)
    b = as_batch(yi, vi)
    m, width = b.y.shape
    kf = b.k.astype(float)
    messages: list[list[str]] = [[] for _ in range(m)]
    ok = b.k >= 2
    for i in np.nonzero(~ok)[0]:
        messages[i].append("trim and fill undefined with fewer than 2 studies")

    side_known = ok.copy()
    if side is None:
        sgn, side_ok, _, _ = _egger_side(b, method, control)
        side_known &= side_ok
        for i in np.nonzero(ok & ~side_ok)[0]:
            messages[i].append(
                "side of missing studies undefined: the regression of yi on sqrt(vi) "
                "cannot be fitted (k <= 2 for a random-effects model, all vi equal, or "
                "its tau2 estimation failed); pass side='left' or 'right'"
            )
        ok &= side_ok
    else:
        sgn = np.full(m, 1 if side == "left" else -1)

    # flip (right side) and sort by increasing effect, ties kept in input order
    yf = np.where(b.mask, sgn[:, None] * b.y, np.inf)
    order = np.argsort(yf, axis=1, kind="stable")
    ys = np.take_along_axis(yf, order, axis=1)
    vs = np.take_along_axis(b.v, order, axis=1)
    present = np.take_along_axis(b.mask, order, axis=1)
    ys = np.where(present, ys, 0.0)
    col = np.arange(width)[None, :]

    # centred values within rounding error of 0 count as 0 (identical effects)
    snap = 4.0 * kf * EPS * np.where(present, np.abs(ys), 0.0).max(axis=1, initial=0.0)
    k0 = np.zeros(m)
    k0_prev = np.full(m, -1.0)
    se_k0 = np.full(m, np.nan)
    beta = np.full(m, np.nan)
    active = ok.copy()
    converged = np.zeros(m, dtype=bool)
    for _ in range(_TRIMFILL_MAXITER):
        converged |= active & (k0 == k0_prev)
        active &= k0 != k0_prev
        if not active.any():
            break
        idx = np.nonzero(active)[0]
        k0_prev[idx] = k0[idx]
        keep = present[idx] & (col < (kf[idx] - k0[idx])[:, None])
        sub = as_batch(np.where(keep, ys[idx], np.nan), np.where(keep, vs[idx], np.nan))
        est = fit_batch(
            sub, method=method, test="z", level=95, tau2_ci=False, control=control
        ).estimate
        # one study left: the estimate is that study's effect exactly (its centred value
        # must be 0, not a rounding residue whose sign would decide a rank)
        beta[idx] = np.where(sub.k == 1, ys[idx, 0], est)
        yc = ys[idx] - beta[idx][:, None]
        yc = np.where(np.abs(yc) <= snap[idx][:, None], 0.0, yc)
        est, se = _k0_estimate(yc, present[idx], kf[idx], estimator)
        k0[idx] = np.maximum(0.0, np.round(est))
        se_k0[idx] = np.maximum(0.0, se)
    else:
        converged |= active & (k0 == k0_prev)
    failed = ok & ~converged
    for i in np.nonzero(failed)[0]:
        messages[i].append("trim and fill did not converge in 100 iterations (metafor stops)")
    ok &= converged

    # fill: mirror the k0 largest (flipped) effects about the last trimmed estimate
    k0 = np.where(ok, k0, np.nan)
    k0_int = np.where(ok, k0, 0).astype(int)
    kmax0 = int(k0_int.max()) if m else 0
    filled_y = np.full((m, kmax0), np.nan)
    filled_v = np.full((m, kmax0), np.nan)
    for j in range(kmax0):
        has = k0_int > j
        src = (b.k - k0_int + j)[has]
        r = np.nonzero(has)[0]
        filled_y[r, j] = sgn[r] * (2.0 * beta[r] - ys[r, src])
        filled_v[r, j] = vs[r, src]

    obs_y = np.where(b.mask, b.y, np.nan)
    obs_v = np.where(b.mask, b.v, np.nan)
    aug_y = np.concatenate([obs_y, filled_y], axis=1)
    aug_v = np.concatenate([obs_v, filled_v], axis=1)
    # rows that are undefined are refitted on a harmless placeholder and blanked below
    aug_y[~ok] = np.nan
    aug_v[~ok] = np.nan
    aug_y[~ok, 0] = 0.0
    aug_v[~ok, 0] = 1.0
    if b.squeeze:
        model = rma(aug_y[0], aug_v[0], method=method, test=test, level=level, control=control)
    else:
        model = rma(aug_y, aug_v, method=method, test=test, level=level, control=control)

    def pick(values):
        return _out(np.where(ok, np.asarray(values, dtype=float), np.nan), b.squeeze)

    side_out = np.where(sgn < 0, "right", "left").astype(object)
    side_out[~side_known] = None
    if b.squeeze:
        side_val = side_out[0]
        fy = filled_y[0, : k0_int[0]]
        fv = filled_v[0, : k0_int[0]]
    else:
        side_val = side_out
        fy, fv = filled_y, filled_v
    p_k0 = 0.5 ** (k0 + 1.0) if estimator == "R0" else np.full(m, np.nan)
    return TrimFillResult(
        k0=pick(k0),
        se_k0=pick(se_k0),
        p_k0=pick(p_k0),
        side=side_val,
        estimator=estimator,
        estimate=pick(model.estimate),
        se=pick(model.se),
        ci_low=pick(model.ci_low),
        ci_high=pick(model.ci_high),
        statistic=pick(model.statistic),
        p_value=pick(model.p_value),
        tau2=pick(model.tau2),
        I2=pick(model.I2),
        Q=pick(model.Q),
        k=_out(np.where(ok, b.k + k0_int, b.k), b.squeeze),
        filled_yi=fy,
        filled_vi=fv,
        model=None if (b.squeeze and not ok[0]) else model,
        warnings=_row_warnings(messages, b.squeeze),
    )
