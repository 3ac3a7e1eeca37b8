"""The claims resolver on constructed summaries: which result a check reads, on which scale,
and the verdict and reason it gives (including what would be needed when nothing exists)."""

import math

import pytest

from ketameta import claims
from ketameta.claims import CANNOT, CONSISTENT, NOT_SUPPORTED, PARTLY, Results

CONFIG = {
    "conditions": {"TRD": {"label": "Treatment-resistant depression"}, "PTSD": {"label": "PTSD"},
                   "OCD": {"label": "OCD"}},
    "outcomes": {
        "depression_severity": {"label": "Depression severity", "lower_is_better": True},
        "response": {"label": "Response", "lower_is_better": False},
        "ptsd_severity": {"label": "PTSD symptom severity", "lower_is_better": True},
    },
    "analyses": {
        "trd_response_24h": {"condition": "TRD", "outcome": "response", "timepoint": "24h"},
        "trd_response_end": {"condition": "TRD", "outcome": "response", "timepoint": "end"},
        "trd_sev_4h": {"condition": "TRD", "outcome": "depression_severity", "timepoint": "4h"},
        "trd_sev_24h": {"condition": "TRD", "outcome": "depression_severity",
                        "timepoint": "24h"},
        "trd_sev_24h_md": {"condition": "TRD", "outcome": "depression_severity",
                           "timepoint": "24h"},
        "trd_sev_7d": {"condition": "TRD", "outcome": "depression_severity", "timepoint": "7d"},
        "trd_sev_28d": {"condition": "TRD", "outcome": "depression_severity",
                        "timepoint": "28d"},
        "ptsd_sev_end": {"condition": "PTSD", "outcome": "ptsd_severity", "timepoint": "end"},
    },
}


def summary(aid, measure, est, low, high, k=3, **extra):
    base = {"analysis": aid, "measure": measure, "k": k, "estimate": est, "ci_low": low,
            "ci_high": high, "n_participants": 30 * k, "method": "REML", "few_trials": None,
            "proportions": None, "time_course": None, "subgroups": [],
            "grade": {"level": "low"}}
    base.update(extra)
    return base


def prop_block(p, low, high, k=3, n=90):
    logit = math.log(p / (1 - p))
    arm = {"k": k, "n": n, "events": p * n, "estimate": logit, "proportion": p,
           "proportion_ci_low": low, "proportion_ci_high": high}
    return {"transform": "logit", "treat": arm, "ctrl": {**arm, "proportion": p / 3,
                                                         "proportion_ci_low": low / 3,
                                                         "proportion_ci_high": high / 3}}


def results(**summaries):
    return Results(CONFIG, {aid: {"summary": s, "rows": []} for aid, s in summaries.items()})


def test_proportion_reads_the_treatment_arm_on_the_0_1_scale():
    res = results(trd_response_24h=summary("trd_response_24h", "RR", math.log(2), 0.3, 1.1,
                                           proportions=prop_block(0.45, 0.35, 0.55)))
    f = claims.evaluate_check({"kind": "proportion", "range": [0.6, 0.7], "arm": "treatment",
                               "condition": "TRD", "outcome": "response",
                               "timepoints": ["24h", "end"]}, res)
    assert f.verdict == NOT_SUPPORTED
    (e,) = f.evidence
    assert (e.estimate, e.ci_low, e.ci_high) == (0.45, 0.35, 0.55)
    assert e.k == 3 and e.n == 90 and e.certainty == "low"
    assert e.anchor == "TRD.html#trd_response_24h"
    assert "fewer than the asserted 60%–70%" in f.reason and "45%" in f.reason


def test_proportion_control_arm_and_overlap():
    res = results(trd_response_24h=summary("trd_response_24h", "RR", 0.5, 0.1, 0.9,
                                           proportions=prop_block(0.6, 0.45, 0.75)))
    check = {"kind": "proportion", "range": [0.15, 0.2], "arm": "control", "condition": "TRD",
             "outcome": "response", "timepoints": ["24h"]}
    f = claims.evaluate_check(check, res)
    assert f.verdict == CONSISTENT and f.evidence[0].estimate == pytest.approx(0.2)


def test_proportion_without_arm_counts_cannot_be_checked_and_says_what_is_needed():
    res = results(trd_response_24h=summary("trd_response_24h", "RR", 0.5, 0.1, 0.9))
    f = claims.evaluate_check({"kind": "proportion", "range": [0.6, 0.7], "condition": "TRD",
                               "outcome": "response", "timepoints": ["24h"]}, res)
    assert f.verdict == CANNOT and not f.evidence
    assert "number of patients with the event in each arm" in f.reason


def test_effect_back_transforms_ratios_and_combines_time_points():
    res = results(
        trd_response_24h=summary("trd_response_24h", "RR", math.log(2), math.log(1.5),
                                 math.log(2.7)),
        trd_response_end=summary("trd_response_end", "RR", math.log(1.2), math.log(0.9),
                                 math.log(1.6)),
    )
    f = claims.evaluate_check({"kind": "effect", "condition": "TRD", "outcome": "response"},
                              res)
    assert [e.timepoint for e in f.evidence] == ["24h", "end"]
    assert f.evidence[0].estimate == pytest.approx(2.0) and f.evidence[0].null == 1.0
    assert f.verdict == PARTLY


def test_effect_picks_the_main_measure_and_uses_the_bayesian_headline():
    few = {"mu": {"median": -0.8, "ci_low": -1.5, "ci_high": -0.1}}
    res = results(
        trd_sev_24h=summary("trd_sev_24h", "SMD", -0.7, -1.2, -0.2, k=3, few_trials=few,
                            time_course={"points": []}),
        trd_sev_24h_md=summary("trd_sev_24h_md", "MD", -6.0, -9.0, -3.0, k=4),
    )
    f = claims.evaluate_check({"kind": "effect", "condition": "TRD",
                               "outcome": "depression_severity", "timepoints": ["24h"]}, res)
    (e,) = f.evidence
    assert e.measure == "SMD" and (e.estimate, e.ci_low, e.ci_high) == (-0.8, -1.5, -0.1)
    assert f.verdict == CONSISTENT


def test_effect_on_a_condition_without_trials_cannot_be_checked():
    f = claims.evaluate_check({"kind": "effect", "condition": "OCD"}, results())
    assert f.verdict == CANNOT and "OCD" in f.reason


def test_effect_without_outcome_uses_the_conditions_outcomes():
    res = results(ptsd_sev_end=summary("ptsd_sev_end", "SMD", 0.2, -0.1, 0.5))
    f = claims.evaluate_check({"kind": "effect", "condition": "PTSD"}, res)
    assert f.verdict == NOT_SUPPORTED and f.evidence[0].lower_is_better


def _tc(points):
    return {"outcome": "depression_severity", "measure": "SMD", "log_scale": False,
            "points": [{"analysis": a, "timepoint": tp, "day": d, "k": 3, "estimate": est,
                        "ci_low": lo, "ci_high": hi} for a, tp, d, est, lo, hi in points]}


def test_fades_reads_the_time_course():
    tc = _tc([("trd_sev_4h", "4h", 1 / 6, -0.9, -1.3, -0.5),
              ("trd_sev_24h", "24h", 1.0, -0.7, -1.0, -0.4),
              ("trd_sev_7d", "7d", 7.0, -0.5, -0.8, -0.2),
              ("trd_sev_28d", "28d", 28.0, -0.1, -0.4, 0.2)])
    sums = {a: summary(a, "SMD", -0.5, -0.8, -0.2, time_course=tc)
            for a in ("trd_sev_4h", "trd_sev_24h", "trd_sev_7d", "trd_sev_28d")}
    res = results(**sums)
    check = {"kind": "fades", "condition": "TRD", "outcome": "depression_severity"}
    f = claims.evaluate_check({**check, "within_days": 14}, res)
    assert f.verdict == CONSISTENT and "7 days" in f.reason and "28 days" in f.reason
    assert len(f.evidence) == 4
    f = claims.evaluate_check({**check, "within_days": 3}, res)
    assert f.verdict == NOT_SUPPORTED


def test_fades_without_time_course_cannot_be_checked():
    res = results(trd_sev_24h=summary("trd_sev_24h", "SMD", -0.5, -0.8, -0.2))
    f = claims.evaluate_check({"kind": "fades", "within_days": 14, "condition": "TRD",
                               "outcome": "depression_severity"}, res)
    assert f.verdict == CANNOT and "several time points" in f.reason


def _route(p, iv, inn):
    groups = [{"label": "IV", "k": 3, "estimate": iv, "ci_low": iv - 0.3, "ci_high": iv + 0.3},
              {"label": "IN", "k": 2, "estimate": inn, "ci_low": inn - 0.3,
               "ci_high": inn + 0.3}]
    return [{"variable": "route", "groups": groups, "Q_between_p": p}]


@pytest.mark.parametrize(("p", "iv", "inn", "verdict"), [
    (0.01, -1.0, -0.3, CONSISTENT),
    (0.01, -0.2, -0.9, NOT_SUPPORTED),
    (0.40, -1.0, -0.8, NOT_SUPPORTED),
])
def test_route_difference_reads_the_route_subgroups(p, iv, inn, verdict):
    res = results(trd_sev_24h=summary("trd_sev_24h", "SMD", -0.6, -0.9, -0.3,
                                      subgroups=_route(p, iv, inn)))
    f = claims.evaluate_check({"kind": "route_difference", "faster": "IV", "slower": "IN",
                               "condition": "TRD", "outcome": "depression_severity",
                               "timepoints": ["24h"]}, res)
    assert f.verdict == verdict and "across trials" in f.reason
    assert [e.estimate for e in f.evidence] == [iv, inn]


def test_route_difference_with_one_route_cannot_be_checked():
    sub = _route(0.5, -1.0, -0.3)
    sub[0]["groups"] = sub[0]["groups"][:1]
    res = results(trd_sev_24h=summary("trd_sev_24h", "SMD", -0.6, -0.9, -0.3, subgroups=sub))
    f = claims.evaluate_check({"kind": "route_difference", "faster": "IV", "slower": "IN",
                               "condition": "TRD", "outcome": "depression_severity",
                               "timepoints": ["24h", "4h"]}, res)
    assert f.verdict == CANNOT and "no trials of IN" in f.reason


def test_analysis_id_check_and_time_to_relapse():
    res = results(ptsd_sev_end=summary("ptsd_sev_end", "SMD", -0.6, -0.9, -0.3))
    f = claims.evaluate_check({"kind": "effect", "analysis": "ptsd_sev_end"}, res)
    assert f.verdict == CONSISTENT and f.evidence[0].label.startswith("PTSD")
    f = claims.evaluate_check({"kind": "time_to_relapse", "days": 19,
                               "needs": "trials reporting time to relapse"}, res)
    assert f.verdict == CANNOT and "trials reporting time to relapse" in f.reason


def test_certainty_computed_when_no_grade_block():
    s = summary("ptsd_sev_end", "SMD", -0.6, -0.9, -0.3)
    del s["grade"]
    s.update(I2=0.0, pi_low=-0.9, pi_high=-0.3, egger_p=None)
    rows = [{"yi": -0.6, "weight": 50.0, "rob": "low"}, {"yi": -0.5, "weight": 50.0,
                                                         "rob": "low"}]
    level = claims.certainty_of(s, rows, True, {})
    assert level in ("high", "moderate", "low", "very low")


def test_evaluate_counts_and_notes():
    res = results(trd_response_24h=summary("trd_response_24h", "RR", 0.5, 0.1, 0.9,
                                           proportions=prop_block(0.65, 0.55, 0.75)))
    data = {"articles": {"a": {"title": "T"}}, "claims": {
        "c1": {"article": "a", "quote": "60  to 70\npercent", "checks": [
            {"kind": "proportion", "range": [0.6, 0.7], "arm": "treatment", "condition": "TRD",
             "outcome": "response", "note": "checked against response"},
            {"kind": "time_to_relapse", "days": 19, "needs": "relapse trials"}]},
        "c2": {"article": "a", "quote": "q", "checks": [
            {"kind": "not_in_evidence", "topic": "x", "needs": "trials of x"}]}}}
    out = claims.evaluate(data, res)
    assert [c["verdict"] for c in out["claims"]] == [CONSISTENT, CANNOT]
    assert out["claims"][0]["quote"] == "60 to 70 percent"
    assert out["claims"][0]["notes"] == ["checked against response"]
    assert out["claims"][0]["reason"].endswith("Not checked: No trial here measures the time "
                                                "to relapse; it would need relapse trials.")
    assert out["counts"] == {CONSISTENT: 1, PARTLY: 0, NOT_SUPPORTED: 0, CANNOT: 1}


def test_time_to_relapse_shows_the_related_result_without_using_it():
    res = results(trd_response_end=summary("trd_response_end", "RR", math.log(0.5),
                                           math.log(0.3), math.log(0.8), k=1))
    f = claims.evaluate_check({"kind": "time_to_relapse", "days": 19, "condition": "TRD",
                               "outcome": "response", "needs": "time-to-event trials"}, res)
    assert f.verdict == CANNOT and "time-to-event trials" in f.reason
    assert "not as a test of the claim" in f.reason and "RR 0.50" in f.reason
    (e,) = f.evidence
    assert e.estimate == pytest.approx(0.5) and e.anchor == "TRD.html#trd_response_end"


def test_claims_config_keeps_every_condition_and_outcome_but_only_used_analyses():
    from ketameta.report.claims import claims_config

    data = {"articles": {"a": {"title": "T"}}, "claims": {"c": {"article": "a", "quote": "q",
            "checks": [{"kind": "effect", "condition": "PTSD"},
                       {"kind": "effect", "condition": "OCD"}]}}}
    out = claims_config(data, CONFIG, ["TRD", "PTSD"])
    assert list(out["analyses"]) == ["ptsd_sev_end"]
    assert set(out["conditions"]) == {"TRD", "PTSD", "OCD"}
    assert set(out["outcomes"]) == set(CONFIG["outcomes"])
