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

import functools
import math
from dataclasses import dataclass, field, fields

import numpy as np
from scipy import special, stats

from ketameta._batch import (
    EPS,
    Batch,
    as_batch,
    complement_sums,
    weight_traces,
    weighted_fit,
    zeroin,
)

__all__ = [
    "METHODS",
    "TESTS",
    "BatchFit",
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
]

METHODS = ("EE", "FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
"""τ² estimators (metafor names); ``EE`` and its alias ``FE`` fit the equal-effects model."""

TESTS = ("z", "knha", "adhoc", "t")
"""Tests of the pooled effect (metafor names)."""

PI_METHODS = ("default", "higgins")

# metafor's control defaults for rma.uni (metafor 3.8-1, rma.uni's `con` list).
THRESHOLD = 1e-5  # convergence threshold on |change in tau2| for ML, REML, EB
MAXITER = 100  # iteration limit for ML, REML, EB and uniroot() in PM
UNIROOT_TOL = EPS**0.25  # uniroot() tolerance in PM and confint(); also the ll0 check
CONFINT_MAXITER = 1000  # uniroot() iteration limit in confint.rma.uni()
VIMAXMIN = 1e7  # metafor warns when max(vi)/min(vi) >= 1/evtol = 1e7
MAD_CONSTANT = 1.4826  # R's mad() scale constant

# Warning texts, keyed by the flag names used in BatchFit.flags.
_WARNING_TEXT = {
    "k0": "k = 0: no study has both yi and vi; nothing was estimated.",
    "k1": "k = 1: the pooled result is the study's own; test set to 'z' as metafor does; "
    "tau2, Q, I2, H2, their CIs and the prediction interval are undefined.",
    "vimaxmin": "Ratio of largest to smallest sampling variance is at least 1e7; results "
    "may be unstable (metafor warns likewise).",
    "ee_knha": "The Knapp-Hartung adjustment is not meant for the equal-effects model "
    "(metafor warns likewise).",
    "fs_fallback": "{method} did not converge in 100 Fisher scoring iterations; fell back to "
    "a bracketed root search of the {method} estimating equation (metafor stops with an "
    "error here).",
    "ll0": "Fisher scoring may have stopped at a local maximum (the likelihood is larger at "
    "tau2 = 0); tau2 set to 0 as metafor does.",
    "pm_fallback": "PM: Q(tau2) still exceeds k - 1 at metafor's search limit tau2.max; the "
    "search interval was extended until it brackets the root (metafor stops with an error "
    "here).",
    "uniroot": "Root search for tau2 reached its iteration limit; the last iterate is "
    "reported (R's uniroot() warns likewise).",
    "ci_null": "The Q-profile confidence interval for tau2 is the null set (Q at tau2 = 0 "
    "is below the lower critical value); its bounds are set to 0 as metafor's confint() "
    "does.",
    "ci_ub_max": "The upper bound of the Q-profile CI for tau2 lies above the search limit "
    "tau2.max = max(100, 10 tau2); tau2.max is reported, as metafor's confint() does.",
    "ci_both_max": "Both bounds of the Q-profile CI for tau2 lie above the search limit "
    "tau2.max = max(100, 10 tau2); tau2.max is reported for both, as metafor's confint() "
    "does.",
    "ci_search": "The root search for a Q-profile CI bound reached its iteration limit; "
    "the last iterate is reported.",
    "higgins_df": "The Higgins prediction interval needs k >= 3 (t on k - 2 df); it is "
    "undefined here.",
}


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
# τ² estimators
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Tau2Estimate:
    """Result of a τ² estimator on a batch.

    Attributes
    ----------
    tau2 : ndarray (m,)
        Estimate, truncated at 0; NaN for rows with k < 2.
    se_tau2 : ndarray (m,)
        Standard error as metafor reports it (``se.tau2``); NaN for k < 2.
    converged : ndarray of bool (m,)
        False where a fallback had to be used (see ``flags``).
    flags : dict of str -> ndarray of bool (m,)
        Rows for which a warning applies (keys of the module's warning table:
        ``"fs_fallback"``, ``"ll0"``, ``"pm_fallback"``, ``"uniroot"``).
    """

    tau2: np.ndarray
    se_tau2: np.ndarray
    converged: np.ndarray
    flags: dict = field(default_factory=dict)


def _centered(b: Batch) -> np.ndarray:
    """Row-centred effects (metafor centres yi before estimating τ²), 0 at pads."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = b.y.sum(axis=1) / b.k
    return np.where(b.mask, b.y - mean[:, None], 0.0)


def _finish(b: Batch, tau2, se, converged=None, flags=None) -> Tau2Estimate:
    """Truncate at 0, blank rows with k < 2, and pack a :class:`Tau2Estimate`."""
    few = b.k < 2
    tau2 = np.where(few, np.nan, np.maximum(tau2, 0.0))
    se = np.where(few, np.nan, se)
    if converged is None:
        converged = np.ones(b.k.shape, dtype=bool)
    return Tau2Estimate(tau2=tau2, se_tau2=se, converged=converged, flags=flags or {})


def _he_raw(b: Batch):
    """Untruncated Hedges estimate and the pieces of its standard error."""
    yc = _centered(b)
    k = b.k.astype(float)
    v = np.where(b.mask, b.v, 0.0)
    sv = v.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        tr_pv = sv * (1.0 - 1.0 / k)
        tr_pvpv = (v * v).sum(axis=1) * (1.0 - 2.0 / k) + sv**2 / k**2
        tau2 = ((yc * yc).sum(axis=1) - tr_pv) / (k - 1.0)
    return tau2, tr_pv, tr_pvpv


def tau2_he(b: Batch) -> Tau2Estimate:
    """Hedges' (HE, "variance component" / Cochran ANOVA) estimator.

    ``τ² = (Σ (y_i - ȳ)² - tr(P V)) / (k - 1)`` with the unweighted ``P = I - J/k``
    (Hedges 1983, *Psychol Bull* 93:388; Hedges & Olkin 1985). The standard error is
    metafor's (``sqrt((2 tr(PVPV) + 4 τ² tr(PV) + 2 τ⁴ (k-1))) / (k-1)``).
    """
    tau2, tr_pv, tr_pvpv = _he_raw(b)
    t = np.maximum(tau2, 0.0)
    k1 = b.k - 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(2 * tr_pvpv + 4 * t * tr_pv + 2 * t * t * k1) / k1
    return _finish(b, tau2, se)


def _fe_pieces(b: Batch):
    """Equal-effects weights and the traces of P used by DL, HS and the I² definition."""
    w = np.where(b.mask, 1.0 / b.v, 0.0)
    _, _, q, _ = weighted_fit(_centered(b), w)
    sw, trp, trpp = weight_traces(w)
    return w, q, sw, trp, trpp


def tau2_dl(b: Batch) -> Tau2Estimate:
    """DerSimonian–Laird method-of-moments estimator.

    ``τ² = (Q - (k - 1)) / (Σw - Σw²/Σw)`` with ``w = 1/vi``, truncated at 0
    (DerSimonian & Laird 1986, *Control Clin Trials* 7:177). Standard error as metafor:
    ``sqrt(2(k-1) + 4 τ² tr(P) + 2 τ⁴ tr(PP)) / tr(P)``.
    """
    _, q, _, trp, trpp = _fe_pieces(b)
    k1 = b.k - 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        tau2 = (q - k1) / trp
        t = np.maximum(tau2, 0.0)
        se = np.sqrt(2 * k1 + 4 * t * trp + 2 * t * t * trpp) / trp
    return _finish(b, tau2, se)


def tau2_hs(b: Batch) -> Tau2Estimate:
    """Hunter–Schmidt estimator ``τ² = (Q - k) / Σw`` with ``w = 1/vi``.

    Hunter & Schmidt (2004), *Methods of Meta-Analysis*, 2nd ed.; metafor's ``"HS"``
    (without the k-correction of ``"HSk"``). Standard error as metafor:
    ``sqrt(2(k-1) + 4 τ² tr(P) + 2 τ⁴ tr(PP)) / Σw``.
    """
    _, q, sw, trp, trpp = _fe_pieces(b)
    k1 = b.k - 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        tau2 = (q - b.k) / sw
        t = np.maximum(tau2, 0.0)
        se = np.sqrt(2 * k1 + 4 * t * trp + 2 * t * t * trpp) / sw
    return _finish(b, tau2, se)


def _general_p_traces(w: np.ndarray, v: np.ndarray):
    """``tr(PVPV)``, ``Σ_ij (PV)_ij P_ij`` and ``tr(PP)`` for ``P`` built from weights ``w``.

    ``P_ii = w_i o_i / Σw`` (``o_i`` = sum of the other weights) and
    ``P_ij = -w_i w_j / Σw``; sums of "the others" are formed without cancellation.
    """
    sw, _, trpp = weight_traces(w)
    o = complement_sums(w)
    w2 = w * w
    o2 = complement_sums(w2)
    o2v = complement_sums(w2 * v)
    with np.errstate(invalid="ignore", divide="ignore"):
        tr_pvpv = (((w * o * v) ** 2).sum(axis=1) + (w2 * v * o2v).sum(axis=1)) / sw**2
        tr_pvp = ((v * w2 * o * o).sum(axis=1) + (v * w2 * o2).sum(axis=1)) / sw**2
    return tr_pvpv, tr_pvp, trpp


def tau2_sj(b: Batch) -> Tau2Estimate:
    """Sidik–Jonkman estimator (non-iterated), as metafor.

    Initial value ``τ₀² = Σ (y_i - ȳ)² / k``; then ``τ² = τ₀² Q(τ₀²) / (k - 1)`` where
    ``Q(τ₀²)`` is the weighted residual sum of squares with ``w = 1/(vi + τ₀²)``
    (Sidik & Jonkman 2005, *J Biopharm Stat* 15:823; 2007, *Stat Med* 26:1964).
    Standard error as metafor:
    ``τ₀²/(k-1) sqrt(2 tr(PVPV) + 4 τ² Σ(PV∘P) + 2 τ⁴ tr(PP))``.
    """
    yc = _centered(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau0 = (yc * yc).sum(axis=1) / b.k
    w = np.where(b.mask, 1.0 / (b.v + np.nan_to_num(tau0)[:, None]), 0.0)
    _, _, q, _ = weighted_fit(yc, w)
    k1 = b.k - 1.0
    tr_pvpv, tr_pvp, trpp = _general_p_traces(w, np.where(b.mask, b.v, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        tau2 = tau0 * q / k1
        t = np.maximum(tau2, 0.0)
        se = tau0 / k1 * np.sqrt(2 * tr_pvpv + 4 * t * tr_pvp + 2 * t * t * trpp)
    return _finish(b, tau2, se)


def _score_pieces(yc, v, mask, tau2):
    """Weights and the sums that the ML/REML/EB scoring steps need, per row."""
    w = np.where(mask, 1.0 / (v + tau2[:, None]), 0.0)
    sw, _, q, resid = weighted_fit(yc, w)
    return w, sw, q, resid


def _scoring_step(kind, yc, v, mask, k, tau2):
    """Fisher scoring step of metafor (``adj``) for ML, REML or EB at ``tau2``."""
    w, sw, q, resid = _score_pieces(yc, v, mask, tau2)
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "EB":
            return (q * k / (k - 1.0) - k) / sw
        ypPy = (w * w * resid * resid).sum(axis=1)
        if kind == "ML":
            return (ypPy - sw) / (w * w).sum(axis=1)
        _, trp, trpp = weight_traces(w)
        return (ypPy - trp) / trpp


def _estimating_equation(kind, yc, v, mask, k, tau2):
    """Left side of the ML/REML/EB estimating equation (decreasing through its root)."""
    w, sw, q, resid = _score_pieces(yc, v, mask, tau2)
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "EB":
            return q * k / (k - 1.0) - k
        ypPy = (w * w * resid * resid).sum(axis=1)
        if kind == "ML":
            return ypPy - sw
        _, trp, _ = weight_traces(w)
        return ypPy - trp


def _loglik(kind, yc, v, mask, tau2):
    """ML or REML log-likelihood of the intercept-only model at ``tau2`` (metafor's ll)."""
    w, sw, q, _ = _score_pieces(yc, v, mask, tau2)
    k = mask.sum(axis=1)
    logv = np.where(mask, np.log(v + tau2[:, None]), 0.0).sum(axis=1)
    if kind == "ML":
        return -0.5 * k * np.log(2 * np.pi) - 0.5 * logv - 0.5 * q
    return -0.5 * (k - 1) * np.log(2 * np.pi) - 0.5 * logv - 0.5 * np.log(sw) - 0.5 * q


def _bracket_upper(g, rows, start):
    """Grow ``start`` by factors of 10 until ``g(x, rows) < 0`` (at most 60 times)."""
    upper = start.copy()
    val = g(upper, rows)
    for _ in range(60):
        grow = val >= 0
        if not grow.any():
            break
        upper[grow] *= 10.0
        val[grow] = g(upper[grow], rows[grow])
    return upper, val


def _exact_root(g, rows, start):
    """Root of a decreasing estimating equation on ``[0, ∞)`` to machine precision.

    Returns 0 where ``g(0) <= 0``. Used only as the documented fallback.
    """
    zero = np.zeros(rows.shape[0])
    g0 = g(zero, rows)
    out = np.zeros(rows.shape[0])
    pos = g0 > 0
    if pos.any():
        sub = rows[pos]
        upper, gu = _bracket_upper(g, sub, np.maximum(start[pos], 1.0))
        loc = np.nonzero(pos)[0]

        def g_sub(x, r):
            return g(x, sub[r])

        root, _ = zeroin(g_sub, zero[pos], upper, g0[pos], gu, 0.0, 1000)
        out[loc] = root
    return out


def _fisher_scoring(b: Batch, kind: str) -> Tau2Estimate:
    """ML, REML or EB by metafor's Fisher scoring (start: HE truncated at 0).

    Iterates ``τ² ← τ² + adj`` with step halving while ``τ² + adj < 0``, until
    ``|change| <= 1e-5``; more than 100 iterations count as non-convergence. For ML and
    REML, metafor's check is applied: if the log-likelihood at τ² = 0 exceeds the one at
    the estimate by more than ``.Machine$double.eps^0.25`` (and τ² > 1e-5), τ² is set to 0.
    Where the iteration fails, the estimating equation is solved by a bracketed
    Brent search instead (``converged`` False, flag ``"fs_fallback"``).
    """
    yc = _centered(b)
    kf = b.k.astype(float)
    he, _, _ = _he_raw(b)
    tau2 = np.where(b.k >= 2, np.maximum(np.nan_to_num(he), 0.0), np.nan)
    m = tau2.shape[0]
    active = b.k >= 2
    failed = np.zeros(m, dtype=bool)
    it = 0
    while active.any():
        it += 1
        rows = np.nonzero(active)[0]
        t = tau2[rows]
        adj = _scoring_step(kind, yc[rows], b.v[rows], b.mask[rows], kf[rows], t)
        adj = np.where(np.isnan(adj), 0.0, adj)
        # step halving; at tau2 == 0 a negative step halves until it underflows to -0.0,
        # which leaves tau2 at 0: shortcut that case
        adj = np.where((t == 0.0) & (adj < 0.0), 0.0, adj)
        neg = t + adj < 0.0
        while neg.any():
            adj = np.where(neg, adj / 2.0, adj)
            neg = t + adj < 0.0
        new = t + adj
        change = np.abs(t - new)
        tau2[rows] = new
        if it > MAXITER:
            failed[rows] = True
            active[:] = False
        else:
            active[rows[change <= THRESHOLD]] = False
    # defensive: a non-finite iterate is a failure too (not seen on valid input)
    failed |= (b.k >= 2) & ~np.isfinite(tau2)
    flags = {}
    converged = ~failed
    if failed.any():
        rows = np.nonzero(failed)[0]

        def g(x, r):
            return _estimating_equation(kind, yc[r], b.v[r], b.mask[r], kf[r], x)

        tau2[rows] = _exact_root(g, rows, np.where(np.isnan(tau2[rows]), 1.0, tau2[rows]))
        flags["fs_fallback"] = failed.copy()
    if kind in ("ML", "REML"):
        check = (b.k >= 2) & ~failed & (tau2 > THRESHOLD)
        if check.any():
            rows = np.nonzero(check)[0]
            sub = (yc[rows], b.v[rows], b.mask[rows])
            ll0 = _loglik(kind, *sub, np.zeros(rows.shape[0]))
            ll = _loglik(kind, *sub, tau2[rows])
            stuck = ll0 - ll > UNIROOT_TOL
            if stuck.any():
                tau2[rows[stuck]] = 0.0
                flag = np.zeros(m, dtype=bool)
                flag[rows[stuck]] = True
                flags["ll0"] = flag
    w = np.where(b.mask, 1.0 / (b.v + np.nan_to_num(tau2)[:, None]), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "ML":
            se = np.sqrt(2.0 / (w * w).sum(axis=1))
        elif kind == "REML":
            se = np.sqrt(2.0 / weight_traces(w)[2])
        else:
            se = np.sqrt(2.0 * kf**2 / (kf - 1.0)) / w.sum(axis=1)
    return _finish(b, tau2, se, converged, flags)


def tau2_ml(b: Batch) -> Tau2Estimate:
    """Maximum-likelihood estimator by metafor's Fisher scoring.

    Viechtbauer (2005), *J Educ Behav Stat* 30:261; Hardy & Thompson (1996), *Stat Med*
    15:619. Standard error ``sqrt(2 / Σw²)``, ``w = 1/(vi + τ²)``.
    """
    return _fisher_scoring(b, "ML")


def tau2_reml(b: Batch) -> Tau2Estimate:
    """Restricted maximum-likelihood estimator by metafor's Fisher scoring.

    Viechtbauer (2005), *J Educ Behav Stat* 30:261; Raudenbush (2009) in *The Handbook of
    Research Synthesis and Meta-Analysis*. Standard error ``sqrt(2 / tr(PP))``.
    """
    return _fisher_scoring(b, "REML")


def tau2_eb(b: Batch) -> Tau2Estimate:
    """Empirical Bayes estimator (Morris 1983, *JASA* 78:47; Berkey et al. 1995, *Stat Med*
    14:395), by metafor's scoring iteration ``adj = (Q k/(k-1) - k) / Σw``.

    Standard error ``sqrt(2k²/(k-1)) / Σw``, ``w = 1/(vi + τ²)``.
    """
    return _fisher_scoring(b, "EB")


def _q_rows(y, v, mask, tau2, rows):
    """Generalised Q, ``Σ w (y - μ̂_w)²`` with ``w = 1/(vi + tau2)``, for ``rows``."""
    w = np.where(mask[rows], 1.0 / (v[rows] + tau2[:, None]), 0.0)
    return weighted_fit(y[rows], w)[2]


def _mad(b: Batch) -> np.ndarray:
    """R's ``mad()`` of each row's effects (constant 1.4826), NaN for empty rows."""
    out = np.full(b.k.shape, np.nan)
    rows = b.k > 0
    yn = np.where(b.mask[rows], b.y[rows], np.nan)
    med = np.nanmedian(yn, axis=1)
    out[rows] = MAD_CONSTANT * np.nanmedian(np.abs(yn - med[:, None]), axis=1)
    return out


def tau2_pm(b: Batch) -> Tau2Estimate:
    """Paule–Mandel estimator: the τ² at which the generalised Q equals ``k - 1``.

    Paule & Mandel (1982), *J Res Natl Bur Stand* 87:377. As metafor: τ² = 0 when
    ``Q(0) < k - 1``; otherwise R's ``uniroot()`` on ``[0, tau2.max]`` with
    ``tau2.max = max(100, 10 mad(yi)²)``, ``tol = .Machine$double.eps^0.25`` and 100
    iterations, reproduced step for step by :func:`ketameta._batch.zeroin`. Where
    ``Q(tau2.max) > k - 1`` (metafor stops with an error) the interval is widened by
    factors of 10 and the root found to machine precision (``converged`` False, flag
    ``"pm_fallback"``). Standard error ``sqrt(2k²/(k-1)) / Σw``.
    """
    yc = _centered(b)
    m = b.k.shape[0]
    target = b.k - 1.0
    tau2 = np.full(m, np.nan)
    rows = np.nonzero(b.k >= 2)[0]
    flags = {}
    converged = np.ones(m, dtype=bool)
    if rows.size:
        q0 = _q_rows(yc, b.v, b.mask, np.zeros(rows.size), rows)
        tau2[rows] = 0.0
        search = q0 >= target[rows]
        srows = rows[search]
        if srows.size:
            tmax = np.maximum(100.0, 10.0 * _mad(b)[srows] ** 2)
            qmax = _q_rows(yc, b.v, b.mask, tmax, srows)
            too_low = qmax > target[srows]

            def f(x, r):
                return _q_rows(yc, b.v, b.mask, x, srows[r]) - target[srows[r]]

            ok = np.nonzero(~too_low)[0]
            if ok.size:
                lo = np.zeros(ok.size)

                def f_ok(x, r):
                    return f(x, ok[r])

                root, conv = zeroin(
                    f_ok,
                    lo,
                    tmax[ok],
                    q0[search][ok] - target[srows[ok]],
                    qmax[ok] - target[srows[ok]],
                    UNIROOT_TOL,
                    MAXITER,
                )
                tau2[srows[ok]] = root
                if not conv.all():
                    flag = np.zeros(m, dtype=bool)
                    flag[srows[ok][~conv]] = True
                    flags["uniroot"] = flag
            bad = np.nonzero(too_low)[0]
            if bad.size:
                brows = srows[bad]

                def g(x, r):
                    return _q_rows(yc, b.v, b.mask, x, r) - target[r]

                tau2[brows] = _exact_root(g, brows, tmax[bad])
                converged[brows] = False
                flag = np.zeros(m, dtype=bool)
                flag[brows] = True
                flags["pm_fallback"] = flag
    kf = b.k.astype(float)
    w = np.where(b.mask, 1.0 / (b.v + np.nan_to_num(tau2)[:, None]), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(2.0 * kf**2 / (kf - 1.0)) / w.sum(axis=1)
    return _finish(b, tau2, se, converged, flags)


def tau2_root(b: Batch, method: str) -> np.ndarray:
    """Exact root of the ML, REML, EB or PM estimating equation, to machine precision.

    metafor stops ML/REML/EB when a Fisher scoring step changes τ² by less than 1e-5 and
    PM when ``uniroot()``'s bracket is narrower than ``.Machine$double.eps^0.25``; its
    estimates (and :func:`rma`'s, which reproduce them) can therefore differ from the
    exact root in the 4th-6th significant digit on hard problems. This function gives
    the exact root instead: 0 where the equation is ≤ 0 at τ² = 0, otherwise the root
    bracketed by growing an upper bound by factors of 10 and refined with Brent's method
    at zero tolerance. It is the fallback of :func:`rma` and the reference for
    cross-checks with other software. Equations (intercept-only model,
    ``w = 1/(vi + τ²)``, ``r = y - μ̂_w``): ML ``Σw²r² - Σw``, REML ``Σw²r² - tr(P)``,
    EB and PM ``Q(τ²) - (k - 1)``.

    Parameters
    ----------
    b : Batch
    method : {"ML", "REML", "EB", "PM"}

    Returns
    -------
    ndarray (m,)
        NaN for rows with k < 2.
    """
    if method not in ("ML", "REML", "EB", "PM"):
        raise ValueError(f"method must be ML, REML, EB or PM; got {method!r}")
    kind = "EB" if method == "PM" else method
    yc = _centered(b)
    kf = b.k.astype(float)
    out = np.full(kf.shape, np.nan)
    rows = np.nonzero(b.k >= 2)[0]
    if rows.size:

        def g(x, r):
            return _estimating_equation(kind, yc[r], b.v[r], b.mask[r], kf[r], x)

        he, _, _ = _he_raw(b)
        out[rows] = _exact_root(g, rows, np.maximum(he[rows], 1.0))
    return out


TAU2_ESTIMATORS = {
    "DL": tau2_dl,
    "HE": tau2_he,
    "HS": tau2_hs,
    "SJ": tau2_sj,
    "ML": tau2_ml,
    "REML": tau2_reml,
    "EB": tau2_eb,
    "PM": tau2_pm,
}
"""τ² estimators by metafor name; each takes a :class:`~ketameta._batch.Batch`."""


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
        p = np.where(few, np.nan, stats.chi2.sf(q, np.where(few, 1.0, df)))
        vt = np.where(few, np.nan, df / trp)
    return q, df, p, vt


def qprofile_ci(b: Batch, tau2: np.ndarray, alpha: float):
    """Q-profile confidence interval for τ² (Viechtbauer 2007, *Stat Med* 26:37).

    Follows metafor's ``confint.rma.uni()`` exactly: the search interval is
    ``[0, tau2.max]`` with ``tau2.max = max(100, 10 τ²)``; the bounds solve
    ``Q(τ²) = χ²_{k-1; 1-α/2}`` (lower) and ``Q(τ²) = χ²_{k-1; α/2}`` (upper) with R's
    ``uniroot()`` (``tol = .Machine$double.eps^0.25``, 1000 iterations). Where ``Q(0)`` is
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

    Returns
    -------
    lower, upper : ndarray (m,)
    flags : dict of str -> ndarray of bool (m,)
    """
    m = b.k.shape[0]
    lower = np.full(m, np.nan)
    upper = np.full(m, np.nan)
    flags = {name: np.zeros(m, dtype=bool) for name in ("ci_null", "ci_ub_max", "ci_both_max")}
    flags["ci_search"] = np.zeros(m, dtype=bool)
    rows = np.nonzero((b.k >= 2) & ~np.isnan(tau2))[0]
    if rows.size == 0:
        return lower, upper, flags
    df = b.k[rows] - 1.0
    crit_u = stats.chi2.isf(alpha / 2.0, df)
    crit_l = stats.chi2.ppf(alpha / 2.0, df)
    tmax = np.maximum(100.0, 10.0 * tau2[rows])
    q_min = _q_rows(b.y, b.v, b.mask, np.zeros(rows.size), rows)
    q_max = _q_rows(b.y, b.v, b.mask, tmax, rows)

    def search(sel, target):
        sub = rows[sel]

        def f(x, r):
            return _q_rows(b.y, b.v, b.mask, x, sub[r]) - target[sel][r]

        root, conv = zeroin(
            f,
            np.zeros(sub.size),
            tmax[sel],
            q_min[sel] - target[sel],
            q_max[sel] - target[sel],
            UNIROOT_TOL,
            CONFINT_MAXITER,
        )
        flags["ci_search"][sub[~conv]] = True
        return root

    ub = np.full(rows.size, np.nan)
    lb = np.full(rows.size, np.nan)
    null = q_min < crit_l
    ub[null] = 0.0
    lb[null] = 0.0
    above_l = ~null & (q_max > crit_l)
    ub[above_l] = tmax[above_l]
    find_ub = ~null & ~above_l
    if find_ub.any():
        ub[find_ub] = search(find_ub, crit_l)
    both_above = q_max > crit_u
    lb[both_above] = tmax[both_above]
    ub[both_above] = tmax[both_above]
    lb_zero = ~both_above & (q_min < crit_u)
    lb[lb_zero] = 0.0
    find_lb = ~both_above & ~lb_zero
    if find_lb.any():
        lb[find_lb] = search(find_lb, crit_u)
    lower[rows] = lb
    upper[rows] = ub
    flags["ci_null"][rows[null & ~both_above]] = True
    flags["ci_ub_max"][rows[above_l & ~both_above]] = True
    flags["ci_both_max"][rows[both_above]] = True
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
        return np.where(np.isfinite(df), stats.t.sf(x, tdf), special.ndtr(-x))


def _t_or_norm_isf(p, df):
    """Upper quantile of t(df) (normal where df is infinite), NaN where df < 1."""
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(df) & (df >= 1)
        tq = stats.t.isf(p, np.where(ok, df, 1.0))
        out = np.where(np.isfinite(df), np.where(ok, tq, np.nan), -special.ndtri(p))
    return out


def fit_batch(
    b: Batch,
    method: str = "REML",
    test: str = "z",
    level=95,
    pi: str = "default",
    tau2_ci: bool = True,
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

    Returns
    -------
    BatchFit

    Notes
    -----
    Floating-point warnings are silenced inside: undefined quantities are returned as NaN
    (and say so in ``flags``), never announced by numpy.
    """
    _check_options(method, test, pi)
    with np.errstate(all="ignore"):
        return _fit_batch(b, method, test, level, pi, tau2_ci)


def _fit_batch(b, method, test, level, pi, tau2_ci):
    alpha = level_to_alpha(level)
    m = b.k.shape[0]
    kf = b.k.astype(float)
    two = b.k >= 2
    one = b.k == 1
    ee = method in ("EE", "FE")
    flags = {}

    if ee:
        est = Tau2Estimate(
            tau2=np.where(b.k >= 1, 0.0, np.nan),
            se_tau2=np.full(m, np.nan),
            converged=np.ones(m, dtype=bool),
        )
    else:
        est = TAU2_ESTIMATORS[method](b)
        flags.update(est.flags)
    tau2_fit = np.where(two, np.nan_to_num(est.tau2), 0.0)

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
        lb, ub, ci_flags = qprofile_ci(b, est.tau2, alpha)
        flags.update(ci_flags)
    with np.errstate(invalid="ignore", divide="ignore"):
        i2_lb = 100.0 * lb / (vt + lb)
        i2_ub = 100.0 * ub / (vt + ub)
        h2_lb = lb / vt + 1.0
        h2_ub = ub / vt + 1.0
        weights = np.where(b.mask, 100.0 * w / sw[:, None], np.nan)

    tau2 = np.where(two, est.tau2, np.nan)
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

# summary.json keys (CONTRACT §3) that the engine fills, in contract order.
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


def _plain(x):
    """Python float/int/bool, with NaN and infinities as None (JSON null)."""
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    x = float(x)
    return x if math.isfinite(x) else None


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

    @property
    def is_batch(self) -> bool:
        """True when the result holds one meta-analysis per row of a 2-D input."""
        return np.ndim(self.yi) == 2

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

    @functools.cached_property
    def egger(self):
        """Classical Egger test of every row (:func:`ketameta.bias.regtest`), computed once."""
        from ketameta.bias import regtest

        return regtest(self.yi, self.vi)

    @functools.cached_property
    def trimfill_fit(self):
        """Trim-and-fill (L0, side as metafor) with this fit's method, test and level,
        computed once for all rows (:func:`ketameta.bias.trimfill`)."""
        from ketameta.bias import trimfill

        return trimfill(self.yi, self.vi, method=self.method, test=self.test, level=self.level)

    @functools.cached_property
    def leave1out_fit(self):
        """Leave-one-out refits of every row (:func:`ketameta.sensitivity.leave1out`)."""
        from ketameta.sensitivity import leave1out

        return leave1out(self.yi, self.vi, method=self.method, test=self.test, level=self.level)

    def to_dict(self, studies=None) -> dict:
        """CONTRACT §3 summary keys that depend only on ``yi`` and ``vi``.

        Parameters
        ----------
        studies : sequence of str, or sequence of sequences (batch), optional
            Study labels used in ``leave1out``, indexed like the columns of ``yi`` (a
            single sequence is used for every row of a batch). Default: the 1-based
            column position as a string.

        Returns
        -------
        dict
            Plain Python values (float, int, bool, str, None, list, dict); undefined
            values are None. For a batch every key maps to a list with one value per row.
            Egger's test (``ketameta.bias.regtest``, k ≥ 3), trim-and-fill
            (``ketameta.bias.trimfill``, k ≥ 3) and leave-one-out
            (``ketameta.sensitivity.leave1out``, k ≥ 2) use the same method, test and
            level.
        """
        out = self._engine_dict()
        y2, v2 = np.atleast_2d(self.yi), np.atleast_2d(self.vi)
        present = ~(np.isnan(y2) | np.isnan(v2))
        k = present.sum(axis=1)
        # One batch call each (the rows with too few studies are set to None below).
        egger, tf, l1o = self.egger, self.trimfill_fit, self.leave1out_fit
        stat = np.atleast_1d(egger.statistic)
        pval = np.atleast_1d(egger.p_value)
        k0 = np.atleast_1d(np.asarray(tf.k0, dtype=float))
        tf_est = np.atleast_1d(tf.estimate)
        l1o_fields = {f: np.atleast_2d(getattr(l1o, f)) for f in _LEAVE1OUT_FIELDS}
        if studies is not None:
            studies = list(studies)  # positional, also for a pandas Series with an index
        nested = (
            studies is not None
            and len(studies) > 0
            and not isinstance(studies[0], str)
            and np.ndim(studies[0]) == 1
        )
        extra = {key: [] for key in _BIAS_KEYS}
        for row in range(len(k)):
            small = k[row] < 3
            extra["egger_statistic"].append(None if small else _plain(stat[row]))
            extra["egger_p"].append(None if small else _plain(pval[row]))
            # k0 is undefined (NaN) where metafor's trimfill() stops with an error,
            # e.g. when every study has the same variance and no side is given.
            undefined = small or math.isnan(k0[row])
            extra["trimfill_k0"].append(None if undefined else int(k0[row]))
            extra["trimfill_estimate"].append(None if undefined else _plain(tf_est[row]))
            if k[row] < 2:
                extra["leave1out"].append(None)
                continue
            labels = list(studies[row]) if nested else studies
            extra["leave1out"].append(
                [
                    {
                        "study": str(labels[col]) if labels is not None else str(col + 1),
                        **{f: _plain(l1o_fields[f][row, col]) for f in _LEAVE1OUT_FIELDS},
                    }
                    for col in np.flatnonzero(present[row])
                ]
            )
        for key, vals in extra.items():
            out[key] = vals if self.is_batch else vals[0]
        order = (*_ENGINE_KEYS, *_BIAS_KEYS, "converged", "warnings")
        return {key: out[key] for key in order}


#: Keys :meth:`RMAResult.to_dict` adds to the engine's own, in output order.
_BIAS_KEYS = ("egger_statistic", "egger_p", "trimfill_k0", "trimfill_estimate", "leave1out")
#: Fields of each leave-one-out record (CONTRACT §3), besides ``study``.
_LEAVE1OUT_FIELDS = ("estimate", "ci_low", "ci_high", "tau2", "I2")


def rma(yi, vi, method: str = "REML", test: str = "z", level=95, pi: str = "default"):
    """Fit an equal- or random-effects meta-analysis (metafor's ``rma()``).

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
        ``s² = Σw(y - μ̂)²/(k-1)`` (0 when that sum is below machine epsilon, as metafor)
        and t(k−1). ``adhoc``: knha with ``s²`` truncated below at 1 (Knapp & Hartung
        2003, *Stat Med* 22:2693). ``t``: unscaled variance with t(k−1).
    level : float
        Confidence level in percent (95); metafor's rules for other forms apply
        (:func:`level_to_alpha`).
    pi : {"default", "higgins"}
        Prediction interval: metafor's ``predict()`` or Higgins et al. (2009) t(k−2).

    Returns
    -------
    RMAResult

    Raises
    ------
    ValueError
        For invalid input only (unknown method/test, shape mismatch, infinite values,
        ``vi <= 0``, no usable study in 1-D input). Numerical trouble never raises: the
        result says what happened in ``converged`` and ``warnings``.

    Examples
    --------
    >>> res = rma([0.1, 0.3, 0.35, -0.05], [0.01, 0.02, 0.015, 0.03], method="DL")
    >>> round(res.estimate, 4)
    0.1869
    """
    _check_options(method, test, pi)
    level_to_alpha(level)
    b = as_batch(yi, vi)
    fit = fit_batch(b, method=method, test=test, level=level, pi=pi)
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
        **values,
    )


def _field_names() -> tuple[str, ...]:
    """Names of the :class:`RMAResult` fields (used by tests of the public contract)."""
    return tuple(f.name for f in fields(RMAResult))
