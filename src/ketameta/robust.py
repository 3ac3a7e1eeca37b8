"""Cluster-robust (sandwich) inference for meta-analytic models: metafor's ``robust()``.

:func:`robust` takes a fitted model (:func:`ketameta.rma_mv` or :func:`ketameta.rma`) and
a cluster id per effect, and replaces the model-based covariance of the coefficients by a
cluster-robust one, which stays valid when the assumed dependence within trials (the
working model: its random effects and the within-trial correlation of ``V``) is wrong
(Hedges, Tipton & Johnson 2010, *Res Synth Methods* 1:39).

Conventions (stated once, here):

* ``CR0``/``CR1`` are metafor's ``robust(x, cluster, adjust=)``: with the model's weight
  matrix ``W = M⁻¹`` (``diag(1/(vi + τ²))`` for ``rma``), the bread ``B = V_b XᵀW`` (``V_b``
  the model's covariance of the coefficients, as metafor takes it, so a Knapp–Hartung
  fit's scaled covariance enters for ``rma`` with ``test="knha"``), residuals
  ``e = y - Xb``, and ``V_R = Σ_j B_j e_j e_jᵀ B_jᵀ`` over clusters ``j``; ``CR1``
  multiplies by ``n / (n - p)`` (``n`` clusters, ``p`` coefficients). Tests are t tests on
  ``n - p`` degrees of freedom and the omnibus test is ``F = bᵀV_R⁻¹b / m`` on
  ``(m, n - p)``.
* ``CR2`` is the bias-reduced linearisation estimator of Bell & McCaffrey (2002, *Surv
  Methodol* 28:169) as in R's clubSandwich (Pustejovsky & Tipton 2018, *J Bus Econ Stat*
  36:672; ``vcovCR(type="CR2")``, ``coef_test(test="Satterthwaite")``, ``conf_int()``),
  with the model's working weights ``W_j = M_j⁻¹`` as target: each cluster's residuals
  are multiplied by ``A_j = Tᵀ (T (I - H_jj) M_j Tᵀ)^(-1/2) T`` (``M_j = TᵀT``, ``H_jj``
  the cluster's block of the hat matrix; the inverse square root drops eigenvalues
  ≤ 1e-12, as clubSandwich's ``matrix_power``). Each coefficient gets a t test with
  Satterthwaite degrees of freedom; the omnibus test of several coefficients is
  clubSandwich's Hotelling-T² ``HTZ`` approximation (Tipton & Pustejovsky 2015, *J Educ
  Behav Stat* 40:604), as metafor's ``robust(..., clubSandwich=TRUE)`` reports it.
* The random effects of an ``rma_mv`` model must be nested in the robust clusters for
  ``CR2`` (clubSandwich's requirement); ``CR0``/``CR1`` do not need it.
* Fewer clusters than ``p + 1``: the robust tests are undefined (NaN with a warning;
  metafor stops with an error).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ketameta._batch import components
from ketameta._dist import f_sf, t_isf, t_sf
from ketameta._results import coefficient_records, finite
from ketameta.models import level_to_alpha

__all__ = ["ROBUST_TYPES", "RobustResult", "robust"]

ROBUST_TYPES = ("CR0", "CR1", "CR2")
EIGEN_TOL = 1e-12  # clubSandwich's matrix_power(): eigenvalues at or below it are dropped


@dataclass(frozen=True, eq=False)
class RobustResult:
    """Cluster-robust tests of a model's coefficients (see :func:`robust`).

    Attributes
    ----------
    type : str
        ``CR0``, ``CR1`` or ``CR2``.
    coef_names : tuple of str
    beta, se, statistic, p_value, ci_low, ci_high, df : ndarray, shape (p,)
        Coefficients (as fitted), robust standard errors, t statistics, p-values, CIs and
        the degrees of freedom of each t test (``n - p`` for CR0/CR1; Satterthwaite for
        CR2).
    vcov : ndarray, shape (p, p)
        The cluster-robust covariance matrix.
    QM, QM_df, QM_p : float, tuple, float
        Omnibus F test of the coefficients in ``btt`` (see the module docstring).
    btt : tuple of int
    n_clusters : int
    level : float
    warnings : tuple of str
    """

    type: str
    coef_names: tuple
    beta: np.ndarray
    vcov: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    df: np.ndarray
    QM: float
    QM_df: tuple
    QM_p: float
    btt: tuple
    n_clusters: int
    level: float
    warnings: tuple = field(default_factory=tuple)

    @property
    def estimate(self):
        """The pooled effect for an intercept-only model, else the coefficient vector."""
        return float(self.beta[0]) if self.beta.size == 1 else self.beta

    def to_dict(self) -> dict:
        """Plain-Python summary (JSON-ready; undefined values are None)."""

        return {
            "type": self.type,
            "n_clusters": self.n_clusters,
            "level": float(self.level),
            "coefficients": coefficient_records(
                self.coef_names, estimate=self.beta, se=self.se, statistic=self.statistic,
                df=self.df, p_value=self.p_value, ci_low=self.ci_low, ci_high=self.ci_high,
            ),
            "QM": finite(self.QM),
            "QM_df": [finite(d) for d in self.QM_df],
            "QM_p": finite(self.QM_p),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class _Model:
    """What the sandwich needs from a fit."""

    y: np.ndarray
    X: np.ndarray
    beta: np.ndarray
    vcov: np.ndarray  # the model's covariance of beta, as metafor's x$vb
    bread: np.ndarray  # (X' W X)^-1 with the working weights (clubSandwich's bread)
    # the marginal covariance M (the working model) by its independent blocks: row indices
    # of each, and M on any rows (never a (k, k) matrix of a large model)
    blocks: tuple
    M_rows: Callable[[np.ndarray], np.ndarray]
    w_scale: float  # clubSandwich scales rma.uni weights by their mean
    not_na: np.ndarray  # rows of the caller's input that the fit used
    random_codes: tuple  # levels of each random effect (for the nesting check)
    names: tuple
    btt: tuple
    level: float


def _model_of(fit) -> _Model:
    """Adapter for RMAMVResult and RMAResult (with or without a moderator design)."""
    if hasattr(fit, "sigma2") and hasattr(fit, "M_rows"):
        codes = (fit.cluster,) + ((fit.effect,) if fit.random == "cluster/effect" else ())
        return _Model(
            y=fit.yi,
            X=fit.X,
            beta=np.asarray(fit.beta, float),
            vcov=fit.vcov,
            bread=fit.vcov,
            blocks=fit.blocks,
            M_rows=fit.M_rows,
            w_scale=1.0,
            not_na=fit.not_na,
            random_codes=codes,
            names=fit.coef_names,
            btt=fit.btt,
            level=fit.level,
        )
    yi = np.asarray(fit.yi, float)
    if yi.ndim != 1:
        raise ValueError("robust() takes one fit, not a batch of meta-analyses")
    vi = np.asarray(fit.vi, float)
    not_na = np.isfinite(yi) & np.isfinite(vi)
    X = getattr(fit, "X", None)
    if X is None:
        X = np.ones((yi.size, 1))
    X = np.asarray(X, float)
    if X.shape[0] == yi.size:
        not_na &= np.all(np.isfinite(X), axis=1)
        X = X[not_na]
    y, v = yi[not_na], vi[not_na]
    tau2 = float(np.asarray(getattr(fit, "tau2", 0.0)))
    tau2 = 0.0 if not math.isfinite(tau2) else tau2
    beta = getattr(fit, "beta", None)
    beta = np.atleast_1d(np.asarray(fit.estimate if beta is None else beta, float))
    vcov = getattr(fit, "vcov", None)
    vcov = np.atleast_2d(np.asarray(float(fit.se) ** 2 if vcov is None else vcov, float))
    m = v + tau2
    w = 1.0 / m
    names = getattr(fit, "coef_names", None) or getattr(fit, "names", None)
    if names is None:
        names = ("intrcpt",) + tuple(f"mod{j}" for j in range(1, X.shape[1]))
    btt = getattr(fit, "btt", None)
    if btt is None:
        has_int = getattr(fit, "intercept", None)
        if has_int is None:
            has_int = bool(np.all(X[:, 0] == 1.0))
        btt = (
            tuple(range(1, X.shape[1])) if has_int and X.shape[1] > 1 else tuple(range(X.shape[1]))
        )
    return _Model(
        y=y,
        X=X,
        beta=beta,
        vcov=vcov,
        bread=np.linalg.inv(X.T @ (w[:, None] * X)),
        blocks=tuple(np.arange(y.size)[:, None]),
        M_rows=lambda rows: np.diag(m[rows]),
        w_scale=float(np.mean(w)),
        not_na=not_na,
        random_codes=(),
        names=tuple(names),
        btt=tuple(btt),
        level=fit.level,
    )


def robust(fit, cluster, adjust: bool = True, type: str = "CR1") -> RobustResult:
    """Cluster-robust tests and CIs for the coefficients of a fitted model.

    Parameters
    ----------
    fit : RMAMVResult or RMAResult
        A model from :func:`ketameta.rma_mv` or a single (not batch) :func:`ketameta.rma`.
    cluster : array_like
        Cluster (trial) id of each effect, for the rows given to the fit (rows the fit left
        out are dropped here too) or for the rows it used.
    adjust : bool
        For ``type="CR1"``/``"CR0"``: apply metafor's small-sample factor ``n/(n - p)``
        (``adjust=True`` is ``CR1``, ``False`` is ``CR0``). Ignored for CR2.
    type : {"CR1", "CR0", "CR2"}
        ``CR1``/``CR0``: metafor's ``robust()``; ``CR2``: clubSandwich's bias-reduced
        estimator with Satterthwaite degrees of freedom.

    Returns
    -------
    RobustResult

    Raises
    ------
    ValueError
        For invalid input (unknown type, cluster of the wrong length or with missing
        values, fewer than two clusters, random effects not nested in the clusters for
        CR2).

    Examples
    --------
    >>> import ketameta
    >>> fit = ketameta.rma_mv([0.1, 0.3, 0.2, 0.6, 0.5, 0.4], [0.02, 0.03, 0.02, 0.04, 0.03, 0.02],
    ...                       cluster=[1, 1, 2, 2, 3, 3])
    >>> rob = ketameta.robust(fit, cluster=[1, 1, 2, 2, 3, 3], type="CR2")
    >>> rob.n_clusters
    3
    """
    if type not in ROBUST_TYPES:
        raise ValueError(f"type must be one of {ROBUST_TYPES}, got {type!r}")
    if type == "CR0" and adjust:
        adjust = False
    if type == "CR1" and not adjust:
        type = "CR0"
    mod = _model_of(fit)
    k, p = mod.X.shape
    cl = np.asarray(cluster, dtype=object)
    if cl.ndim != 1:
        raise ValueError("cluster must be one-dimensional")
    if cl.size == mod.not_na.size:
        cl = cl[mod.not_na]
    if cl.size != k:
        raise ValueError(f"cluster has {cl.size} entries; the fit has {k} effects")
    if any(c is None or (isinstance(c, float) and math.isnan(c)) for c in cl):
        raise ValueError("cluster must not have missing values")
    codes, _ = pd.factorize(pd.Series(cl, dtype=object).astype(str), sort=False)
    n = int(codes.max()) + 1
    if n < 2:
        raise ValueError("cluster-robust inference needs at least two clusters")
    groups = [np.flatnonzero(codes == j) for j in range(n)]
    alpha = level_to_alpha(mod.level)
    warnings: list[str] = []
    resid = mod.y - mod.X @ mod.beta

    if type == "CR2":
        for rc in mod.random_codes:
            # every level of a random effect must lie within one cluster
            pairs = pd.DataFrame({"r": rc, "c": codes}).drop_duplicates()
            if pairs["r"].duplicated().any():
                raise ValueError(
                    "CR2 needs the random effects nested in the clusters: a level of the "
                    "model's random effects spans several of the given clusters"
                )
        vcov, df, GH = _cr2(mod, groups, resid)
    else:
        bread = mod.vcov @ _weighted_design(mod)
        comps = np.stack([bread[:, g] @ resid[g] for g in groups], axis=1)
        vcov = comps @ comps.T
        dfs = n - p
        if adjust and dfs > 0:
            vcov = vcov * (n / dfs)
        df = np.full(p, float(dfs) if dfs > 0 else math.nan)
        GH = None
        if dfs <= 0:
            warnings.append(
                f"The number of clusters ({n}) must exceed the number of coefficients "
                f"({p}) for t tests on n - p degrees of freedom; they are undefined "
                "(metafor stops with an error)."
            )
    se = np.sqrt(np.diag(vcov))
    stat = mod.beta / se
    with np.errstate(invalid="ignore"):
        pval = 2 * t_sf(np.abs(stat), df)
        crit = t_isf(alpha / 2, df)
    ci_low, ci_high = mod.beta - crit * se, mod.beta + crit * se

    btt = list(mod.btt)
    m = len(btt)
    if type != "CR2":
        dfs = n - p
        bb = mod.beta[btt]
        QM = float(bb @ np.linalg.solve(vcov[np.ix_(btt, btt)], bb)) / m
        QM_df = (m, dfs)
        QM_p = float(f_sf(QM, m, dfs)) if dfs > 0 else math.nan
    elif p == 1:
        QM = max(0.0, float(stat[0] ** 2))
        QM_df = (1, float(df[0]))
        QM_p = float(pval[0])
    else:
        QM, QM_df, QM_p = _htz(mod, vcov, btt, GH)
    return RobustResult(
        type=type,
        coef_names=mod.names,
        beta=mod.beta,
        vcov=vcov,
        se=se,
        statistic=stat,
        p_value=pval,
        ci_low=ci_low,
        ci_high=ci_high,
        df=df,
        QM=QM,
        QM_df=QM_df,
        QM_p=QM_p,
        btt=tuple(btt),
        n_clusters=n,
        level=mod.level,
        warnings=tuple(warnings),
    )


def _weighted_design(mod: _Model) -> np.ndarray:
    """``Xᵀ M⁻¹``, (p, k), block by block of M (each block split further where its own
    entries leave rows unlinked, as for a model whose σ² are 0)."""
    out = np.zeros((mod.X.shape[1], mod.X.shape[0]))
    for block in mod.blocks:
        M = mod.M_rows(block)
        for part in components(M != 0.0):
            rows = block[part]
            out[:, rows] = mod.X[rows].T @ np.linalg.inv(M[np.ix_(part, part)])
    return out


def _matrix_power(x, power):
    """Symmetric matrix power dropping eigenvalues ≤ EIGEN_TOL (clubSandwich's)."""
    vals, vecs = np.linalg.eigh(x)
    keep = vals > EIGEN_TOL
    vp = np.zeros_like(vals)
    vp[keep] = vals[keep] ** power
    return (vecs * vp) @ vecs.T


def _cr2(mod: _Model, groups, resid):
    """CR2 covariance, Satterthwaite df and the pieces of the df computation.

    The clusters are batched: each block is padded to the largest with identity in the
    target and zeros in X and the residuals, which leaves every block's result unchanged.
    """
    ws = mod.w_scale
    nb, nmax, p = len(groups), max(len(g) for g in groups), mod.X.shape[1]
    Xb = np.zeros((nb, nmax, p))
    Rb = np.zeros((nb, nmax))
    theta = np.broadcast_to(np.eye(nmax), (nb, nmax, nmax)).copy()
    for j, g in enumerate(groups):
        n = len(g)
        Xb[j, :n] = mod.X[g]
        Rb[j, :n] = resid[g]
        theta[j, :n, :n] = mod.M_rows(g) * ws  # target: inverse of the scaled weights
    W = np.linalg.inv(theta)  # scaled working weights
    XW = np.swapaxes(Xb, 1, 2) @ W
    M_U = np.linalg.inv(np.sum(XW @ Xb, axis=0))
    L = np.linalg.cholesky(theta)  # theta = L L' = T'T with T = L' (R's chol)
    T = np.swapaxes(L, 1, 2)
    IH = np.eye(nmax) - Xb @ M_U @ XW
    G = T @ IH @ theta @ L
    G = 0.5 * (G + np.swapaxes(G, 1, 2))
    vals, vecs = np.linalg.eigh(G)
    keep = vals > EIGEN_TOL  # clubSandwich's matrix_power(G, -1/2)
    vp = np.zeros_like(vals)
    vp[keep] = vals[keep] ** -0.5
    A = L @ (vecs * vp[:, None, :]) @ np.swapaxes(vecs, 1, 2) @ T
    E = XW @ A  # (nb, p, nmax)
    comps = np.einsum("bpn,bn->pb", E, Rb)
    bread = mod.bread
    vcov = bread @ (comps @ comps.T) * ws**2 @ bread
    # Satterthwaite degrees of freedom (clubSandwich's get_GH / get_P_array)
    ME = np.einsum("pq,bqn->bpn", bread, E)
    Gs = ME @ L  # (nb, p, nmax)
    MU_ct = np.linalg.cholesky(ws * bread)
    H = np.transpose(ME @ Xb @ MU_ct, (1, 2, 0))  # (p, p, nb)
    df = np.empty(p)
    for i in range(p):
        P = -H[i].T @ H[i]
        P[np.diag_indices_from(P)] += np.sum(Gs[:, i, :] ** 2, axis=1)
        df[i] = np.trace(P) ** 2 / float(np.sum(P * P))
    return vcov, df, (Gs, H)


def _htz(mod: _Model, vcov, btt, GH):
    """clubSandwich's HTZ Wald test that the coefficients in ``btt`` are zero."""
    Gs, H = GH
    p = mod.X.shape[1]
    q = len(btt)
    C = np.zeros((q, p))
    C[np.arange(q), btt] = 1.0
    Gq = np.einsum("qp,bpn->bqn", C, Gs)
    Hq = np.einsum("qp,puj->quj", C, H)
    J = H.shape[2]
    P = np.empty((q, q, J, J))
    for s in range(q):
        for t in range(s, q):
            tmp = -Hq[s].T @ Hq[t]
            tmp[np.diag_indices(J)] += np.einsum("bn,bn->b", Gq[:, s], Gq[:, t])
            P[s, t] = tmp
            P[t, s] = tmp.T
    omega = np.einsum("stjj->st", P)
    on = _matrix_power(omega, -0.5)
    B = np.einsum("as,stjk,tb->abjk", on, P, on)
    var = np.empty((q, q))
    for s in range(q):
        for t in range(s + 1):
            v = float(np.sum(B[s, t] * B[t, s]) + np.sum(B[s, s] * B[t, t]))
            var[s, t] = var[t, s] = v
    nu = q * (q + 1) / float(np.sum(var))
    cb = mod.beta[btt]
    Q = float(cb @ np.linalg.solve(vcov[np.ix_(btt, btt)], cb))
    delta = max((nu - q + 1) / nu, 0.0)
    df2 = nu - q + 1
    F = delta * Q / q
    p_val = float(f_sf(F, q, df2)) if df2 > 0 else math.nan
    return max(0.0, F), (q, df2), p_val
