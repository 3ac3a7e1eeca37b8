"""τ² estimators and the design-matrix fit core, vectorised over many meta-analyses.

Two families of functions live here, both working on a padded batch of ``m``
meta-analyses (:class:`ketameta._batch.Batch`, ``(m, k)`` arrays, NaN-padded rows):

* **Intercept-only estimators** (``tau2_dl`` … ``tau2_pm``): closed forms without
  cancellation for the model ``y_i = μ + u_i + e_i``. They are the fast path of
  :func:`ketameta.rma` without moderators.
* **The design-matrix core** (:func:`fit_design`): the mixed-effects meta-regression
  ``y = X β + u + e``, ``u ~ N(0, τ² I)``, ``e ~ N(0, diag(v))``, with every τ²
  estimator of metafor's ``rma.uni()`` for a ``(k, p)`` or ``(m, k, p)`` design matrix,
  computed from a batched QR decomposition of ``W^{1/2} X``. Meta-regression, the
  common-τ² subgroup test, Egger's test with the mixed-effects model and trim-and-fill's
  choice of side all go through it.

Convergence (:class:`Control`)
------------------------------
By default every iterative quantity is the exact optimum or root: Fisher scoring for ML,
REML and EB runs until the change of τ² is below ``1e-5 max(τ², 1)``, and the root of the
estimating equation next to its iterate is then bracketed and found by Brent's method to
machine precision (the score is zero there to rounding; τ² = 0 where the optimum is on
the boundary). Scoring is given 25 steps (it can cycle on hard problems); its last iterate
is polished the same way, and where no bracket is found the root is bracketed from 0
upwards instead; the roots of PM and of the Q-profile bounds are found by Brent's method
to machine precision. ``control="metafor"`` reproduces metafor 3.8's default stopping
instead (absolute change ``1e-5``, 100 iterations, ``uniroot()`` with tolerance
``.Machine$double.eps^0.25``), step for step. A mapping with metafor's names
(``threshold``, ``tol``, ``maxiter``, ``stepadj``) gives metafor's algorithm with those
settings, as ``rma(..., control = list(...))`` in R.

Conventions: τ² is truncated at 0 (metafor's ``tau2.min = 0``); metafor centres ``yi``
at its unweighted mean before estimating τ² (``Ymc`` in ``rma.uni()``), and so does this
module, which matters only for a design whose column space lacks the constant.

References
----------
Viechtbauer W (2005). Bias and efficiency of meta-analytic variance estimators in the
random-effects model. *J Educ Behav Stat* 30(3):261–293. doi:10.3102/10769986030003261

Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. *Journal of
Statistical Software* 36(3):1–48. doi:10.18637/jss.v036.i03

Raudenbush SW (2009). Analyzing effect sizes: random-effects models. In Cooper H, Hedges
LV, Valentine JC (eds), *The Handbook of Research Synthesis and Meta-Analysis*, 2nd ed.,
Russell Sage, 295–315.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ketameta._batch import (
    EPS,
    Batch,
    complement_sums,
    weight_traces,
    weighted_fit,
    zeroin,
)

__all__ = [
    "CONTROL_EXACT",
    "CONTROL_METAFOR",
    "Control",
    "DesignFit",
    "Tau2Estimate",
    "TAU2_ESTIMATORS",
    "as_control",
    "fit_design",
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

# metafor's control defaults for rma.uni (metafor 3.8-1, rma.uni's `con` list).
THRESHOLD = 1e-5  # convergence threshold on |change in tau2| for ML, REML, EB
MAXITER = 100  # iteration limit for ML, REML, EB and uniroot() in PM
UNIROOT_TOL = EPS**0.25  # uniroot() tolerance in PM and confint(); also the ll0 check
CONFINT_MAXITER = 1000  # uniroot() iteration limit in confint.rma.uni()
MAD_CONSTANT = 1.4826  # R's mad() scale constant


@dataclass(frozen=True)
class Control:
    """Stopping rules of the iterative estimators (metafor's ``control`` names).

    Attributes
    ----------
    threshold : float
        Fisher scoring (ML, REML, EB) stops when the change of τ² is at most
        ``threshold`` (absolute, as metafor) or ``threshold * max(τ², 1)`` when
        ``relative``.
    tol : float
        Tolerance of R's ``uniroot()`` for PM and the Q-profile CI (absolute, as R); 0
        finds roots to machine precision. Also the margin of metafor's check that the
        likelihood at τ² = 0 is not larger than at the estimate (ML, REML).
    maxiter : int
        Iteration limit of Fisher scoring and of the PM root search.
    stepadj : float
        Factor applied to every Fisher scoring step (metafor's ``stepadj``).
    relative : bool
        Whether ``threshold`` is relative to τ² (the exact default) or absolute.
    polish : bool
        After Fisher scoring, find the root of the estimating equation next to its iterate
        to machine precision (the exact default); metafor stops at the iterate.
    ci_maxiter : int
        Iteration limit of the Q-profile root search (metafor's ``confint()``: 1000).
    name : str
        ``"exact"``, ``"metafor"`` or ``"custom"`` (for the methods text).
    """

    threshold: float = 1e-5
    tol: float = 0.0
    maxiter: int = 25
    stepadj: float = 1.0
    relative: bool = True
    ci_maxiter: int = 10000
    name: str = "exact"
    polish: bool = True

    @property
    def ll0_min_tau2(self) -> float:
        """τ² above which the likelihood check at τ² = 0 applies (metafor: ``threshold``)."""
        return 1e-12 if self.relative else self.threshold

    @property
    def ll0_tol(self) -> float:
        """Margin of the likelihood check at τ² = 0 (metafor's ``con$tol``)."""
        return self.tol if self.tol > 0 else 1e-12

    def converged(self, old: np.ndarray, new: np.ndarray) -> np.ndarray:
        """True where a Fisher scoring step from ``old`` to ``new`` meets the threshold."""
        change = np.abs(old - new)
        if self.relative:
            return change <= self.threshold * np.maximum(np.abs(new), 1.0)
        return change <= self.threshold


CONTROL_EXACT = Control()
"""Exact optima: Fisher scoring to a change of 1e-5 max(τ², 1), then the root of the
estimating equation to machine precision; all other roots to machine precision."""

CONTROL_METAFOR = Control(
    threshold=THRESHOLD,
    tol=UNIROOT_TOL,
    maxiter=MAXITER,
    stepadj=1.0,
    relative=False,
    ci_maxiter=CONFINT_MAXITER,
    name="metafor",
    polish=False,
)
"""metafor 3.8's defaults for ``rma.uni()`` and ``confint()``."""

_CONTROL_KEYS = ("threshold", "tol", "maxiter", "stepadj")


def as_control(control) -> Control:
    """Turn the ``control`` argument of the public functions into a :class:`Control`.

    Parameters
    ----------
    control : None, "exact", "metafor", Control or mapping
        None and ``"exact"``: exact optima (the default). ``"metafor"``: metafor 3.8's
        default stopping. A mapping with any of ``threshold``, ``tol``, ``maxiter``,
        ``stepadj``: metafor's algorithm (absolute threshold, ``uniroot()`` tolerance)
        with those values in place of its defaults, as ``control = list(...)`` in R;
        ``tol`` also applies to the Q-profile CI, as ``confint(..., control = list(tol))``.

    Raises
    ------
    ValueError
        For an unknown name, an unknown key or a value out of range.
    """
    if control is None or control == "exact":
        return CONTROL_EXACT
    if control == "metafor":
        return CONTROL_METAFOR
    if isinstance(control, Control):
        return control
    if isinstance(control, Mapping):
        unknown = sorted(set(control) - set(_CONTROL_KEYS))
        if unknown:
            raise ValueError(
                f"unknown control setting {unknown[0]!r}; metafor's names are "
                f"{', '.join(_CONTROL_KEYS)}"
            )
        values = {
            "threshold": float(control.get("threshold", THRESHOLD)),
            "tol": float(control.get("tol", UNIROOT_TOL)),
            "maxiter": int(control.get("maxiter", MAXITER)),
            "stepadj": float(control.get("stepadj", 1.0)),
        }
        if values["threshold"] <= 0 or values["tol"] < 0 or values["maxiter"] < 1:
            raise ValueError(
                "control needs threshold > 0, tol >= 0 and maxiter >= 1; got "
                f"{dict(control)!r}"
            )
        if not 0 < values["stepadj"] <= 1:
            raise ValueError(f"control stepadj must be in (0, 1]; got {values['stepadj']!r}")
        return Control(
            **values, relative=False, ci_maxiter=CONFINT_MAXITER, name="custom", polish=False
        )
    raise ValueError(
        f"control must be 'exact', 'metafor' or a mapping of {', '.join(_CONTROL_KEYS)}; "
        f"got {control!r}"
    )


# ---------------------------------------------------------------------------------------
# intercept-only τ² estimators (the fast path)
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


def tau2_he(b: Batch, control=None) -> Tau2Estimate:
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


def tau2_dl(b: Batch, control=None) -> Tau2Estimate:
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


def tau2_hs(b: Batch, control=None) -> Tau2Estimate:
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


def tau2_sj(b: Batch, control=None) -> Tau2Estimate:
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
        trp = (w * complement_sums(w)).sum(axis=1) / sw  # tr(P) without cancellation
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


_POLISH_STEPS = (1e-6, 1e-4, 1e-2, 0.1, 0.3, 0.6, 0.9, 0.99, 1.0)


def _polish_root(g, rows, start):
    """The root of a decreasing estimating equation next to Fisher scoring's iterate.

    From the iterate ``t`` the equation's sign says on which side the root lies; the other
    end of a bracket is sought at ``t(1 ∓ δ)`` for δ = 1e-6, 1e-4, 0.01, 0.1, … (below
    ``t`` down to 0, above it up to ``11 t``), and the root is then found by Brent's
    method to machine precision. Where the equation is negative all the way down to 0,
    the optimum is τ² = 0. Returns the roots and a mask of the rows where one was found
    (elsewhere the iterate is kept).
    """
    out = start.copy()
    found = np.zeros(rows.size, dtype=bool)
    todo = np.nonzero(start > 0)[0]
    if not todo.size:
        return out, found
    g_t = g(start[todo], rows[todo])
    out[todo[g_t == 0]] = start[todo[g_t == 0]]
    found[todo[g_t == 0]] = True
    down = g_t < 0  # the root is below t
    near = start[todo].copy()
    g_near = g_t.copy()
    pending = np.nonzero(g_t != 0)[0]
    for step in _POLISH_STEPS + (3.0, 10.0):
        if not pending.size:
            break
        idx = todo[pending]
        if step > 1.0:  # only the upward searches go on
            pending = pending[~down[pending]]
            idx = todo[pending]
            if not pending.size:
                break
        factor = np.where(down[pending], 1.0 - min(step, 1.0), 1.0 + step)
        far = start[idx] * factor
        g_far = g(far, rows[idx])
        crossed = np.where(down[pending], g_far >= 0, g_far <= 0)
        if crossed.any():
            sel = pending[crossed]
            lo = np.where(down[sel], far[crossed], near[sel])
            hi = np.where(down[sel], near[sel], far[crossed])
            g_lo = np.where(down[sel], g_far[crossed], g_near[sel])
            g_hi = np.where(down[sel], g_near[sel], g_far[crossed])
            cols = todo[sel]

            def g_sel(x, r, cols=cols):
                return g(x, rows[cols[r]])

            root, conv = zeroin(g_sel, lo, hi, g_lo, g_hi, 0.0, 200)
            out[cols] = root
            found[cols] = conv
        near[pending[~crossed]] = far[~crossed]
        g_near[pending[~crossed]] = g_far[~crossed]
        pending = pending[~crossed]
        if step == 1.0:  # downward searches reached 0 without a sign change
            zero = pending[down[pending]]
            out[todo[zero]] = 0.0
            found[todo[zero]] = True
    return out, found


def _fisher_scoring(b: Batch, kind: str, control=None) -> Tau2Estimate:
    """ML, REML or EB by metafor's Fisher scoring (start: HE truncated at 0).

    Iterates ``τ² ← τ² + stepadj · adj`` with step halving while ``τ² + adj < 0``, until
    the change meets ``control`` (metafor: ``|change| <= 1e-5``; exact: relative change
    ``<= 1e-5 max(τ², 1)``, then polished to the root of the estimating equation); more
    than ``maxiter`` iterations count as non-convergence. For ML and
    REML, metafor's check is applied: if the log-likelihood at τ² = 0 exceeds the one at
    the estimate by more than ``tol`` (metafor: ``.Machine$double.eps^0.25``; exact:
    1e-12) and τ² is above the threshold, τ² is set to 0.
    Where the iteration fails, the estimating equation is solved by a bracketed
    Brent search instead (``converged`` False, flag ``"fs_fallback"``).
    """
    con = as_control(control)
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
        adj = np.where(np.isnan(adj), 0.0, adj * con.stepadj)
        # step halving; at tau2 == 0 a negative step halves until it underflows to -0.0,
        # which leaves tau2 at 0: shortcut that case
        adj = np.where((t == 0.0) & (adj < 0.0), 0.0, adj)
        neg = t + adj < 0.0
        while neg.any():
            adj = np.where(neg, adj / 2.0, adj)
            neg = t + adj < 0.0
        new = t + adj
        tau2[rows] = new
        if it > con.maxiter:
            failed[rows] = True
            active[:] = False
        else:
            active[rows[con.converged(t, new)]] = False
    # defensive: a non-finite iterate is a failure too (not seen on valid input)
    failed |= (b.k >= 2) & ~np.isfinite(tau2)
    flags = {}

    def g(x, r):
        return _estimating_equation(kind, yc[r], b.v[r], b.mask[r], kf[r], x)

    if con.polish:  # exact: the root next to the iterate, converged or not
        rows = np.nonzero((b.k >= 2) & np.isfinite(tau2) & (tau2 > 0))[0]
        if rows.size:
            tau2[rows], found = _polish_root(g, rows, tau2[rows])
            failed[rows[found]] = False
    if failed.any():
        rows = np.nonzero(failed)[0]
        tau2[rows] = _exact_root(g, rows, np.where(np.isnan(tau2[rows]), 1.0, tau2[rows]))
        if con.relative:  # the exact optimum was asked for, and the root search gives it
            failed[:] = False
        else:
            flags["fs_fallback"] = failed.copy()
    converged = ~failed
    if kind in ("ML", "REML"):
        check = (b.k >= 2) & ~failed & (tau2 > con.ll0_min_tau2)
        if check.any():
            rows = np.nonzero(check)[0]
            sub = (yc[rows], b.v[rows], b.mask[rows])
            ll0 = _loglik(kind, *sub, np.zeros(rows.shape[0]))
            ll = _loglik(kind, *sub, tau2[rows])
            stuck = ll0 - ll > con.ll0_tol
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


def tau2_ml(b: Batch, control=None) -> Tau2Estimate:
    """Maximum-likelihood estimator by metafor's Fisher scoring.

    Viechtbauer (2005), *J Educ Behav Stat* 30:261; Hardy & Thompson (1996), *Stat Med*
    15:619. Standard error ``sqrt(2 / Σw²)``, ``w = 1/(vi + τ²)``.
    """
    return _fisher_scoring(b, "ML", control)


def tau2_reml(b: Batch, control=None) -> Tau2Estimate:
    """Restricted maximum-likelihood estimator by metafor's Fisher scoring.

    Viechtbauer (2005), *J Educ Behav Stat* 30:261; Raudenbush (2009) in *The Handbook of
    Research Synthesis and Meta-Analysis*. Standard error ``sqrt(2 / tr(PP))``.
    """
    return _fisher_scoring(b, "REML", control)


def tau2_eb(b: Batch, control=None) -> Tau2Estimate:
    """Empirical Bayes estimator (Morris 1983, *JASA* 78:47; Berkey et al. 1995, *Stat Med*
    14:395), by metafor's scoring iteration ``adj = (Q k/(k-1) - k) / Σw``.

    Standard error ``sqrt(2k²/(k-1)) / Σw``, ``w = 1/(vi + τ²)``.
    """
    return _fisher_scoring(b, "EB", control)


def _q_rows(y, v, mask, tau2, rows):
    """Generalised Q, ``Σ w (y - μ̂_w)²`` with ``w = 1/(vi + tau2)``, for ``rows``.

    The inner function of every PM and Q-profile root search, so it avoids copies: all
    rows in order are used as they are.
    """
    if rows.size != y.shape[0] or rows[0] != 0 or rows[-1] != rows.size - 1:
        y, v, mask = y[rows], v[rows], mask[rows]
    w = mask / (v + tau2[:, None])  # pads have v = 1, so no division by 0
    sw = w.sum(axis=1)
    mu = np.einsum("ij,ij->i", w, y) / sw
    resid = y - mu[:, None]
    return np.einsum("ij,ij,ij->i", w, resid, resid)


def _mad(b: Batch) -> np.ndarray:
    """R's ``mad()`` of each row's effects (constant 1.4826), NaN for empty rows."""
    out = np.full(b.k.shape, np.nan)
    rows = b.k > 0
    yn = np.where(b.mask[rows], b.y[rows], np.nan)
    med = np.nanmedian(yn, axis=1)
    out[rows] = MAD_CONSTANT * np.nanmedian(np.abs(yn - med[:, None]), axis=1)
    return out


def tau2_pm(b: Batch, control=None) -> Tau2Estimate:
    """Paule–Mandel estimator: the τ² at which the generalised Q equals ``k - 1``.

    Paule & Mandel (1982), *J Res Natl Bur Stand* 87:377. As metafor: τ² = 0 when
    ``Q(0) < k - 1``; otherwise R's ``uniroot()`` on ``[0, tau2.max]`` with
    ``tau2.max = max(100, 10 mad(yi)²)``, ``control``'s ``tol`` (metafor:
    ``.Machine$double.eps^0.25``; exact: 0, machine precision) and ``maxiter``, reproduced
    step for step by :func:`ketameta._batch.zeroin`. Where
    ``Q(tau2.max) > k - 1`` (metafor stops with an error) the interval is widened by
    factors of 10 and the root found to machine precision (``converged`` False, flag
    ``"pm_fallback"``). Standard error ``sqrt(2k²/(k-1)) / Σw``.
    """
    con = as_control(control)
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
                    con.tol,
                    con.maxiter,
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
# the design-matrix core
# ---------------------------------------------------------------------------------------


def _mad_of(y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """R's ``mad()`` of each row's present values (constant 1.4826), NaN for empty rows."""
    yn = np.where(mask, y, np.nan)
    with np.errstate(all="ignore"):
        med = np.nanmedian(yn, axis=1)
        return MAD_CONSTANT * np.nanmedian(np.abs(yn - med[:, None]), axis=1)


class _QR:
    """Weighted least squares of ``y`` on ``X`` with weights ``w`` (0 at pads).

    :func:`fit_design` passes an ``X`` with orthonormal columns (the Q factor of the
    design), so ``A = X'WX`` is as well conditioned as the weights and is solved directly;
    residuals are formed explicitly (no cancellation in the residual sum of squares).
    With ``H = W^½ X A⁻¹ X' W^½`` and ``M = I - H``, metafor's
    ``P = W - W X A⁻¹ X'W`` is ``W^½ M W^½``; its traces below are sums over the ``p × p``
    matrices, never ``k × k`` ones. The inverse of ``A`` is formed only when a trace needs
    it (the PM and Q-profile root searches need the residual sum of squares alone).
    """

    def __init__(self, y, w, x):
        self.w = w
        self.x = x
        xw = x * w[:, :, None]
        self.a = np.swapaxes(xw, 1, 2) @ x
        self.gamma = np.linalg.solve(self.a, (np.swapaxes(xw, 1, 2) @ y[:, :, None]))[:, :, 0]
        resid = y - (x @ self.gamma[:, :, None])[:, :, 0]
        self.e = np.sqrt(w) * resid  # W^½ (y - X β)
        self.rss = (w * resid * resid).sum(axis=1)  # y'Py

    of = classmethod(lambda cls, y, w, x: cls(y, w, x))

    @functools.cached_property
    def ainv(self) -> np.ndarray:
        return np.linalg.inv(self.a)

    @functools.cached_property
    def h(self) -> np.ndarray:
        """Diagonal of ``H``: ``w_i x_i' A⁻¹ x_i``."""
        return self.w * ((self.x @ self.ainv) * self.x).sum(axis=2)

    def beta(self) -> np.ndarray:
        return self.gamma

    def xtwx_inv(self) -> np.ndarray:
        return self.ainv

    def logdet_xtwx(self) -> np.ndarray:
        return np.linalg.slogdet(self.a)[1]

    def tr_p(self, a=None) -> np.ndarray:
        """``tr(P diag(a))`` (``tr(P)`` without ``a``)."""
        d = self.w * (1.0 - self.h)
        return (d if a is None else d * a).sum(axis=1)

    def ypppy(self) -> np.ndarray:
        """``y'PPy = Σ w e²`` with ``e = W^½ (y - Xβ)``."""
        return (self.w * self.e * self.e).sum(axis=1)

    def pair_sum(self, a, c) -> np.ndarray:
        """``Σ_ij a_i c_j M_ij²`` for weight vectors ``a``, ``c`` (0 at pads).

        With ``M = I - H``: ``Σ a c (1 - 2h) + tr(A⁻¹ B A⁻¹ C)``, ``B = X' diag(w a) X``,
        ``C = X' diag(w c) X``. ``sum(P∘P)`` is ``pair_sum(w, w)``, ``tr(PVPV)`` is
        ``pair_sum(wv, wv)`` and ``sum(PV∘P)`` is ``pair_sum(w, wv)``.
        """
        xt = np.swapaxes(self.x, 1, 2)
        ba = self.ainv @ ((xt * (self.w * a)[:, None, :]) @ self.x)
        bc = ba if c is a else self.ainv @ ((xt * (self.w * c)[:, None, :]) @ self.x)
        cross = (ba * np.swapaxes(bc, 1, 2)).sum(axis=(1, 2))
        return (a * c * (1.0 - 2.0 * self.h)).sum(axis=1) + cross


def _mixed_qr(yc, v, mask, x, tau2):
    w = np.where(mask, 1.0 / (v + tau2[:, None]), 0.0)
    return _QR.of(yc, w, x)


def _design_tau2(method, yc, y, v, mask, x, control):
    """τ² of the mixed-effects model with design ``x`` for every row (metafor rma.uni()).

    ``yc`` is ``y`` centred at its unweighted row mean (metafor's ``Ymc``). Rows must
    have ``k > p``. Returns ``(tau2, se_tau2, converged, flags)``.
    """
    con = as_control(control)
    m, _, p = x.shape
    kf = mask.sum(axis=1).astype(float)
    kp = kf - p
    converged = np.ones(m, dtype=bool)
    flags: dict = {}
    vm = np.where(mask, v, 0.0)
    if method in ("EE", "FE"):
        return np.zeros(m), np.full(m, np.nan), converged, flags
    if method in ("DL", "HS"):
        fe = _QR.of(yc, np.where(mask, 1.0 / v, 0.0), x)
        trp, spp, sw = fe.tr_p(), fe.pair_sum(fe.w, fe.w), fe.w.sum(axis=1)
        den = trp if method == "DL" else sw
        tau2 = (fe.rss - (kp if method == "DL" else kf)) / den
        t = np.maximum(tau2, 0.0)
        se = np.sqrt(2 * kp + 4 * t * trp + 2 * t * t * spp) / den
        return np.maximum(tau2, 0.0), se, converged, flags
    if method == "SJ":
        tau0 = (yc * yc).sum(axis=1) / kf
        fit = _mixed_qr(yc, v, mask, x, tau0)
        tau2 = tau0 * fit.rss / kp
        t = np.maximum(tau2, 0.0)
        wv = fit.w * vm
        se = tau0 / kp * np.sqrt(
            2 * fit.pair_sum(wv, wv) + 4 * t * fit.pair_sum(fit.w, wv)
            + 2 * t * t * fit.pair_sum(fit.w, fit.w)
        )
        return t, se, converged, flags
    if method == "PM":
        return _design_pm(yc, y, v, mask, x, kp, con)
    # HE, and the start of ML, REML and EB
    ols = _QR.of(yc, mask.astype(float), x)
    tr_pv = ols.tr_p(vm)
    he = (ols.rss - tr_pv) / kp
    if method == "HE":
        t = np.maximum(he, 0.0)
        se = np.sqrt(2 * ols.pair_sum(vm, vm) + 4 * t * tr_pv + 2 * t * t * kp) / kp
        return t, se, converged, flags
    return _design_scoring(method, yc, v, mask, x, kf, kp, np.maximum(np.nan_to_num(he), 0.0), con)


def _design_step(method, fit, kf, kp):
    sw = fit.w.sum(axis=1)
    if method == "EB":
        return (fit.rss * kf / kp - kf) / sw
    if method == "ML":
        return (fit.ypppy() - sw) / (fit.w * fit.w).sum(axis=1)
    return (fit.ypppy() - fit.tr_p()) / fit.pair_sum(fit.w, fit.w)


def _design_equation(method, fit, kf, kp):
    """Estimating equation of ML, REML or EB (decreasing through the root)."""
    if method == "EB":
        return fit.rss * kf / kp - kf
    if method == "ML":
        return fit.ypppy() - fit.w.sum(axis=1)
    return fit.ypppy() - fit.tr_p()


def _design_scoring(method, yc, v, mask, x, kf, kp, tau2, con):
    """Fisher scoring for ML, REML and EB with a design matrix (see :func:`_fisher_scoring`)."""
    m = yc.shape[0]
    tau2 = tau2.copy()
    active = np.ones(m, dtype=bool)
    failed = np.zeros(m, dtype=bool)
    it = 0
    while active.any():
        it += 1
        rows = np.nonzero(active)[0]
        t = tau2[rows]
        fit = _mixed_qr(yc[rows], v[rows], mask[rows], x[rows], t)
        adj = _design_step(method, fit, kf[rows], kp[rows])
        adj = np.where(np.isnan(adj), 0.0, adj * con.stepadj)
        adj = np.where((t == 0.0) & (adj < 0.0), 0.0, adj)
        neg = t + adj < 0.0
        while neg.any():
            adj = np.where(neg, adj / 2.0, adj)
            neg = t + adj < 0.0
        new = t + adj
        tau2[rows] = new
        if it > con.maxiter:
            failed[rows] = True
            break
        active[rows[con.converged(t, new)]] = False
    failed |= ~np.isfinite(tau2)
    flags: dict = {}

    def g(val, r):
        fit = _mixed_qr(yc[r], v[r], mask[r], x[r], val)
        return _design_equation(method, fit, kf[r], kp[r])

    if con.polish:  # exact: the root next to the iterate, converged or not
        rows = np.nonzero(np.isfinite(tau2) & (tau2 > 0))[0]
        if rows.size:
            tau2[rows], found = _polish_root(g, rows, tau2[rows])
            failed[rows[found]] = False
    if failed.any():
        rows = np.nonzero(failed)[0]
        start = np.where(np.isfinite(tau2[rows]), np.maximum(tau2[rows], 1.0), 1.0)
        tau2[rows] = _exact_root(g, rows, start)
        if con.relative:  # the exact optimum was asked for, and the root search gives it
            failed[:] = False
        else:
            flags["fs_fallback"] = failed.copy()
    if method in ("ML", "REML"):
        check = ~failed & (tau2 > con.ll0_min_tau2)
        if check.any():
            rows = np.nonzero(check)[0]

            def loglik(t):
                fit = _mixed_qr(yc[rows], v[rows], mask[rows], x[rows], t)
                ll = -0.5 * np.where(mask[rows], np.log(v[rows] + t[:, None]), 0.0).sum(axis=1)
                ll -= 0.5 * fit.rss
                if method == "REML":
                    ll -= 0.5 * fit.logdet_xtwx()
                return ll

            stuck = loglik(np.zeros(rows.size)) - loglik(tau2[rows]) > con.ll0_tol
            if stuck.any():
                tau2[rows[stuck]] = 0.0
                flag = np.zeros(m, dtype=bool)
                flag[rows[stuck]] = True
                flags["ll0"] = flag
    fit = _mixed_qr(yc, v, mask, x, tau2)
    if method == "ML":
        se = np.sqrt(2.0 / (fit.w * fit.w).sum(axis=1))
    elif method == "REML":
        se = np.sqrt(2.0 / fit.pair_sum(fit.w, fit.w))
    else:
        se = np.sqrt(2.0 * kf**2 / kp) / fit.w.sum(axis=1)
    return np.maximum(tau2, 0.0), se, ~failed, flags


def _design_pm(yc, y, v, mask, x, kp, con):
    """Paule–Mandel with a design matrix: ``Q(τ²) = k - p`` (see :func:`tau2_pm`)."""
    m = yc.shape[0]
    kf = kp + x.shape[2]
    tau2 = np.zeros(m)
    converged = np.ones(m, dtype=bool)
    flags: dict = {}

    def q(t, rows):
        return _mixed_qr(yc[rows], v[rows], mask[rows], x[rows], t).rss - kp[rows]

    allrows = np.arange(m)
    f0 = q(np.zeros(m), allrows)
    search = np.nonzero(f0 >= 0)[0]
    if search.size:
        tmax = np.maximum(100.0, 10.0 * _mad_of(y, mask)[search] ** 2)
        fmax = q(tmax, search)
        good = fmax <= 0
        rows = search[good]
        if rows.size:

            def f(t, r):
                return q(t, rows[r])

            root, conv = zeroin(
                f, np.zeros(rows.size), tmax[good], f0[rows], fmax[good], con.tol, con.maxiter
            )
            tau2[rows] = root
            if not conv.all():
                flags["uniroot"] = np.isin(allrows, rows[~conv])
        bad = search[~good]
        if bad.size:
            tau2[bad] = _exact_root(q, bad, tmax[~good])
            converged[bad] = False
            flags["pm_fallback"] = np.isin(allrows, bad)
    fit = _mixed_qr(yc, v, mask, x, tau2)
    se = np.sqrt(2.0 * kf**2 / kp) / fit.w.sum(axis=1)
    return tau2, se, converged, flags


def qprofile_bounds(qfun, rows, df, q_min, tau2, alpha, control):
    """Q-profile CI of τ² from a generalised-Q function, as metafor's ``confint()``.

    ``qfun(x, sub)`` returns ``Q(τ² = x)`` for the rows ``sub`` (indices into ``rows``'s
    own index space, i.e. the same integers as ``rows``). The search interval is
    ``[0, max(100, 10 τ²)]``; the bounds solve ``Q = χ²_{df; 1-α/2}`` (lower) and
    ``Q = χ²_{df; α/2}`` (upper) with R's ``uniroot()`` at ``control``'s ``tol``;
    out-of-range and null-set cases follow metafor (see :func:`ketameta.models.qprofile_ci`).

    Returns
    -------
    lb, ub : ndarray (len(rows),)
    flags : dict of str -> ndarray of bool (len(rows),)
        ``ci_null``, ``ci_ub_max``, ``ci_both_max``, ``ci_search``.
    """
    from ketameta._dist import chi2_isf, chi2_ppf

    con = as_control(control)
    n = rows.size
    flags = {key: np.zeros(n, dtype=bool) for key in ("ci_null", "ci_ub_max", "ci_both_max")}
    flags["ci_search"] = np.zeros(n, dtype=bool)
    crit_u = chi2_isf(alpha / 2.0, df)
    crit_l = chi2_ppf(alpha / 2.0, df)
    tmax = np.maximum(100.0, 10.0 * tau2)
    q_max = qfun(tmax, rows)

    def search(sel, target):
        sub = rows[sel]

        def f(x, r):
            return qfun(x, sub[r]) - target[sel][r]

        root, conv = zeroin(
            f,
            np.zeros(sub.size),
            tmax[sel],
            q_min[sel] - target[sel],
            q_max[sel] - target[sel],
            con.tol,
            con.ci_maxiter,
        )
        flags["ci_search"][np.nonzero(sel)[0][~conv]] = True
        return root

    ub = np.full(n, np.nan)
    lb = np.full(n, np.nan)
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
    flags["ci_null"] = null & ~both_above
    flags["ci_ub_max"] = above_l & ~both_above
    flags["ci_both_max"] = both_above
    return lb, ub, flags


@dataclass(frozen=True, eq=False)
class DesignFit:
    """Results of :func:`fit_design` for every row of a batch.

    Attributes
    ----------
    k, p : ndarray of int (m,)
        Studies used and coefficients.
    beta, se, statistic, p_value, ci_low, ci_high : ndarray (m, p)
        Coefficients, standard errors (Knapp–Hartung scaled for ``knha``/``adhoc``), z or
        t statistics, two-sided p-values and confidence limits.
    vcov : ndarray (m, p, p)
        Variance–covariance matrix of ``beta`` (scaled as ``se``).
    df : ndarray (m,)
        ``k - p`` for the t-based tests, ``inf`` for z.
    QM, QM_df, QM_df2, QM_p : ndarray (m,)
        Omnibus test of the moderators (the coefficients in ``btt``): χ² on ``QM_df``
        degrees of freedom for z, F on (``QM_df``, ``QM_df2 = k - p``) otherwise (QM is
        then divided by ``QM_df``, as metafor).
    QE, QE_df, QE_p : ndarray (m,)
        Test of residual heterogeneity (weights ``1/vi``), ``k - p`` df.
    tau2, se_tau2, I2, H2, vt : ndarray (m,)
        Residual τ², metafor's ``se.tau2``, I² (percent), H² and the typical within-study
        variance ``(k - p) / tr(P)``.
    tau2_ci_low, tau2_ci_high, I2_ci_low, I2_ci_high : ndarray (m,)
        Q-profile CI of the residual τ² (and of I²).
    weights : ndarray (m, k)
        ``1 / (vi + τ²)``, 0 at pads.
    converged : ndarray of bool (m,)
    flags : dict of str -> ndarray of bool (m,)
    """

    k: np.ndarray
    p: int
    beta: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    vcov: np.ndarray
    df: np.ndarray
    crit: np.ndarray
    QM: np.ndarray
    QM_df: np.ndarray
    QM_df2: np.ndarray
    QM_p: np.ndarray
    QE: np.ndarray
    QE_df: np.ndarray
    QE_p: np.ndarray
    tau2: np.ndarray
    se_tau2: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    vt: np.ndarray
    tau2_ci_low: np.ndarray
    tau2_ci_high: np.ndarray
    I2_ci_low: np.ndarray
    I2_ci_high: np.ndarray
    weights: np.ndarray
    converged: np.ndarray
    flags: dict = field(default_factory=dict)


def design_rank_ok(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """True for rows whose design, restricted to the present studies, has full column rank."""
    xm = np.where(mask[:, :, None], x, 0.0)
    return np.linalg.matrix_rank(xm) == x.shape[2]


def fit_design(
    b: Batch,
    x: np.ndarray,
    method: str = "REML",
    test: str = "z",
    alpha: float = 0.05,
    btt=None,
    control=None,
    tau2_ci: bool = True,
    tau2_fixed=None,
) -> DesignFit:
    """Fit the mixed-effects meta-regression ``y = X β + u + e`` to every row of a batch.

    metafor's ``rma.uni(yi, vi, mods = X, intercept = FALSE, method, test, level)``
    (Viechtbauer 2010; Raudenbush 2009), step for step where its iterations are concerned
    (``control="metafor"``) or at the exact optimum (the default).

    Parameters
    ----------
    b : Batch
    x : ndarray (m, k, p)
        Design matrix per row (include a column of ones for an intercept); values at pads
        are ignored.
    method : str
        τ² estimator (metafor name; ``EE``/``FE`` for the fixed-effects model).
    test : {"z", "knha", "adhoc", "t"}
    alpha : float
        Two-sided error rate of the confidence intervals.
    btt : sequence of int, optional
        Coefficients tested by ``QM`` (metafor's ``btt``); default all.
    control : see :func:`as_control`
    tau2_ci : bool
        Compute the Q-profile CI of τ².
    tau2_fixed : ndarray (m,), optional
        Use this τ² instead of estimating it (metafor's ``tau2 =`` argument).

    Returns
    -------
    DesignFit
        Rows with ``k <= p`` (``k < p`` for EE) or a design not of full rank are NaN and
        flagged ``"rank"``.
    """
    from scipy import special

    from ketameta._dist import chi2_sf, f_sf, t_isf, t_sf

    con = as_control(control)
    m, width = b.y.shape
    p = x.shape[2]
    x = np.where(b.mask[:, :, None], np.broadcast_to(x, (m, width, p)), 0.0)
    ee = method in ("EE", "FE")
    kf = b.k.astype(float)
    enough = (b.k > p) | (ee & (b.k >= p))
    # Every τ² estimator, Q and P depend on the design only through its column space:
    # work with the orthonormal Q factor of X (well conditioned whatever the scale of the
    # moderators, e.g. years) and map β and its covariance back with R at the end.
    x, r0 = np.linalg.qr(x)
    diag = np.abs(np.diagonal(r0, axis1=1, axis2=2))
    ok = enough & (diag.min(axis=1) > max(width, p) * EPS * diag.max(axis=1))
    nan_m = np.full(m, np.nan)
    out = {
        name: np.full((m, p), np.nan)
        for name in ("beta", "se", "statistic", "p_value", "ci_low", "ci_high")
    }
    vcov = np.full((m, p, p), np.nan)
    scal = {
        name: nan_m.copy()
        for name in (
            "QM", "QM_p", "QE", "QE_p", "tau2", "se_tau2", "I2", "H2", "vt",
            "tau2_ci_low", "tau2_ci_high", "I2_ci_low", "I2_ci_high", "crit",
        )
    }  # fmt: skip
    weights = np.zeros((m, width))
    converged = ok.copy()
    flags: dict = {"rank": ~ok & (b.k >= 1)}
    rows = np.nonzero(ok)[0]
    kp = kf - p
    df = np.where(test != "z", kp, np.inf)
    if btt is None:
        btt = np.arange(p)
    btt = np.asarray(btt, dtype=int)
    nb = btt.size
    if rows.size:
        y, v, mask, xr = b.y[rows], b.v[rows], b.mask[rows], x[rows]
        k_r = kf[rows]
        with np.errstate(all="ignore"):
            mean = y.sum(axis=1) / k_r
            yc = np.where(mask, y - mean[:, None], 0.0)
            if tau2_fixed is not None:
                tau2 = np.asarray(tau2_fixed, dtype=float)[rows]
                se_tau2 = np.full(rows.size, np.nan)
                conv, est_flags = np.ones(rows.size, dtype=bool), {}
            else:
                tau2, se_tau2, conv, est_flags = _design_tau2(
                    method, yc, y, v, mask, xr, con
                )
            for key, val in est_flags.items():
                full = np.zeros(m, dtype=bool)
                full[rows] = val
                flags[key] = full
            converged[rows] = conv
            fit = _mixed_qr(y, v, mask, xr, tau2)
            r0inv = np.linalg.inv(r0[rows])
            beta = (r0inv @ fit.beta()[:, :, None])[:, :, 0]
            vb = r0inv @ fit.xtwx_inv() @ np.swapaxes(r0inv, 1, 2)
            kp_r = kp[rows]
            if test in ("knha", "adhoc"):
                s2w = np.where(fit.rss <= EPS, 0.0, fit.rss / kp_r)
                if test == "adhoc":
                    s2w = np.maximum(s2w, 1.0)
                vb = vb * s2w[:, None, None]
            se = np.sqrt(np.diagonal(vb, axis1=1, axis2=2))
            zval = beta / se
            df_r = df[rows]
            if test == "z":
                pval = 2.0 * special.ndtr(-np.abs(zval))
                crit = np.full(rows.size, -special.ndtri(alpha / 2.0))
            else:
                pval = 2.0 * t_sf(np.abs(zval), df_r[:, None])
                crit = t_isf(alpha / 2.0, df_r)
            sub = vb[:, btt][:, :, btt]
            bb = beta[:, btt]
            qm = np.einsum("ma,ma->m", bb, np.linalg.solve(sub, bb[:, :, None])[:, :, 0])
            if test == "z":
                qm_p = chi2_sf(qm, nb)
            else:
                qm = qm / nb
                qm_p = f_sf(qm, nb, kp_r)
            fe = _QR.of(yc, np.where(mask, 1.0 / v, 0.0), xr)
            qe = np.maximum(fe.rss, 0.0)
            has_df = kp_r > 0
            qe_p = np.where(has_df, chi2_sf(qe, np.where(has_df, kp_r, 1.0)), np.nan)
            vt = kp_r / fe.tr_p()
            if ee:
                i2 = np.maximum(0.0, 100.0 * (qe - kp_r) / qe)
                h2 = qe / kp_r
            else:
                i2 = 100.0 * tau2 / (vt + tau2)
                h2 = tau2 / vt + 1.0
            out["beta"][rows] = beta
            out["se"][rows] = se
            out["statistic"][rows] = zval
            out["p_value"][rows] = pval
            out["ci_low"][rows] = beta - crit[:, None] * se
            out["ci_high"][rows] = beta + crit[:, None] * se
            vcov[rows] = vb
            scal["crit"][rows] = crit
            scal["QM"][rows] = qm
            scal["QM_p"][rows] = qm_p
            scal["QE"][rows] = np.where(has_df, qe, np.nan)
            scal["QE_p"][rows] = qe_p
            scal["tau2"][rows] = tau2
            scal["se_tau2"][rows] = se_tau2
            scal["I2"][rows] = np.where(has_df, i2, np.nan)
            scal["H2"][rows] = np.where(has_df, h2, np.nan)
            scal["vt"][rows] = np.where(has_df, vt, np.nan)
            weights[rows] = fit.w
            if tau2_ci and not ee and tau2_fixed is None:
                ci_rows = np.nonzero(has_df)[0]
                if ci_rows.size:

                    def qfun(t, sub_rows):
                        return _mixed_qr(
                            y[sub_rows], v[sub_rows], mask[sub_rows], xr[sub_rows], t
                        ).rss

                    q_min = qfun(np.zeros(ci_rows.size), ci_rows)
                    lb, ub, ci_flags = qprofile_bounds(
                        qfun, ci_rows, kp_r[ci_rows], q_min, tau2[ci_rows], alpha, con
                    )
                    dest = rows[ci_rows]
                    scal["tau2_ci_low"][dest] = lb
                    scal["tau2_ci_high"][dest] = ub
                    vt_c = vt[ci_rows]
                    scal["I2_ci_low"][dest] = 100.0 * lb / (vt_c + lb)
                    scal["I2_ci_high"][dest] = 100.0 * ub / (vt_c + ub)
                    for key, val in ci_flags.items():
                        full = np.zeros(m, dtype=bool)
                        full[dest] = val
                        flags[key] = full
    if ee:
        scal["tau2"] = np.where(ok, 0.0, np.nan)
    return DesignFit(
        k=b.k.copy(),
        p=p,
        vcov=vcov,
        df=np.where(ok, df, np.nan),
        QM_df=np.where(ok, float(nb), np.nan),
        QM_df2=np.where(ok & (test != "z"), kp, np.nan),
        QE_df=np.where(ok, kp, np.nan),
        weights=weights,
        converged=converged,
        flags={key: val for key, val in flags.items() if val.any()},
        **out,
        **scal,
    )
