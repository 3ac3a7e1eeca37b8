"""Prior distributions for Bayesian random-effects meta-analysis.

A prior on the heterogeneity standard deviation τ is a small frozen object with a
``family`` name and its parameters, so that a configuration file can name it::

    {"family": "halfnormal", "scale": 0.5}
    {"family": "halfcauchy", "scale": 1.0}
    {"family": "halft", "scale": 0.5, "df": 3}
    {"family": "uniform", "upper": 2.0}
    {"family": "lognormal", "meanlog": -1.28, "sdlog": 0.87}
    {"family": "turner", "outcome": "mental health indicators",
     "comparator1": "pharmacological", "comparator2": "placebo / control"}

:func:`tau_prior` builds a prior from such a mapping (or passes a prior object through)
and ``prior.to_dict()`` gives the mapping back. The effect μ has either the improper
uniform prior (``None``) or a normal prior, ``{"mean": 0, "sd": 4}`` or
:class:`NormalPrior`.

Conventions follow R's bayesmeta (Röver 2020, *J Stat Softw* 93(6),
doi:10.18637/jss.v093.i06): every τ prior is a proper density on τ ≥ 0 (the half-normal,
half-Cauchy and half-Student-t are the folded distributions, i.e. twice the density of the
symmetric distribution at τ), and the log-normal prior is a prior on τ, not on τ².
The predictive priors of Turner et al. (2015, *Stat Med* 34:984, doi:10.1002/sim.6381,
Table IV) are log-normal priors on τ² with location μ and scale σ; on τ they are
log-normal with ``meanlog = μ/2`` and ``sdlog = σ/2``. Their table, as bayesmeta 3.4
tabulates it, is :data:`TURNER_PARAMETERS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np
from scipy import special

__all__ = [
    "HalfCauchy",
    "HalfNormal",
    "HalfStudentT",
    "LogNormal",
    "NormalPrior",
    "TURNER_COMPARISONS",
    "TURNER_OUTCOMES",
    "TURNER_PARAMETERS",
    "Uniform",
    "mu_prior",
    "tau_prior",
    "turner_prior",
]

_LOG2 = math.log(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _positive(name: str, value) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return x


def _finite(name: str, value) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return x


class _TauPrior:
    """Shared behaviour of the τ priors (``logpdf`` is defined by each family).

    ``tail`` is the exponent a of the density's algebraic tail ``p(τ) ~ τ^(-a)``
    (``inf`` for lighter tails); the posterior's moments exist or not by it.
    ``upper`` is the end of the support (``inf`` unless the prior is bounded);
    ``scale`` is a characteristic scale used to place the integration grid.
    """

    family: ClassVar[str]
    tail: float = math.inf
    upper: float = math.inf

    def to_dict(self) -> dict:
        out = {"family": self.family}
        out.update({f.name: getattr(self, f.name) for f in fields(self)})
        return out

    def pdf(self, tau):
        return np.exp(self.logpdf(tau))


@dataclass(frozen=True)
class HalfNormal(_TauPrior):
    """Half-normal prior on τ with the given ``scale`` (bayesmeta ``dhalfnormal``)."""

    scale: float
    family: ClassVar[str] = "halfnormal"

    def __post_init__(self):
        object.__setattr__(self, "scale", _positive("half-normal scale", self.scale))

    def logpdf(self, tau):
        t = np.asarray(tau, dtype=float)
        out = _LOG2 - _LOG_SQRT_2PI - math.log(self.scale) - 0.5 * (t / self.scale) ** 2
        return np.where(t >= 0, out, -np.inf)


@dataclass(frozen=True)
class HalfCauchy(_TauPrior):
    """Half-Cauchy prior on τ with the given ``scale`` (bayesmeta ``dhalfcauchy``)."""

    scale: float
    family: ClassVar[str] = "halfcauchy"
    tail: ClassVar[float] = 2.0

    def __post_init__(self):
        object.__setattr__(self, "scale", _positive("half-Cauchy scale", self.scale))

    def logpdf(self, tau):
        t = np.asarray(tau, dtype=float)
        out = _LOG2 - math.log(math.pi * self.scale) - np.log1p((t / self.scale) ** 2)
        return np.where(t >= 0, out, -np.inf)


@dataclass(frozen=True)
class HalfStudentT(_TauPrior):
    """Half-Student-t prior on τ with ``scale`` and ``df`` (bayesmeta ``dhalft``)."""

    scale: float
    df: float
    family: ClassVar[str] = "halft"

    def __post_init__(self):
        object.__setattr__(self, "scale", _positive("half-Student-t scale", self.scale))
        object.__setattr__(self, "df", _positive("half-Student-t df", self.df))

    @property
    def tail(self) -> float:
        return self.df + 1.0

    def logpdf(self, tau):
        t = np.asarray(tau, dtype=float)
        nu = self.df
        const = (
            _LOG2
            + special.gammaln((nu + 1) / 2)
            - special.gammaln(nu / 2)
            - 0.5 * math.log(nu * math.pi)
            - math.log(self.scale)
        )
        out = const - (nu + 1) / 2 * np.log1p((t / self.scale) ** 2 / nu)
        return np.where(t >= 0, out, -np.inf)


@dataclass(frozen=True)
class Uniform(_TauPrior):
    """Uniform prior on τ over ``[0, upper]``."""

    upper: float
    family: ClassVar[str] = "uniform"

    def __post_init__(self):
        object.__setattr__(self, "upper", _positive("uniform upper bound", self.upper))

    @property
    def scale(self) -> float:
        return self.upper

    def logpdf(self, tau):
        t = np.asarray(tau, dtype=float)
        inside = (t >= 0) & (t <= self.upper)
        return np.where(inside, -math.log(self.upper), -np.inf)


@dataclass(frozen=True)
class LogNormal(_TauPrior):
    """Log-normal prior on τ: log τ is normal with ``meanlog`` and ``sdlog``."""

    meanlog: float
    sdlog: float
    family: ClassVar[str] = "lognormal"

    def __post_init__(self):
        object.__setattr__(self, "meanlog", _finite("log-normal meanlog", self.meanlog))
        object.__setattr__(self, "sdlog", _positive("log-normal sdlog", self.sdlog))

    @property
    def scale(self) -> float:
        return math.exp(self.meanlog)

    def logpdf(self, tau):
        t = np.asarray(tau, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            lt = np.log(t)
            out = -_LOG_SQRT_2PI - math.log(self.sdlog) - lt - 0.5 * ((lt - self.meanlog) / self.sdlog) ** 2
        return np.where(t > 0, out, -np.inf)


@dataclass(frozen=True)
class NormalPrior:
    """Normal prior on the effect μ with ``mean`` and ``sd``."""

    mean: float
    sd: float

    def __post_init__(self):
        object.__setattr__(self, "mean", _finite("mu prior mean", self.mean))
        object.__setattr__(self, "sd", _positive("mu prior sd", self.sd))

    def to_dict(self) -> dict:
        return {"family": "normal", "mean": self.mean, "sd": self.sd}


# Turner et al. (2015), Table IV: log-normal predictive distributions of τ² by outcome
# type (rows) and type of comparison (columns), as tabulated in R's bayesmeta 3.4
# (TurnerEtAlParameters). Each entry is (location μ, scale σ) of log τ².
TURNER_COMPARISONS = (
    "pharmacological vs. placebo / control",
    "pharmacological vs. pharmacological",
    "non-pharmacological vs. placebo / control",
    "non-pharmacological vs. pharmacological",
    "non-pharmacological vs. non-pharmacological",
)
_TURNER_TABLE = {
    "all-cause mortality": [(-3.95, 1.34), (-4.18, 1.41), (-4.17, 1.55), (-2.92, 1.02), (-3.50, 1.26)],
    "obstetric outcomes": [(-3.52, 1.74), (-3.75, 1.79), (-3.74, 1.91), (-2.49, 1.50), (-3.08, 1.68)],
    "cause-specific mortality / major morbidity event / composite (mortality or morbidity)": [
        (-3.71, 1.74), (-3.95, 1.79), (-3.93, 1.91), (-2.68, 1.51), (-3.27, 1.68)],
    "resource use / hospital stay / process": [
        (-2.34, 1.74), (-2.58, 1.79), (-2.56, 1.91), (-1.31, 1.50), (-1.90, 1.68)],
    "surgical / device related success / failure": [
        (-2.14, 1.74), (-2.37, 1.79), (-2.36, 1.91), (-1.11, 1.50), (-1.69, 1.68)],
    "withdrawals / drop-outs": [(-2.99, 1.74), (-3.23, 1.79), (-3.21, 1.91), (-1.96, 1.51), (-2.55, 1.68)],
    "internal / structure-related outcomes": [
        (-2.71, 1.74), (-2.94, 1.79), (-2.93, 1.92), (-1.67, 1.51), (-2.26, 1.68)],
    "general physical health indicators": [
        (-2.29, 1.53), (-2.53, 1.58), (-2.51, 1.72), (-1.26, 1.25), (-1.85, 1.46)],
    "adverse events": [(-1.87, 1.52), (-2.10, 1.58), (-2.10, 1.71), (-0.84, 1.24), (-1.43, 1.45)],
    "infection / onset of new disease": [
        (-2.49, 1.52), (-2.73, 1.58), (-2.71, 1.71), (-1.46, 1.24), (-2.05, 1.45)],
    "signs / symptoms reflecting continuation / end of condition": [
        (-2.06, 1.51), (-2.29, 1.58), (-2.28, 1.71), (-1.03, 1.24), (-1.61, 1.45)],
    "pain": [(-1.83, 1.52), (-2.06, 1.58), (-2.05, 1.71), (-0.80, 1.25), (-1.38, 1.45)],
    "quality of life / functioning (dichotomized)": [
        (-2.54, 1.54), (-2.78, 1.60), (-2.77, 1.73), (-1.51, 1.27), (-2.10, 1.47)],
    "mental health indicators": [(-2.12, 1.53), (-2.35, 1.60), (-2.34, 1.72), (-1.09, 1.27), (-1.67, 1.47)],
    "biological markers (dichotomized)": [
        (-1.77, 1.52), (-2.00, 1.58), (-1.99, 1.71), (-0.74, 1.24), (-1.33, 1.45)],
    "subjective outcomes (various)": [(-2.70, 1.52), (-2.93, 1.58), (-2.92, 1.71), (-1.67, 1.25), (-2.26, 1.45)],
}
TURNER_OUTCOMES = tuple(_TURNER_TABLE)
TURNER_PARAMETERS = {
    (outcome, comparison): pair
    for outcome, row in _TURNER_TABLE.items()
    for comparison, pair in zip(TURNER_COMPARISONS, row, strict=True)
}
_COMPARATORS = ("pharmacological", "non-pharmacological", "placebo / control")
# Which comparison type a pair of comparators is (either order), as in the paper.
_COMPARISON_OF = {
    frozenset(["pharmacological", "placebo / control"]): TURNER_COMPARISONS[0],
    frozenset(["pharmacological"]): TURNER_COMPARISONS[1],
    frozenset(["non-pharmacological", "placebo / control"]): TURNER_COMPARISONS[2],
    frozenset(["non-pharmacological", "pharmacological"]): TURNER_COMPARISONS[3],
    frozenset(["non-pharmacological"]): TURNER_COMPARISONS[4],
}
# Turner et al.'s "any outcome, any comparison" distribution of log τ² (p. 993).
_TURNER_MARGINAL = (-2.56, 1.74)


def turner_prior(outcome=None, comparator1="pharmacological", comparator2="placebo / control"):
    """Turner et al. (2015) predictive log-normal prior on τ.

    Parameters
    ----------
    outcome : str or None
        One of :data:`TURNER_OUTCOMES`; ``None`` gives the marginal prior for any outcome
        and any comparison (log τ² normal with mean −2.56 and sd 1.74).
    comparator1, comparator2 : str
        ``"pharmacological"``, ``"non-pharmacological"`` or ``"placebo / control"``;
        the order does not matter, and placebo against placebo is not a comparison.

    Returns
    -------
    LogNormal
        The prior on τ: ``meanlog = μ/2``, ``sdlog = σ/2`` of Turner's (μ, σ) for τ².
    """
    if outcome is None:
        loc, sd = _TURNER_MARGINAL
    else:
        if outcome not in _TURNER_TABLE:
            raise ValueError(
                f"unknown Turner et al. outcome type {outcome!r}; expected one of: "
                + "; ".join(TURNER_OUTCOMES)
            )
        for c in (comparator1, comparator2):
            if c not in _COMPARATORS:
                raise ValueError(
                    f"unknown comparator {c!r}; expected one of: " + ", ".join(_COMPARATORS)
                )
        key = frozenset([comparator1, comparator2])
        if key not in _COMPARISON_OF:
            raise ValueError("placebo / control against placebo / control is not a comparison")
        loc, sd = TURNER_PARAMETERS[(outcome, _COMPARISON_OF[key])]
    return LogNormal(meanlog=loc / 2, sdlog=sd / 2)


_FAMILIES = {
    "halfnormal": (HalfNormal, ("scale",)),
    "halfcauchy": (HalfCauchy, ("scale",)),
    "halft": (HalfStudentT, ("scale", "df")),
    "uniform": (Uniform, ("upper",)),
    "lognormal": (LogNormal, ("meanlog", "sdlog")),
    "turner": (turner_prior, ("outcome", "comparator1", "comparator2")),
}
_OPTIONAL = {"turner": {"outcome", "comparator1", "comparator2"}}


def tau_prior(spec) -> _TauPrior:
    """Build a τ prior from a configuration mapping (or return a prior object as is).

    Parameters
    ----------
    spec : mapping or prior object
        ``{"family": name, ...parameters}`` with family ``halfnormal`` (scale),
        ``halfcauchy`` (scale), ``halft`` (scale, df), ``uniform`` (upper), ``lognormal``
        (meanlog, sdlog) or ``turner`` (outcome, comparator1, comparator2; all optional).

    Raises
    ------
    ValueError
        With one message naming the unknown family, the missing or unexpected parameter,
        or the invalid value.
    """
    if isinstance(spec, _TauPrior):
        return spec
    if not isinstance(spec, dict) or "family" not in spec:
        raise ValueError(
            "a tau prior is a prior object or a mapping with a 'family' key, e.g. "
            "{'family': 'halfnormal', 'scale': 0.5}; got " + repr(spec)
        )
    family = spec["family"]
    if family not in _FAMILIES:
        raise ValueError(
            f"unknown tau prior family {family!r}; expected one of: " + ", ".join(_FAMILIES)
        )
    make, names = _FAMILIES[family]
    params = {k: v for k, v in spec.items() if k != "family"}
    extra = sorted(set(params) - set(names))
    if extra:
        raise ValueError(
            f"tau prior {family!r} takes {', '.join(names)}; unexpected: {', '.join(extra)}"
        )
    missing = [n for n in names if n not in params and n not in _OPTIONAL.get(family, ())]
    if missing:
        raise ValueError(f"tau prior {family!r} needs {', '.join(missing)}")
    return make(**params)


def mu_prior(spec):
    """The prior on μ: ``None`` (improper uniform) or a :class:`NormalPrior`.

    ``spec`` is ``None``, a :class:`NormalPrior`, a mapping ``{"mean": m, "sd": s}``
    (``"family": "normal"`` allowed), or a pair ``(mean, sd)``.
    """
    if spec is None or isinstance(spec, NormalPrior):
        return spec
    if isinstance(spec, dict):
        params = {k: v for k, v in spec.items() if k != "family"}
        if spec.get("family", "normal") != "normal" or set(params) != {"mean", "sd"}:
            raise ValueError(
                "a mu prior is None (improper uniform) or {'family': 'normal', 'mean': m, "
                f"'sd': s}}; got {spec!r}"
            )
        return NormalPrior(**params)
    try:
        mean, sd = spec
    except (TypeError, ValueError):
        raise ValueError(
            f"a mu prior is None, a mapping {{'mean', 'sd'}} or a pair (mean, sd); got {spec!r}"
        ) from None
    return NormalPrior(mean, sd)
