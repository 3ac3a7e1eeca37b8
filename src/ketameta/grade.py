"""GRADE certainty of a pooled estimate, judged domain by domain from stated rules.

The body of evidence from randomised trials starts at **high** certainty and is rated down
one level ("serious") or two ("very serious") in each of five domains (the GRADE handbook,
Schünemann et al. 2013, section 5; Guyatt et al. 2011, *J Clin Epidemiol* 64: risk of bias
407–415, publication bias 1277–1282, imprecision 1283–1293, inconsistency 1294–1302,
indirectness 1303–1310). GRADE asks for judgement; this module makes the judgement
reproducible by fixed rules, which an analyst may override per domain with a reason that the
summary-of-findings table prints. The rules:

Risk of bias (from each trial's overall RoB 2 judgement and its weight)
    very serious (−2) when trials at high risk carry at least half of the weight;
    serious (−1) when trials at high risk or with some concerns, or not assessed, carry at
    least half of the weight. A missing judgement is never taken as low risk.
Inconsistency
    very serious (−2) when I² ≥ 75% and trial estimates lie on both sides of the null;
    serious (−1) when I² ≥ 50%, or when the prediction interval (k ≥ 3) includes the null
    although the confidence interval excludes it and trial estimates lie on both sides of
    the null. Not assessable with one trial (no downgrade).
Imprecision
    very serious (−2) when the CI includes the null and also both an appreciable benefit and
    an appreciable harm (beyond the minimal important difference, MID, on either side);
    serious (−1) when the CI includes the null, or when it excludes it but the analysis has
    fewer participants than the optimal information size, or does not report how many it
    has (OIS: the size of one
    conventionally powered trial, α = 0.05 two-sided, power 0.8; for binary outcomes a 25%
    relative change from the control risk, for continuous outcomes 400 participants, the
    handbook's rule of thumb).
Publication bias
    assessed only from 10 trials (Cochrane Handbook chapter 13); serious (−1) when Egger's
    regression test gives p < 0.10 (Egger et al. 1997). With fewer trials: not assessed, no
    downgrade, and the table says so.
Indirectness
    serious (−1) when trials that differ from the question (population, comparator or
    outcome, as flagged by the caller with a reason) carry at least half of the weight.

Certainty is high, moderate, low or very low: four levels minus the downgrades, never below
very low.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ketameta.rob import summarise as rob_summary

__all__ = [
    "DOMAINS",
    "LEVELS",
    "SYMBOLS",
    "Certainty",
    "Judgement",
    "assess",
    "assess_analysis",
    "grade_block",
    "headline_interval",
    "imprecision",
    "inconsistency",
    "indirectness",
    "job_settings",
    "optimal_information_size",
    "publication_bias",
    "risk_of_bias",
    "settings",
]

#: The five GRADE domains, in the order a summary-of-findings table gives them.
DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")

#: Certainty levels from best to worst.
LEVELS = ("high", "moderate", "low", "very low")

#: How GRADE prints each level.
SYMBOLS = {"high": "⊕⊕⊕⊕", "moderate": "⊕⊕⊕◯", "low": "⊕⊕◯◯", "very low": "⊕◯◯◯"}

_DOMAIN_NAMES = {
    "risk_of_bias": "Risk of bias",
    "inconsistency": "Inconsistency",
    "indirectness": "Indirectness",
    "imprecision": "Imprecision",
    "publication_bias": "Publication bias",
}


@dataclass(frozen=True)
class Judgement:
    """One domain's judgement.

    ``downgrade`` is 0 (not serious), 1 (serious) or 2 (very serious). ``reason`` says why
    (always given when ``downgrade`` > 0, and for domains not assessed); ``assessed`` is
    False where the rules could not be applied (publication bias below 10 trials,
    inconsistency of one trial); ``overridden`` marks an analyst's judgement from the
    configuration.
    """

    domain: str
    downgrade: int
    reason: str | None = None
    assessed: bool = True
    overridden: bool = False

    def to_dict(self) -> dict:
        return {
            "domain": self.domain,
            "downgrade": self.downgrade,
            "reason": self.reason,
            "assessed": self.assessed,
            "overridden": self.overridden,
        }


@dataclass(frozen=True)
class Certainty:
    """The certainty of one pooled estimate and the judgement of each domain."""

    level: str
    judgements: tuple[Judgement, ...] = field(default_factory=tuple)

    @property
    def symbols(self) -> str:
        return SYMBOLS[self.level]

    @property
    def footnotes(self) -> list[str]:
        """One sentence per downgrade or override, in domain order."""
        notes = []
        for j in self.judgements:
            if j.downgrade or j.overridden:
                grade = {0: "not rated down", 1: "rated down one level", 2: "rated down two levels"}
                who = " (analyst's judgement)" if j.overridden else ""
                notes.append(f"{_DOMAIN_NAMES[j.domain]}: {grade[j.downgrade]}{who}: {j.reason}")
        return notes

    def to_dict(self) -> dict:
        return {
            "level": self.level,
            "symbols": self.symbols,
            "domains": {j.domain: j.to_dict() for j in self.judgements},
            "footnotes": self.footnotes,
        }


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def _percent(x: float) -> str:
    return f"{x:.0f}%"


def risk_of_bias(judgements: Sequence[str | None], weights: Sequence[float]) -> Judgement:
    """Risk of bias from each trial's overall judgement and its weight (see module notes)."""
    shares = rob_summary(judgements, weights)
    if shares.high >= 50:
        return Judgement(
            "risk_of_bias",
            2,
            f"trials at high risk of bias carry {_percent(shares.high)} of the weight",
        )
    concern = shares.high + shares.some + shares.missing
    if concern >= 50:
        parts = []
        if shares.high:
            parts.append(f"high risk {_percent(shares.high)}")
        if shares.some:
            parts.append(f"some concerns {_percent(shares.some)}")
        if shares.missing:
            parts.append(f"not assessed {_percent(shares.missing)}")
        return Judgement(
            "risk_of_bias",
            1,
            "trials at high risk, with some concerns or not assessed carry "
            f"{_percent(concern)} of the weight ({', '.join(parts)})",
        )
    return Judgement("risk_of_bias", 0)


def _both_sides(study_yi: Sequence[float], null: float) -> bool:
    values = [float(y) for y in study_yi if _finite(float(y))]
    return any(y < null for y in values) and any(y > null for y in values)


def inconsistency(
    k: int,
    I2: float | None,
    study_yi: Sequence[float],
    null: float,
    ci: tuple[float | None, float | None],
    pi: tuple[float | None, float | None],
) -> Judgement:
    """Inconsistency from I², the directions of the trial estimates and the prediction interval.

    ``null`` is the no-effect value on the analysis scale (0, or 0 on the log scale for
    ratios); ``ci`` and ``pi`` are on the same scale.
    """
    if k < 2:
        return Judgement("inconsistency", 0, "not assessable: a single trial", assessed=False)
    mixed = _both_sides(study_yi, null)
    i2 = float(I2) if _finite(I2) else 0.0
    if i2 >= 75 and mixed:
        return Judgement(
            "inconsistency",
            2,
            f"I² = {i2:.0f}% and trial estimates point in both directions",
        )
    if i2 >= 50:
        return Judgement("inconsistency", 1, f"I² = {i2:.0f}% (substantial heterogeneity)")
    ci_low, ci_high = ci
    pi_low, pi_high = pi
    if (
        k >= 3
        and mixed
        and _finite(pi_low)
        and _finite(pi_high)
        and _finite(ci_low)
        and _finite(ci_high)
        and pi_low <= null <= pi_high
        and not ci_low <= null <= ci_high
    ):
        return Judgement(
            "inconsistency",
            1,
            "trial estimates point in both directions and the prediction interval includes "
            "no effect although the confidence interval excludes it",
        )
    return Judgement("inconsistency", 0)


def optimal_information_size(
    kind: str,
    control_risk: float | None = None,
    relative_change: float = 0.25,
    benefit_increases: bool = True,
    continuous_size: int = 400,
) -> float | None:
    """Optimal information size: participants of one trial with α = 0.05 and power 0.8.

    Parameters
    ----------
    kind : {"binary", "continuous"}
    control_risk : float, optional
        Risk in the control arm (binary only). None gives None.
    relative_change : float
        Relative change of the risk to detect (GRADE's default 25%), towards benefit.
    benefit_increases : bool
        True when benefit raises the risk (response), False when it lowers it (relapse).
    continuous_size : int
        The handbook's rule of thumb for continuous outcomes.
    """
    if kind == "continuous":
        return float(continuous_size)
    if kind != "binary":
        raise ValueError(f"kind must be 'binary' or 'continuous', not {kind!r}")
    if not _finite(control_risk) or not 0 < control_risk < 1:
        return None
    p1 = float(control_risk)
    p2 = p1 * (1 + relative_change) if benefit_increases else p1 * (1 - relative_change)
    p2 = min(max(p2, 1e-12), 1 - 1e-12)
    from scipy import special

    z = -special.ndtri(0.025) - special.ndtri(0.2)  # 1.95996 + 0.84162
    per_arm = z**2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p1 - p2) ** 2
    return 2 * math.ceil(per_arm)


def imprecision(
    ci: tuple[float, float],
    null: float,
    mid: float | None,
    n_total: float | None,
    ois: float | None,
    events: float | None = None,
) -> Judgement:
    """Imprecision from the CI against the null and the MID, and the information size.

    ``mid`` is the minimal important difference as a distance from the null on the analysis
    scale (for ratios: the log of the ratio, e.g. log 1.25); None skips the MID rule.
    ``events`` (binary outcomes: events in both arms of all trials) is used when no
    information size can be computed (a control risk of 0): fewer than 300 events then
    rate down one level, the GRADE handbook's rule of thumb (Guyatt et al. 2011, 64:1283).
    """
    low, high = ci
    if not (_finite(low) and _finite(high)):
        return Judgement("imprecision", 2, "no confidence interval could be computed")
    if low <= null <= high:
        if mid is not None and low <= null - abs(mid) and high >= null + abs(mid):
            return Judgement(
                "imprecision",
                2,
                "the confidence interval includes no effect and also appreciable benefit and "
                "appreciable harm",
            )
        return Judgement("imprecision", 1, "the confidence interval includes no effect")
    if _finite(n_total) and _finite(ois) and n_total < ois:
        return Judgement(
            "imprecision",
            1,
            f"{n_total:.0f} participants, fewer than the optimal information size of {ois:.0f}",
        )
    if ois is None and _finite(events) and events < 300:
        return Judgement(
            "imprecision",
            1,
            f"{events:.0f} events in all, fewer than 300 (the optimal information size "
            "cannot be computed from a control risk of 0)",
        )
    if _finite(ois) and not _finite(n_total):
        return Judgement(
            "imprecision",
            1,
            "the number of participants is not reported, so the optimal information size "
            f"of {ois:.0f} cannot be shown to be reached",
        )
    return Judgement("imprecision", 0)


def publication_bias(k: int, egger_p: float | None, min_k: int = 10) -> Judgement:
    """Publication bias from Egger's test, assessed only with at least ``min_k`` trials."""
    if k < min_k:
        return Judgement(
            "publication_bias",
            0,
            f"not assessed: fewer than {min_k} trials",
            assessed=False,
        )
    if _finite(egger_p) and egger_p < 0.10:
        return Judgement(
            "publication_bias",
            1,
            f"Egger's test suggests small-study effects (p = {egger_p:.2f})",
        )
    return Judgement("publication_bias", 0)


def indirectness(flags: Sequence[str | None], weights: Sequence[float]) -> Judgement:
    """Indirectness from per-trial flags (a reason, or None) and the trials' weights."""
    if len(flags) != len(weights):
        raise ValueError("one weight per flag is needed")
    total = sum(float(w) for w in weights if _finite(float(w)) and w > 0)
    if total <= 0:
        return Judgement("indirectness", 0)
    share: dict[str, float] = {}
    for reason, w in zip(flags, weights, strict=True):
        w = float(w)
        if reason and _finite(w) and w > 0:
            share[reason] = share.get(reason, 0.0) + w
    indirect = 100 * sum(share.values()) / total
    if indirect >= 50:
        reasons = "; ".join(sorted(share, key=lambda r: -share[r]))
        return Judgement(
            "indirectness",
            1,
            f"trials that differ from the question carry {_percent(indirect)} of the weight "
            f"({reasons})",
        )
    return Judgement("indirectness", 0)


def assess(
    judgements: Mapping[str, Judgement],
    overrides: Mapping[str, Mapping] | None = None,
) -> Certainty:
    """Combine the domain judgements, with the analyst's overrides, into a certainty.

    Parameters
    ----------
    judgements : mapping
        Domain name → :class:`Judgement`, one for each of :data:`DOMAINS`.
    overrides : mapping, optional
        Domain name → ``{"downgrade": 0|1|2, "reason": str}`` from the configuration.
    """
    overrides = overrides or {}
    unknown = set(overrides) - set(DOMAINS)
    if unknown:
        raise ValueError(f"unknown GRADE domain(s): {', '.join(sorted(unknown))}")
    final = []
    for domain in DOMAINS:
        if domain not in judgements:
            raise ValueError(f"no judgement for the GRADE domain {domain!r}")
        if domain in overrides:
            spec = overrides[domain]
            downgrade = int(spec["downgrade"])
            if downgrade not in (0, 1, 2):
                raise ValueError(f"{domain}: downgrade must be 0, 1 or 2, not {downgrade}")
            reason = str(spec.get("reason") or "").strip()
            if not reason:
                raise ValueError(f"{domain}: an override needs a reason")
            final.append(Judgement(domain, downgrade, reason, True, True))
        else:
            final.append(judgements[domain])
    total = sum(j.downgrade for j in final)
    return Certainty(LEVELS[min(total, len(LEVELS) - 1)], tuple(final))


# --- one analysis, from its summary and its trials -----------------------------------------

#: Default GRADE settings; the configuration's ``grade`` key overrides each.
DEFAULTS: dict = {
    # Minimal important difference as a distance from no effect: ratios on their natural
    # scale (1.25 = a 25% relative change, GRADE's default), differences on the measure's
    # scale; None leaves the MID rule out.
    "mid": {
        "SMD": 0.2,
        "RR": 1.25,
        "OR": 1.25,
        "HR": 1.25,
        "RD": 0.05,
        "MD": None,
        "GEN": None,
        "PLO": None,
        "PFT": None,
        "PR": None,
    },
    # Comparators that answer "ketamine against no active treatment": inert placebo, saline
    # and the active placebo midazolam. Any other comparator is an active treatment.
    "direct_comparators": ["placebo", "placebo_spray", "saline", "midazolam"],
    # Populations (matched as words in the population column, any case) that differ from
    # the people a condition page is about.
    "indirect_populations": [
        "perioperative",
        "anaesthesia",
        "anesthesia",
        "chronic pain",
        "surgery",
        "surgical",
    ],
    "min_k_publication_bias": 10,
    "overrides": {},
}

_RATIO = {"RR", "OR", "HR"}
_BINARY = {"RR", "OR", "RD"}


def settings(config: Mapping | None) -> dict:
    """The GRADE settings: :data:`DEFAULTS` updated by the configuration's ``grade`` key."""
    out = {
        k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v)
        for k, v in DEFAULTS.items()
    }
    for key, value in dict((config or {}).get("grade") or {}).items():
        if key == "mid":
            out["mid"].update(value)
        else:
            out[key] = value
    return out


def _text(value: object) -> str:
    """A cell as text: empty for None and NaN (pandas' empty cell)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _indirect_reason(row: Mapping, cfg: Mapping) -> str | None:
    comparator = _text(row.get("comparator"))
    if comparator and comparator.lower() not in {c.lower() for c in cfg["direct_comparators"]}:
        return f"active comparator ({comparator})"
    population = _text(row.get("population")).lower()
    for word in cfg["indirect_populations"]:
        if word.lower() in population:
            return f"population: {row.get('population')}"
    return None


def _control_risk(rows: Sequence[Mapping]) -> float | None:
    risks = []
    for row in rows:
        try:
            e, n = float(row.get("events_ctrl")), float(row.get("n_ctrl"))
        except (TypeError, ValueError):
            continue
        if math.isfinite(e) and math.isfinite(n) and n > 0:
            risks.append(e / n)
    if not risks:
        return None
    risks.sort()
    mid = len(risks) // 2
    return risks[mid] if len(risks) % 2 else (risks[mid - 1] + risks[mid]) / 2


def _events(rows: Sequence[Mapping]) -> float | None:
    """Events in both arms of all trials, or None when a trial does not report its counts."""
    total = 0.0
    for row in rows:
        for col in ("events_treat", "events_ctrl"):
            try:
                value = float(row.get(col))
            except (TypeError, ValueError):
                return None
            if not math.isfinite(value):
                return None
            total += value
    return total if rows else None


def assess_analysis(
    summary: Mapping,
    rows: Sequence[Mapping],
    lower_is_better: bool,
    config: Mapping | None = None,
    interval: tuple[float, float] | None = None,
) -> Certainty:
    """GRADE certainty of one analysis from its ``summary.json`` and its ``effects.csv`` rows.

    Parameters
    ----------
    summary : mapping
        The analysis's summary (keys ``analysis, k, measure, ci_low, ci_high, I2, pi_low,
        pi_high, egger_p, n_participants``), on the analysis scale (logs for ratios).
    rows : sequence of mappings
        The pooled trials with ``yi, weight`` and the descriptive columns (``rob``,
        ``rob_d1`` … ``rob_d5``, ``comparator``, ``population``, arm counts).
    lower_is_better : bool
        Which direction is benefit (used for the information size of binary outcomes).
    config : mapping, optional
        The workflow configuration; its ``grade`` key overrides :data:`DEFAULTS`, and
        ``grade.overrides[analysis]`` replaces domain judgements.
    interval : (low, high), optional
        The interval the page headlines, if not the summary's CI (e.g. a Bayesian
        credible interval with few trials).
    """
    from ketameta.rob import judgement as rob_judgement

    cfg = settings(config)
    measure = str(summary.get("measure") or "")
    k = int(summary.get("k") or 0)
    weights = [float(r.get("weight") or 0) for r in rows]
    yi = [float(r.get("yi")) for r in rows if r.get("yi") is not None]
    ci = interval or (summary.get("ci_low"), summary.get("ci_high"))
    mid = cfg["mid"].get(measure)
    if mid is not None and measure in _RATIO:
        mid = math.log(float(mid))
    if measure in _BINARY:
        ois = optimal_information_size(
            "binary", _control_risk(rows), benefit_increases=not lower_is_better
        )
    else:
        ois = optimal_information_size("continuous")
    judgements = {
        "risk_of_bias": risk_of_bias([rob_judgement(r) for r in rows], weights),
        "inconsistency": inconsistency(
            k, summary.get("I2"), yi, 0.0, ci, (summary.get("pi_low"), summary.get("pi_high"))
        ),
        "indirectness": indirectness([_indirect_reason(r, cfg) for r in rows], weights),
        "imprecision": imprecision(
            ci, 0.0, mid, summary.get("n_participants"), ois,
            _events(rows) if measure in _BINARY else None,
        ),
        "publication_bias": publication_bias(
            k, summary.get("egger_p"), cfg["min_k_publication_bias"]
        ),
    }
    overrides = cfg["overrides"].get(summary.get("analysis"), {})
    return assess(judgements, overrides)


def job_settings(config: Mapping, analyses: Sequence[str]) -> dict:
    """What the condition's job needs to write each analysis's ``grade`` block.

    ``settings`` are :func:`settings` with the overrides of the given analyses only (so that
    an override reruns just its condition), ``lower_is_better`` maps each analysis to its
    outcome's benefit direction.
    """
    cfg = settings(config)
    cfg["overrides"] = {a: dict(v) for a, v in cfg["overrides"].items() if a in analyses}
    better = {
        a: bool(config["outcomes"][config["analyses"][a]["outcome"]].get("lower_is_better", True))
        for a in analyses
    }
    return {"settings": cfg, "lower_is_better": better}


def grade_block(summary: Mapping, rows: Sequence[Mapping], job: Mapping) -> dict | None:
    """The ``grade`` block of one ``summary.json`` (None for an analysis without trials).

    ``job`` is :func:`job_settings`; ``rows`` the analysis's ``effects.csv`` records.
    """
    if int(summary.get("k") or 0) < 1:
        return None
    aid = summary["analysis"]
    certainty = assess_analysis(
        summary, rows, job["lower_is_better"][aid], {"grade": job["settings"]},
        interval=headline_interval(summary),
    )
    return certainty.to_dict()


def headline_interval(summary: Mapping) -> tuple[float, float] | None:
    """The interval a page headlines when it is not the summary's CI, else None.

    With few trials the pages headline the Bayesian random-effects result
    (``summary["few_trials"]``, its credible interval for μ); imprecision and inconsistency
    are then judged on that interval, the one the reader sees.
    """
    block = summary.get("few_trials")
    if not isinstance(block, Mapping) or not isinstance(block.get("mu"), Mapping):
        return None
    low, high = block["mu"].get("ci_low"), block["mu"].get("ci_high")
    return (low, high) if _finite(low) and _finite(high) else None
