"""Claims from popular articles set against the pooled randomised evidence.

A claim (``config/claims.yaml``) is a verbatim quote with one or more *checks*: the quantity
it asserts, in machine-readable form, and which pooled results test it. Every verdict is
computed from the results by the rules below; none is written by hand.

Verdicts
--------
``consistent``
    the trials agree with what the claim asserts;
``partly``
    they agree in part: the effect points the asserted way but its confidence interval
    includes no effect, the asserted size is compatible but the pooled estimate lies outside
    it, or the claim holds at some time points and not at others;
``not supported``
    the trials point the other way, show no clear difference where one is asserted, or the
    asserted size lies outside the confidence interval;
``cannot be checked``
    this evidence base holds no randomised data on the question (the page says what would
    be needed).

Rules, per kind of check and per result (a time point or an analysis):

``proportion`` (a share of patients, e.g. "60 to 70 percent responded")
    cannot be checked when the CI of the pooled proportion is wider than
    :data:`MAX_PROPORTION_CI_WIDTH` (50 percentage points: with two small trials a
    random-effects CI can run from 0% to 100%, which any claim would "overlap"); otherwise
    not supported when the asserted range and the CI do not overlap; consistent when they
    overlap and either the pooled estimate lies in the range or the range lies inside the
    CI; partly otherwise.
``effect`` (an effect exists)
    consistent when the CI excludes no effect on the side of benefit; not supported when the
    estimate points to harm (or the CI excludes no effect on the side of harm); partly when
    the estimate points to benefit but the CI includes no effect.
``fades`` (the effect is gone within a number of days)
    from the time course: consistent when the last time point with a clear effect lies
    within the asserted days and a later time point shows none; not supported when a clear
    effect is still seen after them; cannot be checked when no time point shows a clear
    effect or none is reported after the last clear one.
``route_difference`` (one route acts faster than another)
    from the test for subgroup differences at each early time point: consistent when the
    subgroups differ (p < 0.05) in the asserted direction; not supported otherwise; cannot
    be checked when no time point has trials of both routes. The comparison is across trials
    and the page says so.
``time_to_relapse`` and ``not_in_evidence``
    cannot be checked: no result here measures them; the check says what would be needed.

A claim with several results (time points or checks) is consistent when all of them are,
not supported when all of them are, cannot be checked when none could be checked, and
partly otherwise (results that cannot be checked are left out of that combination).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "CANNOT",
    "Results",
    "CONSISTENT",
    "MAX_PROPORTION_CI_WIDTH",
    "NOT_SUPPORTED",
    "PARTLY",
    "VERDICTS",
    "Evidence",
    "Finding",
    "TimePoint",
    "certainty_of",
    "combine",
    "effect",
    "evaluate",
    "evaluate_check",
    "fades",
    "proportion",
    "route_difference",
    "unavailable",
]

#: A pooled proportion whose CI is wider than this (as a fraction) tests no claim.
MAX_PROPORTION_CI_WIDTH = 0.5

CONSISTENT = "consistent"
PARTLY = "partly"
NOT_SUPPORTED = "not supported"
CANNOT = "cannot be checked"

#: The verdicts, from agreement to no data.
VERDICTS = (CONSISTENT, PARTLY, NOT_SUPPORTED, CANNOT)


@dataclass(frozen=True)
class Evidence:
    """One pooled result as a claim check reads it, on the scale the reader sees.

    ``estimate``, ``ci_low`` and ``ci_high`` are a proportion (0–1), a ratio on its natural
    scale, or a difference; ``null`` is the no-effect value (1 for ratios, 0 for
    differences, None for proportions); ``lower_is_better`` says which side of the null is
    benefit. ``label`` names the result in words ("TRD, response at 24 h"), ``anchor`` is
    the link to it on its condition page.
    """

    label: str
    estimate: float
    ci_low: float
    ci_high: float
    k: int
    n: float | None = None
    null: float | None = None
    lower_is_better: bool = False
    certainty: str | None = None
    anchor: str | None = None
    measure: str | None = None
    timepoint: str | None = None


@dataclass(frozen=True)
class TimePoint:
    """One point of a time course: days from the first dose and the pooled effect."""

    day: float
    label: str
    estimate: float
    ci_low: float
    ci_high: float
    k: int


@dataclass(frozen=True)
class Finding:
    """A verdict with the one-sentence reason generated from the numbers."""

    verdict: str
    reason: str
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "evidence": [
                {
                    "label": e.label,
                    "estimate": e.estimate,
                    "ci_low": e.ci_low,
                    "ci_high": e.ci_high,
                    "k": e.k,
                    "n": e.n,
                    "certainty": e.certainty,
                    "anchor": e.anchor,
                    "measure": e.measure,
                    "timepoint": e.timepoint,
                }
                for e in self.evidence
            ],
        }


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _range_text(low: float, high: float) -> str:
    return _pct(low) if math.isclose(low, high) else f"{_pct(low)}–{_pct(high)}"


def _num(x: float) -> str:
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    digits = max(2, 2 - int(math.floor(math.log10(abs(x)))))
    return f"{x:.{min(digits, 6)}f}"


def _trials(e: Evidence) -> str:
    if e.k == 1:
        what = "1 trial"
    else:
        what = f"{e.k} trials"
    if e.n is not None and math.isfinite(e.n):
        what += f", {e.n:.0f} patients"
    return what


def _interval(e: Evidence, as_percent: bool = False) -> str:
    if as_percent:
        return f"{_pct(e.estimate)} (95% CI {_pct(e.ci_low)} to {_pct(e.ci_high)}; {_trials(e)})"
    return f"{_num(e.estimate)} (95% CI {_num(e.ci_low)} to {_num(e.ci_high)}; {_trials(e)})"


def unavailable(reason: str) -> Finding:
    """The verdict for a check with no randomised data behind it."""
    return Finding(CANNOT, reason)


def proportion(low: float, high: float, e: Evidence) -> Finding:
    """Verdict on an asserted share of patients ``[low, high]`` (fractions) for one result."""
    if not 0 <= low <= high <= 1:
        raise ValueError(f"an asserted proportion needs 0 <= low <= high <= 1, not {low}, {high}")
    asserted = _range_text(low, high)
    where = f"{e.label}: {_interval(e, as_percent=True)}"
    if not e.ci_high - e.ci_low <= MAX_PROPORTION_CI_WIDTH:
        return Finding(
            CANNOT,
            f"The pooled proportion is too imprecise to test the asserted {asserted}: "
            f"{where}; it would need more or larger trials reporting it.",
            (e,),
        )
    if high < e.ci_low:
        return Finding(
            NOT_SUPPORTED,
            f"The trials show more than the asserted {asserted}: {where}.",
            (e,),
        )
    if low > e.ci_high:
        return Finding(
            NOT_SUPPORTED,
            f"The trials show fewer than the asserted {asserted}: {where}.",
            (e,),
        )
    if low <= e.estimate <= high or (e.ci_low <= low and high <= e.ci_high):
        return Finding(CONSISTENT, f"The asserted {asserted} is compatible with {where}.", (e,))
    side = "below" if e.estimate < low else "above"
    return Finding(
        PARTLY,
        f"The asserted {asserted} overlaps the CI but the pooled estimate lies {side} it: {where}.",
        (e,),
    )


def effect(e: Evidence) -> Finding:
    """Verdict on "an effect exists" (benefit over control) for one result."""
    if e.null is None:
        raise ValueError("an effect check needs the no-effect value of its measure")
    benefit = (lambda x: x < e.null) if e.lower_is_better else (lambda x: x > e.null)
    where = f"{e.label}: {_interval(e)}"
    if benefit(e.ci_low) and benefit(e.ci_high):
        return Finding(CONSISTENT, f"A clear benefit over control: {where}.", (e,))
    if not benefit(e.estimate):
        return Finding(NOT_SUPPORTED, f"The estimate does not favour ketamine: {where}.", (e,))
    return Finding(
        PARTLY,
        f"The estimate favours ketamine but its CI includes no effect: {where}.",
        (e,),
    )


def fades(
    points: Sequence[TimePoint],
    within_days: float,
    null: float,
    lower_is_better: bool,
    label: str,
) -> Finding:
    """Verdict on "the effect is gone within ``within_days`` days" from a time course."""
    pts = sorted(points, key=lambda p: p.day)
    if not pts:
        return unavailable(f"{label}: no time course in these trials.")

    def clear(p: TimePoint) -> bool:
        if lower_is_better:
            return p.ci_high < null
        return p.ci_low > null

    clear_points = [p for p in pts if clear(p)]
    if not clear_points:
        return unavailable(f"{label}: no time point shows a clear effect, so none can fade.")
    last = clear_points[-1]
    later = [p for p in pts if p.day > last.day and not clear(p)]
    if last.day > within_days:
        return Finding(
            NOT_SUPPORTED,
            f"{label}: a clear effect is still seen at {last.label} (day {last.day:g}), "
            f"later than the asserted {within_days:g} days.",
        )
    if not later:
        return unavailable(
            f"{label}: the last clear effect is at {last.label}, and no later time point is "
            "reported."
        )
    return Finding(
        CONSISTENT,
        f"{label}: a clear effect up to {last.label}, none at {later[0].label} (k = {later[0].k}).",
    )


def route_difference(
    label: str,
    timepoint: str,
    faster: str,
    slower: str,
    fast: Evidence | None,
    slow: Evidence | None,
    q_between_p: float | None,
    lower_is_better: bool,
) -> Finding:
    """Verdict on "route ``faster`` acts faster than ``slower``" at one early time point."""
    if fast is None or slow is None or q_between_p is None:
        missing = [r for r, e in ((faster, fast), (slower, slow)) if e is None]
        what = " and ".join(missing) or "a test for subgroup differences"
        return unavailable(f"{label} at {timepoint}: no trials of {what}.")
    better = fast.estimate < slow.estimate if lower_is_better else fast.estimate > slow.estimate
    numbers = (
        f"{faster} {_num(fast.estimate)} ({_trials(fast)}) against {slower} "
        f"{_num(slow.estimate)} ({_trials(slow)}), test for subgroup differences "
        f"p = {q_between_p:.2g}; a comparison across trials"
    )
    if q_between_p < 0.05 and better:
        return Finding(
            CONSISTENT,
            f"{label} at {timepoint}: larger effect with {faster}: {numbers}.",
            (fast, slow),
        )
    if q_between_p < 0.05:
        return Finding(
            NOT_SUPPORTED,
            f"{label} at {timepoint}: larger effect with {slower}: {numbers}.",
            (fast, slow),
        )
    return Finding(
        NOT_SUPPORTED,
        f"{label} at {timepoint}: no clear difference between routes: {numbers}.",
        (fast, slow),
    )


def combine(findings: Sequence[Finding]) -> str:
    """The verdict of several findings (see the module notes)."""
    checked = [f.verdict for f in findings if f.verdict != CANNOT]
    if not checked:
        return CANNOT
    if all(v == CONSISTENT for v in checked):
        return CONSISTENT
    if all(v == NOT_SUPPORTED for v in checked):
        return NOT_SUPPORTED
    return PARTLY


# --- configuration -------------------------------------------------------------------------

#: Keys each kind of check needs (``analysis`` may stand for condition and outcome).
_REQUIRED = {
    "proportion": ("range", "outcome"),
    "effect": (),
    "fades": ("within_days", "outcome"),
    "route_difference": ("faster", "slower", "outcome"),
    "time_to_relapse": ("days", "needs"),
    "not_in_evidence": ("topic", "needs"),
}

#: Keys that only some kinds of check read; given to another kind they would be ignored.
_ONLY_FOR = {
    "range": ("proportion",),
    "arm": ("proportion",),
    "within_days": ("fades",),
    "days": ("time_to_relapse",),
    "faster": ("route_difference",),
    "slower": ("route_difference",),
    "topic": ("not_in_evidence",),
}


def _key_lines(root) -> dict[tuple, int]:
    """Line (1-based) of every mapping key and sequence item below the node ``root``."""
    import yaml

    lines: dict[tuple, int] = {}

    def walk(node, path):
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = (*path, key.value)
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*path, i)] = item.start_mark.line + 1
                walk(item, (*path, i))

    walk(root, ())
    return lines


def load(path, config, schema, name: str = "config/claims.yaml") -> dict:
    """Read and check the claims file against the schema and the main configuration.

    Parameters
    ----------
    path : path-like
        The claims file.
    config : mapping
        The validated main configuration (its conditions, outcomes and analyses).
    schema : path-like or mapping
        ``workflow/schemas/claims.schema.yaml``.
    name : str
        How messages name the file.

    Returns
    -------
    dict
        The claims with schema defaults filled in.

    Raises
    ------
    ketameta.io.DataError
        One message naming the file, the line, the claim id and the key.
    """
    from pathlib import Path

    from ketameta.io import DataError, parse_yaml, validate_config

    text = Path(path).read_text(encoding="utf-8")
    # Read as strictly as the configuration: a key given twice is an error, not ignored.
    data, root = parse_yaml(text, name, "the file is empty; it needs articles: and claims:")
    lines = _key_lines(root)
    if not isinstance(data, dict):
        raise DataError(name, "must be a mapping with the keys 'articles' and 'claims'")

    def fail(keys: tuple, message: str):
        line = None
        for n in range(len(keys), 0, -1):
            if keys[:n] in lines:
                line = lines[keys[:n]]
                break
        raise DataError(name, message, line=line, key=".".join(str(k) for k in keys))

    try:
        validate_config(data, schema, name)
    except DataError as err:
        keys = tuple(int(k) if k.isdigit() else k for k in (err.key or "").split(".") if k)
        fail(keys or ("top level",), err.message)

    conditions = set(config.get("conditions", {}))
    outcomes = set(config.get("outcomes", {}))
    analyses = config.get("analyses", {})
    for cid, claim in data["claims"].items():
        if claim["article"] not in data["articles"]:
            known = ", ".join(sorted(data["articles"]))
            fail(
                ("claims", cid, "article"),
                f"unknown article {claim['article']!r} (articles: {known})",
            )
        for i, check in enumerate(claim["checks"]):
            at = ("claims", cid, "checks", i)
            kind = check["kind"]
            for key, kinds in _ONLY_FOR.items():
                if key in check and kind not in kinds:
                    fail((*at, key), f"'{key}' is not read by a check of kind {kind!r}")
            if "analysis" in check:
                if check["analysis"] not in analyses:
                    fail((*at, "analysis"), f"unknown analysis {check['analysis']!r}")
                for key in ("condition", "outcome"):
                    if key in check:
                        fail((*at, key), f"give either 'analysis' or '{key}', not both")
            elif kind not in ("time_to_relapse", "not_in_evidence") or "condition" in check:
                if "condition" not in check:
                    fail(at, f"a check of kind {kind!r} needs 'condition' or 'analysis'")
                if check["condition"] not in conditions:
                    fail(
                        (*at, "condition"),
                        f"unknown condition {check['condition']!r} "
                        f"(conditions: {', '.join(sorted(conditions))})",
                    )
            if "outcome" in check and check["outcome"] not in outcomes:
                fail((*at, "outcome"), f"unknown outcome {check['outcome']!r}")
            for key in _REQUIRED[kind]:
                if key == "outcome" and "analysis" in check:
                    continue
                if key not in check:
                    fail(at, f"a check of kind {kind!r} needs '{key}'")
            if kind == "proportion":
                if check["range"][0] > check["range"][1]:
                    fail((*at, "range"), "the range must be [low, high] with low <= high")
                check.setdefault("arm", "treatment")
    return data


# --- resolving checks against the pooled results --------------------------------------------

#: Measures pooled on the log scale; their results are shown back-transformed (ratios).
_LOG_MEASURES = frozenset({"RR", "OR", "HR"})


def _day_of(timepoint: str) -> float:
    """Days of a time point label, for ordering (``end`` last)."""
    from ketameta.timecourse import timepoint_days

    days = timepoint_days(timepoint)
    return math.inf if math.isnan(days) else days


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def certainty_of(summary: Mapping, rows: Sequence[Mapping], lower_is_better: bool,
                 config: Mapping | None = None) -> str | None:
    """GRADE certainty of one analysis: its ``grade`` block where written, else computed.

    The certainty is read from ``summary["grade"]["level"]`` when the analysis wrote a
    ``grade`` block, and otherwise assessed here with :func:`ketameta.grade.assess_analysis`
    on the same summary and pooled rows, judging the interval the condition page headlines
    (the Bayesian credible interval where the analysis has a ``few_trials`` block), as the
    block would (GRADE Working Group; Guyatt et al., BMJ 2008).
    """
    block = summary.get("grade")
    if isinstance(block, Mapping) and block.get("level"):
        return str(block["level"])
    if not summary.get("k"):
        return None
    from ketameta.grade import assess_analysis

    interval = None
    if isinstance(summary.get("few_trials"), Mapping) and _finite(summary.get("estimate")):
        _, low, high, _ = _headline(summary)
        interval = (low, high)
    try:
        return assess_analysis(summary, rows, lower_is_better, config, interval).level
    except (KeyError, TypeError, ValueError):
        return None


def _is_log(summary: Mapping) -> bool:
    measure = str(summary.get("measure") or "")
    if measure in _LOG_MEASURES:
        return True
    block = summary.get("time_course")
    return bool(measure == "GEN" and isinstance(block, Mapping) and block.get("log_scale"))


def _headline(summary: Mapping) -> tuple[float, float, float, str]:
    """The result the condition page headlines: Bayesian with few trials, else the model."""
    few = summary.get("few_trials")
    if isinstance(few, Mapping) and isinstance(few.get("mu"), Mapping):
        mu = few["mu"]
        if all(_finite(mu.get(k)) for k in ("median", "ci_low", "ci_high")):
            return mu["median"], mu["ci_low"], mu["ci_high"], "Bayesian random effects"
    return summary["estimate"], summary["ci_low"], summary["ci_high"], str(
        summary.get("method") or ""
    )


class Results:
    """The pooled results a claim check can name, indexed by condition, outcome, time point.

    Parameters
    ----------
    config : mapping
        The validated configuration with its (planned) ``analyses``.
    analyses : mapping
        Analysis id → ``{"summary": parsed summary.json, "rows": effects.csv rows}``;
        analyses absent here count as not run.
    """

    def __init__(self, config: Mapping, analyses: Mapping[str, Mapping]):
        self.config = config
        self.analyses = analyses
        self._by_key: dict[tuple[str, str, str], list[str]] = {}
        for aid, entry in config.get("analyses", {}).items():
            if aid not in analyses:
                continue
            key = (entry["condition"], entry["outcome"], str(entry["timepoint"]))
            self._by_key.setdefault(key, []).append(aid)

    def lower_is_better(self, outcome: str) -> bool:
        return bool(self.config["outcomes"][outcome].get("lower_is_better", False))

    def summary(self, aid: str) -> Mapping:
        return self.analyses[aid]["summary"]

    def timepoints(self, condition: str, outcome: str) -> list[str]:
        """Time points with a pooled result, in time order (``end`` last)."""
        tps = {tp for (c, o, tp) in self._by_key if c == condition and o == outcome}
        return sorted(tps, key=lambda t: (_day_of(t), t))

    def candidates(self, condition: str, outcome: str, timepoint: str) -> list[str]:
        return list(self._by_key.get((condition, outcome, timepoint), []))

    def outcomes(self, condition: str) -> list[str]:
        """Outcomes of a condition, in configuration order."""
        seen = {o for (c, o, _) in self._by_key if c == condition}
        return [o for o in self.config["outcomes"] if o in seen]

    def pick(self, aids: Sequence[str]) -> str | None:
        """The analysis a check reads among several of one question.

        Preference: a pooled result (k ≥ 1 with an estimate), then the outcome's main
        measure (the one carrying the time course), then most trials, then config order.
        """
        def rank(aid):
            s = self.summary(aid)
            pooled = _finite(s.get("estimate")) and (s.get("k") or 0) >= 1
            return (not pooled, s.get("time_course") is None, -(s.get("k") or 0))

        ranked = sorted(aids, key=rank)
        if not ranked or not _finite(self.summary(ranked[0]).get("estimate")):
            return None
        return ranked[0]

    def label(self, condition: str, outcome: str, timepoint: str | None = None) -> str:
        cond = self.config["conditions"].get(condition, {}).get("label", condition)
        out = self.config["outcomes"].get(outcome, {}).get("label", outcome)
        if len(out) > 1 and out[1].islower():
            out = out[0].lower() + out[1:]
        text = f"{cond}, {out}"
        if timepoint:
            from ketameta.plan import _timepoint_text

            text += f" at {_timepoint_text(timepoint)}"
        return text

    def effect_evidence(self, aid: str) -> Evidence:
        """An analysis's headline effect on the reader's scale (ratios back-transformed)."""
        s = self.summary(aid)
        entry = self.config["analyses"][aid]
        est, low, high, _ = _headline(s)
        log = _is_log(s)
        tf = math.exp if log else float
        lib = self.lower_is_better(entry["outcome"])
        return Evidence(
            label=self.label(entry["condition"], entry["outcome"], str(entry["timepoint"])),
            estimate=tf(est), ci_low=tf(low), ci_high=tf(high), k=int(s.get("k") or 0),
            n=s.get("n_participants"), null=1.0 if log else 0.0, lower_is_better=lib,
            certainty=certainty_of(s, self.analyses[aid].get("rows", ()), lib, self.config),
            anchor=f"{entry['condition']}.html#{aid}", measure=str(s.get("measure") or ""),
            timepoint=str(entry["timepoint"]),
        )

    def proportion_evidence(self, aid: str, arm: str) -> Evidence | None:
        """The pooled proportion of patients with the event in one arm (0–1), if pooled."""
        s = self.summary(aid)
        block = s.get("proportions")
        side = "treat" if arm == "treatment" else "ctrl"
        if not isinstance(block, Mapping) or not isinstance(block.get(side), Mapping):
            return None
        p = block[side]
        if not all(_finite(p.get(k)) for k in
                   ("proportion", "proportion_ci_low", "proportion_ci_high")):
            return None
        entry = self.config["analyses"][aid]
        lib = self.lower_is_better(entry["outcome"])
        which = "ketamine arms" if arm == "treatment" else "control arms"
        return Evidence(
            label=self.label(entry["condition"], entry["outcome"], str(entry["timepoint"]))
            + f", {which}",
            estimate=p["proportion"], ci_low=p["proportion_ci_low"],
            ci_high=p["proportion_ci_high"], k=int(p.get("k") or 0),
            n=p.get("n"), null=None, lower_is_better=lib,
            certainty=certainty_of(s, self.analyses[aid].get("rows", ()), lib, self.config),
            anchor=f"{entry['condition']}.html#{aid}", measure="proportion",
            timepoint=str(entry["timepoint"]),
        )


def _needs(kind: str, what: str) -> str:
    return f"{what}: no pooled randomised result here; it would need {kind}."


def _check_results(check: Mapping, res: Results) -> list[tuple[str, str | None]]:
    """(time point, analysis id or None) pairs a check names, in time order."""
    if "analysis" in check:
        entry = res.config["analyses"][check["analysis"]]
        aid = check["analysis"] if check["analysis"] in res.analyses else None
        return [(str(entry["timepoint"]), aid)]
    condition, outcome = check["condition"], check["outcome"]
    tps = check.get("timepoints") or res.timepoints(condition, outcome)
    return [(tp, res.pick(res.candidates(condition, outcome, tp))) for tp in tps]


def _condition_outcome(check: Mapping, res: Results) -> tuple[str, str | None]:
    if "analysis" in check:
        entry = res.config["analyses"][check["analysis"]]
        return entry["condition"], entry["outcome"]
    return check["condition"], check.get("outcome")


def evaluate_check(check: Mapping, res: Results) -> Finding:
    """The verdict of one check of a claim against the pooled results.

    Each named result that exists gives a finding by the rule of the check's kind; results
    that do not exist are left out, and a check none of whose results exist cannot be
    checked, with what would be needed. Findings of several time points combine as the
    module notes say.
    """
    kind = check["kind"]
    if kind in ("time_to_relapse", "not_in_evidence"):
        reason = (f"No trial here measures {check.get('topic') or 'the time to relapse'}; "
                  f"it would need {' '.join(check['needs'].split())}.")
        related: list[Evidence] = []
        if check.get("condition") and check.get("outcome"):
            related = [res.effect_evidence(aid) for _, aid in _check_results(check, res) if aid]
        if related:
            reason += (" Related result shown for context, not as a test of the claim: "
                       + "; ".join(f"{e.label}, {e.measure} {_interval(e)}" for e in related)
                       + ".")
        return Finding(CANNOT, reason, tuple(related))
    condition, outcome = _condition_outcome(check, res)
    if kind == "effect" and outcome is None:
        outs = [o for o in res.outcomes(condition)
                if o not in ("relapse", "response", "remission")] or res.outcomes(condition)
        if not outs:
            label = res.config["conditions"].get(condition, {}).get("label", condition)
            return unavailable(_needs("randomised trials of ketamine against a control", label))
        parts = [evaluate_check({**check, "outcome": o}, res) for o in outs]
        return _merge(parts)
    if kind == "fades":
        return _fades_check(condition, outcome, check, res)
    if kind == "route_difference":
        return _route_check(condition, outcome, check, res)
    findings: list[Finding] = []
    missing: list[str] = []
    for tp, aid in _check_results(check, res):
        if aid is None:
            missing.append(tp)
            continue
        if kind == "proportion":
            e = res.proportion_evidence(aid, check.get("arm", "treatment"))
            if e is None:
                missing.append(tp)
                continue
            findings.append(proportion(check["range"][0], check["range"][1], e))
        else:
            findings.append(effect(res.effect_evidence(aid)))
    if not findings:
        label = res.label(condition, outcome)
        if kind == "proportion":
            what = ("trials reporting the number of patients with the event in each arm"
                    + (f" at {', '.join(missing)}" if missing else ""))
        else:
            what = ("randomised trials against a control"
                    + (f" reporting it at {', '.join(missing)}" if missing else ""))
        return unavailable(_needs(what, label))
    return _merge(findings)


def _merge(findings: Sequence[Finding]) -> Finding:
    """One finding from several: the combined verdict, reasons joined, evidence pooled."""
    if len(findings) == 1:
        return findings[0]
    verdict = combine(findings)
    reasons = [f.reason for f in findings if verdict == CANNOT or f.verdict != CANNOT]
    # A result that exists but could not test the claim (too imprecise) is named, so the
    # reader sees why it did not count; time points with no result at all are not listed.
    reasons += [
        f"Set aside: {f.reason}"
        for f in findings
        if verdict != CANNOT and f.verdict == CANNOT and f.evidence
    ]
    evidence = tuple(e for f in findings for e in f.evidence)
    return Finding(verdict, " ".join(reasons), evidence)


def _fades_check(condition: str, outcome: str, check: Mapping, res: Results) -> Finding:
    label = res.label(condition, outcome)
    block = None
    evidence: list[Evidence] = []
    for tp in res.timepoints(condition, outcome):
        for aid in res.candidates(condition, outcome, tp):
            tc = res.summary(aid).get("time_course")
            if isinstance(tc, Mapping) and tc.get("points"):
                block = tc
    if block is None:
        return unavailable(_needs("trials reporting it at several time points", label))
    lib = res.lower_is_better(outcome)
    from ketameta.plan import _timepoint_text

    points = [
        TimePoint(day=float(p["day"]), label=_timepoint_text(str(p["timepoint"])), estimate=float(p["estimate"]),
                  ci_low=float(p["ci_low"]), ci_high=float(p["ci_high"]), k=int(p["k"]))
        for p in block["points"]
        if all(_finite(p.get(k)) for k in ("day", "estimate", "ci_low", "ci_high"))
    ]
    for p in block["points"]:
        if p.get("analysis") in res.analyses and _finite(res.summary(p["analysis"]).get("estimate")):
            evidence.append(res.effect_evidence(p["analysis"]))
    f = fades(points, float(check["within_days"]), 0.0, lib, label)
    return Finding(f.verdict, f.reason, tuple(evidence))


def _route_check(condition: str, outcome: str, check: Mapping, res: Results) -> Finding:
    label = res.label(condition, outcome)
    faster, slower = check["faster"], check["slower"]
    lib = res.lower_is_better(outcome)
    findings = []
    for tp, aid in _check_results(check, res):
        if aid is None:
            findings.append(unavailable(f"{label} at {tp}: no pooled result."))
            continue
        s = res.summary(aid)
        base = res.effect_evidence(aid)
        tf = math.exp if _is_log(s) else float
        block = next((b for b in s.get("subgroups") or [] if b.get("variable") == "route"), None)
        groups = {g["label"]: g for g in (block or {}).get("groups", [])}

        fast = _route_evidence(groups.get(faster), faster, base, tf)
        slow = _route_evidence(groups.get(slower), slower, base, tf)
        p = block.get("Q_between_p") if block else None
        from ketameta.plan import _timepoint_text

        findings.append(route_difference(label, _timepoint_text(tp), faster, slower, fast, slow,
                                         p if _finite(p) else None, lib))
    return _merge(findings)


def _route_evidence(group: Mapping | None, route: str, base: Evidence, tf) -> Evidence | None:
    """One route's subgroup result, on the reader's scale, or None without one."""
    if group is None or not _finite(group.get("estimate")):
        return None
    return Evidence(label=f"{base.label}, {route}", estimate=tf(group["estimate"]),
                    ci_low=tf(group["ci_low"]), ci_high=tf(group["ci_high"]),
                    k=int(group.get("k") or 0), null=base.null,
                    lower_is_better=base.lower_is_better, anchor=base.anchor,
                    measure=base.measure, timepoint=base.timepoint)


def evaluate(claims: Mapping, res: Results) -> dict:
    """Verdicts of every claim: the JSON the claims page and the tests read.

    Returns ``{"claims": [{id, article, quote, verdict, reason, notes, checks: [{kind,
    verdict, reason, evidence}]}], "articles": {...}, "counts": {verdict: n}}`` in the
    order of the claims file.
    """
    out = []
    counts = {v: 0 for v in VERDICTS}
    for cid, claim in claims["claims"].items():
        checks = []
        findings = []
        for check in claim["checks"]:
            f = evaluate_check(check, res)
            findings.append(f)
            checks.append({"kind": check["kind"], **f.to_dict(),
                           "note": check.get("note")})
        verdict = combine(findings)
        counts[verdict] += 1
        out.append({
            "id": cid, "article": claim["article"], "quote": " ".join(claim["quote"].split()),
            "verdict": verdict,
            "reason": " ".join(
                [f.reason for f in findings if verdict == CANNOT or f.verdict != CANNOT]
                + [f"Not checked: {f.reason}" for f in findings
                   if verdict != CANNOT and f.verdict == CANNOT]),
            "notes": [" ".join(c["note"].split()) for c in claim["checks"] if c.get("note")],
            "checks": checks,
        })
    return {"articles": dict(claims["articles"]), "claims": out, "counts": counts}
