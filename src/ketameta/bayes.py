"""Bayesian random-effects meta-analysis, numerically equal to R's bayesmeta.

The normal–normal hierarchical model (Röver 2020, *J Stat Softw* 93(6),
doi:10.18637/jss.v093.i06; Friede et al. 2017, *Biometrical J* 59:658,
doi:10.1002/bimj.201500236)::

    y_i | θ_i ~ N(θ_i, v_i),   θ_i | μ, τ ~ N(μ, τ²),   τ ~ p(τ),   μ ~ N(m₀, s₀²) or uniform.

Given τ, everything is normal: μ | τ, y ~ N(m(τ), s²(τ)) with inverse-variance weights
1/(v_i + τ²) (plus 1/s₀² for the prior mean), a new trial's effect θ_new | τ, y ~
N(m(τ), s²(τ) + τ²), and the shrinkage estimate of trial i is θ_i | τ, y ~
N(((τ² y_i + v_i m(τ)) / (v_i + τ²), v_i τ² / (v_i + τ²) + (v_i / (v_i + τ²))² s²(τ)).
The marginal posterior of τ is p(τ) times the marginal likelihood p(y | τ) (μ integrated
out analytically), so every marginal posterior is a one-dimensional integral over τ: of a
density for τ, and of a normal mixture for μ, θ_new and each θ_i.

How the integrals are done (exactly, not by sampling)
----------------------------------------------------
τ is mapped to x by τ = c·sinh(x), with c the smaller of the smallest standard error and
the prior's scale: near τ = 0 the map is linear (a posterior density that is positive at
τ = 0 is smooth there), further out it is logarithmic (algebraic tails decay
exponentially in x, and the singularities of (v_i + τ²)^(-1/2) stay at distance π/2 from
the real axis). A scan of the log posterior fixes the range of x outside which the
posterior mass (weighted by (1 + τ/c)², so that second moments are covered, where they
exist) is below e^-42;
composite Gauss–Legendre quadrature (``panels`` panels of 8 nodes) on that range gives the
normalising constant, the moments, and a normal mixture over the nodes for μ, θ_new and
the θ_i. Quantiles solve F(z) = p by safeguarded Newton steps (for τ, the partial panel is
integrated by its own 8-node rule, so F(τ) is exact, not interpolated); modes solve
f'(z) = 0 (for τ: golden section, then Newton steps on a five-point difference); the
shortest interval solves F(b) − F(a) = level with f(a) = f(b) (or starts at τ = 0 when
the density there is highest). With the default number of panels the
results agree with a six times finer rule to about 1e-7 of the posterior sd or better
(typically 1e-9); ``panels`` raises the resolution.

Conventions (bayesmeta's): ``level`` is in percent; "ci" is the central interval,
"shortest" the shortest interval (bayesmeta's default ``interval.type``); the marginal
likelihood ∫ p(τ) p(y | τ) dτ is defined only with a normal prior on μ (NaN otherwise, as
bayesmeta's NA); posterior moments that do not exist (a heavy-tailed τ prior with few
trials: the posterior of τ has tail τ^(-a) with a = tail exponent of the prior + k − 1,
or + k with a normal μ prior) are NaN instead of a number that depends on truncation.
The probability that μ < 0 and that μ > 0 are both given; which one favours treatment
depends on the outcome.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from scipy import special

from ketameta._results import plain

from . import priors
from ._batch import as_batch

__all__ = ["BayesResult", "PosteriorSummary", "bayesmeta"]

_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)
_LOG_2PI = math.log(2.0 * math.pi)
_SCAN = 129  # points of the coarse scan that fixes the integration range
_CUT = 42.0  # log-density drop (e^-42 ≈ 6e-19) beyond which the tails are left out
_CHUNK = 512  # rows per block (bounds memory: block × (k + 2) × nodes × 2 floats)
_TOL = 1e-13


@dataclass(frozen=True)
class PosteriorSummary:
    """Summary of one marginal posterior (arrays for a batch, or per trial).

    ``ci_low, ci_high`` is the central interval, ``shortest_low, shortest_high`` the
    shortest interval with the same probability.
    """

    mode: object
    median: object
    mean: object
    sd: object
    ci_low: object
    ci_high: object
    shortest_low: object
    shortest_high: object

    def to_dict(self) -> dict:
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class BayesResult:
    """Result of :func:`bayesmeta`. Scalars for 1-D input, arrays of length m for 2-D.

    Attributes
    ----------
    yi, vi : ndarray
        The input.
    k : int or ndarray
        Trials per meta-analysis.
    tau_prior, mu_prior : prior objects (``mu_prior`` None for the uniform prior).
    level : float
        Interval probability in percent.
    tau, mu, theta_new : PosteriorSummary
        Posteriors of the heterogeneity τ, the mean effect μ and a new trial's effect.
    shrinkage : PosteriorSummary
        Posterior of each trial's own effect θ_i; fields shaped like ``yi`` (NaN at pads).
    prob_mu_negative, prob_mu_positive : float or ndarray
        Posterior probabilities P(μ < 0 | y) and P(μ > 0 | y).
    marginal_likelihood, log_marginal_likelihood : float or ndarray
        ∫ p(τ) p(y | τ) dτ; NaN under the improper uniform prior on μ.
    nodes : int
        Quadrature nodes per meta-analysis.
    """

    yi: np.ndarray
    vi: np.ndarray
    k: object
    tau_prior: object
    mu_prior: object
    level: float
    tau: PosteriorSummary
    mu: PosteriorSummary
    theta_new: PosteriorSummary
    shrinkage: PosteriorSummary
    prob_mu_negative: object
    prob_mu_positive: object
    marginal_likelihood: object
    log_marginal_likelihood: object
    nodes: int

    @property
    def is_batch(self) -> bool:
        return np.ndim(self.prob_mu_negative) == 1

    def to_dict(self, studies=None) -> dict:
        """Plain-Python dict (JSON-ready; NaN becomes None).

        ``shrinkage`` is a list of ``{study, mode, median, mean, sd, ci_low, ci_high,
        shortest_low, shortest_high}``, one per trial (per row for a batch), ``study``
        taken from ``studies`` or the 1-based index as a string.
        """
        def shrink_rows(row):
            ks = np.flatnonzero(~np.isnan(np.atleast_2d(self.yi)[row]))
            out = []
            for n, j in enumerate(ks):
                rec = {"study": str(studies[n]) if studies is not None else str(j + 1)}
                for f in fields(PosteriorSummary):
                    rec[f.name] = plain(np.atleast_2d(getattr(self.shrinkage, f.name))[row, j])
                out.append(rec)
            return out

        out = {
            "k": plain(self.k),
            "tau_prior": self.tau_prior.to_dict(),
            "mu_prior": None if self.mu_prior is None else self.mu_prior.to_dict(),
            "level": self.level,
            "tau": self.tau.to_dict(),
            "mu": self.mu.to_dict(),
            "theta_new": self.theta_new.to_dict(),
            "prob_mu_negative": plain(self.prob_mu_negative),
            "prob_mu_positive": plain(self.prob_mu_positive),
            "marginal_likelihood": plain(self.marginal_likelihood),
            "log_marginal_likelihood": plain(self.log_marginal_likelihood),
        }
        m = np.atleast_2d(self.yi).shape[0]
        out["shrinkage"] = shrink_rows(0) if not self.is_batch else [shrink_rows(i) for i in range(m)]
        return out


def bayesmeta(yi, vi, tau_prior, mu_prior=None, level=95, panels=None) -> BayesResult:
    """Bayesian random-effects meta-analysis (R's ``bayesmeta()``), exact by quadrature.

    Parameters
    ----------
    yi, vi : array_like, 1-D or 2-D
        Effect sizes and sampling variances (``sigma = sqrt(vi)`` in bayesmeta). 2-D input
        is one meta-analysis per row; NaN pads ragged rows.
    tau_prior : prior object or mapping
        Prior on τ, e.g. ``{"family": "halfnormal", "scale": 0.5}``; see
        :func:`ketameta.priors.tau_prior`.
    mu_prior : None, mapping or NormalPrior
        ``None`` for the improper uniform prior (bayesmeta's default), or
        ``{"mean": m, "sd": s}``.
    level : float
        Interval probability in percent.
    panels : int, optional
        Gauss–Legendre panels (8 nodes each) over the τ range. The default, 10 for the
        half-normal and uniform priors and 32 for the heavier-tailed half-Cauchy,
        half-Student-t and log-normal priors, gives about eight correct digits or more.

    Returns
    -------
    BayesResult

    Raises
    ------
    ValueError
        For invalid input (shapes, non-positive ``vi``, no trial in 1-D input, an
        unknown prior, a level outside (0, 100)).
    """
    b = as_batch(yi, vi)
    prior = priors.tau_prior(tau_prior)
    mprior = priors.mu_prior(mu_prior)
    try:
        level = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"level must be a number in (0, 100), got {level!r}") from None
    if not 0 < level < 100:
        raise ValueError(f"level must be a number in (0, 100), got {level!r}")
    if panels is None:
        panels = 10 if prior.family in ("halfnormal", "uniform") else 32
    panels = int(panels)
    if panels < 1:
        raise ValueError("panels must be a positive integer")
    m, kmax = b.y.shape
    blocks = []
    # rows without a trial, and the boundary cases of the shortest-interval solver, produce
    # NaN and infinities on the way; they are resolved or masked below
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        for start in range(0, m, _CHUNK):
            sl = slice(start, min(m, start + _CHUNK))
            blocks.append(
                _fit_block(
                    b.y[sl], b.v[sl], b.mask[sl], b.k[sl], prior, mprior, level / 100, panels
                )
            )
    out = {key: np.concatenate([blk[key] for blk in blocks]) for key in blocks[0]}
    empty = b.k == 0
    for val in out.values():
        val[empty] = np.nan
        if val.ndim == 2:
            val[~b.mask] = np.nan

    def pick(a):
        return a[0] if b.squeeze else a

    def summary(prefix):
        return PosteriorSummary(
            **{f.name: pick(out[f"{prefix}_{f.name}"]) for f in fields(PosteriorSummary)}
        )

    return BayesResult(
        yi=b.yi,
        vi=b.vi,
        k=int(b.k[0]) if b.squeeze else b.k,
        tau_prior=prior,
        mu_prior=mprior,
        level=level,
        tau=summary("tau"),
        mu=summary("mu"),
        theta_new=summary("theta"),
        shrinkage=summary("shrink"),
        prob_mu_negative=pick(out["p_neg"]),
        prob_mu_positive=pick(out["p_pos"]),
        marginal_likelihood=pick(np.exp(out["logml"])),
        log_marginal_likelihood=pick(out["logml"]),
        nodes=8 * panels,
    )


# ---------------------------------------------------------------------------
# the model at given τ


class _Model:
    """Log posterior of τ and the conditional moments of μ for a block of rows."""

    def __init__(self, y, v, mask, prior, mprior):
        self.y = y[:, None, :]
        self.v = v[:, None, :]
        self.mask = mask[:, None, :]
        self.prior = prior
        self.n = mask.sum(axis=1)[:, None].astype(float)
        if mprior is None:
            self.w0, self.m0, self.logv0 = 0.0, 0.0, 0.0
        else:
            self.w0 = 1.0 / mprior.sd**2
            self.m0 = mprior.mean
            self.logv0 = 2.0 * math.log(mprior.sd)
            self.n = self.n + 1.0

    def at(self, tau):
        """Log posterior density of τ (unnormalised) and m(τ), s²(τ); ``tau`` is (m, T)."""
        t2 = (tau * tau)[..., None]
        var = self.v + t2
        w = np.where(self.mask, 1.0 / var, 0.0)
        sw = w.sum(axis=-1) + self.w0
        mean = ((w * self.y).sum(axis=-1) + self.w0 * self.m0) / sw
        resid = (w * (self.y - mean[..., None]) ** 2).sum(axis=-1) + self.w0 * (self.m0 - mean) ** 2
        logdet = np.where(self.mask, np.log(var), 0.0).sum(axis=-1) + self.logv0
        loglik = -0.5 * ((self.n - 1.0) * _LOG_2PI + logdet + resid + np.log(sw))
        with np.errstate(invalid="ignore"):
            lp = self.prior.logpdf(tau) + loglik
        return lp, mean, 1.0 / sw


def _fit_block(y, v, mask, k, prior, mprior, level, panels):
    m = y.shape[0]
    model = _Model(y, v, mask, prior, mprior)
    sd_min = np.sqrt(np.where(mask, v, np.inf).min(axis=1))
    sd_min = np.where(np.isfinite(sd_min), sd_min, 1.0)
    sd_max = np.sqrt(np.where(mask, v, 0.0).max(axis=1))
    tmap = _Map(prior, np.minimum(sd_min, prior.scale)[:, None])
    c = tmap.c

    # coarse scan of x to fix the integration range
    if tmap.log:
        xs = np.broadcast_to(np.linspace(-50.0, 50.0, _SCAN)[None, :], (m, _SCAN))
    else:
        if math.isfinite(prior.upper):
            xmax = np.arcsinh(prior.upper / c)
        else:
            cap = 1e20 * np.maximum(np.maximum(sd_max, prior.scale), c[:, 0])
            xmax = np.arcsinh(cap[:, None] / c)
        xs = np.linspace(0.0, 1.0, _SCAN)[None, :] * xmax
    # posterior tail exponent a of τ (p(τ | y) ~ τ^-a): moments of order ≥ a - 1 diverge
    a = prior.tail + k - (0.0 if mprior is not None else 1.0)
    ts = tmap.tau(xs, c)
    lps, _, _ = model.at(ts)
    # the range covers the mass weighted by (1 + τ/c)^w, w = 2 where the variance exists
    weight = np.clip(a - 1.5, 0.0, 2.0)[:, None]
    crit = lps + tmap.logjac(xs, c) + weight * np.log1p(ts / c)
    crit = np.where(np.isnan(crit), -np.inf, crit)
    keep = crit >= crit.max(axis=1, keepdims=True) - _CUT
    idx = np.arange(_SCAN)[None, :]
    first = np.where(keep, idx, _SCAN).min(axis=1)
    last = np.where(keep, idx, -1).max(axis=1)
    rows = np.arange(m)
    x_lo = xs[rows, np.maximum(first - 1, 0)][:, None]
    x_hi = xs[rows, np.minimum(last + 1, _SCAN - 1)][:, None]

    # composite Gauss-Legendre nodes
    edges = x_lo + (x_hi - x_lo) * np.linspace(0.0, 1.0, panels + 1)[None, :]
    half = 0.5 * (edges[:, 1:] - edges[:, :-1])
    mid = 0.5 * (edges[:, 1:] + edges[:, :-1])
    xn = (mid[:, :, None] + half[:, :, None] * _GL_X).reshape(m, -1)
    wn = (half[:, :, None] * _GL_W).reshape(m, -1)
    tn = tmap.tau(xn, c)
    lp, mean_c, var_c = model.at(tn)
    lw = lp + tmap.logjac(xn, c) + np.log(wn)
    lw = np.where(np.isnan(lw), -np.inf, lw)
    top = lw.max(axis=1, keepdims=True)
    logz = top[:, 0] + np.log(np.exp(lw - top).sum(axis=1))
    w = np.exp(lw - logz[:, None])
    tau_dist = _TauPosterior(model, tmap, edges, w, logz, panels)

    out = {}
    # the moments that diverge are NaN
    mean_ok = a > 2
    sd_ok = a > 3

    tau_mean = (w * tn).sum(axis=1)
    tau_sd = np.sqrt((w * (tn - tau_mean[:, None]) ** 2).sum(axis=1))
    out.update(_prefixed("tau", tau_dist.summary(level, tn)))
    out["tau_mean"] = np.where(mean_ok, tau_mean, np.nan)
    out["tau_sd"] = np.where(sd_ok, tau_sd, np.nan)

    # normal mixtures over the nodes: μ, θ_new, θ_1..θ_k
    t2 = tn * tn
    vv = v[:, :, None]
    shrink_mean = (t2[:, None, :] * y[:, :, None] + vv * mean_c[:, None, :]) / (vv + t2[:, None, :])
    shrink_var = vv * t2[:, None, :] / (vv + t2[:, None, :]) + (vv / (vv + t2[:, None, :])) ** 2 * var_c[:, None, :]
    means = np.concatenate([mean_c[:, None, :], mean_c[:, None, :], shrink_mean], axis=1)
    sds = np.sqrt(np.concatenate([var_c[:, None, :], (var_c + t2)[:, None, :], shrink_var], axis=1))
    mix = _Mixture(w, means, sds)
    summ = mix.summary(level)
    if mprior is None:
        summ["mean"][:, 0] = np.where(mean_ok, summ["mean"][:, 0], np.nan)
        summ["sd"][:, 0] = np.where(sd_ok, summ["sd"][:, 0], np.nan)
    summ["mean"][:, 1] = np.where(mean_ok, summ["mean"][:, 1], np.nan)
    summ["sd"][:, 1] = np.where(sd_ok, summ["sd"][:, 1], np.nan)
    for key, val in summ.items():
        out[f"mu_{key}"] = val[:, 0]
        out[f"theta_{key}"] = val[:, 1]
        out[f"shrink_{key}"] = val[:, 2:]
    zero = np.zeros((m, 1, 1))
    out["p_neg"] = (w * special.ndtr((zero[:, 0] - mean_c) / np.sqrt(var_c))).sum(axis=1)
    out["p_pos"] = (w * special.ndtr((mean_c - zero[:, 0]) / np.sqrt(var_c))).sum(axis=1)
    out["logml"] = logz if mprior is not None else np.full(m, np.nan)
    return out


def _prefixed(prefix, d):
    return {f"{prefix}_{k}": v for k, v in d.items()}


# ---------------------------------------------------------------------------
# one-dimensional solvers, vectorised


def _newton(fun, target, lo, hi, z, xtol, maxiter=60):
    """Solve fun(z) = target on brackets [lo, hi]; ``fun`` returns (value, derivative).

    Safeguarded Newton: a step that leaves the bracket (or a zero derivative) is replaced
    by bisection; the bracket shrinks with every evaluation. An element is done when its
    step or its bracket is below ``xtol`` (absolute, broadcast against ``z``).
    """
    lo, hi, z = lo.copy(), hi.copy(), z.copy()
    for _ in range(maxiter):
        f, d = fun(z)
        g = f - target
        below = g < 0
        lo = np.where(below, z, lo)
        hi = np.where(below, hi, z)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = g / d
        new = z - step
        bad = ~np.isfinite(new) | (new < lo) | (new > hi)
        new = np.where(g == 0, z, np.where(bad, 0.5 * (lo + hi), new))
        done = (np.abs(new - z) <= xtol) | (hi - lo <= xtol) | (g == 0)
        z = new
        if np.all(done | np.isnan(z)):
            break
    return z


def _newton_active(fun, target, lo, hi, z, xtol, maxiter=60):
    """:func:`_newton` on flat arrays, evaluating only the elements not yet converged.

    ``fun(z_sub, idx)`` returns (value, derivative) for the elements ``idx``.
    """
    target, lo, hi, z, xtol = (np.array(np.broadcast_to(a, z.shape), dtype=float)
                               for a in (target, lo, hi, z, xtol))
    active = np.flatnonzero(~np.isnan(z))
    for _ in range(maxiter):
        if active.size == 0:
            break
        za = z[active]
        f, d = fun(za, active)
        g = f - target[active]
        below = g < 0
        la = np.where(below, za, lo[active])
        ha = np.where(below, hi[active], za)
        new = za - g / d
        bad = ~np.isfinite(new) | (new < la) | (new > ha)
        new = np.where(g == 0, za, np.where(bad, 0.5 * (la + ha), new))
        tol = xtol[active]
        done = (np.abs(new - za) <= tol) | (ha - la <= tol) | (g == 0) | np.isnan(new)
        lo[active], hi[active], z[active] = la, ha, new
        active = active[~done]
    return z


class _Mixture:
    """Normal mixtures Σ_j w_j N(means_j, sds_j²), Q per row: weights (m, N), means/sds (m, Q, N).

    The solvers work on the flat list of the m·Q mixtures and evaluate only those not yet
    converged.
    """

    def __init__(self, w, means, sds):
        m, q, n = means.shape
        self.shape = (m, q)
        self.q = q
        self.w = w
        self.means = means.reshape(m * q, n)
        self.sds = sds.reshape(m * q, n)

    def _parts(self, mix, z):
        w = self.w[mix // self.q]
        s = self.sds[mix]
        u = (z[:, None] - self.means[mix]) / s
        return w, s, u

    def cdf_pdf(self, z, mix):
        w, s, u = self._parts(mix, z)
        phi = np.exp(-0.5 * u * u) / (math.sqrt(2 * math.pi) * s)
        return (w * special.ndtr(u)).sum(-1), (w * phi).sum(-1)

    def derivs(self, z, mix):
        """Density and its first two derivatives."""
        w, s, u = self._parts(mix, z)
        phi = w * np.exp(-0.5 * u * u) / (math.sqrt(2 * math.pi) * s)
        return phi.sum(-1), (-phi * u / s).sum(-1), (phi * (u * u - 1.0) / (s * s)).sum(-1)

    def summary(self, level):
        nmix = self.means.shape[0]
        w = self.w[np.arange(nmix) // self.q]
        mu, sd = self.means, self.sds
        mean = (w * mu).sum(-1)
        var = (w * (sd * sd + (mu - mean[:, None]) ** 2)).sum(-1)
        sd_mix = np.sqrt(var)
        # a bracket of the quantiles by Chebyshev's inequality (the components' ±40 sd
        # where the sd overflows)
        alpha = (1 - level) / 2
        t = max(10.0, 1.0 / math.sqrt(alpha))
        finite = np.isfinite(sd_mix)
        lo = np.where(finite, mean - t * sd_mix, (mu - 40 * sd).min(-1))
        hi = np.where(finite, mean + t * sd_mix, (mu + 40 * sd).max(-1))
        xtol = _TOL * np.where(finite, sd_mix, sd.max(-1))
        p = np.array([0.5, alpha, 1 - alpha])
        mix3 = np.repeat(np.arange(nmix), 3)
        start = np.clip((mean[:, None] + sd_mix[:, None] * special.ndtri(p)).ravel(),
                        np.repeat(lo, 3), np.repeat(hi, 3))
        q = _newton_active(
            lambda z, idx: self.cdf_pdf(z, mix3[idx]),
            np.tile(p, nmix), np.repeat(lo, 3), np.repeat(hi, 3), start, np.repeat(xtol, 3),
        ).reshape(nmix, 3)
        median, ci_low, ci_high = q[:, 0], q[:, 1], q[:, 2]

        def slope(z, idx):
            _, d1, d2 = self.derivs(z, idx)
            return -d1, -d2

        mode = _newton_active(slope, 0.0, ci_low, ci_high, median, xtol)
        s_lo, s_hi = self._shortest(level, ci_low, ci_high, mode, xtol)
        out = {
            "mode": mode, "median": median, "mean": mean, "sd": sd_mix, "ci_low": ci_low,
            "ci_high": ci_high, "shortest_low": s_lo, "shortest_high": s_hi,
        }
        return {key: val.reshape(self.shape) for key, val in out.items()}

    def _shortest(self, level, a, b, mode, xtol):
        """Solve F(b) − F(a) = level, f(a) = f(b) by Newton's method in (a, b)."""
        a, b = a.copy(), b.copy()
        active = np.flatnonzero(~(np.isnan(a) | np.isnan(b)))
        for _ in range(40):
            if active.size == 0:
                break
            aa, bb, mm = a[active], b[active], mode[active]
            fa, da, _ = self.derivs(aa, active)
            fb, db, _ = self.derivs(bb, active)
            g1 = self.cdf_pdf(bb, active)[0] - self.cdf_pdf(aa, active)[0] - level
            g2 = np.log(fa) - np.log(fb)
            j11, j12 = -fa, fb
            j21, j22 = da / fa, -db / fb
            det = j11 * j22 - j12 * j21
            new_a = aa - (g1 * j22 - j12 * g2) / det
            new_b = bb - (j11 * g2 - j21 * g1) / det
            new_a = np.where(np.isfinite(new_a) & (new_a < mm), new_a, 0.5 * (aa + mm))
            new_b = np.where(np.isfinite(new_b) & (new_b > mm), new_b, 0.5 * (bb + mm))
            tol = xtol[active]
            done = (np.abs(new_a - aa) <= tol) & (np.abs(new_b - bb) <= tol)
            a[active], b[active] = new_a, new_b
            active = active[~done]
        return a, b


class _Map:
    """τ as a function of the quadrature variable x.

    τ = c·sinh(x), x ≥ 0, for priors with a positive density at τ = 0 (linear near 0,
    logarithmic beyond c); τ = c·exp(x) for the log-normal prior, whose density vanishes
    faster than any power at 0 and is Gaussian in log τ.
    """

    def __init__(self, prior, c):
        self.log = prior.family == "lognormal"
        self.c = np.full_like(c, prior.scale) if self.log else c

    def tau(self, x, c):
        return c * np.exp(x) if self.log else c * np.sinh(x)

    def logjac(self, x, c):
        return np.log(c) + x if self.log else np.log(c * np.cosh(x))

    def x(self, tau, c):
        with np.errstate(divide="ignore"):
            return np.log(tau / c) if self.log else np.arcsinh(tau / c)


class _TauPosterior:
    """The marginal posterior of τ on the quadrature panels of one block."""

    def __init__(self, model, tmap, edges, w, logz, panels):
        self.model = model
        self.map = tmap
        self.c = tmap.c
        self.edges = edges
        self.logz = logz[:, None]
        self.panel_mass = np.concatenate(
            [np.zeros((w.shape[0], 1)), np.cumsum(w.reshape(w.shape[0], panels, 8).sum(-1), axis=1)],
            axis=1,
        )
        self.panels = panels

    def logpdf(self, tau):
        """Normalised log density of τ at ``tau`` (m, T)."""
        lp, _, _ = self.model.at(tau)
        return np.where(tau >= 0, lp - self.logz, -np.inf)

    def cdf_x(self, x):
        """CDF and density (per unit of x) at x (the quadrature variable); ``x`` is (m, T)."""
        width = self.edges[:, 1:2] - self.edges[:, 0:1]
        p = np.clip(np.floor((x - self.edges[:, :1]) / width), 0, self.panels - 1).astype(int)
        start = np.take_along_axis(self.edges, p, axis=1)
        full = np.take_along_axis(self.panel_mass, p, axis=1)
        half = 0.5 * (x - start)
        xn = (start + half)[..., None] + half[..., None] * _GL_X
        tn = self.map.tau(xn, self.c[..., None])
        m, t, g = tn.shape
        lp, _, _ = self.model.at(tn.reshape(m, t * g))
        lp = lp.reshape(m, t, g) + self.map.logjac(xn, self.c[..., None]) - self.logz[..., None]
        part = (np.exp(lp) * _GL_W).sum(-1) * half
        dens_lp, _, _ = self.model.at(self.map.tau(x, self.c))
        dens = np.exp(dens_lp - self.logz + self.map.logjac(x, self.c))
        return full + part, dens

    def quantile(self, p):
        """τ quantiles for probabilities ``p`` (m, T)."""
        pan = np.clip(
            (self.panel_mass[:, None, :] <= p[..., None]).sum(-1) - 1, 0, self.panels - 1
        )
        lo = np.take_along_axis(self.edges, pan, axis=1)
        hi = np.take_along_axis(self.edges, pan + 1, axis=1)
        xtol = _TOL * (np.abs(lo) + np.abs(hi)) + 1e-300
        x = _newton(self.cdf_x, p, lo, hi, 0.5 * (lo + hi), xtol)
        return self.map.tau(x, self.c)

    def summary(self, level, tn):
        m = tn.shape[0]
        alpha = (1 - level) / 2
        q = self.quantile(np.broadcast_to(np.array([0.5, alpha, 1 - alpha, level, 1 - level]), (m, 5)).copy())
        mode = self._mode(tn)
        s_lo, s_hi = self._shortest(level, q, mode)
        return {
            "mode": mode,
            "median": q[:, 0],
            "ci_low": q[:, 1],
            "ci_high": q[:, 2],
            "shortest_low": s_lo,
            "shortest_high": s_hi,
        }

    def _mode(self, tn):
        """Maximise the τ density: best node (or τ = 0), then golden-section search."""
        m = tn.shape[0]
        upper = self.map.tau(self.edges[:, -1], self.c[:, 0])
        grid = np.concatenate([np.zeros((m, 1)), tn, upper[:, None]], axis=1)
        lp = self.logpdf(grid)
        lp = np.where(np.isnan(lp), -np.inf, lp)
        j = lp.argmax(axis=1)
        rows = np.arange(m)
        a = grid[rows, np.maximum(j - 1, 0)]
        b = grid[rows, np.minimum(j + 1, grid.shape[1] - 1)]
        r = (math.sqrt(5) - 1) / 2
        x1 = b - r * (b - a)
        x2 = a + r * (b - a)
        f1 = self.logpdf(x1[:, None])[:, 0]
        f2 = self.logpdf(x2[:, None])[:, 0]
        for _ in range(50):
            left = f1 >= f2  # the maximum lies in [a, x2]
            b = np.where(left, x2, b)
            a = np.where(left, a, x1)
            nx1 = np.where(left, b - r * (b - a), x2)
            nx2 = np.where(left, x1, a + r * (b - a))
            fnew = self.logpdf(np.where(left, nx1, nx2)[:, None])[:, 0]
            f1, f2 = np.where(left, fnew, f2), np.where(left, f1, fnew)
            x1, x2 = nx1, nx2
            if np.all(np.abs(b - a) <= 1e-15 * (np.abs(a) + np.abs(b)) + 1e-300):
                break
        best = 0.5 * (a + b)
        # golden section on a flat maximum stops about 1e-8 (relative) from it; Newton steps
        # on the derivative (five-point differences, step 1e-4 τ) finish to ~1e-12
        for _ in range(3):
            h = 1e-4 * best
            pts = best[:, None] + h[:, None] * np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
            lp5 = self.logpdf(pts)
            d1 = (lp5[:, 0] - 8 * lp5[:, 1] + 8 * lp5[:, 3] - lp5[:, 4]) / (12 * h)
            d2 = (-lp5[:, 0] + 16 * lp5[:, 1] - 30 * lp5[:, 2] + 16 * lp5[:, 3] - lp5[:, 4]) / (12 * h * h)
            step = d1 / d2
            ok = np.isfinite(step) & (d2 < 0) & (np.abs(step) < h)
            best = np.where(ok, best - step, best)
        at_zero = self.logpdf(np.zeros((m, 1)))[:, 0] >= self.logpdf(best[:, None])[:, 0]
        return np.where(at_zero, 0.0, best)

    def _shortest(self, level, q, mode):
        """Shortest interval of τ: [0, q(level)] when the density at 0 is the higher,
        [q(1 − level), upper] when the density at the upper bound is, else Newton on
        F(b) − F(a) = level, f(a) = f(b)."""
        m = q.shape[0]
        upper = self.map.tau(self.edges[:, -1], self.c[:, 0])
        lp0 = self.logpdf(np.zeros((m, 1)))[:, 0]
        lp_q = self.logpdf(q[:, 3:4])[:, 0]
        left_edge = (mode == 0) | (lp0 >= lp_q)
        a, b = q[:, 1].copy(), q[:, 2].copy()
        xa, xb = self.map.x(a, self.c[:, 0]), self.map.x(b, self.c[:, 0])
        h = 1e-6
        for _ in range(40):
            cdf, dens = self.cdf_x(np.stack([xa, xb], axis=1))
            g1 = cdf[:, 1] - cdf[:, 0] - level
            # log density per unit τ and its x-derivative (finite difference)
            pts = np.stack([xa, xb, xa + h, xa - h, xb + h, xb - h], axis=1)
            lpt = self.logpdf(self.map.tau(pts, self.c))
            da = (lpt[:, 2] - lpt[:, 3]) / (2 * h)
            db = (lpt[:, 4] - lpt[:, 5]) / (2 * h)
            g2 = lpt[:, 0] - lpt[:, 1]
            j11, j12 = -dens[:, 0], dens[:, 1]
            j21, j22 = da, -db
            det = j11 * j22 - j12 * j21
            with np.errstate(divide="ignore", invalid="ignore"):
                na = xa - (g1 * j22 - j12 * g2) / det
                nb = xb - (j11 * g2 - j21 * g1) / det
            xm = self.map.x(mode, self.c[:, 0])
            na = np.where(np.isfinite(na) & (na < xm), na, 0.5 * (xa + xm))
            nb = np.where(np.isfinite(nb) & (nb > xm), nb, 0.5 * (xb + xm))
            if not self.map.log:
                na = np.maximum(na, 0.0)
            done = (np.abs(na - xa) <= _TOL * (xb - xa)) & (np.abs(nb - xb) <= _TOL * (xb - xa))
            xa, xb = na, nb
            if np.all(done | left_edge | np.isnan(xa)):
                break
        a = self.map.tau(xa, self.c[:, 0])
        b = self.map.tau(xb, self.c[:, 0])
        a = np.where(left_edge, 0.0, a)
        b = np.where(left_edge, q[:, 3], b)
        lp_up = self.logpdf(upper[:, None])[:, 0]
        lp_q4 = self.logpdf(q[:, 4:5])[:, 0]
        right_edge = np.isfinite(self.model.prior.upper) & (lp_up >= lp_q4) & ~left_edge
        a = np.where(right_edge, q[:, 4], a)
        b = np.where(right_edge, upper, b)
        return a, b

    def _lpt(self, x):
        """Log density of τ per unit τ at the quadrature variable x."""
        return self.logpdf(self.map.tau(x[:, None], self.c))[:, 0]
