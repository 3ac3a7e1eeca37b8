"""Risk of bias: the RoB 2 overall judgement and weighted summaries of an analysis's trials.

RoB 2 (Sterne et al. 2019, *BMJ* 366:l4898, doi:10.1136/bmj.l4898) judges five domains of
a randomised trial's result:

===========  ==========================================================
``rob_d1``   bias arising from the randomisation process
``rob_d2``   bias due to deviations from the intended interventions
``rob_d3``   bias due to missing outcome data
``rob_d4``   bias in measurement of the outcome
``rob_d5``   bias in selection of the reported result
===========  ==========================================================

each as ``low``, ``some`` (some concerns) or ``high``. The tool's algorithm for the overall
judgement (the RoB 2 guidance, section 1.3.4, table 2):

* **low** when every domain is at low risk;
* **high** when at least one domain is at high risk;
* **some** concerns otherwise.

The guidance also allows an assessor to judge a result at high risk when several domains
have some concerns that together substantially lower confidence in it. That is a judgement,
not a rule, so :func:`overall` never makes it; :func:`check_overall` accepts a published
overall ``high`` over several ``some`` domains and refuses every other disagreement.

A missing judgement stays missing (``None``): it is never read as low risk.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "DOMAINS",
    "DOMAIN_LABELS",
    "LEVELS",
    "RobSummary",
    "check_overall",
    "judgement",
    "overall",
    "summarise",
]

#: The input columns of the five RoB 2 domains, in the tool's order.
DOMAINS = ("rob_d1", "rob_d2", "rob_d3", "rob_d4", "rob_d5")

#: Short names of the domains, as RevMan and robvis label their traffic-light columns.
DOMAIN_LABELS = {
    "rob_d1": "Randomisation process",
    "rob_d2": "Deviations from intended interventions",
    "rob_d3": "Missing outcome data",
    "rob_d4": "Measurement of the outcome",
    "rob_d5": "Selection of the reported result",
}

#: Judgements from best to worst.
LEVELS = ("low", "some", "high")


def _level(value: object) -> str | None:
    """A judgement as one of :data:`LEVELS`, or None when not given."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    text = str(value).strip().lower()
    if not text:
        return None
    if text not in LEVELS:
        raise ValueError(f"risk-of-bias judgement {value!r} is not one of low, some, high")
    return text


def overall(domains: Sequence[object]) -> str | None:
    """The RoB 2 overall judgement from the five domain judgements.

    Parameters
    ----------
    domains : sequence of five judgements
        ``low``, ``some``, ``high`` or missing (None, NaN or empty text), in the order of
        :data:`DOMAINS`.

    Returns
    -------
    str or None
        ``high`` if any domain is high (whatever else is missing); otherwise None if any
        domain is missing; otherwise ``some`` if any domain has some concerns, else ``low``.
    """
    if len(domains) != len(DOMAINS):
        raise ValueError(f"RoB 2 has {len(DOMAINS)} domains, got {len(domains)}")
    levels = [_level(d) for d in domains]
    if "high" in levels:
        return "high"
    if None in levels:
        return None
    if "some" in levels:
        return "some"
    return "low"


def check_overall(domains: Sequence[object], stated: object) -> str | None:
    """Why a stated overall judgement disagrees with its domains, or None if it agrees.

    A stated ``high`` over two or more ``some`` domains (and no ``high``) is accepted: the
    RoB 2 guidance lets an assessor judge so. Domains that are all missing cannot disagree.
    """
    stated_level = _level(stated)
    levels = [_level(d) for d in domains]
    if stated_level is None or all(level is None for level in levels):
        return None
    derived = overall(levels)
    if derived is None:
        # Some domains missing and none high: the stated judgement may not be better than
        # the worst given domain.
        worst = max((LEVELS.index(x) for x in levels if x is not None), default=0)
        if LEVELS.index(stated_level) < worst:
            return f"overall {stated_level!r} is better than the domain judged {LEVELS[worst]!r}"
        return None
    if derived == stated_level:
        return None
    if stated_level == "high" and derived == "some" and levels.count("some") >= 2:
        return None
    return (
        f"overall {stated_level!r} disagrees with the domains "
        f"({', '.join(x or 'missing' for x in levels)}), which give {derived!r} by the RoB 2 "
        "algorithm"
    )


def judgement(row: Mapping[str, object]) -> str | None:
    """A row's overall judgement: the stated ``rob``, else derived from ``rob_d1``–``rob_d5``."""
    stated = _level(row.get("rob"))
    if stated is not None:
        return stated
    return overall([row.get(d) for d in DOMAINS])


@dataclass(frozen=True)
class RobSummary:
    """Share of an analysis's weight (in percent) at each overall judgement.

    ``missing`` is the weight of trials with no judgement; the four shares add to 100
    (up to rounding) when any weight is given.
    """

    low: float
    some: float
    high: float
    missing: float

    def to_dict(self) -> dict:
        return {"low": self.low, "some": self.some, "high": self.high, "missing": self.missing}


def summarise(judgements: Sequence[str | None], weights: Sequence[float]) -> RobSummary:
    """Weighted summary bar of an analysis: the percent of weight at each judgement.

    Parameters
    ----------
    judgements : sequence
        Overall judgement of each trial (``low``, ``some``, ``high`` or None).
    weights : sequence of float
        Weight of each trial in the pooled estimate (any positive scale; NaN counts as 0).
    """
    if len(judgements) != len(weights):
        raise ValueError("one weight per judgement is needed")
    totals = dict.fromkeys((*LEVELS, "missing"), 0.0)
    for level, w in zip(judgements, weights, strict=True):
        w = float(w)
        if not math.isfinite(w) or w <= 0:
            continue
        totals[_level(level) or "missing"] += w
    whole = sum(totals.values())
    if whole <= 0:
        return RobSummary(0.0, 0.0, 0.0, 0.0)
    return RobSummary(**{key: 100.0 * value / whole for key, value in totals.items()})
