"""The headline of an analysis with few trials: a Bayesian random-effects result.

With 2 to 4 trials the usual random-effects headline misleads either way: τ² cannot be
estimated, the Hartung–Knapp interval uses a t distribution on k − 1 degrees of freedom
(t(1) = 12.7 at 95%, so two clearly positive trials can give "p = 0.1" and a ratio
interval of [0.00, 66162]), and the equal-effects result pretends there is no
between-trial variation at all. A Bayesian random-effects model with a weakly informative
prior on τ sits between the two and has good coverage with few trials (Friede et al.
2017; Röver et al. 2021): by default a half-normal prior with scale 0.5 for standardised
mean differences and log ratios, which puts 95% of its mass on τ < 0.98, heterogeneity
from none to very large on those scales. The effect μ has the improper uniform prior of
R's ``bayesmeta()`` (Röver 2020), fitted by :func:`ketameta.bayesmeta`.

Other measures (mean differences in points, risk differences, proportions) have no
scale-free default and keep the frequentist headline.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ketameta._results import finite

__all__ = ["BAYES_MEASURES", "FEW_TRIALS", "few_trials_block"]

#: Defaults of the ``few_trials`` settings (configuration, top level or per analysis).
FEW_TRIALS = {"small_study_min_k": 10, "bayes_max_k": 4, "tau_prior_scale": 0.5}
#: Measures whose scale the default half-normal(0.5) prior on τ suits.
BAYES_MEASURES = ("SMD", "RR", "OR", "GEN")
_GEN_FAMILIES = {"SMD", "d", "RR", "logRR", "OR", "logOR", "HR", "logHR"}


def few_trials_block(frame: pd.DataFrame, cfg: Mapping) -> dict | None:
    """The ``few_trials`` block of one analysis's ``summary.json``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The pooled rows (``yi``, ``vi``; ``effect_type`` for ``GEN``).
    cfg : mapping
        Effective configuration: ``measure``, ``level`` and ``few_trials``
        (``bayes_max_k``, ``tau_prior_scale``; defaults :data:`FEW_TRIALS`).

    Returns
    -------
    dict or None
        ``None`` unless 2 ≤ k ≤ ``bayes_max_k`` and the measure is one of
        :data:`BAYES_MEASURES` (``GEN`` only for reported SMDs or log ratios). Otherwise
        ``{k, tau_prior: {family: "halfnormal", scale}, mu_prior: null, level, mu, tau,
        theta_new, prob_mu_negative, prob_mu_positive}`` where ``mu``, ``tau`` and
        ``theta_new`` (the effect in a new trial: the Bayesian prediction) each hold
        ``median, mean, sd, ci_low, ci_high`` (equal-tailed credible intervals) on the
        analysis scale.
    """
    from ketameta.bayes import bayesmeta

    settings = {**FEW_TRIALS, **(cfg.get("few_trials") or {})}
    k = len(frame)
    if not 2 <= k <= int(settings["bayes_max_k"]) or cfg["measure"] not in BAYES_MEASURES:
        return None
    if cfg["measure"] == "GEN" and not set(frame["effect_type"].astype(str)) <= _GEN_FAMILIES:
        return None
    prior = {"family": "halfnormal", "scale": float(settings["tau_prior_scale"])}
    res = bayesmeta(frame["yi"].to_numpy(dtype=float), frame["vi"].to_numpy(dtype=float),
                    tau_prior=prior, level=cfg["level"])
    full = res.to_dict()

    def part(name):
        return {key: full[name].get(key) for key in ("median", "mean", "sd", "ci_low",
                                                     "ci_high")}

    return {
        "k": k, "tau_prior": prior, "mu_prior": None, "level": cfg["level"],
        "mu": part("mu"), "tau": part("tau"), "theta_new": part("theta_new"),
        "prob_mu_negative": finite(res.prob_mu_negative),
        "prob_mu_positive": finite(res.prob_mu_positive),
    }
