"""Tests of ketameta.sensitivity (leave-one-out, influence, cumulative) against metafor.

The reference numbers come from tests/reference/bias.json ("sensitivity" cases), written by
tests/reference/bias_cases.R with metafor's leave1out(), influence() and cumul() applied to
rma(yi, vi, method=, test=) (R and metafor versions recorded under "meta"). R is not needed
to run these tests. Consistency checks refit the subsets with ketameta.models.rma directly.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from ketameta.models import rma
from ketameta.sensitivity import cumul, influence, leave1out

REFERENCE = json.loads((Path(__file__).parent / "reference" / "bias.json").read_text())
# The same grid at metafor's tight settings (bias_cases.R --tight): the exact default.
EXACT = json.loads((Path(__file__).parent / "reference" / "bias_exact.json").read_text())
DATASETS = REFERENCE["datasets"]
CASES = REFERENCE["sensitivity"]
# (case, control): metafor's default stopping against bias.json, the exact default
# against bias_exact.json.
BOTH = [(c, "metafor") for c in CASES] + [(c, None) for c in EXACT["sensitivity"]]

# Tolerances.
# RTOL_FIT: every value comes from models refitted by the batch engine, which reproduces
# metafor's Fisher scoring and uniroot() step for step. Largest relative difference measured
# over all cases (metafor 3.8-1, R 4.2.2, NumPy 2.4): 2e-10, for τ² (and I²) of about 1e-8
# reached by ML Fisher scoring, whose last bits differ (absolute 4e-18); everything else
# <= 5e-12. 1e-8 keeps a margin of 50 and is 100 times tighter than the project's 1e-6.
RTOL_FIT = 1e-8
# Batch and 1-D calls run the same code on differently padded arrays (last-bit rounding).
RTOL_BATCH = 1e-12

PINNED = {
    (d, m, t)
    for d in ("bcg", "egger2001", "normand1999", "raudenbush1985", "bcg_k3", "bcg_k2")
    for m in ("EE", "DL", "REML", "ML", "PM")
    for t in ("z", "knha")
}

FIT_FIELDS = (
    "estimate",
    "se",
    "statistic",
    "p_value",
    "ci_low",
    "ci_high",
    "Q",
    "Q_p",
    "tau2",
    "I2",
    "H2",
)
INFLUENCE_FIELDS = (
    "rstudent",
    "dffits",
    "cook_d",
    "cov_r",
    "tau2_del",
    "QE_del",
    "hat",
    "weight",
    "dfbetas",
)


def ref_array(values):
    return np.array([math.nan if x is None else x for x in values], dtype=float)


def assert_matches(actual, expected, what, atol=0.0):
    np.testing.assert_allclose(
        np.asarray(actual, dtype=float), ref_array(expected), rtol=RTOL_FIT, atol=atol,
        err_msg=what,
    )


# Against the tight reference, values whose exact optimum is τ² = 0 carry metafor's
# residue of its absolute threshold 1e-12 (I² and H² scale it by 100/vt and 1/vt).
ATOL_EXACT = {"tau2": 1e-12, "tau2_del": 1e-12, "I2": 1e-8, "H2": 1e-10}


def _atol(key, control):
    return ATOL_EXACT.get(key, 0.0) if control is None else 0.0


def case_id(case):
    return f"{case['dataset']}-{case['method']}-{case['test']}"


def both_id(item):
    case, control = item
    return f"{case_id(case)}-{control or 'exact'}"


def data(case):
    d = DATASETS[case["dataset"]]
    return np.asarray(d["yi"]), np.asarray(d["vi"]), d["order"]


def test_reference_grid_is_complete():
    present = {(c["dataset"], c["method"], c["test"]) for c in CASES}
    assert PINNED <= present
    for c in CASES:
        for part in ("leave1out", "influence", "cumul"):
            assert "error" not in c[part], f"{case_id(c)} {part}: {c[part]}"
    # metafor flags some studies as influential and others not
    flags = [f for c in CASES for f in c["influence"]["influential"]]
    assert any(flags) and not all(flags)


def test_exact_reference_has_the_same_grid():
    assert [case_id(c) for c in EXACT["sensitivity"]] == [case_id(c) for c in CASES]
    assert EXACT["meta"]["control"].startswith("list(threshold = 1e-12")


@pytest.mark.parametrize("item", BOTH, ids=both_id)
def test_leave1out_matches_metafor(item):
    case, control = item
    y, v, _ = data(case)
    res = leave1out(y, v, method=case["method"], test=case["test"], control=control)
    for key in FIT_FIELDS:
        assert_matches(getattr(res, key), case["leave1out"][key], f"{case_id(case)} {key}",
                       _atol(key, control))


@pytest.mark.parametrize("item", BOTH, ids=both_id)
def test_influence_matches_metafor(item):
    case, control = item
    y, v, _ = data(case)
    res = influence(y, v, method=case["method"], test=case["test"], control=control)
    ref = case["influence"]
    for key in INFLUENCE_FIELDS:
        assert_matches(getattr(res, key), ref[key], f"{case_id(case)} {key}",
                       _atol(key, control))
    assert res.influential.tolist() == ref["influential"], case_id(case)


@pytest.mark.parametrize("item", BOTH, ids=both_id)
def test_cumul_matches_metafor(item):
    case, control = item
    y, v, order = data(case)
    res = cumul(y, v, order=order, method=case["method"], test=case["test"], control=control)
    for key in FIT_FIELDS:
        assert_matches(getattr(res, key), case["cumul"][key], f"{case_id(case)} {key}",
                       _atol(key, control))


def padded(names):
    width = max(len(DATASETS[n]["yi"]) for n in names)
    y = np.full((len(names), width), np.nan)
    v = np.full((len(names), width), np.nan)
    for i, n in enumerate(names):
        k = len(DATASETS[n]["yi"])
        y[i, :k] = DATASETS[n]["yi"]
        v[i, :k] = DATASETS[n]["vi"]
    return y, v


@pytest.mark.parametrize(("method", "test"), [("REML", "knha"), ("PM", "z"), ("EE", "knha")])
def test_batch_equals_single_runs(method, test):
    names = ["bcg", "egger2001", "bcg_k2", "normand1999"]
    y, v = padded(names)
    l1o = leave1out(y, v, method=method, test=test)
    inf = influence(y, v, method=method, test=test)
    cum = cumul(y, v, method=method, test=test)
    for i, name in enumerate(names):
        k = len(DATASETS[name]["yi"])
        yi, vi = DATASETS[name]["yi"], DATASETS[name]["vi"]
        single = leave1out(yi, vi, method=method, test=test)
        np.testing.assert_allclose(l1o.estimate[i, :k], single.estimate, rtol=RTOL_BATCH)
        np.testing.assert_allclose(l1o.tau2[i, :k], single.tau2, rtol=RTOL_BATCH)
        assert np.isnan(l1o.estimate[i, k:]).all()
        single_inf = influence(yi, vi, method=method, test=test)
        np.testing.assert_allclose(inf.rstudent[i, :k], single_inf.rstudent, rtol=RTOL_BATCH)
        np.testing.assert_allclose(inf.cook_d[i, :k], single_inf.cook_d, rtol=RTOL_BATCH)
        assert inf.influential[i, :k].tolist() == single_inf.influential.tolist()
        assert not inf.influential[i, k:].any()
        single_cum = cumul(yi, vi, method=method, test=test)
        np.testing.assert_allclose(cum.estimate[i, :k], single_cum.estimate, rtol=RTOL_BATCH)
        assert (cum.order[i, k:] == -1).all()


def test_leave1out_equals_explicit_refits():
    d = DATASETS["raudenbush1985"]
    y, v = np.asarray(d["yi"]), np.asarray(d["vi"])
    res = leave1out(y, v, method="PM", test="knha", level=90)
    for i in (0, 7, 18):
        keep = np.arange(y.size) != i
        ref = rma(y[keep], v[keep], method="PM", test="knha", level=90)
        assert res.estimate[i] == pytest.approx(ref.estimate, rel=RTOL_BATCH)
        assert res.ci_low[i] == pytest.approx(ref.ci_low, rel=RTOL_BATCH)
        assert res.tau2[i] == pytest.approx(ref.tau2, rel=RTOL_BATCH)


def test_cumul_last_step_is_the_full_model_and_order_is_stable():
    d = DATASETS["bcg"]
    y, v, year = np.asarray(d["yi"]), np.asarray(d["vi"]), np.asarray(d["order"])
    res = cumul(y, v, order=year, method="DL", test="knha")
    full = rma(y, v, method="DL", test="knha")
    assert res.estimate[-1] == pytest.approx(full.estimate, rel=RTOL_BATCH)
    assert res.tau2[-1] == pytest.approx(full.tau2, rel=RTOL_BATCH)
    # ties in year keep the input order (R's order() is stable)
    assert res.order.tolist() == np.argsort(year, kind="stable").tolist()
    # the first step is the earliest study on its own, reported as metafor does
    first = int(res.order[0])
    assert res.estimate[0] == pytest.approx(y[first], rel=1e-15)
    assert (res.tau2[0], res.Q[0], res.Q_p[0], res.I2[0], res.H2[0]) == (0, 0, 1, 0, 1)
    # missing sort keys go last
    key = year.astype(float)
    key[0] = np.nan
    assert cumul(y, v, order=key).order[-1] == 0


def test_influence_hat_and_weights_are_consistent():
    d = DATASETS["egger2001"]
    res = influence(d["yi"], d["vi"], method="REML")
    assert res.hat.sum() == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(res.weight, 100.0 * res.hat, rtol=1e-12)


def test_edge_cases_never_raise():
    one_l1o = leave1out([0.3], [0.1])
    assert np.isnan(one_l1o.estimate).all()
    one_inf = influence([0.3], [0.1], test="knha")
    assert np.isnan(one_inf.rstudent).all() and not one_inf.influential.any()
    one_cum = cumul([0.3], [0.1])
    assert one_cum.estimate[0] == 0.3 and one_cum.tau2[0] == 0.0

    two = leave1out([0.3, 0.5], [0.1, 0.2], test="knha")
    np.testing.assert_allclose(two.estimate, [0.5, 0.3])
    assert (two.tau2 == 0).all() and (two.Q_p == 1).all()
    influence([0.3, 0.5], [0.1, 0.2], method="PM", test="knha")

    three = influence([0.3, 0.5, 0.1], [0.1, 0.2, 0.05], method="ML")
    assert np.isfinite(three.rstudent).all()

    # identical effects: the Knapp-Hartung scale is 0 (metafor's rule) - no exception
    for test in ("z", "knha", "adhoc", "t"):
        same = influence([0.4] * 4, [0.1, 0.2, 0.3, 0.4], method="REML", test=test)
        assert (same.tau2_del == 0).all()
        leave1out([0.4] * 4, [0.1, 0.2, 0.3, 0.4], test=test)
        cumul([0.4] * 4, [0.1, 0.2, 0.3, 0.4], test=test)

    batch = influence(
        [[0.3, np.nan, np.nan], [np.nan] * 3, [0.3, 0.5, 0.1]],
        [[0.1, np.nan, np.nan], [np.nan] * 3, [0.1, 0.2, 0.05]],
    )
    assert np.isnan(batch.hat[:2]).all() and np.isfinite(batch.hat[2]).all()
    for res in (two, three, batch, one_cum):
        json.dumps(res.to_dict())


def test_cumul_rejects_order_of_wrong_shape():
    with pytest.raises(ValueError, match="order"):
        cumul([0.1, 0.2, 0.3], [0.1, 0.1, 0.2], order=[1, 2])
