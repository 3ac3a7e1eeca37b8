"""GOSH: the model fitted to every subset of the studies (metafor's ``gosh()``).

The graphical display of study heterogeneity (Olkin, Dahabreh & Trikalinos 2012, *Res
Synth Methods* 3:214) fits the meta-analytic model to each of the ``2^k - 1`` non-empty
subsets of the ``k`` studies and plots the pooled estimate against a heterogeneity
statistic (I² by default). Clusters in that cloud point at studies that pull the estimate
or the heterogeneity on their own.

Conventions (as metafor 3.8's ``gosh.rma()``):

* Every subset of size ≥ 1 is fitted (``2^k - 1`` of them) while that number is at most
  ``subsets``; beyond it, ``subsets`` subsets are drawn at random: a size ``j`` from the
  binomial(k, 1/2) distribution restricted to ``j ≥ 1``, then ``j`` studies uniformly
  without replacement (the same distribution as metafor; the draws themselves come from
  NumPy's generator seeded with ``seed``, not from R's). Random subsets may repeat, as
  in metafor.
* Rows are ordered by subset size; within a size, all-subset runs follow metafor's
  ``expand.grid`` order, i.e. ascending binary code with study ``j`` (1-based) adding
  ``2^(j-1)``; random runs keep their draw order.
* A subset of one study has τ² = 0, Q = 0, I² = 0 and H² = 1, as metafor reports
  (its own estimate with a z-based CI).
* With ``method="DL"`` (and ``"EE"``), H² is ``Q / (k - 1)``, as metafor's ``gosh()``
  computes it on its fast path for these two models. For DL this differs from
  :func:`ketameta.rma`'s H² (``τ²/s² + 1``) only where Q < k − 1, when ``rma`` gives 1.
* Each subset is fitted with :func:`ketameta.models.fit_batch`, so estimates, τ² and
  heterogeneity statistics are exactly those of :func:`ketameta.rma` on that subset, with
  the same stopping rules. Subsets are fitted in chunks of at most ``chunk_cells`` study
  cells, so memory stays bounded whatever ``k``; rows are independent, so the results do
  not depend on the chunking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from ketameta._batch import as_batch
from ketameta._results import finite
from ketameta.models import fit_batch, level_to_alpha

__all__ = ["GoshResult", "gosh", "subset_codes"]

# metafor fits all subsets while 2^k - 1 is at most its default `subsets` = 10^6
DEFAULT_SUBSETS = 10**6
# study cells (rows x studies) fitted at once: 1 MiB per float array of a chunk
CHUNK_CELLS = 2**17
# every subset is enumerated up to k = 20 (1,048,575 subsets) unless said otherwise
MAX_K_ALL = 20
_FIELDS = ("estimate", "se", "ci_low", "ci_high", "p_value", "tau2", "I2", "H2", "Q")


@dataclass(frozen=True, eq=False)
class GoshResult:
    """Result of :func:`gosh`: one fit per subset, arrays of length ``n`` subsets.

    Attributes
    ----------
    members : ndarray of bool, shape (n, k)
        Which studies each subset holds (metafor's ``incl``).
    k : ndarray of int (n,)
        Subset size.
    estimate, se, ci_low, ci_high, p_value : ndarray (n,)
        Pooled estimate, its standard error, CI at ``level`` and p-value of the ``test``.
    tau2, I2, H2, Q : ndarray (n,)
        τ², I² (percent), H² and Cochran's Q (metafor's ``QE``).
    converged : ndarray of bool (n,)
        False where an iterative estimator needed its documented fallback.
    exact : bool
        True when every subset was fitted, False for a random sample.
    method, test : str
        τ² estimator and test, metafor's names.
    level : float
        Confidence level in percent.
    full_estimate, full_I2 : float
        The fit to all ``k`` studies (the reference point of the plot).
    """

    members: np.ndarray
    k: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_value: np.ndarray
    tau2: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    Q: np.ndarray
    converged: np.ndarray
    exact: bool
    method: str
    test: str
    level: float
    full_estimate: float
    full_I2: float

    @property
    def n_subsets(self) -> int:
        """Number of subsets fitted."""
        return int(self.k.shape[0])

    def to_frame(self, studies=None) -> pd.DataFrame:
        """One row per subset: ``k``, the statistics, then one bool column per study.

        Parameters
        ----------
        studies : sequence of str, optional
            Column names of the membership columns (default ``"1"`` … ``"k"``, metafor's).
        """
        import pandas as pd

        n_studies = self.members.shape[1]
        names = list(studies) if studies is not None else [str(j + 1) for j in range(n_studies)]
        if len(names) != n_studies:
            raise ValueError(f"studies must name {n_studies} studies, got {len(names)}")
        frame = pd.DataFrame({"k": self.k, **{f: getattr(self, f) for f in _FIELDS}})
        members = pd.DataFrame(self.members, columns=names)
        return pd.concat([frame, members], axis=1)

    def density(self, bins: int = 40, I2_range=(0.0, 100.0)):
        """Counts of subsets on a grid of estimate (x) against I² (y), as plotted.

        metafor's ``plot.gosh.rma()`` draws the estimate against I² for every subset; with
        many subsets the points merge, so the report draws these counts instead.

        Parameters
        ----------
        bins : int
            Number of cells along each axis.
        I2_range : (float, float)
            Range of the I² axis in percent.

        Returns
        -------
        counts : ndarray of int, shape (bins, bins)
            ``counts[i, j]``: subsets in estimate cell ``i`` and I² cell ``j``.
        x_edges, y_edges : ndarray (bins + 1,)
            Cell edges of the estimate and I² axes. The estimate axis spans the range of
            the finite estimates (widened by 1e-9 on each side when it is a point).
        """
        ok = np.isfinite(self.estimate) & np.isfinite(self.I2)
        x = self.estimate[ok]
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 1.0)
        if hi - lo <= 0:
            lo, hi = lo - 1e-9, hi + 1e-9
        counts, x_edges, y_edges = np.histogram2d(
            x, self.I2[ok], bins=bins, range=[[lo, hi], list(I2_range)]
        )
        return counts.astype(np.int64), x_edges, y_edges

    def summary(self) -> dict:
        """Plain-Python summary for ``summary.json``-style outputs.

        Keys: ``n_subsets, exact, method, test, level, full_estimate, full_I2`` and the
        minimum, median and maximum of the estimate and of I² over the subsets with a
        finite value (``estimate_min``, ``estimate_median``, ...).
        """
        out = {
            "n_subsets": self.n_subsets,
            "exact": bool(self.exact),
            "method": self.method,
            "test": self.test,
            "level": float(self.level),
            "full_estimate": finite(self.full_estimate),
            "full_I2": finite(self.full_I2),
        }
        for name in ("estimate", "I2"):
            vals = getattr(self, name)
            vals = vals[np.isfinite(vals)]
            for stat, fn in (("min", np.min), ("median", np.median), ("max", np.max)):
                out[f"{name}_{stat}"] = finite(fn(vals)) if vals.size else None
        return out


def subset_codes(k: int) -> np.ndarray:
    """Binary codes of all ``2^k - 1`` non-empty subsets of ``k`` studies, metafor's order.

    Study ``j`` (1-based) adds ``2^(j-1)``. The codes are sorted by subset size, and by
    value within a size (a stable sort of ``1 … 2^k - 1``), which is the row order of
    metafor's ``gosh()`` after it orders its ``expand.grid`` rows by size.
    """
    if not 1 <= k <= 62:
        raise ValueError(f"all subsets can be listed for 1 <= k <= 62 only, got k = {k}")
    codes = np.arange(1, 2**k, dtype=np.int64)
    size = _popcount(codes)
    return codes[np.argsort(size, kind="stable")]


def _popcount(codes: np.ndarray) -> np.ndarray:
    n = np.zeros(codes.shape, dtype=np.int64)
    c = codes.copy()
    while c.any():
        n += c & 1
        c >>= 1
    return n


def _members_of(codes: np.ndarray, k: int) -> np.ndarray:
    return ((codes[:, None] >> np.arange(k, dtype=np.int64)[None, :]) & 1).astype(bool)


def _random_members(k: int, n: int, seed) -> np.ndarray:
    """``n`` random subsets drawn as metafor draws them (see the module docstring)."""
    rng = np.random.default_rng(seed)
    sizes = np.arange(1, k + 1)
    prob = np.array([math.comb(k, j) for j in sizes], dtype=float)
    size = rng.choice(sizes, size=n, p=prob / prob.sum())
    members = np.empty((n, k), dtype=bool)
    step = max(1, CHUNK_CELLS // k)
    for start in range(0, n, step):
        stop = min(n, start + step)
        ranks = rng.random((stop - start, k)).argsort(axis=1).argsort(axis=1)
        members[start:stop] = ranks < size[start:stop, None]
    order = np.argsort(size, kind="stable")
    return members[order]


def gosh(
    yi,
    vi,
    method: str = "REML",
    test: str = "z",
    level=95,
    subsets: int | None = None,
    seed=None,
    max_k_all: int = MAX_K_ALL,
    chunk_cells: int = CHUNK_CELLS,
) -> GoshResult:
    """Fit the model to every subset of the studies (metafor's ``gosh()``).

    Parameters
    ----------
    yi, vi : array_like, 1-D
        Effect sizes and sampling variances of ``k ≥ 2`` studies (no missing values).
    method, test, level
        As :func:`ketameta.rma`; each subset is fitted with them.
    subsets : int, optional
        Fit every subset while ``2^k - 1 <= subsets``; otherwise fit ``subsets`` random
        subsets. Default: metafor's 10^6, and every subset when ``k <= max_k_all``.
    seed : int, optional
        Seed of the random subsets (NumPy's ``default_rng``); the same seed gives the same
        subsets.
    max_k_all : int
        Largest ``k`` for which every subset is fitted when ``subsets`` is not given
        (default 20: 1,048,575 subsets).
    chunk_cells : int
        Subsets are fitted in chunks of ``chunk_cells // k`` rows, which bounds memory.

    Returns
    -------
    GoshResult

    Raises
    ------
    ValueError
        For ``k < 2``, missing values, ``subsets < 2`` or an unknown method or test.

    References
    ----------
    Olkin I, Dahabreh IJ, Trikalinos TA (2012). GOSH – a graphical display of study
    heterogeneity. *Research Synthesis Methods* 3:214–223. doi:10.1002/jrsm.1053

    Examples
    --------
    >>> g = gosh([0.1, 0.3, 0.35, -0.05], [0.01, 0.02, 0.015, 0.03], method="DL")
    >>> g.n_subsets
    15
    """
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    if yi.ndim != 1 or yi.shape != vi.shape:
        raise ValueError("gosh() takes 1-D yi and vi of the same length")
    if np.isnan(yi).any() or np.isnan(vi).any():
        raise ValueError("gosh() needs yi and vi without missing values")
    k = yi.shape[0]
    if k < 2:
        raise ValueError(f"gosh() needs at least 2 studies, got k = {k}")
    level_to_alpha(level)
    full = fit_batch(as_batch(yi, vi), method=method, test=test, level=level, tau2_ci=False)

    n_all = 2**k - 1
    if subsets is None:
        exact = k <= max_k_all
        n = n_all if exact else DEFAULT_SUBSETS
    else:
        subsets = int(round(subsets))
        if subsets < 2:
            raise ValueError(f"subsets must be at least 2, got {subsets}")
        exact = n_all <= subsets
        n = n_all if exact else subsets

    if exact:
        codes = subset_codes(k)
        members = None
    else:
        members = _random_members(k, n, seed)

    out = {f: np.empty(n) for f in _FIELDS}
    converged = np.empty(n, dtype=bool)
    sizes = np.empty(n, dtype=np.int64)
    all_members = np.empty((n, k), dtype=bool)
    step = max(1, chunk_cells // k)
    for start in range(0, n, step):
        stop = min(n, start + step)
        chunk = _members_of(codes[start:stop], k) if exact else members[start:stop]
        all_members[start:stop] = chunk
        fit = fit_batch(
            as_batch(np.broadcast_to(yi, chunk.shape), np.broadcast_to(vi, chunk.shape), chunk),
            method=method,
            test=test,
            level=level,
            tau2_ci=False,
        )
        one = fit.k == 1
        out["estimate"][start:stop] = fit.estimate
        out["se"][start:stop] = fit.se
        out["ci_low"][start:stop] = fit.ci_low
        out["ci_high"][start:stop] = fit.ci_high
        out["p_value"][start:stop] = fit.p_value
        # metafor reports a single study as tau2 = 0, Q = 0, I2 = 0, H2 = 1
        out["tau2"][start:stop] = np.where(one, 0.0, fit.tau2)
        out["I2"][start:stop] = np.where(one, 0.0, fit.I2)
        with np.errstate(divide="ignore", invalid="ignore"):
            h2 = fit.Q / (fit.k - 1.0) if method == "DL" else fit.H2
        out["H2"][start:stop] = np.where(one, 1.0, h2)
        out["Q"][start:stop] = np.where(one, 0.0, fit.Q)
        converged[start:stop] = fit.converged
        sizes[start:stop] = fit.k
    return GoshResult(
        members=all_members,
        k=sizes,
        converged=converged,
        exact=exact,
        method=method,
        test=test,
        level=level,
        full_estimate=float(full.estimate[0]),
        full_I2=float(full.I2[0]),
        **out,
    )
