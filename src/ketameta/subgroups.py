"""Subgroup analysis: one pooled result per subgroup and the test for subgroup differences.

:func:`subgroup` pools the studies of each subgroup and tests whether the subgroup
estimates differ, in the two ways reviews use:

* ``tau2="separate"`` (Cochrane Handbook, section 10.11.3; R's ``meta`` with
  ``subgroup=``): each subgroup is its own random-effects meta-analysis with its own τ²;
  the test is Cochran's Q between subgroups, computed from the subgroup estimates
  ``θ_g`` and their standard errors ``s_g`` as an equal-effects meta-analysis of them:
  ``Q_b = Σ w_g (θ_g - θ̄)²``, ``w_g = 1/s_g²``, on ``G − 1`` degrees of freedom
  (``rma(θ, sei = s, method = "EE")$QE`` in metafor). The standard errors are those of the
  chosen test (Knapp–Hartung scaled for ``knha``).
* ``tau2="common"`` (Borenstein et al. 2009, ch. 19): the mixed-effects model
  ``rma(yi, vi, mods = ~ factor(group))`` with one residual τ²; the test is its omnibus
  ``QM`` (χ² on ``G − 1`` df for ``test="z"``, F on ``(G − 1, k − G)`` df otherwise, as
  metafor). Each subgroup's pooled result then uses that common τ²
  (``rma(yi, vi, tau2 = τ², subset = group == g)``).

A subgroup of one study is pooled as :func:`ketameta.rma` pools one study (its own
estimate, z test; τ² and heterogeneity undefined).

References
----------
Borenstein M, Hedges LV, Higgins JPT, Rothstein HR (2009). *Introduction to Meta-Analysis*,
Wiley, chapter 19 (subgroup analyses).

Higgins JPT, Thomas J, et al. (eds) (2023). *Cochrane Handbook for Systematic Reviews of
Interventions*, version 6.4, section 10.11.3.1.

Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. *Journal of
Statistical Software* 36(3):1–48. doi:10.18637/jss.v036.i03
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ketameta._dist import chi2_sf
from ketameta._results import plain
from ketameta.estimators import as_control
from ketameta.models import _check_options, _rma_intercept, level_to_alpha, rma

__all__ = ["SubgroupResult", "subgroup"]

TAU2_MODELS = ("separate", "common")


@dataclass(frozen=True, eq=False)
class SubgroupResult:
    """Result of :func:`subgroup`.

    Attributes
    ----------
    groups : tuple of str
        Subgroup labels in order of first appearance.
    fits : dict of str -> RMAResult
        The pooled result of each subgroup (with the common τ² when ``tau2="common"``).
    tau2_model : {"separate", "common"}
    tau2 : float
        The common τ² (``tau2="common"``); NaN for separate τ².
    Q_between, Q_between_df, Q_between_p : float
        Test for subgroup differences (see the module docstring). Under ``tau2="common"``
        with a t-based test it is metafor's F statistic (``QM``).
    Q_between_df2 : float
        Denominator df of that F test (``k − G``); NaN for a χ² test.
    Q_between_test : {"chi2", "F"}
    method, test, level, control
        As requested.
    warnings : tuple of str
    """

    groups: tuple
    fits: dict
    tau2_model: str
    tau2: float
    Q_between: float
    Q_between_df: float
    Q_between_p: float
    Q_between_df2: float
    Q_between_test: str
    method: str
    test: str
    level: float
    control: object
    warnings: tuple

    def to_dict(self) -> dict:
        """Plain Python for JSON (NaN → None): one fit summary per subgroup and the test."""
        return {
            "tau2_model": self.tau2_model,
            "groups": list(self.groups),
            "fits": {label: self.fits[label].to_dict() for label in self.groups},
            "tau2": plain(self.tau2),
            "Q_between": plain(self.Q_between),
            "Q_between_df": plain(self.Q_between_df),
            "Q_between_df2": plain(self.Q_between_df2),
            "Q_between_p": plain(self.Q_between_p),
            "Q_between_test": self.Q_between_test,
            "warnings": list(self.warnings),
        }


def _labels(groups, k: int) -> list[str]:
    import pandas as pd

    values = list(groups)
    if len(values) != k:
        raise ValueError(f"groups must have one label per study: {len(values)} for {k}")
    out = []
    for i, value in enumerate(values):
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            raise ValueError(f"group label missing for the study at position {i}")
        out.append(str(value))
    return out


def subgroup(
    yi,
    vi,
    groups,
    method: str = "REML",
    test: str = "z",
    level=95,
    tau2: str = "separate",
    control=None,
) -> SubgroupResult:
    """Pool each subgroup and test for subgroup differences.

    Parameters
    ----------
    yi, vi : array_like, 1-D
        Effect sizes and sampling variances (NaN: study left out).
    groups : sequence
        Subgroup label of each study (converted to str).
    method, test, level, control
        As :func:`ketameta.rma`.
    tau2 : {"separate", "common"}
        One τ² per subgroup, or one τ² for all (see the module docstring).

    Returns
    -------
    SubgroupResult

    Raises
    ------
    ValueError
        For invalid input: unknown options, a label count that differs from the number of
        studies, a missing label, or fewer than two subgroups with studies.
    """
    _check_options(method, test, "default")
    level_to_alpha(level)
    if tau2 not in TAU2_MODELS:
        raise ValueError(f"tau2 must be 'separate' or 'common'; got {tau2!r}")
    con = as_control(control)
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    if yi.ndim != 1 or yi.shape != vi.shape:
        raise ValueError("subgroup() takes 1-D yi and vi of the same length")
    labels = _labels(groups, yi.size)
    present = ~(np.isnan(yi) | np.isnan(vi))
    order = list(dict.fromkeys(lab for lab, ok in zip(labels, present, strict=True) if ok))
    if len(order) < 2:
        raise ValueError("a subgroup analysis needs at least two subgroups with studies")
    members = {g: [i for i, lab in enumerate(labels) if lab == g and present[i]] for g in order}
    notes: list[str] = []
    common_tau2 = math.nan
    if tau2 == "common":
        import pandas as pd

        factor = pd.DataFrame({"group": pd.Categorical(labels, categories=order)})
        keep = present
        model = rma(
            yi[keep], vi[keep], mods=factor[keep].reset_index(drop=True), method=method,
            test=test, level=level, control=con,
        )  # fmt: skip
        common_tau2 = float(model.tau2)
        notes += [w for w in model.warnings if "omitted" not in w]
        fits = {
            g: _rma_intercept(
                yi[idx], vi[idx], method, test, level, "default", con,
                tau2_fixed=common_tau2,
            )
            for g, idx in members.items()
        }  # fmt: skip
        q, df, p = float(model.QM), float(model.QM_df), float(model.QM_p)
        df2 = math.nan if test == "z" else float(model.QE_df)
        kind = "chi2" if test == "z" else "F"
    else:
        fits = {
            g: _rma_intercept(yi[idx], vi[idx], method, test, level, "default", con)
            for g, idx in members.items()
        }
        est = np.array([fits[g].estimate for g in order])
        se = np.array([fits[g].se for g in order])
        with np.errstate(all="ignore"):
            w = 1.0 / se**2
            mean = np.sum(w * est) / np.sum(w)
            q = float(np.sum(w * (est - mean) ** 2))
        df = float(len(order) - 1)
        if not (np.isfinite(w).all() and np.isfinite(q)):
            q = math.nan
            notes.append(
                "Q between subgroups undefined: a subgroup estimate has standard error 0."
            )
        p = float(chi2_sf(q, df)) if math.isfinite(q) else math.nan
        df2, kind = math.nan, "chi2"
    return SubgroupResult(
        groups=tuple(order),
        fits=fits,
        tau2_model=tau2,
        tau2=common_tau2,
        Q_between=q,
        Q_between_df=df,
        Q_between_p=p,
        Q_between_df2=df2,
        Q_between_test=kind,
        method=method,
        test=test,
        level=level,
        control=con,
        warnings=tuple(notes),
    )
