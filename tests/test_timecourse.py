"""The time course of an outcome (ketameta.timecourse): placing, clear effects, blocks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ketameta import rma_mv, robust
from ketameta.timecourse import add_time_courses, time_course, timepoint_days


def summary(analysis, timepoint, estimate, low, high, k=2, measure="SMD", outcome="sev"):
    return {"analysis": analysis, "timepoint": timepoint, "measure": measure,
            "outcome": outcome, "k": k, "estimate": estimate, "ci_low": low, "ci_high": high,
            "p_value": 0.01}


def rows(days=None, n=2, yi=None, studies=None):
    n = len(studies) if studies else n
    frame = pd.DataFrame({"study": studies or [f"S{i}" for i in range(n)],
                          "yi": yi or [-0.5 + 0.1 * i for i in range(n)],
                          "vi": [0.04 + 0.01 * i for i in range(n)]})
    return frame if days is None else frame.assign(day=days)


def test_days_of_time_points():
    assert [timepoint_days(t) for t in ("40min", "4h", "24h", "72h", "7d", "2w")] == \
        pytest.approx([40 / 1440, 4 / 24, 1, 3, 7, 14])
    assert math.isnan(timepoint_days("end"))


def test_points_are_ordered_and_clear_effects_named():
    items = [(summary("a24", "24h", -0.6, -0.9, -0.3), rows()),
             (summary("a7", "7d", -0.2, -0.5, 0.1, k=1), rows(n=1)),
             (summary("a40", "40min", -0.4, -0.7, -0.1), rows()),
             (summary("end", "end", -0.3, -0.5, -0.1), rows(days=[28, 28]))]
    block = time_course(items, "sev", "SMD")
    assert [p["analysis"] for p in block["points"]] == ["a40", "a24", "a7", "end"]
    assert [p["clear"] for p in block["points"]] == [True, True, False, True]
    assert block["earliest_clear"] == {"analysis": "a40", "timepoint": "40min",
                                       "day": pytest.approx(40 / 1440)}
    assert block["last_clear"] == {"analysis": "end", "timepoint": "end", "day": 28.0}
    assert block["points"][2]["k"] == 1  # a single trial's own result
    assert block["not_placed"] == []


def test_end_without_a_day_is_not_placed_and_mixed_days_use_the_median():
    no_day = time_course([(summary("e", "end", -1, -2, 0), rows())], "sev", "SMD")
    assert no_day["points"] == [] and no_day["earliest_clear"] is None
    assert no_day["not_placed"] == [{"analysis": "e", "timepoint": "end",
                                     "reason": "end of treatment without a day column"}]
    partly = time_course([(summary("e", "end", -1, -2, 0), rows(days=[28, None]))], "sev",
                         "SMD")
    assert partly["not_placed"][0]["reason"] == "end of treatment without a day for S1"
    mixed = time_course([(summary("e", "end", -1, -2, -0.5), rows(days=[8, 28, 28], n=3))],
                        "sev", "SMD")
    point = mixed["points"][0]
    assert point["day"] == 28 and point["day_range"] == [8, 28]
    assert point["placement"] == "end of treatment placed at the median day 28 (days 8–28)"


def test_blocks_go_to_the_main_measure_of_each_outcome():
    smd24 = summary("s24", "24h", -0.5, -0.8, -0.2)
    smd7 = summary("s7", "7d", -0.3, -0.6, 0.0)
    md24 = summary("m24", "24h", -5, -8, -2, measure="MD")
    rr = summary("r24", "24h", 0.4, 0.1, 0.7, measure="RR", outcome="response")
    results = [(smd24, rows()), (md24, rows()), (smd7, rows()), (rr, rows())]
    add_time_courses(results)
    assert smd24["time_course"] is smd7["time_course"]
    assert [p["analysis"] for p in smd24["time_course"]["points"]] == ["s24", "s7"]
    assert md24["time_course"] is None
    assert rr["time_course"]["log_scale"] and rr["time_course"]["outcome"] == "response"
    # a measure whose only time point cannot be placed loses to one that can
    md_end = summary("m_end", "end", -5, -8, -2, measure="MD", outcome="ptsd")
    smd = summary("s24", "24h", -0.5, -0.9, -0.1, measure="SMD", outcome="ptsd")
    add_time_courses([(md_end, rows()), (smd, rows())])
    assert md_end["time_course"] is None and smd["time_course"]["points"][0]["analysis"] == "s24"


def test_multilevel_model_is_the_engine_fit_with_robust_cis():
    a = rows(studies=["A", "B", "C"], yi=[-0.9, -0.7, -0.8])
    b = rows(studies=["A", "B", "D"], yi=[-0.5, -0.3, -0.6])
    c = rows(days=[28, 21], studies=["A", "E"], yi=[-0.2, -0.1])
    items = [(summary("a", "24h", -0.8, -1.0, -0.6, k=3), a),
             (summary("b", "7d", -0.45, -0.7, -0.2, k=3), b),
             (summary("c", "end", -0.15, -0.4, 0.1, k=2), c)]
    model = time_course(items, "sev", "SMD")["model"]
    assert model["fitted"] and model["k"] == 8 and model["n_trials"] == 5
    days = np.array([1, 1, 1, 7, 7, 7, 28, 21], float)
    studies = ["A", "B", "C", "A", "B", "D", "A", "E"]
    yi = np.concatenate([a["yi"], b["yi"], c["yi"]])
    vi = np.concatenate([a["vi"], b["vi"], c["vi"]])
    fit = rma_mv(yi, vi, cluster=studies, effect=["24h"] * 3 + ["7d"] * 3 + ["end"] * 2,
                 mods=np.log10(days).reshape(-1, 1), method="REML", test="t")
    rob = robust(fit, cluster=studies, type="CR2")
    for j, name in enumerate(("day1", "per_log10_day")):
        coef = model["coefficients"][name]
        assert coef["estimate"] == pytest.approx(rob.beta[j], rel=1e-12)
        assert coef["ci_low"] == pytest.approx(rob.ci_low[j], rel=1e-12)
        assert coef["p_value"] == pytest.approx(rob.p_value[j], rel=1e-12)
    first, last = model["curve"][0], model["curve"][-1]
    assert first["day"] == pytest.approx(1) and last["day"] == pytest.approx(28)
    assert first["estimate"] == pytest.approx(rob.beta[0], rel=1e-12)
    assert last["estimate"] == pytest.approx(rob.beta[0] + rob.beta[1] * np.log10(28))
    assert first["ci_low"] < first["estimate"] < first["ci_high"]
    # too few trials: said, not fitted
    few = time_course(items[:1], "sev", "SMD")["model"]
    assert few == {"fitted": False, "reason": "needs at least 3 trials and two time points "
                                             "with two or more trials each (has 3 trials; 1 "
                                             "time point with two or more)"}


def test_points_take_the_bayesian_headline_of_few_trial_analyses():
    s = summary("a", "24h", -0.6, -3.5, 2.3, k=2)  # the wide Hartung-Knapp interval
    s["few_trials"] = {"mu": {"median": -0.55, "ci_low": -1.1, "ci_high": -0.05}}
    (point,) = time_course([(s, rows())], "sev", "SMD")["points"]
    assert (point["estimate"], point["ci_low"], point["ci_high"]) == (-0.55, -1.1, -0.05)
    assert point["headline"] == "bayesian" and point["clear"] and point["p_value"] is None


def test_analyses_against_an_active_treatment_are_not_placed():
    placebo = rows().assign(comparator=["saline", "midazolam"])
    ect = rows(n=1).assign(comparator=["ECT"])
    block = time_course([(summary("a24", "24h", -0.6, -0.9, -0.3), placebo),
                         (summary("v3w", "3w", 0.3, 0.1, 0.5, k=1), ect)], "sev", "SMD")
    assert [p["analysis"] for p in block["points"]] == ["a24"]
    assert block["not_placed"][0]["analysis"] == "v3w"
    assert "active treatment (ECT)" in block["not_placed"][0]["reason"]
    # one placebo-controlled trial beside an active comparator keeps the point
    mixed = rows().assign(comparator=["placebo", "ECT"])
    kept = time_course([(summary("m", "24h", -0.6, -0.9, -0.3), mixed)], "sev", "SMD")
    assert [p["analysis"] for p in kept["points"]] == ["m"]
