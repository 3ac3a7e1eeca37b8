"""Batch helpers for the meta-analysis engine: padding, masking, weighted sums, root finding.

Every function here works on a batch of ``m`` meta-analyses stored as ``(m, k)`` arrays.
Ragged rows are padded: a study is present where ``mask`` is True. Padded cells of ``y``
hold 0 and padded cells of ``v`` hold 1 so that arithmetic on them is harmless; every
sum over studies multiplies by the mask (or by weights that are 0 at pads).

These helpers are internal to :mod:`ketameta` but stable: :mod:`ketameta.models`,
:mod:`ketameta.bias` and :mod:`ketameta.sensitivity` build on them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

EPS = np.finfo(float).eps

__all__ = [
    "Batch",
    "as_batch",
    "brentq",
    "complement_sums",
    "components",
    "weighted_fit",
    "weight_traces",
    "zeroin",
]


@dataclass(frozen=True, eq=False)
class Batch:
    """Padded batch of meta-analyses.

    Attributes
    ----------
    y, v : ndarray, shape (m, k)
        Effect sizes and sampling variances; 0 and 1 at padded cells.
    mask : ndarray of bool, shape (m, k)
        True where a study is present (both ``yi`` and ``vi`` finite).
    k : ndarray of int, shape (m,)
        Number of studies per row.
    squeeze : bool
        True when the input was 1-D (a single meta-analysis).
    yi, vi : ndarray
        The input as float arrays, in the caller's shape (NaN kept).
    """

    y: np.ndarray
    v: np.ndarray
    mask: np.ndarray
    k: np.ndarray
    squeeze: bool
    yi: np.ndarray
    vi: np.ndarray


def as_batch(yi, vi, mask=None) -> Batch:
    """Validate ``yi``/``vi`` and return them as a padded :class:`Batch`.

    Parameters
    ----------
    yi, vi : array_like, 1-D (one meta-analysis) or 2-D (one meta-analysis per row)
        Effect sizes and their sampling variances. NaN in either marks a missing study
        (a pad), as metafor omits studies with missing values.
    mask : array_like of bool, optional
        Extra mask of the same shape: studies where it is False are left out (used for
        leave-one-out style batches). Combined with the NaN mask by logical and.

    Returns
    -------
    Batch

    Raises
    ------
    ValueError
        If shapes differ or are not 1-D/2-D, if a value is infinite, if a present study
        has ``vi <= 0``, or if a 1-D input has no study at all. These are invalid inputs,
        not numerical failures.
    """
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    if yi.shape != vi.shape:
        raise ValueError(f"yi and vi must have the same shape, got {yi.shape} and {vi.shape}")
    if yi.ndim not in (1, 2):
        raise ValueError(f"yi and vi must be 1-D or 2-D arrays, got {yi.ndim} dimensions")
    if np.isinf(yi).any() or np.isinf(vi).any():
        raise ValueError("yi and vi must not contain infinite values (use NaN for missing)")
    squeeze = yi.ndim == 1
    y2 = np.atleast_2d(yi)
    v2 = np.atleast_2d(vi)
    present = ~(np.isnan(y2) | np.isnan(v2))
    if mask is not None:
        extra = np.asarray(mask, dtype=bool)
        if extra.shape != yi.shape:
            raise ValueError(f"mask must have the shape of yi {yi.shape}, got {extra.shape}")
        present &= np.atleast_2d(extra)
    bad = present & (v2 <= 0)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        where = f"position {col}" if squeeze else f"row {row}, column {col}"
        raise ValueError(
            f"sampling variances must be positive; vi = {v2[row, col]!r} at {where}"
        )
    k = present.sum(axis=1)
    if squeeze and k[0] == 0:
        raise ValueError("no study has both yi and vi present (k = 0)")
    y = np.where(present, y2, 0.0)
    v = np.where(present, v2, 1.0)
    return Batch(y=y, v=v, mask=present, k=k, squeeze=squeeze, yi=yi, vi=vi)


def complement_sums(x: np.ndarray) -> np.ndarray:
    """Return ``sum_j x_j - x_i`` per row, computed without cancellation.

    ``x`` is non-negative with zeros at pads. Only the largest element of a row can exceed
    half of the row total; for it the complement is summed directly, for the others the
    difference ``total - x_i`` loses no significant digits.
    """
    total = x.sum(axis=1, keepdims=True)
    comp = total - x
    rows = np.arange(x.shape[0])
    top = np.argmax(x, axis=1)
    rest = x.copy()
    rest[rows, top] = 0.0
    comp[rows, top] = rest.sum(axis=1)
    return comp


def weight_traces(w: np.ndarray):
    """Traces of ``P = W - w w' / sum(w)`` for diagonal weights ``w`` (0 at pads).

    ``P`` is the residual-forming matrix of the intercept-only weighted model (metafor's
    ``P``). Cancellation-free forms are used so that a dominant weight (variance ratios of
    1e5 and more) does not wipe out the result.

    Returns
    -------
    sw : ndarray (m,)
        ``sum(w)``.
    trP : ndarray (m,)
        ``tr(P) = sum(w) - sum(w^2)/sum(w)``.
    trPP : ndarray (m,)
        ``tr(PP) = sum_ij P_ij^2``.
    """
    sw = w.sum(axis=1)
    others = complement_sums(w)
    w2 = w * w
    others2 = complement_sums(w2)
    with np.errstate(invalid="ignore", divide="ignore"):
        trP = (w * others).sum(axis=1) / sw
        trPP = ((w2 * others * others).sum(axis=1) + (w2 * others2).sum(axis=1)) / sw**2
    return sw, trP, trPP


def weighted_fit(y: np.ndarray, w: np.ndarray):
    """Weighted mean and residual sum of squares per row.

    Parameters
    ----------
    y : ndarray (m, k)
    w : ndarray (m, k)
        Weights, 0 at pads.

    Returns
    -------
    sw, mu, rss : ndarray (m,)
        ``sum(w)``, ``sum(w y)/sum(w)`` and ``sum(w (y - mu)^2)``.
    resid : ndarray (m, k)
        ``y - mu`` (garbage at pads, where the weight is 0).
    """
    sw = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = (w * y).sum(axis=1) / sw
    resid = y - mu[:, None]
    rss = (w * resid * resid).sum(axis=1)
    return sw, mu, rss, resid


def zeroin(f, lower, upper, f_lower, f_upper, tol, maxiter):
    """Vectorised Brent root search, step for step as R's ``uniroot()``.

    This reproduces R's ``R_zeroin2`` (``src/library/stats/src/zeroin.c``; Brent 1973,
    *Algorithms for Minimization without Derivatives*, ch. 4, as adapted from NETLIB by
    R core): the same bisection / secant / inverse quadratic interpolation decisions, the
    same tolerance ``2 * eps * |b| + tol / 2`` and the same stopping rule. Fed the same
    function values it visits the same points, so a root found with metafor's coarse
    ``tol = .Machine$double.eps^0.25`` equals metafor's value, not the exact root.

    Parameters
    ----------
    f : callable ``f(x, rows) -> ndarray``
        Evaluates the function for the rows ``rows`` (integer index array) at ``x``
        (same length as ``rows``).
    lower, upper, f_lower, f_upper : ndarray (n,)
        Interval ends and the function at them; the signs must differ (or one be 0).
    tol : float
        Absolute tolerance (R's ``tol``).
    maxiter : int
        Iteration limit (R's ``maxiter``).

    Returns
    -------
    root : ndarray (n,)
    converged : ndarray of bool (n,)
        False where the iteration limit was reached (R's ``uniroot`` then warns and still
        returns the last iterate).
    """
    if np.shape(lower) == (1,):
        root, conv = _zeroin_one(f, *(float(x[0]) for x in (lower, upper, f_lower, f_upper)),
                                 tol, maxiter)
        return np.array([root]), np.array([conv])
    a = np.array(lower, dtype=float, copy=True)
    b = np.array(upper, dtype=float, copy=True)
    fa = np.array(f_lower, dtype=float, copy=True)
    fb = np.array(f_upper, dtype=float, copy=True)
    c = a.copy()
    fc = fa.copy()
    n = a.shape[0]
    root = np.full(n, np.nan)
    converged = np.zeros(n, dtype=bool)
    at_a = fa == 0.0
    at_b = ~at_a & (fb == 0.0)
    root[at_a] = a[at_a]
    root[at_b] = b[at_b]
    converged[at_a | at_b] = True
    active = ~(at_a | at_b)
    with np.errstate(all="ignore"):
        for _ in range(maxiter + 1):
            if not active.any():
                break
            prev_step = b - a
            swap = active & (np.abs(fc) < np.abs(fb))
            a = np.where(swap, b, a)
            b = np.where(swap, c, b)
            c = np.where(swap, a, c)
            fa = np.where(swap, fb, fa)
            fb = np.where(swap, fc, fb)
            fc = np.where(swap, fa, fc)
            tol_act = 2.0 * EPS * np.abs(b) + tol / 2.0
            new_step = (c - b) / 2.0
            done = active & ((np.abs(new_step) <= tol_act) | (fb == 0.0))
            root[done] = b[done]
            converged[done] = True
            active &= ~done
            if not active.any():
                break
            interp = active & (np.abs(prev_step) >= tol_act) & (np.abs(fa) > np.abs(fb))
            cb = c - b
            linear = a == c
            t1_lin = fb / fa
            p_lin = cb * t1_lin
            q_lin = 1.0 - t1_lin
            qq = fa / fc
            t1 = fb / fc
            t2 = fb / fa
            p_quad = t2 * (cb * qq * (qq - t1) - (b - a) * (t1 - 1.0))
            q_quad = (qq - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            p = np.where(linear, p_lin, p_quad)
            q = np.where(linear, q_lin, q_quad)
            q = np.where(p > 0.0, -q, q)
            p = np.where(p > 0.0, p, -p)
            accept = (
                interp
                & (p < 0.75 * cb * q - np.abs(tol_act * q) / 2.0)
                & (p < np.abs(prev_step * q / 2.0))
            )
            new_step = np.where(accept, p / q, new_step)
            small = np.abs(new_step) < tol_act
            new_step = np.where(small, np.where(new_step > 0.0, tol_act, -tol_act), new_step)
            a = np.where(active, b, a)
            fa = np.where(active, fb, fa)
            b = np.where(active, b + new_step, b)
            rows = np.nonzero(active)[0]
            fb[rows] = f(b[rows], rows)
            same_sign = active & (((fb > 0) & (fc > 0)) | ((fb < 0) & (fc < 0)))
            c = np.where(same_sign, a, c)
            fc = np.where(same_sign, fa, fc)
    root[active] = b[active]
    return root, converged


def _zeroin_one(f, a, b, fa, fb, tol, maxiter):
    """:func:`zeroin` for a single row, in Python floats (same steps, less overhead).

    A batch of one meta-analysis is common (every single :func:`ketameta.rma` call); array
    operations on length-1 arrays cost more than the arithmetic. The tests check that
    batch and single fits agree exactly.
    """
    rows = np.zeros(1, dtype=int)
    c, fc = a, fa
    if fa == 0.0:
        return a, True
    if fb == 0.0:
        return b, True
    for _ in range(maxiter + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2.0 * EPS * abs(b) + tol / 2.0
        new_step = (c - b) / 2.0
        if abs(new_step) <= tol_act or fb == 0.0:
            return b, True
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0.0:
                q = -q
            else:
                p = -p
            if p < 0.75 * cb * q - abs(tol_act * q) / 2.0 and p < abs(prev_step * q / 2.0):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0.0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = float(f(np.array([b]), rows)[0])
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b, False


def brentq(f, a: float, b: float, xtol: float = 2e-12, rtol: float = 4 * EPS,
           maxiter: int = 100) -> float:
    """A root of ``f`` in ``[a, b]``, point for point as ``scipy.optimize.brentq`` finds it.

    Brent's method in the form SciPy's ``brentq`` uses (C. Harris's ``brentq.c``: the
    bracket end ``blk``, the previous and current iterates, inverse quadratic
    extrapolation while it shortens the step, else the secant or bisection, and a step of
    at least ``(xtol + rtol * |x|) / 2``), written here so that a job needs no
    ``scipy.optimize``, which takes a fifth of a second to import. Fed the same function
    values it does the same floating-point operations, so it returns the same root to the
    last bit (``tests/test_batch.py`` compares the two). Its errors are SciPy's too:
    ``ValueError`` for ends whose values have the same sign or a value that is NaN,
    ``RuntimeError`` when ``maxiter`` steps do not converge.
    """
    if not xtol > 0:
        raise ValueError(f"xtol too small ({xtol:g} <= 0)")
    if rtol < 4 * EPS:
        raise ValueError(f"rtol too small ({rtol:g} < {4 * EPS:g})")

    def value(x) -> np.float64:
        fx = np.float64(f(x))
        if math.isnan(fx):
            raise ValueError(f"The function value at x={x:f} is NaN; solver cannot continue.")
        return fx

    # IEEE arithmetic, as in C: a division by zero gives an infinity or NaN, which the
    # comparisons below then turn into a bisection step, rather than an exception.
    prev, cur = np.float64(a), np.float64(b)
    f_prev, f_cur = value(prev), value(cur)
    with np.errstate(all="ignore"):
        if f_prev * f_cur > 0:
            raise ValueError("f(a) and f(b) must have different signs")
        if f_prev == 0:
            return float(prev)
        if f_cur == 0:
            return float(cur)
        far = f_far = np.float64(0.0)  # the other end of the bracket and f there
        step = step_before = np.float64(0.0)
        for _ in range(maxiter):
            if f_prev * f_cur < 0:  # the root lies between prev and cur: prev ends the bracket
                far, f_far = prev, f_prev
                step = step_before = cur - prev
            if abs(f_far) < abs(f_cur):  # keep the best point in cur
                prev, cur, far = cur, far, cur
                f_prev, f_cur, f_far = f_cur, f_far, f_cur
            half_tol = (xtol + rtol * abs(cur)) / 2
            half = (far - cur) / 2
            if f_cur == 0 or abs(half) < half_tol:
                return float(cur)
            if abs(step_before) > half_tol and abs(f_cur) < abs(f_prev):
                if prev == far:  # secant through prev and cur
                    trial = -f_cur * (cur - prev) / (f_cur - f_prev)
                else:  # inverse quadratic through prev, cur and far
                    slope_prev = (f_prev - f_cur) / (prev - cur)
                    slope_far = (f_far - f_cur) / (far - cur)
                    trial = -f_cur * (f_far * slope_far - f_prev * slope_prev) \
                        / (slope_far * slope_prev * (f_far - f_prev))
                if 2 * abs(trial) < min(abs(step_before), 3 * abs(half) - half_tol):
                    step_before, step = step, trial
                else:
                    step_before = step = half
            else:
                step_before = step = half
            prev, f_prev = cur, f_cur
            cur = cur + (step if abs(step) > half_tol else (half_tol if half > 0 else -half_tol))
            f_cur = value(cur)
    raise RuntimeError(f"Failed to converge after {maxiter} iterations, value is {cur}")


def components(linked: np.ndarray) -> list[np.ndarray]:
    """The connected components of an undirected graph, as sorted index arrays.

    ``linked`` is a square boolean matrix, True where two nodes are joined (either
    triangle suffices). The components come in the order of their lowest node, as
    ``scipy.sparse.csgraph.connected_components`` numbers them, without importing
    ``scipy.sparse`` (about a tenth of a second).
    """
    linked = np.asarray(linked, dtype=bool)
    linked = linked | linked.T
    k = linked.shape[0]
    label = np.full(k, -1)
    found: list[np.ndarray] = []
    for start in range(k):
        if label[start] >= 0:
            continue
        label[start] = len(found)
        frontier = [start]
        while frontier:
            reached = np.flatnonzero(linked[frontier].any(axis=0) & (label < 0))
            label[reached] = len(found)
            frontier = reached.tolist()
        found.append(np.flatnonzero(label == len(found)))
    return found
