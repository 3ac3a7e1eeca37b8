"""What a condition page says first: GRADE summary of findings and plain-language key findings.

The summary of findings follows the layout of Cochrane reviews and GRADEpro (Guyatt et al.
2011, *J Clin Epidemiol* 64:383–394; the GRADE handbook, Schünemann et al. 2013, section
5): one row per main outcome and time point with the number of trials and participants,
the relative effect with its CI, the absolute effect (per 1,000 at the control-group risk
used, or in points of a scale), the certainty of the evidence and footnotes that give the
reason for every downgrade. Which analyses are "main" is configurable (``sof:`` in the
configuration); by default each outcome's earliest time point up to 24 hours and its end of
treatment, the questions clinicians ask first (does it act quickly, does it last).

The key findings say the same in plain words, with the verbs GRADE proposes for each
certainty level (Santesso et al. 2020, *J Clin Epidemiol* 119:126–135): high certainty
"lowers", moderate "probably lowers", low "may lower", very low "we are very uncertain
whether". No p-value is printed; an interval that includes no effect is said in words.
Nothing here computes a statistic: the numbers come from ``summary.json`` (its ``grade``
block where the condition's job wrote one) and from :mod:`ketameta.report.render`'s absolute
effects.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ketameta import grade as grade_mod
from ketameta.plan import timepoint_days

from . import formatting as fmt

__all__ = [
    "certainty_of",
    "default_sof",
    "direction",
    "key_findings",
    "PLAIN_COMPARATORS",
    "PLAIN_ROUTES",
    "overview_sentence",
    "plain_effect",
    "sof_analyses",
    "sof_table",
]

#: Words a reader sees for each certainty level in the key findings.
CERTAINTY_WORDS = {
    "high": "high certainty",
    "moderate": "moderate certainty",
    "low": "low certainty",
    "very low": "very low certainty",
}


#: Routes and comparators of the data, as the key findings name them.
PLAIN_ROUTES = {"IV": "by intravenous infusion", "IN": "as a nasal spray", "oral": "by mouth",
                "IM": "by intramuscular injection", "SC": "by injection under the skin"}
PLAIN_COMPARATORS = {
    "placebo": "a placebo",
    "placebo_spray": "a placebo nasal spray",
    "saline": "a saline infusion (placebo)",
    "midazolam": "midazolam (an active placebo that makes people drowsy)",
    "ECT": "electroconvulsive therapy (ECT)",
}


def _days(timepoint: str) -> float:
    """Days of a time point; ``end`` sorts after every fixed time point."""
    value = timepoint_days(str(timepoint))
    return math.inf if math.isnan(value) else value


def default_sof(entries: Mapping[str, Mapping], summaries: Mapping[str, Mapping],
                outcome_order: Sequence[str] | None = None) -> list[str]:
    """The default main analyses of one condition.

    For each outcome (in the order of ``outcome_order``, else of its first analysis): the
    earliest time point up to 24 hours that pooled at least two trials (else the time point
    up to 24 hours with the most trials), and ``end`` (end of treatment); an outcome with
    neither gives its time point with the most trials. Where two analyses answer one outcome
    and time point (an SMD and a mean difference, say), the one with more trials is taken,
    the first configured on a tie. Analyses without any trial are skipped.

    Parameters
    ----------
    entries : mapping
        Analysis id → configuration entry (``outcome``, ``timepoint``), in config order.
    summaries : mapping
        Analysis id → ``summary.json`` (for ``k``).
    outcome_order : sequence of str, optional
        Outcome keys in the order the table gives them.
    """
    ids_all = [a for a in entries if int(summaries.get(a, {}).get("k") or 0) > 0]
    order = list(outcome_order or dict.fromkeys(entries[a]["outcome"] for a in ids_all))

    def k(a: str) -> int:
        return int(summaries[a].get("k") or 0)

    chosen: list[str] = []
    for outcome in order:
        ids = [a for a in ids_all if entries[a]["outcome"] == outcome]
        if not ids:
            continue

        def best(candidates: list[str], ids: list[str] = ids) -> str:
            return max(candidates, key=lambda x: (k(x), -ids.index(x)))

        def days(x: str) -> float:
            return _days(entries[x]["timepoint"])

        early = [a for a in ids if days(a) <= 1.0]
        end = [a for a in ids if str(entries[a]["timepoint"]) == "end"]
        picked = []
        if early:
            pooled = [a for a in early if k(a) >= 2]
            if pooled:
                first = min(days(a) for a in pooled)
                picked.append(best([a for a in pooled if days(a) == first]))
            else:
                picked.append(best(early))
        if end:
            picked.append(best(end))
        if not picked:
            picked.append(best(ids))
        chosen += picked
    return chosen


def sof_analyses(condition: str, config: Mapping, summaries: Mapping[str, Mapping]) -> list[str]:
    """The analyses of a condition's summary of findings: ``sof[condition]`` or the default."""
    entries = {a: e for a, e in config["analyses"].items() if e["condition"] == condition}
    configured = (config.get("sof") or {}).get(condition)
    if configured:
        return [a for a in configured if a in entries and a in summaries]
    return default_sof(entries, summaries)


def certainty_of(summary: Mapping, studies: Sequence[Mapping], lower_is_better: bool,
                 config: Mapping) -> dict:
    """The analysis's GRADE block: ``summary["grade"]`` if its condition's job wrote one, else
    computed.

    Computing it here gives the same block (:func:`ketameta.grade.assess_analysis` on the
    same summary and rows); it keeps pages rendered from older ``summary.json`` files whole.
    """
    block = summary.get("grade")
    if isinstance(block, Mapping) and block.get("level") in grade_mod.SYMBOLS:
        return dict(block)
    return grade_mod.assess_analysis(summary, studies, lower_is_better, config,
                                     interval=grade_mod.headline_interval(summary)).to_dict()


# ----------------------------------------------------------------------------- wording


def direction(summary: Mapping, lower_is_better: bool) -> str:
    """``benefit``, ``harm`` or ``unclear`` from where the CI lies against no effect."""
    low, high = summary.get("ci_low"), summary.get("ci_high")
    if not (fmt.is_number(low) and fmt.is_number(high)):
        return "unclear"
    if high < 0:
        return "benefit" if lower_is_better else "harm"
    if low > 0:
        return "harm" if lower_is_better else "benefit"
    return "unclear"


def _size_word(smd: float) -> str:
    """Cohen's conventional sizes of a standardised difference (0.2, 0.5, 0.8)."""
    a = abs(smd)
    return ("large" if a >= 0.8 else "moderate" if a >= 0.5 else "small" if a >= 0.2
            else "very small")


def _pts(value: float) -> str:
    """Scale points as read aloud: whole points, one decimal below one point."""
    return fmt.num(value, 1 if abs(value) < 0.95 else 0)


def _points(low: float, high: float) -> str:
    """A CI in scale points as words: ``4 to 18 points lower``, or across no effect."""
    if high < 0:
        return f"95% CI {_pts(-high)} to {_pts(-low)} points lower"
    if low > 0:
        return f"95% CI {_pts(low)} to {_pts(high)} points higher"
    return f"95% CI from {_pts(-low)} points lower to {_pts(high)} points higher"


def _people(name: str) -> str:
    return "ketamine or esketamine" if name == "(es)ketamine" else name


def plain_effect(a: Mapping) -> str | None:
    """How much, in plain words, from an analysis context (render.analysis_context).

    Scale points where the pooled effect can be put in points of a scale, numbers per 100
    people for binary outcomes, else the size of a standardised difference in words.
    """
    hl = a.get("headline") or {}
    ab = hl.get("absolute") if hl else a.get("absolute")
    if a.get("pooled") and ab and ab.get("available"):
        if ab["kind"] == "dichotomous":
            return (f"about {fmt.num(ab['treated_risk'] / 10, 0)} in 100 people with "
                    f"{_people(ab['intervention'])} against {fmt.num(ab['control_risk'] / 10, 0)} in 100 "
                    f"with the control treatment")
        return (f"about {fmt.num(abs(ab['points']), 0)} points {ab['direction']} on the "
                f"{ab['scale']} ({_points(ab['points_low'], ab['points_high'])})")
    family = a.get("family")
    est, low, high = (hl["estimate"], hl["ci_low"], hl["ci_high"]) if hl else (
        a.get("estimate"), a.get("ci_low"), a.get("ci_high"))
    if a.get("pooled") and family == "MD":
        scale = f"the {a['scale']}" if a.get("scale") else "the outcome scale"
        return (f"about {fmt.num(abs(est), 0)} points {'lower' if est < 0 else 'higher'} on "
                f"{scale} ({_points(low, high)})")
    if a.get("pooled") and family == "SMD":
        return f"a {_size_word(est)} difference (SMD {fmt.num(est)})"
    return None


def _claim(level: str, direction: str, verb: str, subject: str) -> str:
    """GRADE's informative statement for one certainty level (Santesso et al. 2020).

    ``verb`` is the direction of benefit (``lower`` or ``raise``); ``direction`` says whether
    the CI lies on the side of benefit, of harm, or includes no effect.
    """
    if direction == "unclear":
        if level == "very low":
            return f"we are very uncertain whether ketamine changes {subject}"
        return f"the trials could not show whether ketamine changes {subject}"
    if direction == "harm":
        verb = "raise" if verb == "lower" else "lower"
    if level == "high":
        return f"ketamine {verb}s {subject}"
    if level == "moderate":
        return f"ketamine probably {verb}s {subject}"
    if level == "low":
        return f"ketamine may {verb} {subject}"
    return f"ketamine may {verb} {subject}, but we are very uncertain"


def _plain_time(label: str) -> str:
    """``24 h`` → ``24 hours``, ``40 min`` → ``40 minutes`` (the page's labels, spelt out)."""
    for short, word in ((" min", " minute"), (" h", " hour")):
        if label.endswith(short):
            number = label[: -len(short)]
            return f"{number}{word}{'' if number == '1' else 's'}"
    return label


def _when(timepoint_label: str) -> str:
    if timepoint_label == "end of treatment":
        return "at the end of treatment"
    return f"{_plain_time(timepoint_label)} after the first dose"


def key_findings(condition_label: str, rows: Sequence[Mapping], analyses: Sequence[Mapping],
                 trials: int, participants: str, routes: str, comparators: str) -> list[dict]:
    """Short plain-language sentences for the top of a condition page.

    Parameters
    ----------
    condition_label : str
        The condition's display name.
    rows : sequence of mappings
        The summary-of-findings rows (:func:`sof_table`), in order.
    analyses : sequence of mappings
        Every analysis context of the page (for the time course of the first outcome).
    trials, participants, routes, comparators
        The condition's trial count, participants (text), routes and comparators (text).

    Returns
    -------
    list of dict
        ``{text, href}``: each sentence and the analysis it comes from (``None`` for the
        sentences about the evidence as a whole).
    """
    out: list[dict] = []
    singles = [r for r in rows if r["analysis"]["k"] < 2]
    for r in rows:
        a = r["analysis"]
        if a["k"] < 2:
            continue
        subject = r["subject"]
        verb = "lower" if a["lower_is_better"] else "raise"
        claim = _claim(r["certainty"]["level"], r["direction"], verb, subject)
        how = plain_effect(a)
        text = f"{_when(r['timepoint']).capitalize()}, {claim}"
        if how:
            text += f": {how}"
        text += (f". {a['k']} trials, {_people_text(a['participants'])}; "
                 f"{CERTAINTY_WORDS[r['certainty']['level']]}.")
        out.append({"text": text, "href": r["href"]})
    if singles:
        names = [f"{_lower(r['outcome'])} at {r['timepoint']}" for r in singles]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        text = (f"For {listed} there is only one trial"
                f"{' each' if len(names) > 1 else ''}: too little to say whether ketamine "
                "helps (see the summary of findings).")
        out.append({"text": text, "href": singles[0]["href"]})
    course = _time_course(analyses)
    if course:
        out.append(course)
    out.append({"text": f"The trials gave ketamine or esketamine {routes} and compared it with "
                        f"{comparators}.", "href": "#included-studies"})
    few = " These are few trials and people; more trials could change these results." \
        if trials < 5 else ""
    out.append({"text": f"In all, {trials} trial{'s' if trials != 1 else ''} with "
                        f"{participants} people with {_lower(condition_label)} are "
                        f"included.{few}", "href": "#included-studies"})
    return out


def _time_course(analyses: Sequence[Mapping]) -> dict | None:
    """How fast and how long, from the analyses of the page's first outcome over time."""
    if not analyses:
        return None
    outcome = analyses[0]["outcome"]
    points: dict[float, Mapping] = {}
    for a in analyses:
        # the points of the outcome's time course (one measure, placed on the day axis), so
        # that the sentence says what the time-course figure shows
        if (a["outcome"] != outcome or not a.get("course_point", True)
                or not math.isfinite(_days(a["timepoint_key"]))):
            continue
        d = _days(a["timepoint_key"])
        if d not in points or a["k"] > points[d]["k"]:
            points[d] = a
    if len(points) < 2:
        return None
    ordered = [points[d] for d in sorted(points)]
    helped = [a for a in ordered if a["direction"] == "benefit"]
    first, last = ordered[0], ordered[-1]
    if not helped:
        text = (f"From {_plain_time(first['question']['timepoint'])} to {_plain_time(last['question']['timepoint'])} after the first dose, no "
                f"time point showed a clear difference in {outcome_words(first)}.")
        return {"text": text, "href": f"#{first['id']}"}
    start = helped[0]
    text = f"A difference in {outcome_words(start)} was clear from {_plain_time(start['question']['timepoint'])}"
    if last is start:
        text += " (the last time point with data)."
    elif last["direction"] == "benefit":
        text += f" and still at {_plain_time(last['question']['timepoint'])}."
    else:
        gone = [a for a in ordered if _days(a["timepoint_key"]) > _days(start["timepoint_key"])
                and a["direction"] != "benefit"]
        text += (f"; by {_plain_time(gone[0]['question']['timepoint'])} the trials no longer showed a clear difference."
                 if gone else ".")
    return {"text": text, "href": f"#{start['id']}"}


def _people_text(participants: Mapping) -> str:
    """``122 people``, ``at least 57 people`` or ``number of people not reported``."""
    short = str(participants["short"])
    if short == "not reported":
        return "number of people not reported"
    return short.replace("≥ ", "at least ") + " people"


def overview_sentence(a: Mapping) -> str:
    """One line for the overview: the condition's lead result in plain words."""
    verb = "lower" if a["lower_is_better"] else "raise"
    subject = _subject(a)
    claim = _claim(a["certainty"]["level"], a["direction"], verb, subject)
    how = plain_effect(a)
    text = f"{_when(a['timepoint']).capitalize()}, {claim}"
    if a["k"] == 1:
        text = f"In a single trial, {_when(a['timepoint'])}, {claim}"
    if how:
        text += f": {how}"
    trials = "1 trial" if a["k"] == 1 else f"{a['k']} trials"
    return text + f" ({trials}, {_people_text(a['participants'])})."


def outcome_words(a: Mapping) -> str:
    """The outcome's name as it reads inside a sentence."""
    return _lower(str(a["question"]["outcome"]))


# ----------------------------------------------------------------------------- the table


def _relative(a: Mapping) -> str:
    if not a["pooled"]:
        single = a.get("single_effect")
        if a["k"] == 1 and single and fmt.is_number(single[0]):
            effect = fmt.estimate_ci(*single[:3], ratio=a["log"])
            return f"{a['measure_short']} {effect} (the one trial; not pooled)"
        return "not pooled (1 trial)" if a["k"] == 1 else "not estimable"
    hl = a.get("headline") or a
    effect = fmt.estimate_ci(hl["estimate"], hl["ci_low"], hl["ci_high"], ratio=a["log"])
    kind = (a.get("headline") or {}).get("kind")
    return f"{a['measure_short']} {effect}" + (f" ({kind})" if kind else "")


def _absolute(a: Mapping) -> tuple[str | None, str | None]:
    ab = (a.get("headline") or {}).get("absolute", a.get("absolute"))
    if not a["pooled"] or not ab or not ab.get("available"):
        if a["pooled"] and a.get("family") == "MD":
            return (f"MD {fmt.estimate_ci(a['estimate'], a['ci_low'], a['ci_high'])} points",
                    None)
        return None, None
    if ab["kind"] == "dichotomous":
        def more(v: float) -> str:
            return f"{fmt.num(abs(v), 0)} {'more' if v >= 0 else 'fewer'}"

        return (f"{more(ab['rd'])} per 1,000 ({more(ab['rd_low'])} to {more(ab['rd_high'])})",
                f"control risk used: {fmt.num(ab['control_risk'], 0)} per 1,000 (median of "
                f"{ab['n_trials']} trial{'s' if ab['n_trials'] != 1 else ''})")
    return (f"{fmt.num(abs(ab['points']), 1)} points {ab['direction']} "
            f"({fmt.num(ab['points_low'], 1)} to {fmt.num(ab['points_high'], 1)})",
            f"on the {ab['scale']}; SD used {fmt.num(ab['sd'], 2)} points (median of "
            f"{ab['n_trials']} trial{'s' if ab['n_trials'] != 1 else ''})")


def sof_table(condition_label: str, intervention: str, comparison: str,
              analyses: Sequence[Mapping]) -> dict:
    """The context of ``_sof.html``'s ``sof_table`` macro for the chosen analyses.

    Each analysis context must carry ``certainty`` (a GRADE block). Footnotes are numbered
    once per distinct text across the table, in order of first use.
    """
    notes: dict[str, int] = {}
    rows = []
    for a in analyses:
        cert = a["certainty"]
        numbers = []
        for text in cert.get("footnotes") or []:
            if text not in notes:
                notes[text] = len(notes) + 1
            numbers.append(notes[text])
        absolute, control = _absolute(a)
        comment = []
        if a["k"] == 1:
            comment.append("a single trial")
        elif a["k"] < 5:
            comment.append(f"only {a['k']} trials")
        if a.get("mixed_short"):
            comment.append(a["mixed_short"])
        rows.append({
            "outcome": a["question"]["outcome"], "href": f"#{a['id']}",
            "timepoint": a["question"]["timepoint"], "k": a["k"],
            "participants": a["participants"]["total"], "relative": _relative(a),
            "absolute": absolute, "control": control,
            "certainty": {"level": cert["level"], "symbols": cert["symbols"]},
            "notes": numbers, "comment": "; ".join(comment) or None,
            # for the key findings
            "analysis": a, "direction": a["direction"],
            "subject": _subject(a),
        })
    return {
        "caption": f"Summary of findings: ketamine or esketamine for {_lower(condition_label)}",
        "population": condition_label, "intervention": intervention,
        "comparison": comparison, "rows": rows,
        "footnotes": [{"number": n, "text": t} for t, n in notes.items()],
    }


def _lower(text: str) -> str:
    """Lower-case words for use inside a sentence, keeping acronyms (PTSD, OCD, MADRS)."""
    return " ".join(w if sum(c.isupper() for c in w) > 1 else w.lower() for w in text.split())


def _subject(a: Mapping) -> str:
    outcome = str(a["question"]["outcome"])
    lower = _lower(outcome)
    if a["family"] in ("RR", "OR", "RD"):
        return f"the chance of {lower}"
    return f"{lower} scores" if "severity" not in lower else lower
