"""The RoB 2 overall algorithm and the weighted summary bar."""

import math

import pytest

from ketameta import rob


@pytest.mark.parametrize(
    ("domains", "expected"),
    [
        (["low"] * 5, "low"),
        (["low", "low", "some", "low", "low"], "some"),
        (["some"] * 5, "some"),
        (["low", "high", "low", "low", "low"], "high"),
        (["high", None, None, None, None], "high"),
        (["low", "low", None, "low", "low"], None),
        ([None] * 5, None),
        ([" Low", "LOW", "low ", "low", "low"], "low"),
        ([math.nan, "low", "low", "low", "low"], None),
    ],
)
def test_overall_follows_the_rob2_algorithm(domains, expected):
    assert rob.overall(domains) == expected


def test_overall_refuses_unknown_judgements_and_wrong_lengths():
    with pytest.raises(ValueError, match="not one of low, some, high"):
        rob.overall(["low", "unclear", "low", "low", "low"])
    with pytest.raises(ValueError, match="5 domains"):
        rob.overall(["low"] * 4)


def test_check_overall_accepts_agreement_and_high_over_several_concerns():
    assert rob.check_overall(["low"] * 5, "low") is None
    assert rob.check_overall(["low", "some", "low", "low", "low"], "some") is None
    # An assessor may judge several "some concerns" as high overall.
    assert rob.check_overall(["some", "some", "low", "low", "low"], "high") is None
    assert rob.check_overall([None] * 5, "high") is None


def test_check_overall_names_disagreements():
    message = rob.check_overall(["low", "high", "low", "low", "low"], "low")
    assert "disagrees" in message and "'high'" in message
    # One "some concerns" domain does not make a result high risk.
    assert rob.check_overall(["some", "low", "low", "low", "low"], "high") is not None
    # With missing domains the overall may not be better than the worst given domain.
    assert "better than" in rob.check_overall(["some", None, None, None, None], "low")
    assert rob.check_overall(["some", None, None, None, None], "some") is None


def test_judgement_prefers_the_stated_overall():
    assert rob.judgement({"rob": "high", "rob_d1": "low"}) == "high"
    assert rob.judgement({"rob": "", **dict.fromkeys(rob.DOMAINS, "low")}) == "low"
    assert rob.judgement({}) is None


def test_summary_bar_weights_and_keeps_missing_apart():
    s = rob.summarise(["low", "high", None, "some"], [40, 10, 30, 20])
    assert (s.low, s.some, s.high, s.missing) == pytest.approx((40, 20, 10, 30))
    assert sum(s.to_dict().values()) == pytest.approx(100)
    # Zero, negative and NaN weights do not count.
    s = rob.summarise(["low", "high", "some"], [1, 0, math.nan])
    assert s.low == pytest.approx(100) and s.high == 0 and s.some == 0
    assert rob.summarise([], []).to_dict() == dict.fromkeys(("low", "some", "high", "missing"), 0.0)
    with pytest.raises(ValueError):
        rob.summarise(["low"], [1, 2])


# --- the validation step: rob derived from the domains, or checked against them ------------

_HEAD = "study,year,condition,outcome,timepoint,effect_type,yi,vi,rob,rob_d1,rob_d2,rob_d3,rob_d4,rob_d5"


def _read(tmp_path, *lines):
    from ketameta.io import read_data

    folder = tmp_path / "data" / "raw"
    folder.mkdir(parents=True)
    (folder / "trd.csv").write_text("\n".join((_HEAD, *lines)) + "\n", encoding="utf-8")
    return read_data("data/raw", root=tmp_path)


def test_validation_derives_rob_from_domains(tmp_path):
    table = _read(
        tmp_path,
        "A 2001,2001,TRD,severity,24h,MD,-2,1,,low,low,some,low,low",
        "B 2002,2002,TRD,severity,24h,MD,-2,1,,low,,,,",
        "C 2003,2003,TRD,severity,24h,MD,-2,1,,,,,,",
    )
    got = [None if not isinstance(v, str) else v for v in table["rob"]]
    assert got == ["some", None, None]


def test_validation_accepts_agreeing_and_judged_high(tmp_path):
    table = _read(
        tmp_path,
        "A 2001,2001,TRD,severity,24h,MD,-2,1,low,low,low,low,low,low",
        "B 2002,2002,TRD,severity,24h,MD,-2,1,high,some,some,low,low,low",
    )
    assert list(table["rob"]) == ["low", "high"]


def test_validation_refuses_disagreement(tmp_path):
    from ketameta.io import DataError

    with pytest.raises(DataError) as caught:
        _read(tmp_path, "A 2001,2001,TRD,severity,24h,MD,-2,1,low,low,high,low,low,low")
    assert str(caught.value) == (
        "data/raw/trd.csv, line 2, column rob: overall 'low' disagrees with the domains "
        "(low, high, low, low, low), which give 'high' by the RoB 2 algorithm"
    )


def test_validation_refuses_unknown_domain_value(tmp_path):
    from ketameta.io import DataError

    with pytest.raises(DataError) as caught:
        _read(tmp_path, "A 2001,2001,TRD,severity,24h,MD,-2,1,,low,unclear,low,low,low")
    assert str(caught.value) == (
        "data/raw/trd.csv, line 2, column rob_d2: must be one of low, some, high (got unclear)"
    )
