"""Effect sizes and their sampling variances, as metafor's ``escalc()`` computes them.

This module turns the trial-level input rows of the project (docs/contract.md, section 1) into an effect
size ``yi`` and its sampling variance ``vi`` on the analysis scale, reproducing
``metafor::escalc()`` (Viechtbauer 2010; checked against metafor 3.8-1) for the measures the
project uses, and offers the conversions that meta-analysts need when a publication reports
something other than arm-level summaries.

Conventions
-----------
* Every effect is treatment minus control (ratios: treatment over control), as in metafor.
  In metafor's argument names, group 1 is the treatment arm (``n1i = n_treat``,
  ``ai = events_treat``) and group 2 the control arm.
* Ratio measures (``RR``, ``OR``, ``HR``) are analysed on the natural-log scale; proportions
  as the measure says (``PLO`` logit, ``PFT`` Freeman–Tukey double arcsine, ``PR`` raw).
* A confidence level is given in percent (``95``), as metafor's ``level`` argument.
* Everything is vectorised over rows: there is no Python loop over the rows of a frame.

References
----------
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. *Journal of
Statistical Software* 36(3):1–48. doi:10.18637/jss.v036.i03

Hedges LV (1981). Distribution theory for Glass's estimator of effect size and related
estimators. *Journal of Educational Statistics* 6(2):107–128.

Hedges LV (1983). A random effects model for effect sizes. *Psychological Bulletin*
93(2):388–395. (The unbiased variance estimator of g, metafor's ``vtype="UB"``.)

Hedges LV, Olkin I (1985). *Statistical Methods for Meta-Analysis*. Academic Press.
(Chapter 5, equation 15: the large-sample variance of g, metafor's ``vtype="LS"``.)

Borenstein M, Hedges LV, Higgins JPT, Rothstein HR (2009). *Introduction to Meta-Analysis*.
Wiley. (Chapter 4: converting d to g; chapter 7: converting among effect sizes.)

Deeks JJ, Higgins JPT (2010). *Statistical algorithms in Review Manager 5*. The Cochrane
Collaboration. (The SMD variance that RevMan uses.)

Chinn S (2000). A simple method for converting an odds ratio to effect size for use in
meta-analysis. *Statistics in Medicine* 19(22):3127–3131.

Altman DG, Bland JM (2011). How to obtain the confidence interval from a P value. *BMJ*
343:d2090.

Freeman MF, Tukey JW (1950). Transformations related to the angular and the square root.
*Annals of Mathematical Statistics* 21(4):607–611.

Miller JJ (1978). The inverse of the Freeman–Tukey double arcsine transformation. *The
American Statistician* 32(4):138.

Higgins JPT, Li T, Deeks JJ (eds) (2023). Chapter 6: Choosing effect measures and computing
estimates of effect. In: *Cochrane Handbook for Systematic Reviews of Interventions*
version 6.4, section 6.5.2.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

# pandas and scipy are imported by the functions that use them: ketameta.io reads this
# module's constants while it validates the data, and should not pay for either.

__all__ = [
    "MEASURES",
    "EFFECT_TYPES",
    "EFFECT_SCALE",
    "REPORTED_FOR",
    "escalc",
    "hedges_j",
    "se_from_ci",
    "se_from_p",
    "d_to_g",
    "logor_to_smd",
    "sd_from_se",
]

MEASURES = ("SMD", "MD", "RR", "OR", "RD", "PLO", "PFT", "PR", "GEN")
"""Effect measures :func:`escalc` computes (metafor's names)."""

EFFECT_TYPES = ("SMD", "d", "MD", "RR", "OR", "HR", "logRR", "logOR", "logHR", "RD")
"""Values of the ``effect_type`` column of a reported effect (docs/contract.md, section 1)."""

CONTINUOUS = ("n_treat", "mean_treat", "sd_treat", "n_ctrl", "mean_ctrl", "sd_ctrl")
DICHOTOMOUS = ("events_treat", "n_treat", "events_ctrl", "n_ctrl")
SINGLE_ARM = ("events_treat", "n_treat")

# Measure -> the arm-level data group it is computed from (GEN: none).
_ARM_GROUP = {
    "SMD": ("continuous arms", CONTINUOUS),
    "MD": ("continuous arms", CONTINUOUS),
    "RR": ("dichotomous arms", DICHOTOMOUS),
    "OR": ("dichotomous arms", DICHOTOMOUS),
    "RD": ("dichotomous arms", DICHOTOMOUS),
    "PLO": ("single arm", SINGLE_ARM),
    "PFT": ("single arm", SINGLE_ARM),
    "PR": ("single arm", SINGLE_ARM),
}

#: Measure -> the reported effect types on its scale, which may be pooled beside arm data.
REPORTED_FOR = {
    "SMD": ("SMD", "d"),
    "MD": ("MD",),
    "RR": ("RR", "logRR"),
    "OR": ("OR", "logOR"),
    "RD": ("RD",),
    "PLO": (),
    "PFT": (),
    "PR": (),
    "GEN": EFFECT_TYPES,
}

#: Effect type -> analysis scale (effects on one scale may be pooled together).
EFFECT_SCALE = {
    "SMD": "SMD",
    "d": "SMD",
    "MD": "MD",
    "RR": "logRR",
    "logRR": "logRR",
    "OR": "logOR",
    "logOR": "logOR",
    "HR": "logHR",
    "logHR": "logHR",
    "RD": "RD",
}
#: Reported effect types given on the natural ratio scale (their yi and CI are logged).
NATURAL_RATIOS = ("RR", "OR", "HR")

_VTYPES = {
    "SMD": ("LS", "LS2", "UB", "RevMan"),
    "MD": ("LS", "UB", "HO"),
    "RD": ("LS", "UB"),
    "PR": ("LS", "UB"),
}
_TO = ("only0", "all", "if0all", "none")

# Distance of a reported estimate from the midpoint of its CI, as a fraction of the CI
# width, above which a warning is given (metafor's conv.wald(check=TRUE) uses the same 10%).
_CI_ASYMMETRY_WARN = 0.1


# ---------------------------------------------------------------------------------------
# Conversions (public, vectorised)
# ---------------------------------------------------------------------------------------


def _out(x):
    """Return a 0-d result as a NumPy scalar and anything else as an array."""
    x = np.asarray(x, dtype=float)
    return x[()] if x.ndim == 0 else x


def hedges_j(df):
    """Exact small-sample correction factor of Hedges' g.

    ``J(m) = Γ(m/2) / (sqrt(m/2) · Γ((m-1)/2))``, evaluated on the log scale so that it does
    not overflow for large ``m`` (as metafor's internal ``.cmicalc()`` does).

    Parameters
    ----------
    df : array_like
        Degrees of freedom ``m`` of the pooled SD; ``n_treat + n_ctrl - 2`` for two groups.

    Returns
    -------
    numpy.ndarray or numpy.float64
        ``J``, with NaN where ``m <= 1`` (undefined; metafor returns NA there too).

    Notes
    -----
    Hedges (1981), equation 6e. The common approximation ``1 - 3/(4m - 1)`` (used by RevMan
    and by statsmodels' ``effectsize_smd``) differs from the exact value by 0.036% at
    ``m = 10``, 0.0013% at ``m = 50`` and less than ``1e-6`` (relative) from ``m = 200``.
    As in metafor, the difference of two log-gammas loses a few digits for very large ``m``
    (relative error 2e-13 at ``m = 1000``, 5e-11 at ``m = 1e5``), far below any practical
    concern.

    Examples
    --------
    >>> float(round(hedges_j(10), 6))  # metafor:::.cmicalc(10) = 0.9227456081
    0.922746
    """
    from scipy import special

    m = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        j = np.exp(special.gammaln(m / 2) - 0.5 * np.log(m / 2) - special.gammaln((m - 1) / 2))
    return _out(np.where(m > 1, j, np.nan))


def _check_level(level):
    level = np.asarray(level, dtype=float)
    bad = ~((level > 1) & (level < 100))
    if np.any(bad):
        raise ValueError(
            f"confidence level must be in percent, strictly between 1 and 100 (e.g. 95); "
            f"got {np.unique(level[bad]).tolist()}"
        )
    return level


def se_from_ci(ci_low, ci_high, level=95, *, log=False):
    """Standard error from a symmetric (Wald-type) confidence interval.

    ``SE = (ci_high - ci_low) / (2 · z)`` with ``z`` the standard normal quantile at
    ``(1 + level/100) / 2`` (1.959964 for a 95% CI).

    Parameters
    ----------
    ci_low, ci_high : array_like
        Bounds of the confidence interval, broadcast against each other.
    level : array_like, default 95
        Confidence level in percent; may differ per element (e.g. 90 for a 90% CI).
    log : bool, default False
        Take natural logs of the bounds first: for ratios (RR, OR, HR) reported on the
        natural scale, whose CIs are symmetric on the log scale.

    Returns
    -------
    numpy.ndarray or numpy.float64
        The standard error on the analysis scale (log scale when ``log=True``).

    Raises
    ------
    ValueError
        If ``level`` is not strictly between 1 and 100, if ``ci_high <= ci_low``, or if
        ``log=True`` and a bound is not positive.

    Notes
    -----
    Cochrane Handbook, section 6.5.2.2 (Higgins, Li & Deeks 2023); metafor's
    ``conv.wald()`` (version 4.0 and later) uses the same formula. The interval is assumed
    to be based on the normal distribution; for a t-based interval from a small trial the SE
    is overestimated slightly.

    Examples
    --------
    >>> float(round(se_from_ci(-1.96, 1.96), 6))
    1.000018
    """
    lo = np.asarray(ci_low, dtype=float)
    hi = np.asarray(ci_high, dtype=float)
    level = _check_level(level)
    if log:
        if np.any(lo <= 0) or np.any(hi <= 0):
            raise ValueError("log=True needs positive CI bounds (ratios on the natural scale)")
        lo, hi = np.log(lo), np.log(hi)
    if np.any(hi <= lo):
        raise ValueError("ci_high must be larger than ci_low")
    from ketameta._dist import norm_ppf

    z = norm_ppf((1 + level / 100) / 2)
    return _out((hi - lo) / (2 * z))


def se_from_p(estimate, p_value, *, df=None):
    """Standard error from an estimate and its two-sided p-value.

    ``SE = |estimate| / q`` with ``q`` the quantile of the test distribution at
    ``1 - p/2``: the standard normal (a z test) by default, or Student's t with ``df``
    degrees of freedom (a t test, e.g. ``n_treat + n_ctrl - 2`` for a two-sample t test).

    Parameters
    ----------
    estimate : array_like
        The estimate on the analysis scale (a log ratio for RR, OR, HR), not zero.
    p_value : array_like
        Two-sided p-value, strictly between 0 and 1.
    df : array_like, optional
        Degrees of freedom of a t test; by default the test is taken as a z test.

    Returns
    -------
    numpy.ndarray or numpy.float64
        The standard error.

    Raises
    ------
    ValueError
        If a p-value is not strictly between 0 and 1, an estimate is zero (its SE cannot be
        recovered from p), or ``df`` is not positive.

    Notes
    -----
    Altman & Bland (2011); metafor's ``conv.wald(out, pval=)`` uses the same (normal)
    formula. A p-value reported as an inequality (``p < 0.05``) gives only a bound, not an
    SE; rounding of the p-value propagates into the SE.

    Examples
    --------
    >>> float(round(se_from_p(1.959963984540054, 0.05), 12))
    1.0
    """
    est = np.asarray(estimate, dtype=float)
    p = np.asarray(p_value, dtype=float)
    if np.any(~((p > 0) & (p < 1))):
        raise ValueError("p_value must be strictly between 0 and 1 (two-sided)")
    if np.any(est == 0):
        raise ValueError("an estimate of exactly 0 has no SE recoverable from its p-value")
    from ketameta._dist import norm_isf, t_isf

    if df is None:
        q = norm_isf(p / 2)
    else:
        df = np.asarray(df, dtype=float)
        if np.any(~(df > 0)):
            raise ValueError("df must be positive")
        q = t_isf(p / 2, df)
    return _out(np.abs(est) / q)


def d_to_g(d, n_treat, n_ctrl, vi=None):
    """Convert Cohen's d to Hedges' g (exact correction), with its sampling variance.

    ``g = J · d`` with ``J = hedges_j(n_treat + n_ctrl - 2)``.

    Parameters
    ----------
    d : array_like
        Cohen's d (mean difference over the pooled within-group SD).
    n_treat, n_ctrl : array_like
        Group sizes; both are needed for ``J``.
    vi : array_like, optional
        Sampling variance of ``d`` as reported (e.g. from its CI). If given, the variance of
        ``g`` is ``J² · vi`` (Borenstein et al. 2009, equation 4.24). If omitted, the
        variance is metafor's large-sample variance of ``g``,
        ``1/n_treat + 1/n_ctrl + g² / (2 (n_treat + n_ctrl))`` — what
        ``escalc("SMD", di=d, n1i=n_treat, n2i=n_ctrl)`` returns.

    Returns
    -------
    g, vi_g : numpy.ndarray or numpy.float64
        Hedges' g and its sampling variance (NaN where ``n_treat + n_ctrl <= 3``, for which
        ``J`` is undefined).

    Raises
    ------
    ValueError
        If a group size is not positive or a variance is negative.

    Examples
    --------
    >>> g, v = d_to_g(0.5, 10, 10, vi=0.2)
    >>> float(round(g, 6)), float(round(v, 6))
    (0.478823, 0.183417)
    """
    d = np.asarray(d, dtype=float)
    n1 = np.asarray(n_treat, dtype=float)
    n2 = np.asarray(n_ctrl, dtype=float)
    if np.any(~(n1 > 0)) or np.any(~(n2 > 0)):
        raise ValueError("n_treat and n_ctrl must be positive")
    j = hedges_j(n1 + n2 - 2)
    g = j * d
    if vi is None:
        vg = 1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2))
        vg = np.where(np.isnan(g), np.nan, vg)
    else:
        vi = np.asarray(vi, dtype=float)
        if np.any(vi < 0):
            raise ValueError("vi must not be negative")
        vg = j**2 * vi
    return _out(g), _out(vg)


def logor_to_smd(logor, vi):
    """Convert a log odds ratio to a standardised mean difference (Chinn 2000).

    ``d = ln(OR) · √3 / π`` and ``var(d) = var(ln OR) · 3 / π²``, which assumes that the
    dichotomy cuts an underlying logistic distribution with equal variances in both groups.

    Parameters
    ----------
    logor : array_like
        Log odds ratio (treatment over control).
    vi : array_like
        Its sampling variance.

    Returns
    -------
    d, vi_d : numpy.ndarray or numpy.float64
        The SMD (on the Cohen's d scale; no small-sample correction) and its variance.

    Raises
    ------
    ValueError
        If a variance is negative.

    Notes
    -----
    Chinn (2000); Borenstein et al. (2009), equations 7.1–7.2. metafor computes the same
    from a 2×2 table with ``escalc(measure="OR2DL")``.

    Examples
    --------
    >>> d, v = logor_to_smd(1.0, 0.1)
    >>> float(round(d, 6)), float(round(v, 6))
    (0.551329, 0.030396)
    """
    logor = np.asarray(logor, dtype=float)
    vi = np.asarray(vi, dtype=float)
    if np.any(vi < 0):
        raise ValueError("vi must not be negative")
    return _out(logor * np.sqrt(3) / np.pi), _out(vi * 3 / np.pi**2)


def sd_from_se(se, n):
    """Standard deviation from the standard error of a mean (or of a mean change).

    ``SD = SE · √n``.

    Parameters
    ----------
    se : array_like
        Standard error of the mean of one arm (not of a difference between arms).
    n : array_like
        Number of participants the mean is based on.

    Returns
    -------
    numpy.ndarray or numpy.float64
        The standard deviation.

    Raises
    ------
    ValueError
        If an SE is negative or an ``n`` is not positive.

    Notes
    -----
    Cochrane Handbook, section 6.5.2.2 (Higgins, Li & Deeks 2023).

    Examples
    --------
    >>> float(sd_from_se(2.0, 25))
    10.0
    """
    se = np.asarray(se, dtype=float)
    n = np.asarray(n, dtype=float)
    if np.any(se < 0):
        raise ValueError("se must not be negative")
    if np.any(~(n > 0)):
        raise ValueError("n must be positive")
    return _out(se * np.sqrt(n))


# ---------------------------------------------------------------------------------------
# Arm-level measures (pure functions on arrays)
# ---------------------------------------------------------------------------------------


def _smd(m1, sd1, n1, m2, sd2, n2, vtype):
    """Hedges' g and its variance (metafor ``escalc("SMD")``)."""
    n = n1 + n2
    m = n - 2
    with np.errstate(invalid="ignore", divide="ignore"):
        sdp = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / m)
        d = (m1 - m2) / sdp
        j = hedges_j(m)
        g = j * d
        if vtype == "LS":  # Hedges & Olkin (1985), chapter 5, eq. 15
            vi = 1 / n1 + 1 / n2 + g**2 / (2 * n)
        elif vtype == "LS2":  # Borenstein et al. (2009), eq. 4.24
            vi = j**2 * (1 / n1 + 1 / n2 + d**2 / (2 * n))
        elif vtype == "UB":  # Hedges (1983), unbiased estimator
            vi = 1 / n1 + 1 / n2 + (1 - (m - 2) / (m * j**2)) * g**2
        else:  # RevMan 5 (Deeks & Higgins 2010)
            vi = 1 / n1 + 1 / n2 + g**2 / (2 * (n - 3.94))
    return g, vi


def _md(m1, sd1, n1, m2, sd2, n2, vtype):
    """Raw mean difference and its variance (metafor ``escalc("MD")``)."""
    yi = m1 - m2
    if vtype == "HO":
        with np.errstate(invalid="ignore", divide="ignore"):
            sdp2 = ((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / (n1 + n2 - 2)
        vi = sdp2 * (1 / n1 + 1 / n2)
    else:  # "LS" and "UB" are the same in metafor: no homoscedasticity assumed
        vi = sd1**2 / n1 + sd2**2 / n2
    return yi, vi


def _add_to_cells(cells, zero, add, to):
    """Apply metafor's ``add``/``to`` rule to cell-count arrays; returns new arrays."""
    if to == "all":
        return [c + add for c in cells]
    if to == "only0":
        return [c + add * zero for c in cells]
    if to == "if0all" and np.any(zero):
        return [c + add for c in cells]
    return cells


def _two_by_two(measure, x1, n1, x2, n2, *, add, to, drop00, vtype):
    """Log RR, log OR or RD from 2×2 tables (metafor ``escalc("RR"|"OR"|"RD")``).

    Returns ``yi, vi, dropped`` with ``dropped`` marking the tables removed by ``drop00``.
    """
    a, b, c, d = x1, n1 - x1, x2, n2 - x2
    dropped = np.zeros(a.shape, dtype=bool)
    if drop00:
        # no events in both arms, or only events in both arms
        dropped = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
        a, b, c, d = (np.where(dropped, np.nan, v) for v in (a, b, c, d))
    zero = ((a == 0) | (b == 0) | (c == 0) | (d == 0)) & ~dropped
    a, b, c, d = _add_to_cells([a, b, c, d], zero, add, to)
    n1, n2 = a + b, c + d
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = a / n1, c / n2
        if measure == "RR":
            yi = np.log(p1) - np.log(p2)
            vi = 1 / a - 1 / n1 + 1 / c - 1 / n2
        elif measure == "OR":
            yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
            vi = 1 / a + 1 / b + 1 / c + 1 / d
        else:  # RD
            yi = p1 - p2
            if vtype == "UB":
                vi = p1 * (1 - p1) / (n1 - 1) + p2 * (1 - p2) / (n2 - 1)
            else:
                vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    return yi, vi, dropped


def _single_arm(measure, x, n, *, add, to, vtype):
    """Logit, Freeman–Tukey or raw proportion (metafor ``escalc("PLO"|"PFT"|"PR")``)."""
    e, ne = x, n - x
    zero = (e == 0) | (ne == 0)
    e, ne = _add_to_cells([e, ne], zero, add, to)
    n = e + ne
    with np.errstate(invalid="ignore", divide="ignore"):
        p = e / n
        if measure == "PLO":
            yi = np.log(p / (1 - p))
            vi = 1 / e + 1 / ne
        elif measure == "PFT":  # Freeman & Tukey (1950); Miller (1978)
            yi = 0.5 * (np.arcsin(np.sqrt(e / (n + 1))) + np.arcsin(np.sqrt((e + 1) / (n + 1))))
            vi = 1 / (4 * n + 2)
        elif vtype == "UB":  # PR
            yi = p
            vi = p * (1 - p) / (n - 1)
        else:  # PR, LS
            yi = p
            vi = p * (1 - p) / n
    return yi, vi


# ---------------------------------------------------------------------------------------
# Frame handling and validation
# ---------------------------------------------------------------------------------------


def _labels(index, mask, limit=10):
    """Format the index labels of the rows in ``mask`` for an error message."""
    labels = [repr(v) if isinstance(v, str) else str(v) for v in index[mask][:limit]]
    more = int(mask.sum()) - len(labels)
    text = ", ".join(labels) + (f" and {more} more" if more > 0 else "")
    return ("row " if mask.sum() == 1 else "rows ") + text


def _numeric(frame, column, rows):
    """Column as float array (NaN where missing); raise if a present value is not a number."""
    import pandas as pd

    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    raw = frame[column]
    if raw.dtype.kind in "fiu":  # numbers already (NumPy or nullable dtype): nothing to check
        return raw.to_numpy(dtype=float, na_value=np.nan)
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    blank = raw.isna() | (raw.astype("string").str.strip() == "")
    bad = np.isnan(values) & ~blank.to_numpy(dtype=bool, na_value=True) & rows
    if np.any(bad):
        shown = raw[bad].astype(str).unique()[:3].tolist()
        raise ValueError(
            f"escalc: {_labels(frame.index, bad)}: column {column!r} is not a number "
            f"(e.g. {', '.join(map(repr, shown))})"
        )
    return values


def _effect_type(frame):
    """The ``effect_type`` column as an object array of str, None where missing or blank."""
    if "effect_type" not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    import pandas as pd

    column = frame["effect_type"]
    if isinstance(column.dtype, pd.StringDtype):  # text or missing: strip in plain Python
        return np.array(
            [(v.strip() or None) if isinstance(v, str) else None for v in column], dtype=object
        )
    values = column.astype("string").str.strip()
    values = values.where(values != "")
    return values.to_numpy(dtype=object, na_value=None)


def _lack(index, mask):
    return f"{_labels(index, mask)} lack{'s' if mask.sum() == 1 else ''}"


def _require(frame, rows, columns, measure, what):
    """Raise if any row in ``rows`` lacks one of ``columns``; return the columns as arrays."""
    arrays = {col: _numeric(frame, col, rows) for col in columns}
    absent = np.column_stack([np.isnan(arrays[col]) for col in columns]) & rows[:, None]
    lacking = absent.any(axis=1)
    if np.any(lacking):
        # one clause per distinct set of missing columns, in order of first occurrence
        patterns, first, which = np.unique(
            absent[lacking], axis=0, return_index=True, return_inverse=True
        )
        positions = np.flatnonzero(lacking)
        parts = []
        for p in np.argsort(first):
            mask = np.zeros(len(frame), dtype=bool)
            mask[positions[which.ravel() == p]] = True
            names = ", ".join(c for c, gone in zip(columns, patterns[p], strict=True) if gone)
            parts.append(f"{_lack(frame.index, mask)} {names}")
        raise ValueError(
            f"escalc({measure!r}): {'; '.join(parts)}. Measure {measure} needs {what}: "
            f"{', '.join(columns)}."
        )
    return arrays


def _fail_if(frame, bad, measure, message):
    if np.any(bad):
        raise ValueError(f"escalc({measure!r}): {_labels(frame.index, bad)}: {message}")


def _check_finite(frame, rows, arrays, measure):
    for col, values in arrays.items():
        _fail_if(frame, rows & np.isinf(values), measure, f"{col} is infinite")


def _reported(frame, rows, etype, measure):
    """Effect and variance of reported effects (``effect_type`` rows) on the analysis scale."""
    k = len(frame)
    yi = np.full(k, np.nan)
    vi = np.full(k, np.nan)
    if not np.any(rows):
        return yi, vi
    allowed = REPORTED_FOR[measure]
    unknown = rows & ~np.isin(etype, EFFECT_TYPES)
    _fail_if(
        frame,
        unknown,
        measure,
        f"unknown effect_type {sorted(set(etype[unknown]))}; one of {', '.join(EFFECT_TYPES)}",
    )
    unfit = rows & ~np.isin(etype, allowed)
    if np.any(unfit):
        hint = (
            f"measure {measure} accepts effect_type {', '.join(allowed)}"
            if allowed
            else f"measure {measure} needs single-arm counts"
        )
        _fail_if(
            frame,
            unfit,
            measure,
            f"a reported effect of type {sorted(set(etype[unfit]))} does not fit measure "
            f"{measure} ({hint}; use measure GEN for other reported effects)",
        )
    scales = sorted({EFFECT_SCALE[t] for t in etype[rows]})
    if len(scales) > 1:
        raise ValueError(
            f"escalc({measure!r}): reported effects on different scales cannot be pooled "
            f"together: {', '.join(scales)} (effect_type {sorted(set(etype[rows]))})"
        )

    y = _require(frame, rows, ("yi",), measure, "a reported effect")["yi"]
    v = _numeric(frame, "vi", rows)
    se = _numeric(frame, "sei", rows)
    lo = _numeric(frame, "ci_low", rows)
    hi = _numeric(frame, "ci_high", rows)
    level = _numeric(frame, "ci_level", rows)
    level = np.where(np.isnan(level), 95.0, level)
    _check_finite(frame, rows, {"yi": y, "vi": v, "sei": se, "ci_low": lo, "ci_high": hi}, measure)

    use_vi = rows & ~np.isnan(v)
    use_se = rows & ~use_vi & ~np.isnan(se)
    use_ci = rows & ~use_vi & ~use_se & ~np.isnan(lo) & ~np.isnan(hi)
    none = rows & ~(use_vi | use_se | use_ci)
    _fail_if(
        frame,
        none,
        measure,
        "a reported effect needs vi, sei, or both ci_low and ci_high",
    )
    _fail_if(frame, use_vi & ~(v > 0), measure, "vi must be positive")
    _fail_if(frame, use_se & ~(se > 0), measure, "sei must be positive")
    _fail_if(frame, use_ci & ~(hi > lo), measure, "ci_high must be larger than ci_low")
    _fail_if(
        frame,
        use_ci & ~((level > 1) & (level < 100)),
        measure,
        "ci_level is in percent and must be strictly between 1 and 100 (e.g. 95)",
    )

    ratio = rows & np.isin(etype, NATURAL_RATIOS)
    _fail_if(
        frame,
        ratio & ~(y > 0),
        measure,
        "a ratio (effect_type RR, OR, HR) on the natural scale must be positive",
    )
    _fail_if(
        frame,
        ratio & use_ci & ~((lo > 0) & (hi > 0)),
        measure,
        "CI bounds of a ratio (effect_type RR, OR, HR) must be positive",
    )
    from ketameta._dist import norm_ppf

    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(ratio, np.log(y), y)
        lo = np.where(ratio, np.log(lo), lo)
        hi = np.where(ratio, np.log(hi), hi)
        z = norm_ppf((1 + level / 100) / 2)
        var = np.where(use_vi, v, np.where(use_se, se**2, ((hi - lo) / (2 * z)) ** 2))
        off_centre = np.abs((lo + hi) / 2 - y) / (hi - lo)
    asymmetric = use_ci & (off_centre > _CI_ASYMMETRY_WARN)
    if np.any(asymmetric):
        warnings.warn(
            f"escalc({measure!r}): {_labels(frame.index, asymmetric)}: the reported effect lies "
            f"more than {_CI_ASYMMETRY_WARN:.0%} of the CI width away from the CI midpoint on "
            "the analysis scale; check the numbers (and, for ratios, that yi and the CI are "
            "on the natural scale)",
            UserWarning,
            stacklevel=3,
        )

    is_d = rows & (etype == "d")
    if np.any(is_d):
        n = _require(
            frame,
            is_d,
            ("n_treat", "n_ctrl"),
            measure,
            "for effect_type d (Cohen's d, converted to Hedges' g) the group sizes",
        )
        _fail_if(
            frame,
            is_d & ~((n["n_treat"] > 0) & (n["n_ctrl"] > 0)),
            measure,
            "n_treat and n_ctrl must be positive",
        )
        # A crossover trial's d comes from paired data on the same patients (its rows carry
        # n_treat = n_ctrl = the number of patients): J then has n - 1 degrees of freedom
        # (Hedges & Olkin 1985; Borenstein et al. 2009, ch. 4), not n_treat + n_ctrl - 2.
        paired = _crossover(frame) & (n["n_treat"] == n["n_ctrl"])
        df = np.where(paired, n["n_treat"] - 1, n["n_treat"] + n["n_ctrl"] - 2)
        j = hedges_j(np.where(is_d, df, np.nan))
        y = np.where(is_d, j * y, y)
        var = np.where(is_d, j**2 * var, var)

    yi[rows] = y[rows]
    vi[rows] = var[rows]
    return yi, vi


def _crossover(frame) -> np.ndarray:
    """Rows whose optional ``design`` column says ``crossover``."""
    if "design" not in frame:
        return np.zeros(len(frame), dtype=bool)
    return (frame["design"].astype(object).to_numpy() == "crossover")


def _arms(frame, rows, measure, *, vtype, add, to, drop00):
    """Effect and variance from arm-level data; returns ``yi, vi, dropped``."""
    k = len(frame)
    yi = np.full(k, np.nan)
    vi = np.full(k, np.nan)
    dropped = np.zeros(k, dtype=bool)
    if not np.any(rows):
        return yi, vi, dropped
    group, columns = _ARM_GROUP[measure]
    reported_ok = REPORTED_FOR[measure]
    what = f"the {group} columns" + (
        f" (or a reported effect with effect_type {' or '.join(reported_ok)})"
        if reported_ok
        else ""
    )
    x = _require(frame, rows, columns, measure, what)
    _check_finite(frame, rows, x, measure)
    for col in ("n_treat", "n_ctrl"):
        if col in x:
            _fail_if(frame, rows & ~(x[col] > 0), measure, f"{col} must be positive")
    if group == "continuous arms":
        for col in ("sd_treat", "sd_ctrl"):
            _fail_if(frame, rows & (x[col] < 0), measure, f"{col} must not be negative")
        func = _smd if measure == "SMD" else _md
        y, v = func(
            x["mean_treat"][rows],
            x["sd_treat"][rows],
            x["n_treat"][rows],
            x["mean_ctrl"][rows],
            x["sd_ctrl"][rows],
            x["n_ctrl"][rows],
            vtype,
        )
    else:
        for ev, n in (("events_treat", "n_treat"), ("events_ctrl", "n_ctrl")):
            if ev in x:
                _fail_if(
                    frame,
                    rows & ~((x[ev] >= 0) & (x[ev] <= x[n])),
                    measure,
                    f"{ev} must be between 0 and {n}",
                )
        if group == "dichotomous arms":
            y, v, drop = _two_by_two(
                measure,
                x["events_treat"][rows],
                x["n_treat"][rows],
                x["events_ctrl"][rows],
                x["n_ctrl"][rows],
                add=add,
                to=to,
                drop00=drop00,
                vtype=vtype,
            )
            dropped[rows] = drop
        else:
            y, v = _single_arm(
                measure, x["events_treat"][rows], x["n_treat"][rows], add=add, to=to, vtype=vtype
            )
    yi[rows] = y
    vi[rows] = v
    return yi, vi, dropped


def escalc(measure, frame, *, vtype="LS", add=None, to="only0", drop00=False):
    """Effect sizes ``yi`` and sampling variances ``vi`` of trial-level rows, as metafor.

    Reproduces ``metafor::escalc()`` (metafor 3.8 and later) on the input columns of
    section 1 of docs/contract.md, one row per comparison (or single arm).

    Parameters
    ----------
    measure : {"SMD", "MD", "RR", "OR", "RD", "PLO", "PFT", "PR", "GEN"}
        * ``SMD`` — Hedges' g: ``(mean_treat - mean_ctrl) / SD_pooled`` times the exact
          small-sample correction :func:`hedges_j` of ``n_treat + n_ctrl - 2`` degrees of
          freedom (Hedges 1981).
        * ``MD`` — raw mean difference; variance ``sd_treat²/n_treat + sd_ctrl²/n_ctrl``
          (metafor's default; no equal-variance assumption).
        * ``RR``, ``OR`` — log risk ratio, log odds ratio; variances
          ``1/a - 1/n1 + 1/c - 1/n2`` and ``1/a + 1/b + 1/c + 1/d``.
        * ``RD`` — risk difference; variance ``p1(1-p1)/n1 + p2(1-p2)/n2``.
        * ``PLO``, ``PFT``, ``PR`` — one proportion ``events_treat / n_treat``: logit
          (variance ``1/x + 1/(n-x)``), Freeman–Tukey double arcsine
          ``(asin√(x/(n+1)) + asin√((x+1)/(n+1)))/2`` (variance ``1/(4n+2)``), raw
          (variance ``p(1-p)/n``).
        * ``GEN`` — reported effects (``effect_type`` rows) as given, on the analysis scale.

        For ``SMD``, ``MD``, ``RR``, ``OR`` and ``RD``, rows that report an effect
        (``effect_type`` set) rather than arm data are used too when their type is on the
        measure's scale (``SMD``: ``SMD``, ``d``; ``MD``: ``MD``; ``RR``: ``RR``,
        ``logRR``; ``OR``: ``OR``, ``logOR``; ``RD``: ``RD``), as in ``GEN``.
    frame : pandas.DataFrame
        Rows with the columns of one data group each (docs/contract.md, section 1). Other columns are kept.
    vtype : str, default "LS"
        Variance estimator, metafor's names. ``SMD``: ``"LS"`` (large-sample,
        ``1/n1 + 1/n2 + g²/(2N)``; Hedges & Olkin 1985, eq. 15), ``"LS2"``
        (``J²·(1/n1 + 1/n2 + d²/(2N))``; Borenstein et al. 2009, eq. 4.24), ``"UB"``
        (unbiased; Hedges 1983) or ``"RevMan"`` (``1/n1 + 1/n2 + g²/(2(N - 3.94))``, the
        variance of Review Manager 5, Deeks & Higgins 2010; not a metafor option — metafor's
        closest is ``"LS2"``). ``MD``: ``"LS"``/``"UB"`` (both heteroscedastic, as metafor)
        or ``"HO"`` (pooled SD). ``RD`` and ``PR``: ``"LS"`` or ``"UB"`` (``n-1`` in the
        denominators). Other measures: ``"LS"`` only.
    add : float, optional
        Amount added to the cells of a 2×2 table (``RR``, ``OR``, ``RD``) or to the event and
        non-event counts of a single arm (``PLO``, ``PR``, and ``PFT`` when given). Default
        1/2, except 0 for ``PFT`` (metafor's defaults; the Freeman–Tukey transformation
        needs no correction).
    to : {"only0", "all", "if0all", "none"}, default "only0"
        Which rows ``add`` applies to (metafor's options): ``"only0"`` tables (arms) with at
        least one zero cell — zero events or only events in an arm; ``"all"`` every row;
        ``"if0all"`` every row when at least one row of the call has a zero cell; ``"none"``
        no row. metafor has no ``"each"`` option, and neither has this function.
    drop00 : bool, default False
        For ``RR``, ``OR`` and ``RD``: set ``yi`` and ``vi`` to NaN for tables with no events
        in both arms or only events in both arms (metafor's ``drop00``). The rows stay in the
        returned frame. Has no effect on other measures.

    Returns
    -------
    pandas.DataFrame
        A copy of ``frame`` with float columns ``yi`` and ``vi`` (replacing reported ``yi``
        and ``vi`` columns, which become analysis-scale values: logs of natural-scale
        ratios, Hedges' g for ``d``).

    Raises
    ------
    ValueError
        If ``measure``, ``vtype``, ``add`` or ``to`` is not valid; if a row lacks the columns
        its measure needs (the message names the rows by index label and the missing
        columns); or if a value is impossible (negative SD, events larger than ``n``,
        non-positive group size or reported variance, ``ci_high <= ci_low``, a natural-scale
        ratio that is not positive, an unknown ``effect_type``, ``d`` without group sizes,
        reported effects on different scales in one call).

    Warns
    -----
    RuntimeWarning
        If a row's effect is undefined — metafor returns NA there and so do we (NaN): e.g.
        a zero cell with ``to="none"`` (infinite log ratio) or ``SMD`` with
        ``n_treat + n_ctrl <= 3`` (no degrees of freedom for ``J``). Rows dropped by
        ``drop00`` are not warned about.
    UserWarning
        If a reported effect lies more than 10% of its CI width away from the CI midpoint on
        the analysis scale (the check of metafor's ``conv.wald()``).

    Notes
    -----
    Reported effects (``effect_type`` rows):

    * The variance is taken from ``vi`` if present, else ``sei²``, else from the CI
      (:func:`se_from_ci`, at the row's ``ci_level``, 95 by default).
    * ``vi`` and ``sei`` are read as given on the analysis scale (for ratios: the variance
      and SE of the log ratio, as publications report them); ``yi`` and the CI bounds of
      ``RR``, ``OR`` and ``HR`` are on the natural scale and are logged.
    * ``d`` (Cohen's d) becomes Hedges' g via :func:`d_to_g`: ``g = J·d`` and
      ``vi = J²·var(d)``; ``n_treat`` and ``n_ctrl`` are required for ``J`` and their
      absence is an error (no silent fall-back to an uncorrected d). ``J`` has
      ``n_treat + n_ctrl - 2`` degrees of freedom, or ``n - 1`` for a row with
      ``design == "crossover"`` and ``n_treat == n_ctrl == n`` (a within-patient d).
    * Reported effects of one call must share one analysis scale (e.g. ``RR`` and ``logRR``
      may be mixed, ``RR`` and ``OR`` may not).

    Zero cells follow metafor exactly: with the defaults (``add=1/2, to="only0"``) 1/2 is
    added to all four cells of a table with a zero cell, for ``RR``, ``OR`` and also
    ``RD``; tables with zero events in both arms are kept (``drop00=False``) and get
    ``yi = 0`` (``RR``, ``OR``, ``RD``). For single arms (``PLO``, ``PR``) 1/2 is added to
    the events and non-events of an arm with no events or only events.

    Differences from metafor, by design: impossible inputs raise instead of giving NA or
    a metafor error without row numbers; the ``RevMan`` vtype is ours (metafor has no
    equivalent; note that RevMan itself also uses the approximation ``J ≈ 1 - 3/(4N - 9)``
    for g, whereas here g always uses the exact ``J``).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"events_treat": [4], "n_treat": [123],
    ...                       "events_ctrl": [11], "n_ctrl": [139]})
    >>> out = escalc("RR", frame)
    >>> round(float(out.yi[0]), 4), round(float(out.vi[0]), 4)
    (-0.8893, 0.3256)
    """
    import pandas as pd

    if measure not in MEASURES:
        raise ValueError(f"escalc: unknown measure {measure!r}; one of {', '.join(MEASURES)}")
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"escalc: frame must be a pandas DataFrame, not {type(frame).__name__}")
    allowed_vtypes = _VTYPES.get(measure, ("LS",))
    if vtype not in allowed_vtypes:
        raise ValueError(
            f"escalc({measure!r}): vtype {vtype!r} is not available for this measure; "
            f"one of {', '.join(allowed_vtypes)}"
        )
    if to not in _TO:
        raise ValueError(f"escalc: unknown to={to!r}; one of {', '.join(_TO)} (metafor's options)")
    if add is None:
        add = 0.0 if measure == "PFT" else 0.5
    if not (isinstance(add, numbers.Real) and np.isfinite(add) and add >= 0):
        raise ValueError(f"escalc: add must be a finite number >= 0, not {add!r}")
    if not isinstance(drop00, bool | np.bool_):
        raise ValueError(f"escalc: drop00 must be True or False, not {drop00!r}")

    etype = _effect_type(frame)
    reported = etype != None  # noqa: E711 (element-wise comparison on an object array)
    if measure == "GEN":
        lacking = ~reported
        if np.any(lacking):
            raise ValueError(
                f"escalc('GEN'): {_lack(frame.index, lacking)} effect_type. "
                "Measure GEN pools reported effects: effect_type, yi and one of vi, sei, or "
                "ci_low and ci_high."
            )
        yi, vi = _reported(frame, reported, etype, measure)
        dropped = np.zeros(len(frame), dtype=bool)
    else:
        yi, vi, dropped = _arms(
            frame, ~reported, measure, vtype=vtype, add=float(add), to=to, drop00=bool(drop00)
        )
        yr, vr = _reported(frame, reported, etype, measure)
        yi = np.where(reported, yr, yi)
        vi = np.where(reported, vr, vi)

    # As metafor: infinite or NaN results become missing in both yi and vi.
    undefined = ~np.isfinite(yi) | ~np.isfinite(vi)
    yi = np.where(undefined, np.nan, yi)
    vi = np.where(undefined, np.nan, vi)
    unexpected = undefined & ~dropped
    if np.any(unexpected):
        warnings.warn(
            f"escalc({measure!r}): {_labels(frame.index, unexpected)}: the effect size is "
            "undefined for these data (e.g. a zero cell with to='none', or SMD with fewer than "
            "4 participants); yi and vi are NaN, as metafor's NA",
            RuntimeWarning,
            stacklevel=2,
        )

    out = frame.copy()
    out["yi"] = yi
    out["vi"] = vi
    return out
