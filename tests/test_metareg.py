"""Meta-regression (``rma(yi, vi, mods=...)``) against metafor at its tight settings.

Reference numbers come from ``tests/reference/metareg.json``, written by
``tests/reference/metareg_cases.R``: ``rma(yi, vi, mods = <formula>, method, test,
control = list(threshold = 1e-12, tol = 1e-12, maxiter = 10000))``, its ``predict()`` at two
rows of the model matrix and ``confint(..., control = list(tol = 1e-12))``, for dat.bcg,
dat.bangertdrowns2004 and dat.molloy2014 with one to three moderators, continuous and
categorical, for every estimator and test. The moderators are passed here as a DataFrame
(categorical columns as strings), so the R ``factor()`` coding is checked as well.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ketameta
from ketameta.models import MetaRegResult, design_matrix, rma

REF = json.loads((Path(__file__).parent / "reference" / "metareg.json").read_text())

# Both sides are the exact optimum. The worst case is dat.bcg with ablat + year + alloc,
# whose design (year ~ 1950, spread 10) makes X'WX ill-conditioned (~1e10): metafor
# inverts it by Cholesky, ketameta solves by QR of W^1/2 X, and the two agree to ~2e-8
# relative in CI limits near 0; 1e-7 keeps a margin. Entries that are 0 in exact
# arithmetic (off-diagonal covariances of orthogonal dummies) come out as 1e-20 in R.
RTOL = 1e-7
ATOL = 1e-12
ATOL_TAU2 = 1e-12  # metafor's absolute threshold 1e-12 where the optimum is tau2 = 0

EXPECTED_MODELS = (
    "bcg_ablat",
    "bcg_ablat_year",
    "bcg_alloc",
    "bcg_ablat_year_alloc",
    "bcg_alloc_nointercept",
    "bangertdrowns2004_length",
    "bangertdrowns2004_grade",
    "bangertdrowns2004_length_imag_meta",
    "molloy2014_meanage",
    "molloy2014_quality_design",
)
METHODS = ("EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
TESTS = ("z", "knha", "adhoc", "t")
GRID = [(name, f"{m}/{t}") for name in EXPECTED_MODELS for m in METHODS for t in TESTS]


def _arr(x):
    return np.array([np.nan if v is None else v for v in np.ravel(x)], dtype=float).reshape(
        np.shape(x)
    )


def _frame(case):
    return pd.DataFrame(case["columns"])


def test_reference_grid_is_complete():
    assert tuple(REF["metareg"]) == EXPECTED_MODELS
    assert tuple(REF["methods"]) == METHODS and tuple(REF["tests"]) == TESTS
    assert REF["control"] == {
        "threshold": 1e-12, "tol": 1e-12, "maxiter": 10000, "confint_tol": 1e-12
    }  # fmt: skip
    for case in REF["metareg"].values():
        assert sorted(case["fits"]) == sorted(f"{m}/{t}" for m in METHODS for t in TESTS)
        assert not any("error" in fit for fit in case["fits"].values())
    sizes = {len(case["fits"]["REML/z"]["names"]) for case in REF["metareg"].values()}
    assert sizes == {2, 3, 4, 5}  # one to four coefficients besides one- to three moderators
    assert REF["r_version"].startswith("R version") and REF["metafor_version"]


@pytest.mark.parametrize(("name", "key"), GRID)
def test_matches_metafor(name, key):
    case = REF["metareg"][name]
    ref = case["fits"][key]
    method, test = key.split("/")
    res = rma(case["yi"], case["vi"], mods=_frame(case), intercept=case["intercept"],
              method=method, test=test)
    assert isinstance(res, MetaRegResult)
    expected_names = tuple(n.replace("factor(", "").replace(")", "") for n in ref["names"])
    assert res.names == expected_names
    pred = res.predict(np.array(ref["newmods"]))
    pairs = {
        "beta": res.beta, "se": res.se, "statistic": res.statistic, "p_value": res.p_value,
        "ci_low": res.ci_low, "ci_high": res.ci_high, "vcov": res.vcov, "QM": res.QM,
        "QM_p": res.QM_p, "QE": res.QE, "QE_p": res.QE_p, "se_tau2": res.se_tau2,
        "H2": res.H2, "pred": pred.pred, "pred_se": pred.se, "pred_ci_low": pred.ci_low,
        "pred_ci_high": pred.ci_high, "pred_pi_low": pred.pi_low,
        "pred_pi_high": pred.pi_high,
    }  # fmt: skip
    for field, mine in pairs.items():
        np.testing.assert_allclose(mine, _arr(ref[field]), rtol=RTOL, atol=ATOL,
                                   err_msg=field)
    for field in ("tau2", "I2", "R2"):
        np.testing.assert_allclose(getattr(res, field), _arr(ref[field]), rtol=RTOL,
                                   atol=ATOL_TAU2 * (100 if field != "tau2" else 1),
                                   err_msg=field)
    if method != "EE":
        for field in ("tau2_ci_low", "tau2_ci_high", "I2_ci_low", "I2_ci_high"):
            np.testing.assert_allclose(getattr(res, field), _arr(ref[field]), rtol=RTOL,
                                       atol=ATOL_TAU2, err_msg=field)
    p = len(ref["names"])
    assert res.QM_df == ref["QM_df"][0] == (p - 1 if case["intercept"] else p)
    assert res.QE_df == ref["QE_df"] == res.k - p
    assert res.df == (math.inf if test == "z" else ref["df"])
    assert res.converged


def test_design_matrix_codes_factors_as_r():
    frame = pd.DataFrame({
        "dose": [0.5, 1.0, 0.5, np.nan],
        "route": ["IV", "IN", "oral", "IV"],
        "blind": [True, False, True, True],
        "arm": pd.Categorical(["b", "a", "b", "a"], categories=["b", "a"]),
    })  # fmt: skip
    x, names = design_matrix(frame)
    assert names == ("intrcpt", "dose", "routeIV", "routeoral", "blindTRUE", "arma")
    np.testing.assert_array_equal(x[:3, 2:], [[1, 0, 1, 0], [0, 0, 0, 1], [0, 1, 1, 0]])
    assert np.isnan(x[3, 1])
    x, names = design_matrix(frame[["route"]], intercept=False)
    assert names == ("routeIN", "routeIV", "routeoral")  # all levels without an intercept
    with pytest.raises(ValueError, match="one row per study: 4 rows for 3 studies"):
        design_matrix(frame, k=3)
    with pytest.raises(ValueError, match="no coefficient"):
        design_matrix(np.zeros((3, 0)), intercept=False)


def test_missing_moderator_omits_the_study_with_a_note():
    case = REF["metareg"]["bcg_ablat"]
    ablat = np.array(case["columns"]["ablat"], dtype=float)
    full = rma(case["yi"], case["vi"], mods=ablat)
    yi, vi = case["yi"], case["vi"]
    ablat[0] = np.nan
    res = rma(yi, vi, mods=ablat)
    sub = rma(yi[1:], vi[1:], mods=ablat[1:])
    np.testing.assert_allclose(res.beta, sub.beta, rtol=1e-12)
    assert res.k == len(yi) - 1 and math.isnan(res.weights[0])
    assert res.warnings[0].startswith("1 study with a missing moderator omitted")
    assert full.names == ("intrcpt", "X1")


def test_array_and_frame_give_the_same_model():
    case = REF["metareg"]["bcg_ablat_year"]
    frame = _frame(case)
    a = rma(case["yi"], case["vi"], mods=frame.to_numpy(), method="PM", test="knha")
    b = rma(case["yi"], case["vi"], mods=frame, method="PM", test="knha")
    np.testing.assert_array_equal(a.beta, b.beta)
    assert a.names == ("intrcpt", "X1", "X2") and b.names == ("intrcpt", "ablat", "year")


@pytest.mark.parametrize("method", METHODS)
def test_batch_equals_row_by_row(method):
    """(m, k, p) and shared (k, p) designs, ragged rows: the same as one model at a time."""
    rng = np.random.default_rng(8)
    m, k = 6, 12
    x = rng.normal(size=(m, k, 2))
    y = 0.2 + x @ np.array([0.3, -0.2]) + rng.normal(0, 0.3, (m, k))
    v = rng.uniform(0.01, 0.2, (m, k))
    y[1, 9:] = v[1, 9:] = np.nan
    for mods in (x, x[0]):
        batch = rma(y, v, mods=mods, method=method, test="knha")
        assert batch.is_batch and batch.beta.shape == (m, 3)
        for i in range(m):
            keep = ~np.isnan(y[i])
            xi = (mods[i] if mods.ndim == 3 else mods)[keep]
            one = rma(y[i, keep], v[i, keep], mods=xi, method=method, test="knha")
            for field in ("beta", "se", "vcov", "QM", "QE", "tau2", "R2", "tau2_ci_high"):
                np.testing.assert_allclose(getattr(batch, field)[i], getattr(one, field),
                                           rtol=1e-9, atol=1e-13, err_msg=field)


def test_intercept_only_design_equals_the_closed_forms():
    """The design-matrix core with X = 1 reproduces the intercept-only fast path."""
    case = REF["metareg"]["bcg_ablat"]
    for method in METHODS:
        for test in TESTS:
            fast = rma(case["yi"], case["vi"], method=method, test=test)
            core = rma(case["yi"], case["vi"], mods=np.zeros((len(case["yi"]), 0)),
                       method=method, test=test)
            assert core.names == ("intrcpt",) and math.isnan(core.R2)
            pairs = (("estimate", core.beta[0]), ("se", core.se[0]), ("tau2", core.tau2),
                     ("Q", core.QE), ("I2", core.I2), ("tau2_ci_low", core.tau2_ci_low),
                     ("tau2_ci_high", core.tau2_ci_high))
            for name, value in pairs:
                assert value == pytest.approx(
                    getattr(fast, name), rel=1e-10, abs=1e-13, nan_ok=True
                ), (method, test, name)


def test_fit_exposes_what_robust_variance_estimation_reads():
    case = REF["metareg"]["bcg_ablat"]
    res = rma(case["yi"], case["vi"], mods=_frame(case), test="knha")
    k = len(case["yi"])
    assert res.X.shape == (k, 2) and res.vcov.shape == (2, 2) and res.beta.shape == (2,)
    np.testing.assert_array_equal(res.X[:, 0], 1.0)
    assert res.yi.shape == res.vi.shape == (k,) and res.test == "knha" and res.level == 95
    base = rma(case["yi"], case["vi"], test="knha")
    assert base.X.shape == (k, 1) and base.vcov.shape == (1, 1)
    assert base.beta[0] == base.estimate and base.vcov[0, 0] == pytest.approx(base.se**2)


def test_to_dict_and_coefficients_are_plain_json():
    case = REF["metareg"]["bcg_alloc"]
    res = rma(case["yi"], case["vi"], mods=_frame(case))
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["names"] == ["intrcpt", "allocrandom", "allocsystematic"]
    assert len(d["vcov"]) == 3 and d["control"] == "exact"
    rows = res.coefficients()
    assert [r["name"] for r in rows] == d["names"] and rows[0]["beta"] == d["beta"][0]


def test_collinear_moderators_are_refused():
    with pytest.raises(ValueError, match="not of full rank"):
        rma([0.1, 0.3, 0.2, 0.5], [0.1] * 4, mods=np.array([[1, 2], [2, 4], [3, 6], [4, 8.0]]))


def test_rma_with_mods_is_exported():
    assert ketameta.MetaRegResult is MetaRegResult
