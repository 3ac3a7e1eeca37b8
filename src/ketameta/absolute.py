"""Absolute effects of a pooled analysis: risk difference per 1,000, NNT, SMD in points.

A relative effect means little to a patient without a baseline. Following the Cochrane
Handbook (version 6.4, sections 15.4 and 15.5.3.1) and GRADE's summary-of-findings
tables:

* **Dichotomous outcomes** (RR, OR, RD): the pooled effect and its CI are applied to the
  median control-group risk of the pooled trials, giving the risk with the intervention
  and the risk difference per 1,000 patients. A risk ratio that would imply a risk above
  1 is capped at 1, as GRADEpro does. The number needed to treat is ``1/|RD|`` rounded up
  to the next whole number; when the CI of the risk difference includes 0, the NNT's CI
  passes through infinity (Altman 1998).
* **SMD**: the pooled SMD, its CI and prediction interval are multiplied by the median
  pooled within-trial SD (both arms) of the trials that used the most used scale, giving
  points on that scale.
* **MD** is already in points of its scale; other measures have no absolute form here.

Conventions: effects on the analysis scale (log for RR and OR); risks and risk
differences per 1,000 in the output; ``nnt`` is ``None`` for an infinite NNT (RD = 0).
Whether a positive risk difference is a benefit or a harm is a property of the outcome
(the configuration's ``lower_is_better``), left to the report.

References
----------
Altman DG (1998). Confidence intervals for the number needed to treat. *BMJ*
317(7168):1309–1312. doi:10.1136/bmj.317.7168.1309

Higgins JPT, Thomas J, et al. (eds) (2023). *Cochrane Handbook for Systematic Reviews of
Interventions*, version 6.4, sections 15.4 and 15.5.3.1.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence

from ketameta.effects import EFFECT_SCALE

__all__ = ["absolute_effects", "family_of", "nnt", "pooled_sd", "risk_difference"]


def _num(value) -> float | None:
    """A finite float, or None (missing, NaN, text)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def family_of(measure: str, effect_types: Sequence[str] = ()) -> str:
    """Effect family of an analysis: its measure, or for ``GEN`` the family of the reported
    effect types when they are all of one (``RR`` and ``logRR`` → ``RR``), else ``GEN``."""
    if measure != "GEN":
        return measure
    families = {EFFECT_SCALE.get(str(t), "").removeprefix("log") for t in effect_types}
    if len(families) == 1 and "" not in families:
        return families.pop()
    return "GEN"


def risk_difference(effect: float, control_risk: float, family: str) -> float:
    """Risk difference implied by a pooled effect (analysis scale) at a control risk.

    RR: ``min(1, p₀ e^θ) - p₀``; OR: ``odds/(1 + odds) - p₀`` with
    ``odds = e^θ p₀/(1 - p₀)``; RD: θ itself.
    """
    if family == "RR":
        return min(1.0, control_risk * math.exp(effect)) - control_risk
    if family == "OR":
        odds = math.exp(effect) * control_risk / (1 - control_risk)
        return odds / (1 + odds) - control_risk
    return effect


def nnt(rd: float) -> int | None:
    """``1/|RD|`` rounded up to the next whole number (Handbook 15.4); None for RD = 0."""
    if rd == 0:
        return None
    return math.ceil(1 / abs(rd) - 1e-9)


def pooled_sd(n_treat, n_ctrl, sd_treat, sd_ctrl) -> float | None:
    """Pooled within-trial SD of two arms, ``sqrt(((n₁-1)s₁² + (n₂-1)s₂²)/(n₁+n₂-2))``."""
    n1, n2, s1, s2 = (_num(x) for x in (n_treat, n_ctrl, sd_treat, sd_ctrl))
    if None in (n1, n2, s1, s2) or n1 + n2 <= 2:
        return None
    return math.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))


def _text(value) -> str:
    """A text cell, "" for missing values (None, NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _unavailable(kind: str, reason: str) -> dict:
    return {"kind": kind, "available": False, "reason": reason}


def _ranked_scales(values: Sequence[str]) -> list[str]:
    counts = Counter(v.strip() for v in values if v and v.strip())
    return [name for name, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def absolute_effects(
    estimate, ci_low, ci_high, family: str, studies: Sequence[Mapping], pi_low=None,
    pi_high=None,
) -> dict | None:  # fmt: skip
    """Absolute effects of a pooled analysis, or None when the family has none.

    Parameters
    ----------
    estimate, ci_low, ci_high : float
        Pooled effect and CI on the analysis scale.
    family : str
        :func:`family_of` the analysis.
    studies : sequence of mappings
        The pooled trials (rows of ``effects.csv``): ``events_ctrl``, ``n_ctrl`` for
        dichotomous outcomes; ``n_treat``, ``n_ctrl``, ``sd_treat``, ``sd_ctrl`` and
        ``scale`` for SMD.
    pi_low, pi_high : float, optional
        Prediction interval (SMD only).

    Returns
    -------
    dict or None
        ``kind`` (``dichotomous``/``continuous``) and ``available``; when not available a
        ``reason``. Dichotomous: ``control_risk``, ``treated_risk``, ``treated_low``,
        ``treated_high``, ``rd``, ``rd_low``, ``rd_high`` (per 1,000), ``n_trials``,
        ``nnt`` (of ``rd``), ``nnt_rd_low``, ``nnt_rd_high`` (of the CI limits of the risk
        difference) and ``rd_ci_includes_0``. SMD: ``scale``, ``sd``, ``n_trials``,
        ``points``, ``points_low``, ``points_high``, ``pi_low``, ``pi_high`` and
        ``direction`` (``lower``/``higher``). None when the pooled effect is undefined or
        the family has no absolute form.
    """
    est, low, high = _num(estimate), _num(ci_low), _num(ci_high)
    if None in (est, low, high):
        return None
    if family in ("RR", "OR", "RD"):
        risks = []
        for s in studies:
            events, n = _num(s.get("events_ctrl")), _num(s.get("n_ctrl"))
            if events is not None and n is not None and n > 0:
                risks.append(events / n)
        if not risks:
            return _unavailable(
                "dichotomous",
                "no pooled trial reports control-group events, so there is no control-group "
                "risk to apply the pooled effect to",
            )
        cr = statistics.median(sorted(risks))
        if family != "RD" and cr in (0.0, 1.0):
            return _unavailable(
                "dichotomous",
                f"the median control-group risk is {round(cr * 100)}%, at which a ratio "
                "implies no absolute difference",
            )
        rds = [risk_difference(v, cr, family) for v in (est, low, high)]
        rd, rd_lo, rd_hi = rds[0], min(rds[1:]), max(rds[1:])
        return {
            "kind": "dichotomous",
            "available": True,
            "control_risk": cr * 1000,
            "n_trials": len(risks),
            "treated_risk": (cr + rd) * 1000,
            "treated_low": (cr + rd_lo) * 1000,
            "treated_high": (cr + rd_hi) * 1000,
            "rd": rd * 1000,
            "rd_low": rd_lo * 1000,
            "rd_high": rd_hi * 1000,
            "nnt": nnt(rd),
            "nnt_rd_low": nnt(rd_lo),
            "nnt_rd_high": nnt(rd_hi),
            "rd_ci_includes_0": not (rd_lo > 0 or rd_hi < 0),
        }
    if family == "MD":
        scales = _ranked_scales([_text(s.get("scale")) for s in studies])
        return _unavailable(
            "continuous",
            "a mean difference is already in points of the outcome scale ("
            + (", ".join(scales) if scales else "scale not reported") + ")",
        )
    if family == "SMD":
        sds = [
            (_text(s.get("scale")), pooled_sd(
                s.get("n_treat"), s.get("n_ctrl"), s.get("sd_treat"), s.get("sd_ctrl")))
            for s in studies
        ]  # fmt: skip
        sds = [(scale, sd) for scale, sd in sds if sd is not None]
        scales = _ranked_scales([scale for scale, _ in sds])
        if not scales:
            return _unavailable(
                "continuous",
                "no pooled trial reports arm SDs on a named scale, so the SMD cannot be "
                "re-expressed in points of a scale",
            )
        scale = scales[0]
        used = [sd for name, sd in sds if name == scale]
        sd = statistics.median(used)
        lo_pi, hi_pi = _num(pi_low), _num(pi_high)
        return {
            "kind": "continuous",
            "available": True,
            "scale": scale,
            "sd": sd,
            "n_trials": len(used),
            "points": est * sd,
            "points_low": low * sd,
            "points_high": high * sd,
            "pi_low": lo_pi * sd if lo_pi is not None else None,
            "pi_high": hi_pi * sd if hi_pi is not None else None,
            "direction": "lower" if est < 0 else "higher",
        }
    return None
