"""Mantel–Haenszel and Peto pooling of 2×2 tables, as metafor's ``rma.mh()`` and ``rma.peto()``.

Both are equal-effects methods that pool the tables themselves rather than study-level
effect sizes, which is why they stay usable for rare events (tables with zero cells
contribute without a continuity correction).

Conventions (metafor's, version 3.8):

- Arguments are metafor's: ``ai, bi, ci, di`` (events and non-events in the treatment and
  control arm) or ``ai, ci, n1i, n2i``. 1-D arrays are one meta-analysis; 2-D arrays are one
  per row, NaN padding ragged rows.
- ``add``, ``to`` and ``drop00`` take one value or two: the first applies to the
  study-level ``yi``/``vi`` (metafor's ``escalc``; used for Q, I² and H²), the second to
  the tables pooled by the method. The defaults are metafor's: ``add=(1/2, 0)``,
  ``to=("only0", "none")``, ``drop00=(True, False)``, so the pooled estimate uses the
  tables as observed.
- Mantel–Haenszel (Mantel & Haenszel 1959, *J Natl Cancer Inst* 22:719): the log odds
  ratio with the variance of Robins, Breslow & Greenland (1986, *Biometrics* 42:311); the
  log risk ratio with the variance of Greenland & Robins (1985, *Biometrics* 41:55); the
  risk difference with the variance of Sato, Greenland & Robins (1989, *Biometrics*
  45:1323). For the OR also the Cochran–Mantel–Haenszel test (with continuity correction
  when ``correct``), the Breslow–Day test and Tarone's corrected version of it (Tarone
  1985, *Biometrika* 72:91), over the tables whose expected counts under the pooled OR
  are positive. An estimate that is undefined (no events in one arm of every table) is
  NaN, as metafor's NA.
- Peto (Yusuf et al. 1985, *Prog Cardiovasc Dis* 27:335): the log odds ratio
  Σ(O − E)/ΣV with variance 1/ΣV, and its own heterogeneity statistic.
- Q is Cochran's statistic of the study-level effects about the pooled estimate, with
  k − 1 degrees of freedom (k = tables with a defined study-level effect); I² = 100·(Q −
  (k − 1))/Q truncated at 0 and H² = Q/(k − 1); for k = 1, Q = 0, its p-value 1, I² = 0,
  H² = 1. Intervals and tests use the normal distribution; ``level`` is in percent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from scipy import special

from ketameta._dist import chi2_sf
from ketameta._results import plain

from .effects import _two_by_two

__all__ = ["MHResult", "rma_mh", "rma_peto"]


@dataclass(frozen=True)
class MHResult:
    """Result of :func:`rma_mh` or :func:`rma_peto` (scalars for 1-D input, arrays for 2-D).

    Attributes
    ----------
    method : str
        ``"MH"`` or ``"PETO"``.
    measure : str
        ``"OR"``, ``"RR"`` or ``"RD"`` (``"OR"`` for Peto).
    k : int or ndarray
        Tables pooled.
    k_yi : int or ndarray
        Tables with a defined study-level effect (Q has ``k_yi − 1`` degrees of freedom).
    estimate, se, ci_low, ci_high, statistic, p_value
        Pooled effect (log scale for OR and RR), its standard error, CI and z test.
    Q, Q_df, Q_p, I2, H2
        Heterogeneity (I² in percent).
    cmh_statistic, cmh_p
        Cochran–Mantel–Haenszel test (MH, OR only; NaN otherwise).
    bd_statistic, bd_p, tarone_statistic, tarone_p, bd_df
        Breslow–Day test and Tarone's test of homogeneity of odds ratios (MH, OR only).
    yi, vi : ndarray
        Study-level effects and variances (metafor ``escalc`` with the first ``add``,
        ``to``, ``drop00``); NaN where undefined or dropped.
    warnings : tuple of str (a tuple per row for a batch)
    """

    method: str
    measure: str
    level: float
    k: object
    k_yi: object
    estimate: object
    se: object
    ci_low: object
    ci_high: object
    statistic: object
    p_value: object
    Q: object
    Q_df: object
    Q_p: object
    I2: object
    H2: object
    cmh_statistic: object
    cmh_p: object
    bd_statistic: object
    bd_p: object
    tarone_statistic: object
    tarone_p: object
    bd_df: object
    yi: np.ndarray
    vi: np.ndarray
    warnings: tuple

    @property
    def is_batch(self) -> bool:
        return np.ndim(self.estimate) == 1

    def to_dict(self) -> dict:
        """JSON-ready dict of every field but ``yi``/``vi`` (NaN becomes None)."""
        out = {}
        for f in fields(self):
            if f.name in ("yi", "vi"):
                continue
            out[f.name] = plain(getattr(self, f.name))
        return out


def _pair(name, value, default_second):
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"{name} takes one value or two (study level, pooling); got {value!r}")
        return tuple(value)
    return (value, default_second)


def _tables(ai, bi, ci, di, n1i, n2i):
    """Validate counts; return float arrays a, b, c, d of shape (m, k) and the squeeze flag."""
    if ai is None or ci is None:
        raise ValueError("ai and ci (events in the treatment and control arm) are required")
    if (bi is None) != (di is None) or (bi is None and (n1i is None or n2i is None)):
        raise ValueError("give either bi and di (non-events) or n1i and n2i (arm sizes)")
    arrays = {"ai": ai, "ci": ci}
    arrays.update({"bi": bi, "di": di} if bi is not None else {"n1i": n1i, "n2i": n2i})
    arrays = {k: np.asarray(v, dtype=float) for k, v in arrays.items()}
    shape = arrays["ai"].shape
    for name, arr in arrays.items():
        if arr.shape != shape:
            raise ValueError(f"{name} has shape {arr.shape}, ai has {shape}")
    if len(shape) not in (1, 2):
        raise ValueError(f"counts must be 1-D or 2-D arrays, got {len(shape)} dimensions")
    for name, arr in arrays.items():
        bad = np.isinf(arr) | (arr < 0)
        if bad.any():
            pos = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{name} must be a non-negative count, got {arr[pos]!r} at {pos}")
    a, c = arrays["ai"], arrays["ci"]
    if bi is not None:
        b, d = arrays["bi"], arrays["di"]
    else:
        for ev, n, label in ((a, arrays["n1i"], "ai > n1i"), (c, arrays["n2i"], "ci > n2i")):
            bad = ev > n
            if bad.any():
                pos = tuple(int(i) for i in np.argwhere(bad)[0])
                raise ValueError(f"more events than participants ({label}) at {pos}")
        b, d = arrays["n1i"] - a, arrays["n2i"] - c
    squeeze = len(shape) == 1
    a, b, c, d = (np.atleast_2d(x) for x in (a, b, c, d))
    present = ~(np.isnan(a) | np.isnan(b) | np.isnan(c) | np.isnan(d))
    if squeeze and not present.any():
        raise ValueError("no complete 2x2 table (k = 0)")
    return a, b, c, d, present, squeeze


def _study_level(measure, a, b, c, d, present, add, to, drop00):
    """metafor ``escalc`` yi/vi per table (rows handled one by one for ``to="if0all"``)."""
    if measure == "PETO":
        yi = np.full(a.shape, np.nan)
        vi = np.full(a.shape, np.nan)
        for r in range(a.shape[0]):
            p = present[r]
            aa, bb, cc, dd = a[r, p], b[r, p], c[r, p], d[r, p]
            if drop00:
                drop = ((aa == 0) & (cc == 0)) | ((bb == 0) & (dd == 0))
                aa, bb, cc, dd = (np.where(drop, np.nan, x) for x in (aa, bb, cc, dd))
            aa, bb, cc, dd = _added(aa, bb, cc, dd, add, to)
            n1, n2 = aa + bb, cc + dd
            n = n1 + n2
            xt, yt = aa + cc, bb + dd
            with np.errstate(invalid="ignore", divide="ignore"):
                v = xt * yt * (n1 / n) * (n2 / n) / (n - 1)
                y = np.where(v > 0, (aa - xt * n1 / n) / v, np.nan)
                yi[r, p] = y
                vi[r, p] = np.where(v > 0, 1 / v, np.nan)
        return yi, vi
    if to == "if0all":
        yi = np.full(a.shape, np.nan)
        vi = np.full(a.shape, np.nan)
        for r in range(a.shape[0]):
            p = present[r]
            y, v, _ = _two_by_two(measure, a[r, p], a[r, p] + b[r, p], c[r, p], c[r, p] + d[r, p],
                                  add=add, to=to, drop00=drop00, vtype="LS")
            yi[r, p], vi[r, p] = y, v
        return yi, vi
    y, v, _ = _two_by_two(measure, a, a + b, c, c + d, add=add, to=to, drop00=drop00, vtype="LS")
    y = np.where(present & np.isfinite(y) & np.isfinite(v), y, np.nan)
    v = np.where(np.isnan(y), np.nan, v)
    return y, v


def _added(a, b, c, d, add, to):
    """The pooling tables after metafor's second ``add``/``to`` rule (per row)."""
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    if to == "all":
        inc = np.ones_like(a)
    elif to == "only0":
        inc = zero.astype(float)
    elif to == "if0all":
        inc = np.broadcast_to(np.any(zero, axis=-1, keepdims=True), a.shape).astype(float)
    else:
        inc = np.zeros_like(a)
    return (x + add * inc for x in (a, b, c, d))


def _check_options(add, to, drop00, level):
    for t in to:
        if t not in ("only0", "all", "if0all", "none"):
            raise ValueError(f"to must be 'only0', 'all', 'if0all' or 'none', got {t!r}")
    for x in add:
        if not (isinstance(x, (int, float)) and math.isfinite(x) and x >= 0):
            raise ValueError(f"add must be a non-negative number, got {x!r}")
    for x in drop00:
        if not isinstance(x, (bool, np.bool_)):
            raise ValueError(f"drop00 must be True or False, got {x!r}")
    if not (isinstance(level, (int, float)) and 0 < level < 100):
        raise ValueError(f"level must be a number in (0, 100), got {level!r}")


def _heterogeneity(yi, vi, estimate):
    k_yi = (~np.isnan(yi)).sum(axis=1)
    w = np.where(np.isnan(yi), 0.0, 1.0 / np.where(np.isnan(vi), 1.0, vi))
    y0 = np.where(np.isnan(yi), 0.0, yi)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.maximum(0.0, (w * (y0 - estimate[:, None]) ** 2).sum(axis=1))
        q_p = chi2_sf(q, k_yi - 1)
        i2 = np.maximum(0.0, 100 * (q - (k_yi - 1)) / q)
        h2 = q / (k_yi - 1)
    one = k_yi <= 1
    q = np.where(one, 0.0, q)
    q_p = np.where(one, 1.0, q_p)
    i2 = np.where(one, 0.0, np.where(q == 0, 0.0, i2))
    h2 = np.where(one, 1.0, h2)
    nan = np.isnan(estimate) & ~one
    q, q_p, i2, h2 = (np.where(nan, np.nan, x) for x in (q, q_p, i2, h2))
    return k_yi, q, k_yi - 1, q_p, i2, h2


def _z_test(estimate, se, level):
    crit = special.ndtri(1 - (1 - level / 100) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = estimate / se
    return estimate - crit * se, estimate + crit * se, z, 2 * special.ndtr(-np.abs(z))


def rma_mh(measure="OR", ai=None, bi=None, ci=None, di=None, n1i=None, n2i=None, *,
           add=0.5, to="only0", drop00=True, correct=True, level=95) -> MHResult:
    """Mantel–Haenszel equal-effects meta-analysis of 2×2 tables (metafor ``rma.mh``).

    Parameters
    ----------
    measure : {"OR", "RR", "RD"}
    ai, bi, ci, di : array_like
        Events and non-events in the treatment (``ai``, ``bi``) and control arm (``ci``,
        ``di``); or give ``ai, ci, n1i, n2i`` (events and arm sizes).
    add, to, drop00 : one value or a pair
        Zero-cell rules for the study-level effects and for the pooled tables (see the
        module docstring; a single value applies to the study-level effects only, as in
        metafor).
    correct : bool
        Continuity correction in the Cochran–Mantel–Haenszel test.
    level : float
        Confidence level in percent.

    Returns
    -------
    MHResult
    """
    if measure not in ("OR", "RR", "RD"):
        raise ValueError(f"measure must be 'OR', 'RR' or 'RD' for rma_mh, got {measure!r}")
    return _fit("MH", measure, ai, bi, ci, di, n1i, n2i, add, to, drop00, correct, level)


def rma_peto(ai=None, bi=None, ci=None, di=None, n1i=None, n2i=None, *,
             add=0.5, to="only0", drop00=True, level=95) -> MHResult:
    """Peto's one-step log odds ratio of 2×2 tables (metafor ``rma.peto``).

    Arguments as :func:`rma_mh`. Where one of the two outcomes occurs in no table at all,
    metafor stops; here the estimate is NaN and ``warnings`` says why.
    """
    return _fit("PETO", "OR", ai, bi, ci, di, n1i, n2i, add, to, drop00, True, level)


def _fit(method, measure, ai, bi, ci, di, n1i, n2i, add, to, drop00, correct, level):
    add = _pair("add", add, 0)
    to = _pair("to", to, "none")
    drop00 = _pair("drop00", drop00, False)
    _check_options(add, to, drop00, level)
    a, b, c, d, present, squeeze = _tables(ai, bi, ci, di, n1i, n2i)
    yi, vi = _study_level("PETO" if method == "PETO" else measure, a, b, c, d, present,
                          add[0], to[0], drop00[0])
    if drop00[1]:
        present = present & ~(((a == 0) & (c == 0)) | ((b == 0) & (d == 0)))
    # pooled tables: pads and dropped tables are all-zero tables with no weight
    a, b, c, d = (np.where(present, x, 0.0) for x in (a, b, c, d))
    a, b, c, d = _added(a, b, c, d, add[1], to[1])
    a, b, c, d = (np.where(present, x, 0.0) for x in (a, b, c, d))
    k = present.sum(axis=1)
    m = a.shape[0]
    nan = np.full(m, np.nan)
    extra = dict(cmh_statistic=nan, cmh_p=nan, bd_statistic=nan, bd_p=nan,
                 tarone_statistic=nan, tarone_p=nan, bd_df=nan)
    warn = [[] for _ in range(m)]
    if method == "PETO":
        est, se, q, q_p, i2, h2, k_yi = _peto(a, b, c, d, present, yi, warn)
        q_df = k_yi - 1
    else:
        est, se, extra = _mh(measure, a, b, c, d, present, correct)
        k_yi, q, q_df, q_p, i2, h2 = _heterogeneity(yi, vi, est)
        for r in np.flatnonzero(np.isnan(est) & (k > 0)):
            warn[r].append("the Mantel-Haenszel estimate is undefined: no events in one arm of every table")
    ci_low, ci_high, z, p = _z_test(est, se, level)
    empty = k == 0
    for r in np.flatnonzero(empty):
        warn[r].append("no table to pool (k = 0)")

    def out(x):
        x = np.where(empty, np.nan, x) if np.asarray(x).dtype.kind == "f" else x
        return x[0].item() if squeeze else x

    def out_int(x):
        return int(x[0]) if squeeze else np.asarray(x, dtype=int)

    warnings = tuple(warn[0]) if squeeze else tuple(tuple(w) for w in warn)
    return MHResult(
        method=method, measure=measure, level=float(level), k=out_int(k), k_yi=out_int(k_yi),
        estimate=out(est), se=out(se), ci_low=out(ci_low), ci_high=out(ci_high),
        statistic=out(z), p_value=out(p), Q=out(q), Q_df=out_int(q_df), Q_p=out(q_p),
        I2=out(i2), H2=out(h2),
        **{key: out(val) for key, val in extra.items()},
        yi=yi[0] if squeeze else yi, vi=vi[0] if squeeze else vi,
        warnings=warnings,
    )


def _mh(measure, a, b, c, d, present, correct):
    n1, n2 = a + b, c + d
    n = np.where(present, n1 + n2, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if measure == "OR":
            p_ = (a + d) / n
            q_ = (b + c) / n
            r_ = a / n * d
            s_ = b / n * c
            big_r, big_s = r_.sum(1), s_.sum(1)
            ok = (big_r > 0) & (big_s > 0)
            ratio = np.where(ok, big_r / big_s, np.nan)
            est = np.log(ratio)
            se = np.sqrt(0.5 * ((p_ * r_).sum(1) / big_r**2 + (p_ * s_ + q_ * r_).sum(1) / (big_r * big_s)
                                + (q_ * s_).sum(1) / big_s**2))
            se = np.where(ok, se, np.nan)
            extra = _or_tests(a, b, c, d, n1, n2, n, present, ratio, correct)
        elif measure == "RR":
            big_r = (a * (n2 / n)).sum(1)
            big_s = (c * (n1 / n)).sum(1)
            ok = (a.sum(1) > 0) & (c.sum(1) > 0)
            est = np.where(ok, np.log(big_r / big_s), np.nan)
            se = np.sqrt(((n1 / n) * (n2 / n) * (a + c) - (a / n) * c).sum(1) / (big_r * big_s))
            se = np.where(ok, se, np.nan)
            extra = {}
        else:
            den = (n1 * (n2 / n)).sum(1)
            est = (a * (n2 / n) - c * (n1 / n)).sum(1) / den
            num = est * (c * (n1 / n) ** 2 - a * (n2 / n) ** 2 + (n1 / n) * (n2 / n) * (n2 - n1) / 2).sum(1)
            num = num + (a * (n2 - c) / n + c * (n1 - a) / n).sum(1) / 2
            se = np.sqrt(num / den**2)
            extra = {}
    nan = np.full(a.shape[0], np.nan)
    full = dict(cmh_statistic=nan, cmh_p=nan, bd_statistic=nan, bd_p=nan,
                tarone_statistic=nan, tarone_p=nan, bd_df=nan)
    full.update(extra)
    return est, se, full


def _or_tests(a, b, c, d, n1, n2, n, present, ratio, correct):
    """Cochran–Mantel–Haenszel, Breslow–Day and Tarone tests (metafor ``rma.mh``, OR)."""
    xt, yt = a + c, b + d
    cc = 0.5 if correct else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        num = (np.abs((a - n1 / n * xt).sum(1)) - cc) ** 2
        den = np.where(present, (n1 / n) * (n2 / n) * (xt * (yt / (n - 1))), 0.0).sum(1)
        ok = (xt.sum(1) > 0) & (yt.sum(1) > 0)
        cmh = np.where(ok, num / den, np.nan)
        cmh_p = chi2_sf(cmh, 1)
        # expected a under the pooled odds ratio (the root of a quadratic in each table)
        psi = ratio[:, None]
        big_a = psi * (n1 + xt) + (n2 - xt)
        big_b = np.sqrt(big_a**2 - 4 * n1 * xt * psi * (psi - 1))
        n11 = np.where(psi == 1, n1 / n * xt, (big_a - big_b) / (2 * (psi - 1)))
        pos = present & (n11 > 0) & (xt > 0) & (yt > 0)
        n12, n21 = n1 - n11, xt - n11
        n22 = n11 - n1 - xt + n
        inv = np.where(pos, 1 / (1 / n11 + 1 / n12 + 1 / n21 + 1 / n22), np.nan)
        dev = np.where(pos, a - n11, 0.0)
        bd = np.maximum(0.0, np.where(pos, dev**2 / inv, 0.0).sum(1))
        ta = np.maximum(0.0, bd - dev.sum(1) ** 2 / np.where(pos, inv, 0.0).sum(1))
    k_pos = pos.sum(1)
    defined = np.isfinite(ratio)
    bd = np.where(defined, bd, np.nan)
    ta = np.where(defined & (k_pos > 0), ta, np.nan)
    many = defined & (k_pos > 1)
    return dict(
        cmh_statistic=cmh, cmh_p=cmh_p,
        bd_statistic=bd, bd_p=np.where(many, chi2_sf(bd, k_pos - 1), np.nan),
        tarone_statistic=ta, tarone_p=np.where(many, chi2_sf(ta, k_pos - 1), np.nan),
        bd_df=np.where(defined, k_pos - 1.0, np.nan),
    )


def _peto(a, b, c, d, present, yi, warn):
    n1, n2 = a + b, c + d
    n = np.where(present, n1 + n2, 2.0)
    xt, yt = a + c, b + d
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.where(present, xt * n1 / n, 0.0)
        v = np.where(present, xt * yt * (n1 / n) * (n2 / n) / (n - 1), 0.0)
        sum_v = v.sum(1)
        oe = np.where(present, a - e, 0.0)
        est = np.where(sum_v > 0, oe.sum(1) / sum_v, np.nan)
        se = np.where(sum_v > 0, np.sqrt(1 / sum_v), np.nan)
        q = np.maximum(0.0, np.where(v > 0, oe**2 / v, 0.0).sum(1) - oe.sum(1) ** 2 / sum_v)
    k_yi = (~np.isnan(yi)).sum(axis=1)
    k_pos = (v > 0).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        q_p = chi2_sf(q, k_yi - 1)
        i2 = np.maximum(0.0, 100 * (q - (k_yi - 1)) / q)
        h2 = q / (k_yi - 1)
    one = k_pos <= 1
    q_p = np.where(one, 1.0, q_p)
    i2 = np.where(one, 0.0, np.where(q == 0, 0.0, i2))
    h2 = np.where(one, 1.0, h2)
    undefined = (sum_v == 0) & (present.sum(1) > 0)
    q, q_p, i2, h2 = (np.where(undefined, np.nan, x) for x in (q, q_p, i2, h2))
    for r in np.flatnonzero(undefined):
        warn[r].append("Peto's method cannot be used: one of the two outcomes occurs in no table")
    return est, se, q, q_p, i2, h2, k_yi
