"""The few distribution functions the engine needs, from ``scipy.special`` alone.

Importing ``scipy.stats`` costs more than the rest of the engine together, and the engine
uses only tail probabilities and quantiles of four distributions. Each function here
returns exactly the number the ``scipy.stats`` method named in its docstring returns: the
same special function (``ndtr``, ``ndtri``, ``stdtr``, ``stdtrit``, ``chdtr``, ``chdtrc``,
``chdtri``, ``gammaincinv``, ``fdtrc``) inside the same domain rules as
``scipy.stats.rv_continuous``:

- a shape parameter (degrees of freedom) that is not > 0, or a NaN argument, gives NaN;
- ``cdf``/``sf`` outside the open support give their limits (``sf`` is 1 at or below the
  lower end of the support, 0 at or above the upper end);
- ``ppf``/``isf`` give the ends of the support at probabilities 0 and 1 and NaN outside
  [0, 1].

Arguments broadcast as NumPy arrays; a result of zero dimensions is returned as a NumPy
scalar, as ``scipy.stats`` does.
"""

from __future__ import annotations

import numpy as np
from scipy import special

_INF = np.inf


def _shapes_ok(shapes):
    ok = np.True_
    for s in shapes:
        ok = ok & (s > 0)
    return ok


def _out(value):
    return value[()] if value.ndim == 0 else value


def _tail(core, x, shapes, lower, upper, upper_tail):
    """``cdf`` (``upper_tail=False``) or ``sf`` with the support rules above."""
    x = np.asarray(x, dtype=float)
    shapes = [np.asarray(s, dtype=float) for s in shapes]
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        ok = _shapes_ok(shapes)
        inside = ok & (lower < x) & (x < upper)
        edge = ok & ((x <= lower) if upper_tail else (x >= upper))
        value = core(x, *shapes)
        out = np.where(inside, value, np.where(edge, 1.0, 0.0))
        out = np.where(~ok | np.isnan(x), np.nan, out)
    return _out(np.asarray(out, dtype=float))


def _quantile(core, q, shapes, lower, upper, upper_tail):
    """``ppf`` (``upper_tail=False``) or ``isf`` with the support rules above."""
    q = np.asarray(q, dtype=float)
    shapes = [np.asarray(s, dtype=float) for s in shapes]
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        ok = _shapes_ok(shapes)
        inside = ok & (0 < q) & (q < 1)
        at0, at1 = (upper, lower) if upper_tail else (lower, upper)
        value = core(q, *shapes)
        out = np.where(inside, value, np.nan)
        out = np.where(ok & (q == 0), at0, out)
        out = np.where(ok & (q == 1), at1, out)
    return _out(np.asarray(out, dtype=float))


def norm_cdf(x):
    """Standard normal distribution function, ``scipy.stats.norm.cdf(x)``."""
    return _tail(special.ndtr, x, (), -_INF, _INF, False)


def norm_sf(x):
    """Standard normal upper tail ``P(Z > x)``, ``scipy.stats.norm.sf(x)``."""
    return _tail(lambda v: special.ndtr(-v), x, (), -_INF, _INF, True)


def norm_ppf(q):
    """Standard normal quantile, ``scipy.stats.norm.ppf(q)``."""
    return _quantile(special.ndtri, q, (), -_INF, _INF, False)


def norm_isf(q):
    """Standard normal upper quantile (``P(Z > z) = q``), ``scipy.stats.norm.isf(q)``."""
    return _quantile(lambda v: -special.ndtri(v), q, (), -_INF, _INF, True)


def t_sf(x, df):
    """Upper tail of Student's t with ``df`` degrees of freedom, ``scipy.stats.t.sf``."""
    return _tail(lambda v, d: special.stdtr(d, -v), x, (df,), -_INF, _INF, True)


def t_ppf(q, df):
    """Quantile of Student's t with ``df`` degrees of freedom, ``scipy.stats.t.ppf``."""
    return _quantile(lambda v, d: special.stdtrit(d, v), q, (df,), -_INF, _INF, False)


def t_isf(q, df):
    """Upper quantile of Student's t (``P(T > t) = q``), ``scipy.stats.t.isf``."""
    return _quantile(lambda v, d: -special.stdtrit(d, v), q, (df,), -_INF, _INF, True)


def chi2_cdf(x, df):
    """Distribution function of χ² with ``df`` degrees of freedom, ``scipy.stats.chi2.cdf``."""
    return _tail(lambda v, d: special.chdtr(d, v), x, (df,), 0.0, _INF, False)


def chi2_sf(x, df):
    """Upper tail of χ² with ``df`` degrees of freedom, ``scipy.stats.chi2.sf``."""
    return _tail(lambda v, d: special.chdtrc(d, v), x, (df,), 0.0, _INF, True)


def chi2_ppf(q, df):
    """Quantile of χ² with ``df`` degrees of freedom, ``scipy.stats.chi2.ppf``.

    χ²_df is the gamma distribution of shape ``df/2`` and scale 2, so the quantile is
    ``2 P⁻¹(df/2, q)`` with ``P`` the regularized lower incomplete gamma function.
    """
    return _quantile(lambda v, d: 2 * special.gammaincinv(d / 2, v), q, (df,), 0.0, _INF,
                     False)


def chi2_isf(q, df):
    """Upper quantile of χ² (``P(X > x) = q``), ``scipy.stats.chi2.isf``."""
    return _quantile(lambda v, d: special.chdtri(d, v), q, (df,), 0.0, _INF, True)


def f_sf(x, dfn, dfd):
    """Upper tail of F with ``dfn`` and ``dfd`` degrees of freedom, ``scipy.stats.f.sf``."""
    return _tail(lambda v, n, d: special.fdtrc(n, d, v), x, (dfn, dfd), 0.0, _INF, True)
