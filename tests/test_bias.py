"""Tests of ketameta.bias (Egger's test, Begg's test, trim and fill) against metafor.

The reference numbers come from tests/reference/bias.json, written by
tests/reference/bias_cases.R (R and metafor versions recorded under "meta", the exact R calls
under "meta.calls"). R is not needed to run these tests. Independent cross-checks use
statsmodels (weighted least squares) and scipy (Kendall's exact null distribution).
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from ketameta._batch import as_batch
from ketameta.bias import _egger_side, _kendall_null_cdf, ranktest, regtest, trimfill

REFERENCE = json.loads((Path(__file__).parent / "reference" / "bias.json").read_text())
# The same grid at metafor's tight settings (bias_cases.R --tight): the exact default.
EXACT = json.loads((Path(__file__).parent / "reference" / "bias_exact.json").read_text())
# regtest(model="rma") at metafor's tight settings (metareg_cases.R).
METAREG = json.loads((Path(__file__).parent / "reference" / "metareg.json").read_text())
DATASETS = REFERENCE["datasets"]
GRID = REFERENCE["meta"]["grid"]

# Tolerances.
# RTOL_CLOSED: regtest and ranktest are closed-form (weighted least squares; Kendall's tau and
# its exact or normal p-value). Largest relative difference measured over all datasets:
# 8e-15 for regtest, 3e-13 for ranktest p-values (metafor 3.8-1, R 4.2.2, NumPy 2.4, SciPy
# 1.17). 1e-10 leaves room for another libm / BLAS.
RTOL_CLOSED = 1e-10
# RTOL_FIT: trim-and-fill refits random-effects models; ketameta reproduces metafor's Fisher
# scoring and uniroot() step for step, so only rounding remains. Largest measured: 9e-13
# (p-values), τ² 3e-15. 1e-8 is the margin also used for the sensitivity analyses, where
# τ² values of 1e-8 reached by Fisher scoring differ in their last bits (2e-10 relative).
RTOL_FIT = 1e-8
# Batch and 1-D calls run the same code on differently padded arrays; sums may round
# differently in the last bit.
RTOL_BATCH = 1e-12

# Pinned grid: the JSON must contain at least these cases (guard against a shrinking grid).
PINNED_BIAS_SETS = {
    "bcg",
    "hackshaw1998",
    "egger2001",
    "normand1999",
    "raudenbush1985",
    "hine1989",
    "curtis1998",
    "bcg_k3",
    "bcg_k2",
}
PINNED_METHODS = ("EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
PINNED_TRIMFILL = {
    (d, m, t, e, None)
    for d in PINNED_BIAS_SETS
    for m in PINNED_METHODS
    for t in ("z", "knha")
    for e in ("L0", "R0")
} | {
    (d, "REML", "z", e, s)
    for d, s in (("bcg", "left"), ("hackshaw1998", "right"), ("egger2001", "left"))
    for e in ("L0", "R0")
}

TRIMFILL_CASES = REFERENCE["trimfill"]
TRIMFILL_FIELDS = (
    "se_k0",
    "p_k0",
    "estimate",
    "se",
    "statistic",
    "p_value",
    "ci_low",
    "ci_high",
    "tau2",
    "Q",
    "I2",
)


def ref_float(x):
    """JSON null → NaN."""
    return math.nan if x is None else float(x)


def assert_close(actual, expected, rtol, what, atol=0.0):
    """Compare a scalar with a reference value; both undefined (NaN/None) counts as equal."""
    expected = ref_float(expected)
    actual = math.nan if actual is None else float(actual)
    if math.isnan(expected):
        assert math.isnan(actual), f"{what}: expected undefined, got {actual!r}"
        return
    assert actual == pytest.approx(expected, rel=rtol, abs=atol), what


def case_id(case):
    side = f"-side={case['side']}" if case["side"] else ""
    return f"{case['dataset']}-{case['method']}-{case['test']}-{case['estimator']}{side}"


# ---------------------------------------------------------------------------------------
# the reference file itself


def test_reference_records_versions():
    meta = REFERENCE["meta"]
    assert meta["R"].startswith("R version ")
    assert tuple(int(p) for p in meta["metafor"].split(".")[:2]) >= (3, 8)


def test_reference_grid_is_complete():
    assert PINNED_BIAS_SETS <= set(REFERENCE["regtest"])
    assert PINNED_BIAS_SETS <= set(REFERENCE["ranktest"])
    assert PINNED_BIAS_SETS <= set(REFERENCE["side_regression"])
    assert len(SIDE_CASES) >= len(PINNED_BIAS_SETS) * len(PINNED_METHODS) - 8
    present = {
        (c["dataset"], c["method"], c["test"], c["estimator"], c["side"]) for c in TRIMFILL_CASES
    }
    missing = PINNED_TRIMFILL - present
    assert not missing, f"trimfill cases missing from bias.json: {sorted(missing)[:5]}"
    # the grid covers both sides, k0 = 0 and k0 > 0, and metafor errors
    ok = [c["result"] for c in TRIMFILL_CASES if "error" not in c["result"]]
    assert {r["side"] for r in ok} == {"left", "right"}
    assert any(r["k0"] == 0 for r in ok) and any(r["k0"] > 0 for r in ok)
    assert any("error" in c["result"] for c in TRIMFILL_CASES)
    # ranktest: exact (no ties) and normal approximation (ties) both present
    assert {r["ties"] for r in REFERENCE["ranktest"].values()} == {True, False}


# ---------------------------------------------------------------------------------------
# regtest


@pytest.mark.parametrize("name", sorted(REFERENCE["regtest"]))
def test_regtest_matches_metafor(name):
    ref = REFERENCE["regtest"][name]
    d = DATASETS[name]
    res = regtest(d["yi"], d["vi"], model="lm")
    for key in (
        "statistic",
        "p_value",
        "df",
        "slope",
        "slope_se",
        "limit_estimate",
        "limit_ci_low",
        "limit_ci_high",
    ):
        assert_close(getattr(res, key), ref[key], RTOL_CLOSED, f"{name}: {key}")


def test_regtest_batch_equals_single_runs():
    names = sorted(REFERENCE["regtest"])
    width = max(len(DATASETS[n]["yi"]) for n in names)
    y = np.full((len(names), width), np.nan)
    v = np.full((len(names), width), np.nan)
    for i, n in enumerate(names):
        k = len(DATASETS[n]["yi"])
        y[i, :k] = DATASETS[n]["yi"]
        v[i, :k] = DATASETS[n]["vi"]
    batch = regtest(y, v, model="lm")
    for i, n in enumerate(names):
        single = regtest(DATASETS[n]["yi"], DATASETS[n]["vi"], model="lm")
        for key in ("statistic", "p_value", "slope", "limit_estimate", "limit_ci_low"):
            assert_close(batch.__getattribute__(key)[i], getattr(single, key), RTOL_BATCH, key)
        assert batch.warnings[i] == single.warnings


def test_regtest_agrees_with_statsmodels_wls():
    d = DATASETS["hackshaw1998"]
    y, v = np.asarray(d["yi"]), np.asarray(d["vi"])
    ols = sm.WLS(y, sm.add_constant(np.sqrt(v)), weights=1.0 / v).fit()
    res = regtest(y, v, level=90, model="lm")
    assert res.slope == pytest.approx(ols.params[1], rel=1e-12)
    assert res.statistic == pytest.approx(ols.tvalues[1], rel=1e-12)
    assert res.p_value == pytest.approx(ols.pvalues[1], rel=1e-10)
    low, high = ols.conf_int(alpha=0.10)[0]
    assert (res.limit_ci_low, res.limit_ci_high) == pytest.approx((low, high), rel=1e-12)


def test_regtest_edge_cases_never_raise():
    one = regtest([0.3], [0.1], model="lm")
    assert math.isnan(one.statistic) and math.isnan(one.slope) and one.warnings
    two = regtest([0.3, 0.5], [0.1, 0.2], model="lm")
    assert math.isfinite(two.slope) and math.isfinite(two.limit_estimate)
    assert math.isnan(two.statistic) and math.isnan(two.p_value) and two.df == 0
    three = regtest([0.3, 0.5, 0.1], [0.1, 0.2, 0.05], model="lm")
    assert math.isfinite(three.statistic) and three.df == 1 and not three.warnings
    same_y = regtest([0.4] * 4, [0.1, 0.2, 0.3, 0.4], model="lm")
    assert same_y.slope == 0.0 and same_y.limit_estimate == 0.4
    assert math.isnan(same_y.statistic) and same_y.warnings
    same_v = regtest([0.1, 0.5, 0.3], [0.2, 0.2, 0.2], model="lm")
    assert math.isnan(same_v.statistic) and "full rank" in same_v.warnings[0]


# ---------------------------------------------------------------------------------------
# ranktest


@pytest.mark.parametrize("name", sorted(REFERENCE["ranktest"]))
def test_ranktest_matches_metafor(name):
    ref = REFERENCE["ranktest"][name]
    d = DATASETS[name]
    res = ranktest(d["yi"], d["vi"])
    assert_close(res.tau, ref["tau"], RTOL_CLOSED, f"{name}: tau")
    assert_close(res.p_value, ref["p_value"], RTOL_CLOSED, f"{name}: p")
    assert res.exact == (not ref["ties"])


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_kendall_null_distribution_by_enumeration(n):
    # P(number of inversions <= q) over all n! permutations, counted directly
    counts = np.zeros(n * (n - 1) // 2 + 1)
    for perm in itertools.permutations(range(n)):
        inv = sum(perm[i] > perm[j] for i in range(n) for j in range(i + 1, n))
        counts[inv] += 1
    np.testing.assert_allclose(_kendall_null_cdf(n), np.cumsum(counts) / counts.sum(), rtol=1e-14)


def test_ranktest_exact_p_agrees_with_scipy():
    for name in ("bcg", "egger2001", "hine1989", "normand1999"):
        d = DATASETS[name]
        y, v = np.asarray(d["yi"]), np.asarray(d["vi"])
        w = 1.0 / v
        ystar = (y - np.sum(w * y) / np.sum(w)) / np.sqrt(v - 1.0 / np.sum(w))
        ref = stats.kendalltau(ystar, v, method="exact")
        res = ranktest(y, v)
        assert res.tau == pytest.approx(ref.statistic, rel=1e-12)
        assert res.p_value == pytest.approx(ref.pvalue, rel=1e-9)


def test_ranktest_edge_cases_never_raise():
    one = ranktest([0.2], [0.1])
    assert math.isnan(one.tau) and math.isnan(one.p_value) and one.warnings
    two = ranktest([0.2, 0.5], [0.1, 0.3])
    assert abs(two.tau) == pytest.approx(1.0) and two.p_value == 1.0
    same = ranktest([0.4] * 5, [0.1, 0.2, 0.3, 0.4, 0.5])
    assert math.isnan(same.tau) and same.warnings
    batch = ranktest([[0.2, np.nan], [0.1, 0.3]], [[0.1, np.nan], [0.1, 0.2]])
    assert math.isnan(batch.tau[0]) and math.isfinite(batch.tau[1])


# ---------------------------------------------------------------------------------------
# trimfill


SIDE_CASES = [
    (name, method)
    for name in sorted(REFERENCE["side_regression"])
    for method in PINNED_METHODS
    if "error" not in REFERENCE["side_regression"][name][method]
]


@pytest.mark.parametrize(("name", "method"), SIDE_CASES)
@pytest.mark.parametrize("control", ["metafor", None])
def test_side_regression_matches_metafor(name, method, control):
    """τ² and slope of rma(yi, vi, mods=sqrt(vi), method=), the fit that picks the side,
    through the design-matrix core; metafor's default stopping and the exact optimum."""
    ref = (REFERENCE if control else EXACT)["side_regression"][name][method]
    d = DATASETS[name]
    b = as_batch(np.atleast_2d(d["yi"]), np.atleast_2d(d["vi"]))
    _, ok, tau2, slope = _egger_side(b, method, control)
    assert ok[0]
    atol = 0.0 if control else 1e-12  # metafor's residue of threshold 1e-12 at tau2 = 0
    assert tau2[0] == pytest.approx(ref_float(ref["tau2"]), rel=RTOL_FIT, abs=atol)
    assert_close(slope[0], ref["slope"], RTOL_FIT, f"{name} {method}: slope")


def result_row(res, i=None):
    """The compared fields of a TrimFillResult as a dict (row ``i`` of a batch)."""
    names = ("k0", "side", "k", "filled_yi", "filled_vi", "warnings", *TRIMFILL_FIELDS)
    if i is None:
        return {n: getattr(res, n) for n in names}
    return {n: getattr(res, n)[i] for n in names}


def check_trimfill(row, ref, what, atol=0.0):
    if "error" in ref:
        assert math.isnan(row["k0"]), f"{what}: metafor stops ({ref['error']}), expected NaN k0"
        assert row["warnings"], what
        return
    assert row["k0"] == ref["k0"], f"{what}: k0"
    assert row["side"] == ref["side"], f"{what}: side"
    assert row["k"] == ref["k"], f"{what}: k"
    for key in TRIMFILL_FIELDS:
        assert_close(row[key], ref[key], RTOL_FIT, f"{what}: {key}", atol if key in (
            "tau2", "I2") else 0.0)
    fy = np.asarray(row["filled_yi"], dtype=float)
    np.testing.assert_allclose(fy[~np.isnan(fy)], ref["filled_yi"], rtol=RTOL_FIT, err_msg=what)
    fv = np.asarray(row["filled_vi"], dtype=float)
    np.testing.assert_array_equal(fv[~np.isnan(fv)], ref["filled_vi"], err_msg=what)


def padded(names):
    width = max(len(DATASETS[n]["yi"]) for n in names)
    y = np.full((len(names), width), np.nan)
    v = np.full((len(names), width), np.nan)
    for i, n in enumerate(names):
        k = len(DATASETS[n]["yi"])
        y[i, :k] = DATASETS[n]["yi"]
        v[i, :k] = DATASETS[n]["vi"]
    return y, v


def _groups(cases=TRIMFILL_CASES):
    groups = {}
    for case in cases:
        key = (case["method"], case["test"], case["estimator"], case["side"])
        groups.setdefault(key, []).append(case)
    return sorted(groups.items(), key=lambda kv: tuple(str(x) for x in kv[0]))


GROUPS = _groups()


@pytest.mark.parametrize(
    ("key", "cases"), GROUPS, ids=["-".join(map(str, key)) for key, _ in GROUPS]
)
def test_trimfill_matches_metafor_batch(key, cases):
    """All datasets of one (method, test, estimator, side) as one 2-D call."""
    method, test, estimator, side = key
    y, v = padded([c["dataset"] for c in cases])
    res = trimfill(
        y, v, method=method, test=test, estimator=estimator, side=side, control="metafor"
    )
    for i, case in enumerate(cases):
        check_trimfill(result_row(res, i), case["result"], case_id(case))


EXACT_GROUPS = {key: cases for key, cases in _groups(EXACT["trimfill"])}


@pytest.mark.parametrize(
    ("key", "cases"), sorted(EXACT_GROUPS.items(), key=lambda kv: tuple(map(str, kv[0]))),
    ids=["-".join(map(str, key)) for key in sorted(EXACT_GROUPS, key=lambda k: tuple(map(str, k)))],
)
def test_trimfill_default_is_the_exact_optimum(key, cases):
    """The default control against trimfill() at metafor's tight settings."""
    method, test, estimator, side = key
    y, v = padded([c["dataset"] for c in cases])
    res = trimfill(y, v, method=method, test=test, estimator=estimator, side=side)
    for i, case in enumerate(cases):
        check_trimfill(result_row(res, i), case["result"], case_id(case), atol=1e-12)


def test_exact_trimfill_grid_equals_the_default_grid():
    assert [case_id(c) for c in EXACT["trimfill"]] == [case_id(c) for c in TRIMFILL_CASES]
    assert EXACT["meta"]["control"].startswith("list(threshold = 1e-12")


@pytest.mark.parametrize(
    "case",
    [c for c in TRIMFILL_CASES if c["method"] in ("REML", "DL", "EE") and c["test"] == "knha"]
    + [c for c in TRIMFILL_CASES if c["side"]],
    ids=case_id,
)
def test_trimfill_matches_metafor_single(case):
    d = DATASETS[case["dataset"]]
    res = trimfill(
        d["yi"],
        d["vi"],
        method=case["method"],
        test=case["test"],
        estimator=case["estimator"],
        side=case["side"],
        control="metafor",
    )
    check_trimfill(result_row(res), case["result"], case_id(case))
    if not math.isnan(res.k0):
        assert res.model.k == res.k and res.model.test == case["test"]
        json.dumps(res.to_dict())


def test_trimfill_filled_studies_mirror_the_trimmed_estimate():
    d = DATASETS["hackshaw1998"]
    res = trimfill(d["yi"], d["vi"], method="EE")
    assert res.side == "left" and res.k0 > 0
    largest = np.sort(np.asarray(d["yi"]))[-int(res.k0) :]
    centre = (res.filled_yi + largest) / 2.0
    np.testing.assert_allclose(centre, centre[0], rtol=1e-12)


def test_trimfill_edge_cases_never_raise():
    one = trimfill([0.2], [0.1])
    assert math.isnan(one.k0) and one.model is None and one.side is None and one.warnings
    two = trimfill([0.2, 0.6], [0.1, 0.3])
    assert math.isnan(two.k0) and "side" in two.warnings[0]
    two_side = trimfill([0.2, 0.6], [0.1, 0.3], side="left")
    assert two_side.k0 >= 0 and math.isfinite(two_side.estimate)
    three = trimfill([0.2, 0.6, 0.1], [0.1, 0.3, 0.05])
    assert three.k0 >= 0 and three.side in ("left", "right")
    for estimator in ("L0", "R0"):
        # identical effects: no asymmetry (metafor's answer here is rounding noise)
        same_y = trimfill([0.4] * 5, [0.1, 0.2, 0.3, 0.4, 0.5], estimator=estimator)
        assert same_y.k0 == 0 and same_y.side == "left"
        assert same_y.estimate == pytest.approx(0.4, rel=1e-14)
    same_v = trimfill([0.1, 0.5, 0.3, 0.9], [0.2] * 4)
    assert math.isnan(same_v.k0) and same_v.warnings
    assert trimfill([0.1, 0.5, 0.3, 0.9], [0.2] * 4, side="left").k0 >= 0
    batch = trimfill(
        [[0.2, np.nan, np.nan], [np.nan] * 3, [0.2, 0.6, 0.1]],
        [[0.1, np.nan, np.nan], [np.nan] * 3, [0.1, 0.3, 0.05]],
        method="PM",
        test="knha",
    )
    assert np.isnan(batch.k0[:2]).all() and batch.k0[2] >= 0
    assert json.dumps(batch.to_dict())


def test_trimfill_rejects_invalid_options():
    with pytest.raises(ValueError, match="estimator"):
        trimfill([0.1, 0.2, 0.3], [0.1, 0.1, 0.2], estimator="Q0")
    with pytest.raises(ValueError, match="side"):
        trimfill([0.1, 0.2, 0.3], [0.1, 0.1, 0.2], side="up")
    with pytest.raises(ValueError, match="method"):
        trimfill([0.1, 0.2, 0.3], [0.1, 0.1, 0.2], method="XX")


# ---------------------------------------------------------------------------------------
# Egger's test with the mixed-effects model

REGTEST_RMA = [
    (name, key)
    for name, data in METAREG["regtest"].items()
    for key in data["results"]
]


def test_regtest_rma_grid_is_complete():
    assert set(METAREG["regtest"]) == {"bangertdrowns2004", "molloy2014", "bcg"}
    for data in METAREG["regtest"].values():
        assert sorted(data["results"]) == sorted(
            f"{p}/{m}/{t}" for p in ("sei", "vi", "ni", "ninv", "sqrtninv")
            for m in ("EE", "DL", "REML", "ML", "PM") for t in ("z", "knha")
        )
        assert not any("error" in r for r in data["results"].values())


@pytest.mark.parametrize(("name", "key"), REGTEST_RMA)
def test_regtest_rma_matches_metafor(name, key):
    """regtest(yi, vi, ni=ni, model="rma", predictor, method, test) at tight settings."""
    data = METAREG["regtest"][name]
    ref = data["results"][key]
    predictor, method, test = key.split("/")
    res = regtest(data["yi"], data["vi"], ni=data["ni"], predictor=predictor, method=method,
                  test=test)
    assert res.model == "rma" and res.predictor == predictor
    for field in ("statistic", "p_value", "slope", "slope_se", "limit_estimate",
                  "limit_ci_low", "limit_ci_high"):
        assert_close(getattr(res, field), ref[field], 1e-7, f"{name} {key}: {field}")
    assert res.tau2 == pytest.approx(ref["tau2"], rel=1e-7, abs=1e-12)
    assert res.df == (math.inf if test == "z" else ref["df"])


def test_regtest_rma_batch_equals_single_runs():
    names = ["bcg", "molloy2014"]
    rows = [METAREG["regtest"][n] for n in names]
    width = max(len(r["yi"]) for r in rows)
    y, v, n = (np.full((2, width), np.nan) for _ in range(3))
    for i, r in enumerate(rows):
        k = len(r["yi"])
        y[i, :k], v[i, :k], n[i, :k] = r["yi"], r["vi"], r["ni"]
    batch = regtest(y, v, ni=n, predictor="ninv", test="knha")
    for i, r in enumerate(rows):
        one = regtest(r["yi"], r["vi"], ni=r["ni"], predictor="ninv", test="knha")
        assert batch.statistic[i] == pytest.approx(one.statistic, rel=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "glm"}, "model must be"),
        ({"predictor": "n"}, "predictor must be one of"),
        ({"predictor": "ni"}, "needs the sample sizes ni"),
        ({"predictor": "ni", "ni": [10, 0, 12, 8]}, "must be positive"),
    ],
)
def test_regtest_rejects_invalid_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        regtest([0.1, 0.4, 0.3, 0.2], [0.1, 0.2, 0.05, 0.1], **kwargs)


def test_regtest_rma_undefined_cases_never_raise():
    two = regtest([0.3, 0.5], [0.1, 0.2])
    assert math.isnan(two.statistic) and "k = 2" in two.warnings[0]
    same_v = regtest([0.1, 0.5, 0.3], [0.2, 0.2, 0.2], method="EE")
    assert math.isnan(same_v.statistic) and same_v.warnings
