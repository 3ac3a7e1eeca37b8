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
    not supported when the asserted range and the CI of the pooled proportion do not
    overlap; consistent when they overlap and either the pooled estimate lies in the range
    or the range lies inside the CI; partly otherwise.
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
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "CANNOT",
    "CONSISTENT",
    "NOT_SUPPORTED",
    "PARTLY",
    "VERDICTS",
    "Evidence",
    "Finding",
    "TimePoint",
    "combine",
    "effect",
    "fades",
    "proportion",
    "route_difference",
    "unavailable",
]

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


def _key_lines(text: str) -> dict[tuple, int]:
    """Line (1-based) of every mapping key and sequence item, by its key path."""
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

    try:
        walk(yaml.compose(text, Loader=yaml.SafeLoader), ())
    except yaml.YAMLError:
        pass
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

    import yaml

    from ketameta.io import DataError, validate_config

    text = Path(path).read_text(encoding="utf-8")
    lines = _key_lines(text)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise DataError(
            name,
            f"is not valid YAML ({getattr(exc, 'problem', None) or exc})",
            line=mark.line + 1 if mark else None,
        ) from None
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
