"""Summary of findings, key findings and the overview lines (ketameta.report.findings)."""

import math
import re

import pytest

from ketameta import grade
from ketameta.report import findings, plots


def _entries(*specs):
    return {aid: {"outcome": o, "timepoint": t} for aid, o, t, _ in specs}


def _summaries(*specs):
    return {aid: {"k": k} for aid, _, _, k in specs}


def test_default_sof_takes_earliest_pooled_early_time_point_and_end():
    specs = [
        ("sev_2h", "severity", "2h", 1),
        ("sev_24h", "severity", "24h", 3),
        ("sev_7d", "severity", "7d", 4),
        ("sev_end", "severity", "end", 5),
        ("resp_3w", "response", "3w", 1),
        ("resp_4w", "response", "4w", 2),
        ("empty_end", "remission", "end", 0),
    ]
    got = findings.default_sof(_entries(*specs), _summaries(*specs))
    # severity: 2 h has one trial, so 24 h (the earliest pooled); response: neither, so the
    # time point with most trials; remission has no trial at all
    assert got == ["sev_24h", "sev_end", "resp_4w"]


def test_default_sof_prefers_more_trials_then_config_order_at_one_time_point():
    specs = [("md_24h", "severity", "24h", 2), ("smd_24h", "severity", "24h", 3),
             ("a_end", "severity", "end", 2), ("b_end", "severity", "end", 2)]
    assert findings.default_sof(_entries(*specs), _summaries(*specs)) == ["smd_24h", "a_end"]


def test_sof_analyses_follow_the_configuration_when_given():
    config = {"analyses": {"a": {"condition": "X", "outcome": "o", "timepoint": "24h"},
                           "b": {"condition": "X", "outcome": "o", "timepoint": "end"}},
              "sof": {"X": ["b", "missing"]}}
    assert findings.sof_analyses("X", config, {"a": {"k": 2}, "b": {"k": 2}}) == ["b"]


@pytest.mark.parametrize(("summary", "lower", "expected"), [
    ({"ci_low": -2.0, "ci_high": -0.5}, True, "benefit"),
    ({"ci_low": -2.0, "ci_high": -0.5}, False, "harm"),
    ({"ci_low": 0.1, "ci_high": 0.5}, False, "benefit"),
    ({"ci_low": -0.1, "ci_high": 0.5}, False, "unclear"),
    ({"ci_low": None, "ci_high": None}, True, "unclear"),
])
def test_direction(summary, lower, expected):
    assert findings.direction(summary, lower) == expected


@pytest.mark.parametrize(("level", "direction", "expected"), [
    ("high", "benefit", "ketamine lowers depression severity"),
    ("moderate", "benefit", "ketamine probably lowers depression severity"),
    ("low", "benefit", "ketamine may lower depression severity"),
    ("very low", "benefit", "ketamine may lower depression severity, but we are very uncertain"),
    ("low", "harm", "ketamine may raise depression severity"),
    ("low", "unclear", "the trials could not show whether ketamine changes depression severity"),
    ("very low", "unclear", "we are very uncertain whether ketamine changes depression severity"),
])
def test_claims_use_grades_informative_statements(level, direction, expected):
    assert findings._claim(level, direction, "lower", "depression severity") == expected


def _analysis(aid, k, level, footnotes, direction="benefit", pooled=True, outcome="Response",
              timepoint="24 h", family="RR"):
    cert = {"level": level, "symbols": grade.SYMBOLS[level], "footnotes": footnotes}
    absolute = {"kind": "dichotomous", "available": True, "treated_risk": 450.0,
                "control_risk": 150.0, "rd": 300.0, "rd_low": 100.0, "rd_high": 600.0,
                "n_trials": k, "intervention": "ketamine"}
    return {"id": aid, "k": k, "pooled": pooled, "certainty": cert, "direction": direction,
            "question": {"outcome": outcome, "timepoint": timepoint}, "family": family,
            "participants": {"total": 100 * k, "short": str(100 * k)}, "measure_short": "RR",
            "log": True, "estimate": 3.0, "ci_low": 1.5, "ci_high": 6.0, "absolute": absolute,
            "lower_is_better": False, "outcome": "response", "timepoint_key": "24h",
            "single_effect": (3.0, 1.5, 6.0) if k == 1 else None}


def test_sof_table_numbers_each_distinct_footnote_once():
    a = _analysis("a", 3, "low", ["Risk of bias: x", "Imprecision: y"])
    b = _analysis("b", 1, "low", ["Imprecision: y", "Risk of bias: x"], pooled=False)
    sof = findings.sof_table("TRD", "ketamine", "placebo", [a, b])
    assert [f["text"] for f in sof["footnotes"]] == ["Risk of bias: x", "Imprecision: y"]
    assert [r["notes"] for r in sof["rows"]] == [[1, 2], [2, 1]]
    assert sof["rows"][0]["absolute"] == "300 more per 1,000 (100 more to 600 more)"
    assert "150 per 1,000" in sof["rows"][0]["control"]
    assert "the one trial; not pooled" in sof["rows"][1]["relative"]
    assert sof["rows"][1]["comment"] == "a single trial"


def test_key_findings_plain_words_no_p_values_and_honest_about_few_trials():
    rows = findings.sof_table("TRD", "ketamine", "placebo", [
        _analysis("a", 3, "low", []), _analysis("b", 1, "low", [], pooled=False,
                                                 timepoint="end of treatment")])["rows"]
    found = findings.key_findings("Treatment-resistant depression", rows, [], 4, "400",
                                  "by intravenous infusion", "a placebo")
    texts = [f["text"] for f in found]
    assert texts[0].startswith("24 hours after the first dose, ketamine may raise the chance "
                               "of response: about 45 in 100 people with ketamine against 15")
    assert found[0]["href"] == "#a"
    assert any("only one trial" in t for t in texts)
    assert any("few trials" in t for t in texts)
    assert not any(re.search(r"\bp\s*[=<]", t) for t in texts)


def test_time_course_says_from_when_and_until_when():
    def a(aid, tp, direction, k=2):
        return {"id": aid, "outcome": "sev", "timepoint_key": tp, "k": k,
                "direction": direction,
                "question": {"outcome": "Depression severity", "timepoint": tp}}
    text = findings._time_course([a("x", "40min", "unclear"), a("y", "4h", "benefit"),
                                  a("z", "7d", "benefit"), a("w", "14d", "unclear")])["text"]
    assert text.startswith("A difference in depression severity was clear from 4h")
    assert "by 14d the trials no longer showed a clear difference" in text
    # only the points of the time-course figure count (another measure's 4h analysis not)
    other = {**a("y", "4h", "benefit"), "course_point": False}
    text = findings._time_course([a("x", "40min", "unclear"), other,
                                  a("z", "7d", "benefit"), a("w", "14d", "unclear")])["text"]
    assert text.startswith("A difference in depression severity was clear from 7d")


def test_grade_block_from_effects_records_reads_nan_cells_as_empty():
    job = grade.job_settings(
        {"analyses": {"a": {"outcome": "response"}},
         "outcomes": {"response": {"lower_is_better": False}}}, ["a"])
    rows = [{"yi": 0.5, "weight": 60.0, "rob": math.nan, "comparator": math.nan,
             "population": math.nan, "events_ctrl": 5.0, "n_ctrl": 20.0},
            {"yi": 0.7, "weight": 40.0, "rob": "low", "comparator": "placebo",
             "population": "adults", "events_ctrl": 4.0, "n_ctrl": 20.0}]
    summary = {"analysis": "a", "k": 2, "measure": "RR", "ci_low": 0.2, "ci_high": 1.0,
               "I2": 0.0, "n_participants": 80}
    block = grade.grade_block(summary, rows, job)
    assert block["domains"]["indirectness"]["downgrade"] == 0  # NaN is no comparator
    assert block["domains"]["risk_of_bias"]["downgrade"] == 1  # 60% not assessed
    assert grade.grade_block({**summary, "k": 0}, [], job) is None


def test_forest_draws_traffic_lights_and_summary_bar():
    rows = [plots.Row(kind="study", label="A", estimate=0.1, low=-0.2, high=0.4, weight=60,
                      rob=("low", "some", "high", None, None, "high"), url="#study-a"),
            plots.Row(kind="pooled", label="Pooled", estimate=0.1, low=-0.1, high=0.3,
                      rob_bar=(25.0, 25.0, 0.0, 50.0))]
    svg = plots.forest_svg("f", "t", rows, axes=[plots.Axis("SMD")],
                           rob_columns=("D1", "D2", "D3", "D4", "D5", "RoB"))
    for colour, _, _ in (plots.ROB_STYLE["low"], plots.ROB_STYLE["some"],
                         plots.ROB_STYLE["high"]):
        assert colour in svg
    assert plots.ROB_BAR_MISSING in svg  # the bar's not-assessed share is grey, not white
    assert ">?<" in svg and "#study-a" in svg
    assert "D5" in svg and "RoB" in svg


def test_reversed_axis_puts_benefit_on_the_right():
    rows = [plots.Row(kind="study", label="A", estimate=-1.0, low=-9.0, high=0.5)]
    svg = plots.forest_svg("g", "t", rows, axes=[plots.Axis("SMD", reverse=True)])
    assert "<svg" in svg


def test_grade_judges_the_headline_interval_with_few_trials():
    summary = {"analysis": "a", "k": 3, "measure": "SMD", "ci_low": -1.0, "ci_high": -0.2,
               "I2": 0.0, "n_participants": 600,
               "few_trials": {"mu": {"ci_low": -1.4, "ci_high": 0.1}}}
    assert grade.headline_interval(summary) == (-1.4, 0.1)
    assert grade.headline_interval({**summary, "few_trials": None}) is None
    rows = [{"yi": -0.6, "weight": 50.0, "rob": "low"}, {"yi": -0.5, "weight": 50.0,
                                                         "rob": "low"}]
    job = grade.job_settings({"analyses": {"a": {"outcome": "s"}},
                              "outcomes": {"s": {"lower_is_better": True}}}, ["a"])
    block = grade.grade_block(summary, rows, job)
    # the credible interval includes no effect, the HKSJ CI does not: the page's headline
    # interval decides imprecision
    assert block["domains"]["imprecision"]["downgrade"] == 1
    assert grade.grade_block({**summary, "few_trials": None}, rows, job)[
        "domains"]["imprecision"]["downgrade"] == 0
