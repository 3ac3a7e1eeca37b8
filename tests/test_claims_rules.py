"""Verdict rules of the claims page, each at its edges on constructed results."""

import pytest

from ketameta import claims
from ketameta.claims import CANNOT, CONSISTENT, NOT_SUPPORTED, PARTLY, Evidence, TimePoint


def share(est, low, high, k=3, n=300):
    return Evidence("TRD, response at 24 h", est, low, high, k, n)


@pytest.mark.parametrize(
    ("asserted", "result", "verdict"),
    [
        ((0.60, 0.70), share(0.65, 0.55, 0.75), CONSISTENT),  # estimate inside the range
        ((0.60, 0.70), share(0.50, 0.35, 0.80), CONSISTENT),  # range inside the CI
        ((0.88, 0.88), share(0.57, 0.0, 1.0), CANNOT),  # an interval of 0% to 100% tests nothing
        ((0.60, 0.70), share(0.50, 0.20, 0.71), CANNOT),  # just wider than 50 points
        ((0.60, 0.70), share(0.45, 0.30, 0.62), PARTLY),  # overlap, estimate below
        ((0.60, 0.70), share(0.80, 0.68, 0.90), PARTLY),  # overlap, estimate above
        ((0.60, 0.70), share(0.40, 0.30, 0.55), NOT_SUPPORTED),  # CI entirely below
        ((0.20, 0.20), share(0.45, 0.30, 0.60), NOT_SUPPORTED),  # CI entirely above a point
        ((0.88, 0.88), share(0.80, 0.60, 0.90), CONSISTENT),  # a point inside the CI
        ((0.60, 0.70), share(0.30, 0.20, 0.60), PARTLY),  # touching at the bound counts
    ],
)
def test_proportion_rule(asserted, result, verdict):
    finding = claims.proportion(*asserted, result)
    assert finding.verdict == verdict
    assert "TRD, response at 24 h" in finding.reason and "3 trials, 300 patients" in finding.reason


def test_proportion_reasons_say_which_side():
    assert (
        "fewer than the asserted 60%–70%"
        in claims.proportion(0.6, 0.7, share(0.4, 0.3, 0.5)).reason
    )
    assert "more than the asserted 20%" in claims.proportion(0.2, 0.2, share(0.5, 0.4, 0.6)).reason
    with pytest.raises(ValueError):
        claims.proportion(0.7, 0.6, share(0.5, 0.4, 0.6))


def diff(est, low, high, k=2):
    return Evidence(
        "TRD, severity at 24 h", est, low, high, k, None, null=0.0, lower_is_better=True
    )


@pytest.mark.parametrize(
    ("result", "verdict"),
    [
        (diff(-0.8, -1.2, -0.4), CONSISTENT),
        (diff(-0.5, -1.2, 0.2), PARTLY),
        (diff(0.3, -0.2, 0.8), NOT_SUPPORTED),
        (diff(0.9, 0.4, 1.4), NOT_SUPPORTED),
        (diff(-0.8, -1.2, 0.0), PARTLY),  # a bound at the null is not a clear effect
    ],
)
def test_effect_rule_for_lower_is_better(result, verdict):
    assert claims.effect(result).verdict == verdict


def test_effect_rule_for_ratios_where_higher_is_better():
    rr = Evidence("response", 2.5, 1.4, 4.4, 4, 500, null=1.0, lower_is_better=False)
    assert claims.effect(rr).verdict == CONSISTENT
    rr = Evidence("response", 0.9, 0.5, 1.6, 4, 500, null=1.0, lower_is_better=False)
    assert claims.effect(rr).verdict == NOT_SUPPORTED
    with pytest.raises(ValueError):
        claims.effect(share(0.5, 0.4, 0.6))


def tp(day, est, low, high, label=None):
    return TimePoint(day, label or f"day {day}", est, low, high, 2)


def test_fades_rule():
    course = [tp(1, -0.8, -1.2, -0.4), tp(7, -0.5, -0.9, -0.1), tp(21, -0.2, -0.6, 0.2)]
    assert claims.fades(course, 14, 0.0, True, "TRD").verdict == CONSISTENT
    # Still clear after the asserted days.
    course2 = [tp(1, -0.8, -1.2, -0.4), tp(28, -0.5, -0.9, -0.1)]
    assert claims.fades(course2, 14, 0.0, True, "TRD").verdict == NOT_SUPPORTED
    # No later time point to show the fading.
    assert claims.fades(course[:2], 14, 0.0, True, "TRD").verdict == CANNOT
    # No clear effect anywhere.
    assert claims.fades([tp(1, -0.1, -0.5, 0.3)], 14, 0.0, True, "TRD").verdict == CANNOT
    assert claims.fades([], 14, 0.0, True, "TRD").verdict == CANNOT


def test_route_difference_rule():
    iv = Evidence("IV", -1.2, -1.6, -0.8, 3, 90, null=0.0, lower_is_better=True)
    nasal = Evidence("IN", -0.4, -0.7, -0.1, 4, 700, null=0.0, lower_is_better=True)
    args = ("TRD severity", "24 h", "IV", "IN")
    assert claims.route_difference(*args, iv, nasal, 0.01, True).verdict == CONSISTENT
    assert claims.route_difference(*args, nasal, iv, 0.01, True).verdict == NOT_SUPPORTED
    found = claims.route_difference(*args, iv, nasal, 0.3, True)
    assert found.verdict == NOT_SUPPORTED and "no clear difference" in found.reason
    assert "across trials" in found.reason
    found = claims.route_difference(*args, iv, None, None, True)
    assert found.verdict == CANNOT and "no trials of IN" in found.reason


@pytest.mark.parametrize(
    ("verdicts", "combined"),
    [
        ([CONSISTENT, CONSISTENT], CONSISTENT),
        ([CONSISTENT, NOT_SUPPORTED], PARTLY),
        ([NOT_SUPPORTED, CANNOT], NOT_SUPPORTED),
        ([PARTLY], PARTLY),
        ([CANNOT, CANNOT], CANNOT),
        ([], CANNOT),
    ],
)
def test_combination_of_findings(verdicts, combined):
    assert claims.combine([claims.Finding(v, "x") for v in verdicts]) == combined


def test_a_result_too_imprecise_to_test_is_named_in_the_reason():
    wide = claims.proportion(0.6, 0.7, share(0.5, 0.0, 1.0))
    narrow = claims.proportion(0.6, 0.7, share(0.24, 0.12, 0.40))
    missing = claims.unavailable("TRD at 40 min: no pooled result.")
    merged = claims._merge([wide, narrow, missing])
    assert merged.verdict == NOT_SUPPORTED
    assert "Set aside: The pooled proportion is too imprecise" in merged.reason
    assert "40 min" not in merged.reason
