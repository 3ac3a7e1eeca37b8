"""Multilevel (three-level) meta-analysis of effects nested in trials: metafor's ``rma.mv()``.

The model is the one metafor fits with ``rma.mv(yi, V, random = ~ 1 | cluster/effect,
mods = ...)`` (Konstantopoulos 2011, *Res Synth Methods* 2:61; Van den Noortgate et al.
2013, *Behav Res Methods* 45:576; Viechtbauer 2010, *J Stat Softw* 36(3))::

    y = X β + Z₁ u₁ + Z₂ u₂ + e,   u₁ ~ N(0, σ₁² I),  u₂ ~ N(0, σ₂² I),  e ~ N(0, V)

with ``Z₁`` the indicator of the cluster (the trial) of each effect and ``Z₂`` the
indicator of its (cluster, effect) combination, so that the marginal covariance is
``M = V + σ₁² Z₁Z₁ᵀ + σ₂² Z₂Z₂ᵀ``. ``random="cluster"`` drops the second level (a random
intercept per trial only). ``V`` is the known covariance of the sampling errors: diagonal
from ``vi``, or block-diagonal from an assumed within-trial correlation (:func:`vcalc`,
metafor's ``vcalc()``), or any positive definite matrix given by the caller.

Conventions (stated once, here):

* σ² are estimated by maximising the restricted (``REML``) or full (``ML``) log-likelihood
  over σ² ≥ 0, by Newton's method on the variance components themselves with the analytic
  gradient and Hessian (Harville 1977, *JASA* 72:320), safeguarded by Fisher scoring and
  a line search, and stopped when a step changes no component by more than 1e-13
  (relative). The optimum is the exact one, including on the boundary σ² = 0 (metafor
  optimises log σ² and so reports a small positive number there instead of 0).
* The REML log-likelihood is metafor's, including the constant ``½ log|XᵀX|``.
* ``QE`` is the test of residual heterogeneity, ``(y - Xb)ᵀ V⁻¹ (y - Xb)`` with ``b`` the
  generalised-least-squares fit under ``V`` alone, on ``k - p`` degrees of freedom.
* ``QM`` is the Wald test of all coefficients except the intercept (of the intercept when
  it is the only one), χ² on ``m`` degrees of freedom for ``test="z"``; for ``test="t"`` it
  is ``QM / m`` on F(m, k − p) and each coefficient has a t test on ``k - p`` degrees of
  freedom (metafor's ``dfs="residual"``).
* Prediction interval (metafor's ``predict.rma.mv``): ``x b ± c sqrt(x V_b xᵀ + Σσ²)``,
  ``c`` the normal quantile for ``test="z"`` and the t(k − p) quantile for ``test="t"``.
* Profile-likelihood CIs of each σ² (metafor's ``confint.rma.mv``): the σ² values where
  twice the drop of the (restricted) log-likelihood, with the other components
  re-estimated, equals the χ²₁ quantile; searched within ``[0, max(10, 100 σ²)]`` (10
  when σ² is 0), the bound is the end of that interval when the drop does not reach the
  quantile inside it.
* Moderators: numeric columns enter as they are; text, boolean and categorical columns are
  dummy coded against their first level (sorted, or the categorical's own order), as R's
  ``factor()``; the intercept is named ``intrcpt``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ketameta._batch import brentq, components
from ketameta._dist import chi2_isf, chi2_sf, f_sf, norm_isf, norm_sf, t_isf, t_sf
from ketameta._results import coefficient_records, finite
from ketameta.models import level_to_alpha

__all__ = ["RANDOM_STRUCTURES", "RMAMVResult", "rma_mv", "vcalc"]

RANDOM_STRUCTURES = ("cluster/effect", "cluster")
_LEVEL_NAMES = ("cluster", "cluster/effect")
"""``cluster/effect``: random intercepts for trials and for effects within trials
(three-level model); ``cluster``: random intercepts for trials only."""

MV_METHODS = ("REML", "ML")
MV_TESTS = ("z", "t")

STEP_TOL = 1e-13  # Newton iterations stop when no component moves by more than this (relative)
MAX_ITER = 500
PROFILE_XTOL = 1e-12  # root tolerance of the profile-likelihood CI bounds


# ---------------------------------------------------------------------------------------
# vcalc
# ---------------------------------------------------------------------------------------


def vcalc(vi, cluster, obs=None, rho=None, time=None, phi=None) -> np.ndarray:
    """Covariance matrix of dependent sampling errors within clusters (metafor's ``vcalc()``).

    Effects in different clusters are independent. Within a cluster the covariance of
    effects ``i`` and ``j`` is ``r_ij sqrt(vi_i vi_j)`` where

    * with ``time`` and ``phi``: ``r_ij = phi ** |time_i - time_j|`` (autocorrelated
      errors, metafor's ``vcalc(vi, cluster, time1=time, phi=phi)``);
    * otherwise: ``r_ij = 1`` when ``obs`` is the same (the same observation; also when
      ``obs`` is not given, as in metafor) and ``r_ij = rho`` when it differs
      (``vcalc(vi, cluster, obs=obs, rho=rho)``).

    Parameters
    ----------
    vi : array_like, shape (k,)
        Sampling variances (> 0).
    cluster : array_like, shape (k,)
        Cluster (trial) id of each effect.
    obs : array_like, shape (k,), optional
        Which observation (e.g. time point) within the cluster each effect is.
    rho : float, optional
        Correlation between different observations of a cluster, in [-1, 1].
    time : array_like, shape (k,), optional
        Time of each effect (any unit; with ``phi``).
    phi : float, optional
        Autocorrelation for effects one time unit apart, in [0, 1].

    Returns
    -------
    ndarray, shape (k, k)

    Notes
    -----
    The within-trial correlation is rarely reported; Pustejovsky & Tipton (2022, *Prev
    Sci* 23:425) recommend an assumed value (e.g. 0.6) with cluster-robust inference
    (:func:`ketameta.robust`) to guard against its misspecification.
    """
    vi = np.asarray(vi, dtype=float)
    if vi.ndim != 1:
        raise ValueError("vcalc: vi must be one-dimensional")
    k = vi.size
    if not np.all(np.isfinite(vi)) or np.any(vi <= 0):
        raise ValueError("vcalc: every vi must be a finite number > 0")
    cl = _as_labels(cluster, k, "cluster")
    same = cl[:, None] == cl[None, :]
    if time is not None or phi is not None:
        if time is None or phi is None:
            raise ValueError("vcalc: time and phi go together")
        if rho is not None or obs is not None:
            raise ValueError("vcalc: give either obs/rho or time/phi, not both")
        t = np.asarray(time, dtype=float)
        if t.shape != (k,) or not np.all(np.isfinite(t)):
            raise ValueError(f"vcalc: time must hold {k} finite numbers")
        phi = float(phi)
        if not 0.0 <= phi <= 1.0:
            raise ValueError(f"vcalc: phi must be in [0, 1], got {phi}")
        with np.errstate(divide="ignore"):
            r = phi ** np.abs(t[:, None] - t[None, :])
    else:
        if obs is None:
            same_obs = np.ones((k, k), dtype=bool)
        else:
            ob = _as_labels(obs, k, "obs")
            same_obs = ob[:, None] == ob[None, :]
        if rho is None:
            if not np.all(same_obs | ~same):
                raise ValueError("vcalc: rho is needed when a cluster has different obs")
            rho = 0.0
        rho = float(rho)
        if not -1.0 <= rho <= 1.0:
            raise ValueError(f"vcalc: rho must be in [-1, 1], got {rho}")
        r = np.where(same_obs, 1.0, rho)
    sd = np.sqrt(vi)
    return np.where(same, r, 0.0) * np.outer(sd, sd)


def _as_labels(x, k, name) -> np.ndarray:
    """Integer codes of a label vector of length ``k`` (codes follow first appearance)."""
    arr = np.asarray(x, dtype=object)
    if arr.shape != (k,):
        raise ValueError(f"{name} must have one entry per effect ({k}), got shape {arr.shape}")
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in arr):
        raise ValueError(f"{name} must not have missing values")
    codes, _ = pd.factorize(pd.Series(arr, dtype=object).astype(str), sort=False)
    return codes


# ---------------------------------------------------------------------------------------
# design matrix
# ---------------------------------------------------------------------------------------


def design_matrix(mods, k: int, intercept: bool = True):
    """Model matrix and column names for ``mods`` (see the module docstring).

    ``mods`` is None, a 1-D or 2-D array, a pandas DataFrame or a mapping of column name to
    values. Returns ``(X, names)``; NaN in a numeric column is kept (the row is dropped by
    the caller).
    """
    cols: list[np.ndarray] = []
    names: list[str] = []
    if intercept:
        cols.append(np.ones(k))
        names.append("intrcpt")
    if mods is None:
        pass
    elif isinstance(mods, pd.DataFrame | Mapping):
        frame = pd.DataFrame(mods)
        if len(frame) != k:
            raise ValueError(f"mods has {len(frame)} rows; yi has {k}")
        for name in frame.columns:
            col = frame[name]
            if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
                if isinstance(col.dtype, pd.CategoricalDtype):
                    levels = list(col.cat.categories)
                else:
                    levels = sorted(col.dropna().unique(), key=str)
                if len(levels) < 2:
                    raise ValueError(f"moderator {name!r} has fewer than two levels")
                values = col.to_numpy(dtype=object)
                missing = pd.isna(col).to_numpy()
                first = 0 if intercept else None
                for j, level in enumerate(levels):
                    if j == first:
                        continue
                    dummy = (values == level).astype(float)
                    dummy[missing] = np.nan
                    cols.append(dummy)
                    names.append(f"{name}{level}")
            else:
                cols.append(col.to_numpy(dtype=float))
                names.append(str(name))
    else:
        arr = np.asarray(mods, dtype=float)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[0] != k:
            raise ValueError(f"mods must have {k} rows (one per effect), got shape {arr.shape}")
        for j in range(arr.shape[1]):
            cols.append(arr[:, j])
            names.append(f"mod{j + 1}" if arr.shape[1] > 1 else "mods")
    if not cols:
        raise ValueError("the model has no coefficients (intercept=False and no mods)")
    return np.column_stack(cols), tuple(names)


# ---------------------------------------------------------------------------------------
# likelihood
# ---------------------------------------------------------------------------------------


class _Likelihood:
    """(Restricted) log-likelihood of the variance components, with gradient and Hessian.

    The rows are grouped into independent blocks (the trials, merged where ``V`` links
    them), so that ``M`` and every ``G = Z Zᵀ`` are block-diagonal; all products are
    batched over the blocks (padded to the largest, with identity on the padding), which
    keeps the cost at ``Σ nᵦ³`` instead of ``k³``.

    Parameters
    ----------
    y, V, X
        Effects, sampling covariance (a matrix, or the vector of a diagonal one) and model
        matrix.
    codes : list of ndarray of int
        For each variance component, the level of each row (rows sharing a level share
        the random intercept).
    blocks : list of ndarray of int
        Row indices of each independent block.
    reml : bool
    """

    def __init__(self, y, V, X, codes, blocks, reml):
        self.reml = reml
        self.k, self.p = X.shape
        self.n_comp = len(codes)
        nb = len(blocks)
        nmax = max(len(b) for b in blocks)
        self.mask = np.zeros((nb, nmax), dtype=bool)
        self.Yb = np.zeros((nb, nmax))
        self.Xb = np.zeros((nb, nmax, self.p))
        self.Vb = np.broadcast_to(np.eye(nmax), (nb, nmax, nmax)).copy()
        self.Gb = [np.zeros((nb, nmax, nmax)) for _ in codes]
        for i, rows in enumerate(blocks):
            n = len(rows)
            self.mask[i, :n] = True
            self.Yb[i, :n] = y[rows]
            self.Xb[i, :n] = X[rows]
            self.Vb[i, :n, :n] = np.diag(V[rows]) if V.ndim == 1 else V[np.ix_(rows, rows)]
            for g, c in zip(self.Gb, codes, strict=True):
                g[i, :n, :n] = c[rows][:, None] == c[rows][None, :]
        self.const = -0.5 * (self.k - self.p if reml else self.k) * math.log(2 * math.pi)
        if reml:
            self.const += 0.5 * np.linalg.slogdet(X.T @ X)[1]

    def parts(self, theta):
        """Everything at ``theta`` (None when M is not positive definite)."""
        Mb = self.Vb.copy()
        for t, g in zip(theta, self.Gb, strict=True):
            if t != 0.0:
                Mb += t * g
        try:
            L = np.linalg.cholesky(Mb)
        except np.linalg.LinAlgError:
            return None
        Mi = np.linalg.inv(Mb)
        Mi = 0.5 * (Mi + np.swapaxes(Mi, 1, 2))
        MiX = Mi @ self.Xb
        MiY = np.einsum("bnm,bm->bn", Mi, self.Yb)
        XtMiX = np.einsum("bnp,bnq->pq", self.Xb, MiX)
        try:
            cx = np.linalg.cholesky(XtMiX)
        except np.linalg.LinAlgError:
            return None
        vb = np.linalg.inv(XtMiX)
        vb = 0.5 * (vb + vb.T)
        beta = vb @ np.einsum("bnp,bn->p", self.Xb, MiY)
        Py = MiY - MiX @ beta
        rss = float(np.sum(self.Yb * Py))
        logdet_m = 2.0 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
        ll = self.const - 0.5 * logdet_m - 0.5 * rss
        if self.reml:
            ll -= float(np.sum(np.log(np.diag(cx))))
        return {"Mb": Mb, "Mi": Mi, "MiX": MiX, "Py": Py, "vb": vb, "beta": beta, "ll": ll}

    def derivatives(self, parts):
        """Score, negative Hessian and expected information of the log-likelihood.

        With ``A = P`` (REML) or ``M⁻¹`` (ML) and ``P = M⁻¹ - M⁻¹X V_b XᵀM⁻¹``:
        score ``-½ tr(A Gᵢ) + ½ yᵀPGᵢPy``, Hessian ``½ tr(A Gᵢ A Gⱼ) - yᵀPGᵢPGⱼPy``,
        information ``½ tr(A Gᵢ A Gⱼ)`` (Harville 1977).
        """
        Mi, MiX, Py, vb = parts["Mi"], parts["MiX"], parts["Py"], parts["vb"]
        n = self.n_comp
        GPy = [np.einsum("bnm,bm->bn", g, Py) for g in self.Gb]
        MiG = [Mi @ g for g in self.Gb]
        XtMiGPy = [np.einsum("bnp,bn->p", MiX, gp) for gp in GPy]
        A = [np.einsum("bnp,bnm,bmq->pq", MiX, g, MiX) for g in self.Gb]
        score = np.empty(n)
        hess = np.empty((n, n))
        info = np.empty((n, n))
        for i in range(n):
            tr_mig = float(np.einsum("bnn->", MiG[i]))
            tr_a = tr_mig - float(np.sum(vb * A[i])) if self.reml else tr_mig
            score[i] = -0.5 * tr_a + 0.5 * float(np.sum(Py * GPy[i]))
            for j in range(i, n):
                t = float(np.einsum("bnm,bmn->", MiG[i], MiG[j]))
                if self.reml:
                    C = np.einsum("bnp,bnm,bmq->pq", MiX, self.Gb[j] @ MiG[i], MiX)
                    t += -2.0 * float(np.sum(vb * C)) + float(np.sum((vb @ A[i]) * (vb @ A[j]).T))
                quad = float(np.einsum("bn,bnm,bm->", GPy[i], Mi, GPy[j]))
                quad -= float(XtMiGPy[i] @ vb @ XtMiGPy[j])
                info[i, j] = info[j, i] = 0.5 * t
                hess[i, j] = hess[j, i] = 0.5 * t - quad
        return score, -hess, info


def _maximise(lik: _Likelihood, theta0, fixed=None):
    """Maximise the log-likelihood over theta ≥ 0; components in ``fixed`` stay put.

    Returns ``(theta, parts, converged)``.
    """
    theta = np.maximum(np.asarray(theta0, dtype=float), 0.0)
    n = theta.size
    fixed = np.zeros(n, dtype=bool) if fixed is None else np.asarray(fixed, dtype=bool)
    parts = lik.parts(theta)
    if parts is None:
        theta = np.where(fixed, theta, 0.0)
        parts = lik.parts(theta)
    if np.all(fixed):
        return theta, parts, True
    for _ in range(MAX_ITER):
        score, neg_hess, info = lik.derivatives(parts)
        free = ~fixed & ~((theta <= 0.0) & (score <= 0.0))
        if not np.any(free):
            return theta, parts, True
        s = score[free]
        direction = None
        h = neg_hess[np.ix_(free, free)]
        if np.all(np.linalg.eigvalsh(h) > 0):
            direction = np.linalg.solve(h, s)
        if direction is None or not np.all(np.isfinite(direction)):
            f = info[np.ix_(free, free)]
            direction = np.linalg.lstsq(f, s, rcond=None)[0]
        step = np.zeros(n)
        step[free] = direction
        t = 1.0
        accepted = False
        for _ in range(60):
            cand = np.maximum(theta + t * step, 0.0)
            cand_parts = lik.parts(cand)
            if cand_parts is not None and cand_parts["ll"] >= parts["ll"] - 1e-13 * abs(
                parts["ll"]
            ):
                accepted = True
                break
            t *= 0.5
        if not accepted:
            return theta, parts, _kkt_ok(lik, parts, theta, fixed)
        change = np.abs(cand - theta)
        theta, parts = cand, cand_parts
        if np.all(change <= STEP_TOL * np.maximum(1.0, np.abs(theta))):
            return theta, parts, True
    return theta, parts, _kkt_ok(lik, parts, theta, fixed)


def _kkt_ok(lik, parts, theta, fixed) -> bool:
    """Whether the score is (numerically) zero on free components and ≤ 0 at bounds."""
    score, _, info = lik.derivatives(parts)
    scale = np.sqrt(np.maximum(np.diag(info), 1e-300))
    z = score / scale
    ok = np.where(theta > 0, np.abs(z) < 1e-6, z < 1e-6)
    return bool(np.all(ok | fixed))


def _initial(y, X, vi, n_comp):
    """Starting values: the residual variance beyond the sampling variance (``vi``, the
    diagonal of V), split equally."""
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    resid = y - X @ beta
    dof = max(len(y) - X.shape[1], 1)
    total = float(resid @ resid) / dof - float(np.mean(vi))
    total = max(total, 0.01 * float(np.mean(vi)), 1e-4)
    return np.full(n_comp, total / n_comp)


# ---------------------------------------------------------------------------------------
# result
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RMAMVResult:
    """Result of :func:`rma_mv` (metafor's ``rma.mv`` object, the fields people read).

    Attributes
    ----------
    yi : ndarray, shape (k,)
        Effects used (rows with a missing value left out).
    V : ndarray, shape (k, k)
        Sampling covariance matrix used (a property, built on access from ``sampling``).
    sampling : ndarray, shape (k,) or (k, k)
        The sampling variances ``vi`` when V is diagonal (the rows' variances given without
        ``rho``), else V: a diagonal V is never held as a (k, k) matrix.
    X : ndarray, shape (k, p)
        Model matrix; ``coef_names`` names its columns (``intrcpt`` first).
    cluster, effect : ndarray of int, shape (k,)
        Codes of the cluster and of the (cluster, effect) combination of each row.
    cluster_labels : tuple
        The cluster label of each code.
    not_na : ndarray of bool
        Which rows of the input were used.
    random, method, test : str
        As requested (``random`` may drop to ``cluster``, see ``warnings``).
    level : float
        Confidence level as given (percent).
    k, p, n_clusters : int
        Effects, coefficients and clusters.
    beta, se, statistic, p_value, ci_low, ci_high : ndarray, shape (p,)
        Coefficients (GLS under the fitted M), their standard errors, z or t statistics,
        p-values and CIs.
    vcov : ndarray, shape (p, p)
        ``(Xᵀ M⁻¹ X)⁻¹``.
    df : float
        Degrees of freedom of the t tests (``k - p``; inf for ``test="z"``).
    sigma2 : ndarray
        Variance components (``sigma2_names`` says which; ``s_nlevels`` their levels).
    sigma2_ci_low, sigma2_ci_high : ndarray
        Profile-likelihood CIs of each σ² (NaN where not computed).
    QE, QE_df, QE_p : float
        Test of residual heterogeneity.
    QM, QM_df, QM_p : float, tuple, float
        Omnibus test of the moderators (``QM_df`` is ``(m,)`` for χ², ``(m, k - p)`` for F).
    btt : tuple of int
        Coefficients tested by QM.
    loglik, deviance, aic, bic : float
        Log-likelihood of the fitted model (REML or ML as fitted), deviance (for ML
        relative to the saturated model, as metafor), AIC and BIC with ``p`` plus the
        number of σ² as parameters and ``k - p`` (REML) or ``k`` observations (metafor's
        ``fitstats``).
    M : ndarray, shape (k, k)
        Marginal covariance ``V + Σ σ² Z Zᵀ`` (a property, assembled on access from its
        blocks; :meth:`M_rows` gives the part of some rows without it).
    blocks : tuple of ndarray
        Row indices of the independent blocks of M (the trials, merged where V links
        them), in the order of their first row.
    M_blocks : ndarray, shape (len(blocks), n, n)
        M on each block, padded to the largest block ``n`` with the identity.
    converged : bool
    warnings : tuple of str
    """

    yi: np.ndarray
    sampling: np.ndarray
    X: np.ndarray
    coef_names: tuple
    cluster: np.ndarray
    effect: np.ndarray
    cluster_labels: tuple
    not_na: np.ndarray
    random: str
    method: str
    test: str
    level: float
    k: int
    p: int
    n_clusters: int
    beta: np.ndarray
    vcov: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    df: float
    sigma2: np.ndarray
    sigma2_names: tuple
    s_nlevels: tuple
    sigma2_ci_low: np.ndarray
    sigma2_ci_high: np.ndarray
    QE: float
    QE_df: int
    QE_p: float
    QM: float
    QM_df: tuple
    QM_p: float
    btt: tuple
    loglik: float
    deviance: float
    aic: float
    bic: float
    blocks: tuple
    M_blocks: np.ndarray
    converged: bool
    warnings: tuple = field(default_factory=tuple)

    @functools.cached_property
    def _places(self) -> tuple[np.ndarray, np.ndarray]:
        """Each row's block and its position in it."""
        block = np.empty(self.k, dtype=int)
        where = np.empty(self.k, dtype=int)
        for i, members in enumerate(self.blocks):
            block[members] = i
            where[members] = np.arange(len(members))
        return block, where

    @property
    def V(self) -> np.ndarray:
        """The sampling covariance matrix, (k, k)."""
        return np.diag(self.sampling) if self.sampling.ndim == 1 else self.sampling

    @property
    def M(self) -> np.ndarray:
        """The marginal covariance matrix, (k, k), assembled from :attr:`M_blocks`."""
        M = np.zeros((self.k, self.k))
        for i, rows in enumerate(self.blocks):
            n = len(rows)
            M[np.ix_(rows, rows)] = self.M_blocks[i, :n, :n]
        return M

    def M_rows(self, rows) -> np.ndarray:
        """``M[np.ix_(rows, rows)]`` for some rows, read from the blocks (no (k, k) matrix)."""
        rows = np.asarray(rows, dtype=int)
        block, where = self._places
        b, w = block[rows], where[rows]
        values = self.M_blocks[b[:, None], w[:, None], w[None, :]]
        return np.where(b[:, None] == b[None, :], values, 0.0)

    @property
    def estimate(self):
        """The pooled effect for an intercept-only model, else the coefficient vector."""
        return float(self.beta[0]) if self.p == 1 else self.beta

    def predict(self, newmods=None, level=None) -> dict:
        """Predicted effect with CI and prediction interval (metafor's ``predict.rma.mv``).

        Parameters
        ----------
        newmods : array_like, optional
            Rows of moderator values without the intercept column, shape (n, p - 1) (or
            (n,) when there is one moderator); dummy columns as in ``coef_names``. None:
            the pooled effect of an intercept-only model, or the fitted value of every row.
        level : float, optional
            Confidence level (percent); the fit's by default.

        Returns
        -------
        dict of ndarray
            ``pred, se, ci_low, ci_high, pi_low, pi_high``.
        """
        has_int = self.coef_names[0] == "intrcpt"
        if newmods is None:
            x = self.X[:1] if self.p == 1 and has_int else self.X
        else:
            nm = np.asarray(newmods, dtype=float)
            n_mod = self.p - (1 if has_int else 0)
            if nm.ndim == 0:
                nm = nm.reshape(1, 1)
            elif nm.ndim == 1:
                nm = nm[:, None] if n_mod == 1 else nm[None, :]
            if nm.shape[1] != n_mod:
                raise ValueError(
                    f"newmods needs {n_mod} columns ({self.coef_names}), got {nm.shape[1]}"
                )
            x = np.column_stack([np.ones(len(nm)), nm]) if has_int else nm
        alpha = level_to_alpha(self.level if level is None else level)
        crit = _crit(alpha, self.df)
        pred = x @ self.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", x, self.vcov, x))
        spi = np.sqrt(se**2 + float(np.sum(self.sigma2)))
        return {
            "pred": pred,
            "se": se,
            "ci_low": pred - crit * se,
            "ci_high": pred + crit * se,
            "pi_low": pred - crit * spi,
            "pi_high": pred + crit * spi,
        }

    def to_dict(self) -> dict:
        """Plain-Python summary (JSON-ready; undefined values are None)."""

        coefs = coefficient_records(
            self.coef_names, estimate=self.beta, se=self.se, statistic=self.statistic,
            p_value=self.p_value, ci_low=self.ci_low, ci_high=self.ci_high,
        )
        sig = [
            {
                "level": name,
                "sigma2": finite(self.sigma2[j]),
                "n_levels": int(self.s_nlevels[j]),
                "ci_low": finite(self.sigma2_ci_low[j]),
                "ci_high": finite(self.sigma2_ci_high[j]),
            }
            for j, name in enumerate(self.sigma2_names)
        ]
        out = {
            "k": self.k,
            "n_clusters": self.n_clusters,
            "random": self.random,
            "method": self.method,
            "test": self.test,
            "level": float(self.level),
            "df": finite(self.df),
            "coefficients": coefs,
            "sigma2": sig,
            "Q": finite(self.QE),
            "Q_df": int(self.QE_df),
            "Q_p": finite(self.QE_p),
            "QM": finite(self.QM),
            "QM_df": [int(d) for d in self.QM_df],
            "QM_p": finite(self.QM_p),
            "loglik": finite(self.loglik),
            "converged": bool(self.converged),
            "warnings": list(self.warnings),
        }
        if self.p == 1:
            pr = self.predict()
            out.update(
                {
                    "estimate": finite(self.beta[0]),
                    "se": finite(self.se[0]),
                    "ci_low": finite(self.ci_low[0]),
                    "ci_high": finite(self.ci_high[0]),
                    "statistic": finite(self.statistic[0]),
                    "p_value": finite(self.p_value[0]),
                    "pi_low": finite(pr["pi_low"][0]),
                    "pi_high": finite(pr["pi_high"][0]),
                }
            )
        return out


def _crit(alpha, df):
    return (
        float(norm_isf(alpha / 2))
        if not np.isfinite(df)
        else float(t_isf(alpha / 2, df))
    )


# ---------------------------------------------------------------------------------------
# rma_mv
# ---------------------------------------------------------------------------------------


def rma_mv(
    yi,
    V,
    cluster,
    effect=None,
    *,
    mods=None,
    intercept: bool = True,
    random: str = "cluster/effect",
    method: str = "REML",
    test: str = "z",
    level=95,
    rho=None,
    sigma2=None,
    profile: bool = True,
) -> RMAMVResult:
    """Fit a multilevel random-effects model (metafor's ``rma.mv``).

    Parameters
    ----------
    yi : array_like, shape (k,)
        Effect sizes (one row per effect, a long table's column).
    V : array_like, shape (k,) or (k, k)
        Sampling variances ``vi`` (a diagonal V, or the within-trial correlation ``rho``
        applied to them by :func:`vcalc`), or the full covariance matrix.
    cluster : array_like, shape (k,)
        Trial (cluster) id of each effect.
    effect : array_like, shape (k,), optional
        Id of the effect within its trial (e.g. the time point). Rows of one trial with
        the same id share the effect-level random intercept (and, with ``rho``, are the
        same observation). Default: every row is its own effect.
    mods : DataFrame, mapping or array_like, optional
        Moderators, one row per effect (see the module docstring for the coding).
    intercept : bool
        Add the intercept column (default True).
    random : {"cluster/effect", "cluster"}
        Random intercepts for trials and effects within trials (``~ 1 | cluster/effect``)
        or for trials only (``~ 1 | cluster``).
    method : {"REML", "ML"}
    test : {"z", "t"}
        Normal tests, or t and F tests on ``k - p`` degrees of freedom.
    level : float
        Confidence level in percent.
    rho : float, optional
        With a 1-D ``V``: the assumed correlation of the sampling errors of different
        effects of one trial (``vcalc(vi, cluster, obs=effect, rho=rho)``).
    sigma2 : sequence of float or None, optional
        Fix variance components at given values (None or NaN: estimate it), one entry
        per level of ``random``, as metafor's ``sigma2=`` argument.
    profile : bool
        Compute the profile-likelihood CIs of σ² (default True; not for fixed components).

    Returns
    -------
    RMAMVResult

    Raises
    ------
    ValueError
        For invalid input only (shapes, a V that is not symmetric positive definite,
        unknown options, fewer effects than coefficients). Numerical trouble never raises.

    Notes
    -----
    When every trial contributes a single effect, the effect level is confounded with
    the trial level: the model is fitted with ``random="cluster"`` (which is then the
    random-effects model of ``rma``) and ``warnings`` says so.

    Examples
    --------
    >>> res = rma_mv([0.1, 0.3, 0.2, 0.6, 0.5], [0.02, 0.03, 0.02, 0.04, 0.03],
    ...              cluster=[1, 1, 2, 2, 3])
    >>> res.sigma2_names
    ('cluster', 'cluster/effect')
    """
    if method not in MV_METHODS:
        raise ValueError(f"method must be one of {MV_METHODS}, got {method!r}")
    if test not in MV_TESTS:
        raise ValueError(f"test must be one of {MV_TESTS}, got {test!r}")
    if random not in RANDOM_STRUCTURES:
        raise ValueError(f"random must be one of {RANDOM_STRUCTURES}, got {random!r}")
    alpha = level_to_alpha(level)
    y_all = np.asarray(yi, dtype=float)
    if y_all.ndim != 1:
        raise ValueError("rma_mv fits one model: yi must be one-dimensional")
    k_all = y_all.size
    cl_all = np.asarray(cluster, dtype=object)
    if cl_all.shape != (k_all,):
        raise ValueError(f"cluster must have one entry per effect ({k_all})")
    ef_all = np.arange(k_all) if effect is None else np.asarray(effect, dtype=object)
    if ef_all.shape != (k_all,):
        raise ValueError(f"effect must have one entry per effect ({k_all})")
    V_in = np.asarray(V, dtype=float)
    if V_in.ndim == 1:
        if V_in.shape != (k_all,):
            raise ValueError(f"vi must have {k_all} entries, got {V_in.shape[0]}")
    elif V_in.shape != (k_all, k_all):
        raise ValueError(f"V must be ({k_all}, {k_all}), got {V_in.shape}")
    elif rho is not None:
        raise ValueError("rho applies to a vector of variances vi, not to a full V")
    X_all, names = design_matrix(mods, k_all, intercept)

    vdiag = V_in if V_in.ndim == 1 else np.diag(V_in)
    not_na = np.isfinite(y_all) & np.isfinite(vdiag) & np.all(np.isfinite(X_all), axis=1)
    not_na &= np.array([not _missing(c) for c in cl_all]) & np.array(
        [not _missing(e) for e in ef_all]
    )
    warnings: list[str] = []
    if not np.all(not_na):
        warnings.append(f"{int(np.sum(~not_na))} row(s) with a missing value left out.")
    y = y_all[not_na]
    X = X_all[not_na]
    cl_labels = cl_all[not_na]
    cl_codes, cl_uniques = pd.factorize(pd.Series(cl_labels, dtype=object).astype(str), sort=False)
    ef_labels = ef_all[not_na]
    pair = pd.Series(
        [f"{c}\x1f{e}" for c, e in zip(cl_codes, ef_labels, strict=True)], dtype=object
    )
    ef_codes, _ = pd.factorize(pair, sort=False)
    k, p = X.shape
    if V_in.ndim == 1:
        vi = V_in[not_na]
        if np.any(vi <= 0):
            raise ValueError("every sampling variance must be > 0")
        # a diagonal V is kept as its vector: nothing below needs the (k, k) matrix
        Vm = vcalc(vi, cl_codes, obs=ef_codes, rho=rho) if rho is not None else vi
    else:
        Vm = V_in[np.ix_(not_na, not_na)]
        if not np.all(np.isfinite(Vm)) or not np.allclose(Vm, Vm.T, rtol=1e-12, atol=0):
            raise ValueError("V must be a finite symmetric matrix")
        Vm = 0.5 * (Vm + Vm.T)
    if k <= p:
        raise ValueError(
            f"{k} effects cannot estimate {p} coefficients and the variance components"
        )
    if np.linalg.matrix_rank(X) < p:
        raise ValueError(f"the model matrix is rank deficient (columns {names})")

    n_clusters = int(cl_codes.max()) + 1
    n_effects = int(ef_codes.max()) + 1
    used_random = random
    if random == "cluster/effect" and n_effects == n_clusters:
        used_random = "cluster"
        warnings.append(
            "Every trial has a single effect, so the effect level is confounded with the "
            "trial level: fitted with random intercepts for trials only."
        )
    codes = [cl_codes]
    s_names = ["cluster"]
    s_nlevels = [n_clusters]
    if used_random == "cluster/effect":
        codes.append(ef_codes)
        s_names.append("cluster/effect")
        s_nlevels.append(n_effects)

    blocks = _blocks(cl_codes, Vm)
    lik = _Likelihood(y, Vm, X, codes, blocks, method == "REML")
    if lik.parts(np.zeros(len(codes))) is None:
        raise ValueError("V is not positive definite")
    theta0 = _initial(y, X, Vm if Vm.ndim == 1 else np.diag(Vm), len(codes))
    fixed = np.zeros(len(codes), dtype=bool)
    if sigma2 is not None:
        given = [math.nan if v is None else float(v) for v in sigma2]
        if used_random != random:
            given = given[:1]
        if len(given) != len(codes):
            raise ValueError(f"sigma2 needs {len(codes)} entries ({s_names}), got {len(given)}")
        for j, v in enumerate(given):
            if not math.isnan(v):
                if v < 0 or not math.isfinite(v):
                    raise ValueError(f"a fixed sigma2 must be a finite number >= 0, got {v}")
                theta0[j], fixed[j] = v, True
    theta, parts, converged = _maximise(lik, theta0, fixed)
    if parts is None:
        raise ValueError("the marginal covariance is not positive definite at the fixed sigma2")
    if not converged:
        warnings.append(
            "The optimiser stopped before the score was zero; estimates may be inexact."
        )
    ll_max = parts["ll"]
    beta, vb = parts["beta"], parts["vb"]
    se = np.sqrt(np.diag(vb))
    stat = beta / se
    df = float(k - p) if test == "t" else math.inf
    if test == "t":
        pval = 2 * t_sf(np.abs(stat), df)
    else:
        pval = 2 * norm_sf(np.abs(stat))
    crit = _crit(alpha, df)
    ci_low, ci_high = beta - crit * se, beta + crit * se

    # residual heterogeneity under V alone: the residual sum of squares at sigma2 = 0
    QE = float(np.sum(lik.Yb * lik.parts(np.zeros(len(codes)))["Py"]))
    QE_df = k - p
    QE_p = float(chi2_sf(QE, QE_df)) if QE_df > 0 else math.nan

    btt = tuple(range(1, p)) if (intercept and p > 1) else tuple(range(p))
    m = len(btt)
    bb = beta[list(btt)]
    QM = float(bb @ np.linalg.solve(vb[np.ix_(btt, btt)], bb))
    if test == "t":
        QM /= m
        QM_df = (m, k - p)
        QM_p = float(f_sf(QM, m, k - p))
    else:
        QM_df = (m,)
        QM_p = float(chi2_sf(QM, m))

    n_par = p + len(codes)
    n_obs = k - p if method == "REML" else k
    aic = -2.0 * ll_max + 2 * n_par
    bic = -2.0 * ll_max + n_par * math.log(n_obs)
    dev = -2.0 * ll_max
    if method == "ML":
        # metafor: relative to the saturated model, whose log-likelihood is that of V alone
        logdet_v = 2.0 * float(
            np.sum(np.log(np.diagonal(np.linalg.cholesky(lik.Vb), axis1=1, axis2=2)))
        )
        dev += -k * math.log(2 * math.pi) - logdet_v

    ci_lo = np.full(len(codes), math.nan)
    ci_hi = np.full(len(codes), math.nan)
    if profile:
        q = float(chi2_isf(alpha, 1))
        for j in np.flatnonzero(~fixed):
            lo, hi, msgs = _profile_ci(lik, theta, ll_max, j, q, fixed)
            ci_lo[j], ci_hi[j] = lo, hi
            warnings.extend(msgs)

    return RMAMVResult(
        yi=y,
        sampling=Vm,
        X=X,
        coef_names=names,
        cluster=cl_codes,
        effect=ef_codes,
        cluster_labels=tuple(cl_uniques),
        not_na=not_na,
        random=used_random,
        method=method,
        test=test,
        level=level,
        k=k,
        p=p,
        n_clusters=n_clusters,
        beta=beta,
        vcov=vb,
        se=se,
        statistic=stat,
        p_value=pval,
        ci_low=ci_low,
        ci_high=ci_high,
        df=df,
        sigma2=theta,
        sigma2_names=tuple(s_names),
        s_nlevels=tuple(s_nlevels),
        sigma2_ci_low=ci_lo,
        sigma2_ci_high=ci_hi,
        QE=QE,
        QE_df=QE_df,
        QE_p=QE_p,
        QM=QM,
        QM_df=QM_df,
        QM_p=QM_p,
        btt=btt,
        loglik=float(ll_max),
        deviance=dev,
        aic=aic,
        bic=bic,
        blocks=tuple(blocks),
        M_blocks=parts["Mb"],
        converged=converged,
        warnings=tuple(warnings),
    )


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _blocks(cl_codes, V):
    """Row indices of independent blocks: trials, merged where V correlates them.

    A diagonal V (given as its vector) links nothing: the blocks are the trials, found by
    sorting the codes rather than through a (k, k) matrix.
    """
    k = cl_codes.size
    if not k:
        return []
    if V.ndim == 1:
        order = np.argsort(cl_codes, kind="stable")
        return np.split(order, np.cumsum(np.bincount(cl_codes))[:-1])
    link = (cl_codes[:, None] == cl_codes[None, :]) | (V != 0.0)
    return components(link)


def _profile_ci(lik, theta_hat, ll_max, j, q, fixed_before):
    """Profile-likelihood CI of component ``j`` (metafor's ``confint.rma.mv`` search)."""
    msgs = []
    fixed = fixed_before.copy()
    fixed[j] = True
    vc = float(theta_hat[j])
    start = {"theta": theta_hat.copy()}

    def drop(value):
        t0 = start["theta"].copy()
        t0[j] = value
        th, parts, _ = _maximise(lik, t0, fixed)
        if parts is None:
            return math.inf
        return 2.0 * (ll_max - parts["ll"]) - q

    vc_max = 10.0 if vc <= np.finfo(float).eps ** 0.5 else max(10.0, 100.0 * vc)
    if vc <= 0.0 or drop(0.0) < 0.0:
        lo = 0.0
    else:
        lo = brentq(
            drop,
            0.0,
            vc,
            xtol=PROFILE_XTOL * max(vc, 1e-300),
            rtol=4 * np.finfo(float).eps,
            maxiter=500,
        )
    d_max = drop(vc_max)
    if d_max < 0.0:
        hi = vc_max
        msgs.append(
            f"The upper bound of the profile-likelihood CI of sigma2 ({_LEVEL_NAMES[j]}) lies "
            f"beyond the search limit {vc_max:g}; the limit is reported, as metafor does."
        )
    else:
        hi = brentq(
            drop,
            vc,
            vc_max,
            xtol=PROFILE_XTOL * max(vc, 1.0) * 1e-2,
            rtol=4 * np.finfo(float).eps,
            maxiter=500,
        )
    return lo, hi, msgs
