"""GRADE domain rules: for each rule, a constructed case that should and one that should not
rate the evidence down, plus the combination into a certainty level."""

import math

import pytest

from ketameta import grade
from ketameta.grade import Judgement


def test_risk_of_bias_rules():
    # Low risk for most of the weight: not rated down.
    assert grade.risk_of_bias(["low", "low", "high"], [40, 40, 20]).downgrade == 0
    # Some concerns and high risk together carry half of the weight: serious.
    j = grade.risk_of_bias(["low", "some", "high"], [50, 30, 20])
    assert j.downgrade == 1 and "some concerns 30%" in j.reason and "high risk 20%" in j.reason
    # High risk for half of the weight: very serious.
    assert grade.risk_of_bias(["high", "low"], [50, 50]).downgrade == 2
    # Missing judgements are never taken as low risk.
    j = grade.risk_of_bias([None, None, "low"], [40, 30, 30])
    assert j.downgrade == 1 and "not assessed 70%" in j.reason


def test_inconsistency_rules():
    ci, pi = (-1.0, -0.2), (-1.5, 0.3)
    # Low I², trials on one side of the null: not rated down.
    assert grade.inconsistency(4, 10, [-0.5, -0.7, -0.2, -0.9], 0, ci, pi).downgrade == 0
    # I² of 50% or more: serious.
    assert grade.inconsistency(4, 55, [-0.5, -0.7, -0.2, -0.9], 0, ci, pi).downgrade == 1
    # I² of 75% or more with estimates on both sides: very serious.
    j = grade.inconsistency(4, 80, [-0.5, 0.7, -0.2, -0.9], 0, ci, pi)
    assert j.downgrade == 2 and "both directions" in j.reason
    # I² of 80% with every estimate on one side: serious only.
    assert grade.inconsistency(4, 80, [-0.5, -0.7, -0.2, -0.9], 0, ci, pi).downgrade == 1
    # Moderate I² but the prediction interval crosses the null with mixed directions.
    assert grade.inconsistency(4, 30, [-0.5, 0.1, -0.2, -0.9], 0, ci, pi).downgrade == 1
    # ... which needs k >= 3 and a CI that excludes the null.
    assert grade.inconsistency(2, 30, [-0.5, 0.1], 0, ci, pi).downgrade == 0
    assert grade.inconsistency(4, 30, [-0.5, 0.1, -0.2, -0.9], 0, (-1, 0.1), pi).downgrade == 0
    # One trial: not assessable.
    j = grade.inconsistency(1, None, [-0.5], 0, ci, (None, None))
    assert j.downgrade == 0 and not j.assessed


def test_optimal_information_size():
    assert grade.optimal_information_size("continuous") == 400
    # Control risk 20%, 25% relative increase to 25%: 1,094 per arm by the usual formula.
    n = grade.optimal_information_size("binary", 0.2)
    per_arm = (1.959963984540054 + 0.8416212335729143) ** 2 * (0.2 * 0.8 + 0.25 * 0.75) / 0.05**2
    assert n == 2 * math.ceil(per_arm)
    assert grade.optimal_information_size("binary", None) is None
    assert grade.optimal_information_size("binary", 0.4, benefit_increases=False) > 0
    with pytest.raises(ValueError):
        grade.optimal_information_size("ordinal")


def test_imprecision_rules():
    mid = 0.2
    # CI excludes the null and the information size is met: not rated down.
    assert grade.imprecision((-0.9, -0.3), 0, mid, 500, 400).downgrade == 0
    # CI excludes the null but too few participants: serious.
    j = grade.imprecision((-0.9, -0.3), 0, mid, 120, 400)
    assert j.downgrade == 1 and "120 participants" in j.reason
    # CI includes the null: serious.
    assert grade.imprecision((-0.9, 0.1), 0, mid, 500, 400).downgrade == 1
    # CI includes appreciable benefit and harm: very serious.
    assert grade.imprecision((-0.9, 0.5), 0, mid, 500, 400).downgrade == 2
    # Without a MID only the null is checked.
    assert grade.imprecision((-0.9, 0.5), 0, None, 500, 400).downgrade == 1
    assert grade.imprecision((math.nan, 0.5), 0, None, 500, 400).downgrade == 2
    # participants not reported: the information size cannot be shown to be reached
    unknown = grade.imprecision((-0.9, -0.3), 0, mid, None, 400)
    assert unknown.downgrade == 1 and "not reported" in unknown.reason
    assert grade.imprecision((-0.9, -0.3), 0, mid, None, None).downgrade == 0
    # no information size (control risk 0): fewer than 300 events rate down one level
    few = grade.imprecision((0.1, 5.7), 0, mid, 67, None, events=12)
    assert few.downgrade == 1 and "12 events" in few.reason
    assert grade.imprecision((0.1, 5.7), 0, mid, 900, None, events=320).downgrade == 0


def test_publication_bias_rules():
    j = grade.publication_bias(9, 0.01)
    assert j.downgrade == 0 and not j.assessed and "fewer than 10" in j.reason
    assert grade.publication_bias(12, 0.04).downgrade == 1
    assert grade.publication_bias(12, 0.40).downgrade == 0
    assert grade.publication_bias(12, None).downgrade == 0


def test_indirectness_rules():
    assert grade.indirectness([None, None, "active comparator"], [40, 40, 20]).downgrade == 0
    j = grade.indirectness(["perioperative population", None], [60, 40])
    assert j.downgrade == 1 and "perioperative population" in j.reason and "60%" in j.reason


def _all(downgrades):
    return {
        d: Judgement(d, n, "reason" if n else None)
        for d, n in zip(grade.DOMAINS, downgrades, strict=True)
    }


@pytest.mark.parametrize(
    ("downgrades", "level"),
    [
        ((0, 0, 0, 0, 0), "high"),
        ((1, 0, 0, 0, 0), "moderate"),
        ((1, 0, 0, 1, 0), "low"),
        ((2, 1, 0, 2, 1), "very low"),
    ],
)
def test_certainty_starts_high_and_floors_at_very_low(downgrades, level):
    c = grade.assess(_all(downgrades))
    assert c.level == level
    assert c.symbols == grade.SYMBOLS[level]
    assert len(c.footnotes) == sum(1 for n in downgrades if n)


def test_overrides_replace_a_domain_and_are_printed():
    c = grade.assess(
        _all((0, 0, 0, 0, 0)),
        {"indirectness": {"downgrade": 1, "reason": "adolescents only"}},
    )
    assert c.level == "moderate"
    assert c.to_dict()["domains"]["indirectness"]["overridden"] is True
    assert c.footnotes == [
        "Indirectness: rated down one level (analyst's judgement): adolescents only"
    ]
    # An override may also remove a downgrade, and still says why.
    c = grade.assess(_all((1, 0, 0, 0, 0)), {"risk_of_bias": {"downgrade": 0, "reason": "x"}})
    assert c.level == "high" and "not rated down" in c.footnotes[0]
    with pytest.raises(ValueError, match="needs a reason"):
        grade.assess(_all((0,) * 5), {"imprecision": {"downgrade": 1, "reason": " "}})
    with pytest.raises(ValueError, match="unknown GRADE domain"):
        grade.assess(_all((0,) * 5), {"precision": {"downgrade": 1, "reason": "x"}})
    with pytest.raises(ValueError, match="0, 1 or 2"):
        grade.assess(_all((0,) * 5), {"imprecision": {"downgrade": 3, "reason": "x"}})


def _rows(**extra):
    base = [
        {"yi": -0.9, "weight": 50, "rob": "low", "comparator": "saline", "population": "adults"},
        {"yi": -0.6, "weight": 50, "rob": "low", "comparator": "midazolam", "population": ""},
    ]
    return [{**r, **extra} for r in base]


SUMMARY = {
    "analysis": "a",
    "k": 2,
    "measure": "SMD",
    "ci_low": -1.1,
    "ci_high": -0.4,
    "I2": 0.0,
    "pi_low": None,
    "pi_high": None,
    "egger_p": None,
    "n_participants": 480,
}


def test_assess_analysis_of_a_clean_pair_of_trials_is_high():
    c = grade.assess_analysis(SUMMARY, _rows(), lower_is_better=True)
    assert c.level == "high", c.footnotes
    assert not c.to_dict()["domains"]["publication_bias"]["assessed"]


def test_assess_analysis_reads_rob_domains_populations_and_comparators():
    rows = _rows(rob=None, rob_d1="high", rob_d2="low", rob_d3="low", rob_d4="low", rob_d5="low")
    c = grade.assess_analysis(SUMMARY, rows, lower_is_better=True)
    assert c.to_dict()["domains"]["risk_of_bias"]["downgrade"] == 2
    rows = _rows(population="perioperative adults", comparator="saline")
    c = grade.assess_analysis(SUMMARY, rows, lower_is_better=True)
    assert "population: perioperative adults" in c.footnotes[0]
    rows = _rows(comparator="ECT")
    assert "active comparator (ECT)" in grade.assess_analysis(SUMMARY, rows, True).footnotes[0]


def test_assess_analysis_imprecision_uses_the_information_size_and_headline_interval():
    small = {**SUMMARY, "n_participants": 60}
    c = grade.assess_analysis(small, _rows(), lower_is_better=True)
    assert c.level == "moderate" and "60 participants" in c.footnotes[0]
    c = grade.assess_analysis(SUMMARY, _rows(), True, interval=(-1.0, 0.3))
    assert c.to_dict()["domains"]["imprecision"]["downgrade"] == 2  # beyond MID 0.2 both ways


def test_assess_analysis_binary_information_size_from_control_risk():
    rows = [
        {
            "yi": 0.8,
            "weight": 100,
            "rob": "low",
            "comparator": "placebo",
            "events_ctrl": 10,
            "n_ctrl": 50,
        }
    ]
    summary = {
        **SUMMARY,
        "measure": "RR",
        "k": 1,
        "ci_low": 0.2,
        "ci_high": 1.4,
        "n_participants": 100,
    }
    c = grade.assess_analysis(summary, rows, lower_is_better=False)
    assert "fewer than the optimal information size of 2182" in " ".join(c.footnotes)


def test_assess_analysis_applies_configured_overrides_and_mid():
    config = {
        "grade": {
            "overrides": {"a": {"indirectness": {"downgrade": 1, "reason": "one centre"}}},
            "mid": {"SMD": 2.0},
        }
    }
    c = grade.assess_analysis(SUMMARY, _rows(), True, config, interval=(-1.0, 0.3))
    doms = c.to_dict()["domains"]
    assert doms["indirectness"]["overridden"] and doms["imprecision"]["downgrade"] == 1
