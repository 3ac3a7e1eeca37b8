"""Absolute effects (ketameta.absolute), checked against hand calculations."""

from __future__ import annotations

import json
import math

import pytest

from ketameta.absolute import absolute_effects, family_of, nnt, pooled_sd, risk_difference


def test_risk_ratio_at_the_median_control_risk():
    # control risks 0.1, 0.2, 0.3 → median 0.2; RR = 1.5 → treated 0.3, RD = +0.1 = 100/1000;
    # NNT = 1/0.1 = 10; CI from RR 1.2 and 2.0 → RD 0.04 and 0.2 → NNT 25 and 5 (rounded
    # up, Cochrane Handbook v6 section 15.4)
    studies = [{"events_ctrl": e, "n_ctrl": 10.0} for e in (1.0, 2.0, 3.0)]
    out = absolute_effects(math.log(1.5), math.log(1.2), math.log(2.0), "RR", studies)
    assert out["control_risk"] == pytest.approx(200) and out["n_trials"] == 3
    assert out["treated_risk"] == pytest.approx(300)
    assert out["rd"] == pytest.approx(100)
    assert (out["rd_low"], out["rd_high"]) == (pytest.approx(40), pytest.approx(200))
    assert (out["nnt"], out["nnt_rd_low"], out["nnt_rd_high"]) == (10, 25, 5)
    assert out["rd_ci_includes_0"] is False
    json.dumps(out, allow_nan=False)


def test_odds_ratio_whose_ci_includes_no_difference():
    # OR 1 [0.5, 2] at control risk 0.5: risks 1/3 and 2/3 → RD −1/6 and +1/6 → NNT 6 each
    out = absolute_effects(0.0, math.log(0.5), math.log(2.0), "OR", [
        {"events_ctrl": 5.0, "n_ctrl": 10.0}])  # fmt: skip
    assert out["rd"] == 0.0 and out["nnt"] is None  # infinite
    assert out["rd_low"] == pytest.approx(-1000 / 6) and out["nnt_rd_low"] == 6
    assert out["rd_ci_includes_0"] is True


def test_risk_ratio_is_capped_at_a_risk_of_one():
    assert risk_difference(math.log(3.0), 0.5, "RR") == 0.5
    assert risk_difference(0.12, 0.3, "RD") == 0.12


def test_smd_in_points_of_the_most_used_scale():
    # two MADRS trials with pooled SDs 10 and 12 (equal arms) → median 11; SMD −0.5 → −5.5
    studies = [
        {"scale": "MADRS", "n_treat": 10.0, "n_ctrl": 10.0, "sd_treat": 10.0, "sd_ctrl": 10.0},
        {"scale": "MADRS", "n_treat": 20.0, "n_ctrl": 20.0, "sd_treat": 12.0, "sd_ctrl": 12.0},
        {"scale": "HAMD", "n_treat": 50.0, "n_ctrl": 50.0, "sd_treat": 6.0, "sd_ctrl": 6.0},
        {"scale": float("nan"), "n_treat": 5.0, "n_ctrl": 5.0, "sd_treat": 1.0, "sd_ctrl": 1.0},
    ]
    out = absolute_effects(-0.5, -0.8, -0.2, "SMD", studies, pi_low=-1.0, pi_high=None)
    assert out["scale"] == "MADRS" and out["sd"] == pytest.approx(11.0)
    assert out["points"] == pytest.approx(-5.5) and out["points_low"] == pytest.approx(-8.8)
    assert out["pi_low"] == pytest.approx(-11.0) and out["pi_high"] is None
    assert out["direction"] == "lower" and out["n_trials"] == 2


def test_unavailable_and_undefined_cases():
    assert absolute_effects(None, -1, 1, "RR", []) is None
    assert absolute_effects(0.1, -1, 1, "PLO", []) is None
    none = absolute_effects(0.1, -1, 1, "RR", [{"events_ctrl": None, "n_ctrl": 10}])
    assert none["available"] is False and "control-group events" in none["reason"]
    zero = absolute_effects(0.1, -1, 1, "RR", [{"events_ctrl": 0, "n_ctrl": 10}])
    assert zero["available"] is False and "0%" in zero["reason"]
    md = absolute_effects(-2.0, -3, -1, "MD", [{"scale": "MADRS"}])
    assert md["available"] is False and "MADRS" in md["reason"]
    smd = absolute_effects(-0.5, -0.8, -0.2, "SMD", [{"scale": "MADRS"}])
    assert smd["available"] is False


def test_helpers():
    assert nnt(0.1) == 10 and nnt(-0.3) == 4 and nnt(0.0) is None
    assert pooled_sd(10, 10, 3.0, 4.0) == pytest.approx(math.sqrt(12.5))
    assert pooled_sd(1, 1, 3.0, 4.0) is None
    assert family_of("GEN", ["RR", "logRR"]) == "RR"
    assert family_of("GEN", ["RR", "OR"]) == "GEN" and family_of("SMD") == "SMD"
