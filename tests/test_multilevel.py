"""Tests of ketameta.rma_mv and ketameta.vcalc against metafor's rma.mv() and vcalc().

Reference numbers come from ``tests/reference/rma_mv.json``, written by
``tests/reference/rma_mv_cases.R`` (metafor's rma.mv(), predict(), confint(), logLik() and
vcalc(); the R, metafor and clubSandwich versions and the exact calls are recorded in the
file). Regenerate with ``Rscript tests/reference/rma_mv_cases.R`` from the repository root.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ketameta
from ketameta import rma_mv, vcalc

REF = json.loads((Path(__file__).parent / "reference" / "rma_mv.json").read_text())

# Everything that follows from sigma2 (coefficients, their covariance, tests, CIs, QE, QM,
# the log-likelihood, predictions) is closed-form given sigma2: with sigma2 fixed at
# metafor's estimate the two agree at rounding level (observed worst 3e-13).
RTOL = 1e-9
ATOL = 1e-13
# metafor's rma.mv optimises log(sigma2) with nlminb and a numerical gradient; its optimum
# is only determined to ~1e-6 relative in sigma2 whatever the control settings (the
# likelihood is flat there; observed worst 2.0e-6, timecourse_time ML). Ours is the exact
# maximum: its log-likelihood is never below metafor's (checked below) and the one-level
# model equals metafor's rma() REML/ML run to the exact root to 1e-12. Estimated sigma2 and the quantities that
# depend on it are therefore compared with this tolerance, and at the boundary (where
# metafor reports ~1e-11 instead of 0) absolutely.
RTOL_OPTIMUM = 5e-6
ATOL_SIGMA2 = 1e-9
# Profile-likelihood CI bounds: the R side's roots use uniroot(tol = 1e-10) on profiles
# re-optimised by nlminb; observed worst 1.4e-9 relative.
RTOL_CI = 1e-7

EXPECTED_CASES = (
    "konstantopoulos2011",
    "konstantopoulos2011_year",
    "berkey1998",
    "berkey1998_outcome",
    "bcg",
    "bcg_ablat",
    "two_clusters",
    "sigma2_cluster_zero",
    "timecourse",
    "timecourse_logdays",
    "timecourse_time",
)
EXPECTED_FITS = 80


def _mods(case):
    if not case["mods"]:
        return None
    cols = {}
    for name, values in case["mods"].items():
        levels = case["mod_levels"].get(name)
        cols[name] = pd.Categorical(values, categories=levels) if levels else values
    return pd.DataFrame(cols)


def _fits():
    for name, case in REF["cases"].items():
        for key in case["fits"]:
            yield pytest.param(name, key, id=f"{name}-{key}")


def _fit(name, key, **kwargs):
    case = REF["cases"][name]
    random, method, test = key.split("|")
    return rma_mv(
        case["yi"],
        np.array(case["V"]),
        case["cluster"],
        case["effect"],
        mods=_mods(case),
        random=random,
        method=method,
        test=test,
        **kwargs,
    )


def _close(actual, expected, rtol, atol=ATOL):
    expected = np.array(expected, dtype=float)
    np.testing.assert_allclose(np.asarray(actual, dtype=float), expected, rtol=rtol, atol=atol)


def test_reference_grid_is_complete():
    assert tuple(REF["cases"]) == EXPECTED_CASES
    n_fits = sum(len(c["fits"]) for c in REF["cases"].values())
    assert n_fits == EXPECTED_FITS
    for case in REF["cases"].values():
        for fit in case["fits"].values():
            assert "error" not in fit
            assert len(fit["sigma2_ci"]) == len(fit["sigma2"])
    assert REF["metafor_version"].startswith("3.8")


@pytest.mark.parametrize(("name", "key"), list(_fits()))
def test_given_sigma2_everything_equals_metafor(name, key):
    ref = REF["cases"][name]["fits"][key]
    res = _fit(name, key, sigma2=ref["sigma2"], profile=False)
    assert res.coef_names == tuple(ref["coef_names"])
    for field in ("beta", "se", "statistic", "p_value", "ci_low", "ci_high", "vcov"):
        _close(getattr(res, field), ref[field], RTOL)
    _close(res.QE, ref["QE"], RTOL)
    _close(res.QE_p, ref["QE_p"], RTOL)
    assert res.QE_df == ref["QE_df"]
    _close(res.QM, ref["QM"], RTOL)
    _close(res.QM_p, ref["QM_p"], RTOL)
    assert res.QM_df == tuple(int(d) for d in ref["QM_df"] if d is not None)
    _close(res.loglik, ref["loglik"], RTOL)
    _close([res.deviance, res.aic, res.bic], [ref["deviance"], ref["aic"], ref["bic"]], RTOL)
    assert list(res.s_nlevels) == ref["s_nlevels"]
    if ref["df"] is None:
        assert math.isinf(res.df)
    else:
        assert res.df == ref["df"]
    newmods = REF["cases"][name]["newmods"]
    pred = res.predict(None if newmods is None else np.array(newmods))
    for field in ("pred", "se", "ci_low", "ci_high", "pi_low", "pi_high"):
        _close(pred[field], ref["predict"][field], RTOL)


@pytest.mark.parametrize(("name", "key"), list(_fits()))
def test_estimated_model_equals_metafor(name, key):
    ref = REF["cases"][name]["fits"][key]
    res = _fit(name, key)
    assert res.converged
    # the exact optimum is at least as good as metafor's
    assert res.loglik >= ref["loglik"] - 1e-12 * abs(ref["loglik"])
    _close(res.sigma2, ref["sigma2"], RTOL_OPTIMUM, ATOL_SIGMA2)
    # an error in sigma2 moves beta and the CI bounds by a fraction of the SE (so
    # absolutely, not relative to a coefficient near 0) and doubles in a variance
    scale = RTOL_OPTIMUM * float(np.max(res.se))
    for field in ("beta", "ci_low", "ci_high"):
        _close(getattr(res, field), ref[field], RTOL_OPTIMUM, scale)
    _close(res.se, ref["se"], RTOL_OPTIMUM)
    _close(res.vcov, ref["vcov"], 2 * RTOL_OPTIMUM, 2 * RTOL_OPTIMUM * float(np.max(res.se)) ** 2)
    _close(res.QM, ref["QM"], 2 * RTOL_OPTIMUM)
    _close(res.loglik, ref["loglik"], 1e-9)
    lows = [ci["ci_low"] for ci in ref["sigma2_ci"]]
    highs = [ci["ci_high"] for ci in ref["sigma2_ci"]]
    _close(res.sigma2_ci_low, lows, RTOL_CI, 1e-12)
    _close(res.sigma2_ci_high, highs, RTOL_CI, 1e-12)


@pytest.mark.parametrize("key", ["cluster/effect|REML|z", "cluster/effect|ML|t"])
def test_optimum_is_exact(key):
    res = _fit("konstantopoulos2011", key, profile=False)
    for j in range(res.sigma2.size):
        for factor in (1 - 1e-6, 1 + 1e-6):
            moved = res.sigma2.copy()
            moved[j] *= factor
            other = _fit("konstantopoulos2011", key, sigma2=moved, profile=False)
            assert other.loglik < res.loglik


def test_boundary_optimum_is_zero():
    res = _fit("sigma2_cluster_zero", "cluster/effect|REML|z")
    assert res.sigma2[0] == 0.0
    assert res.sigma2_ci_low[0] == 0.0


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_one_level_optimum_equals_exact_rma_uni(method):
    # metafor's rma() with Fisher scoring run to |change| < 1e-14 gives the exact optimum
    exact = REF["exact_one_level"][method]
    case = REF["cases"]["bcg"]
    vi = np.diag(np.array(case["V"]))
    mv = rma_mv(case["yi"], vi, case["cluster"], random="cluster", method=method)
    assert mv.sigma2[0] == pytest.approx(exact["tau2"], rel=1e-12)
    assert mv.estimate == pytest.approx(exact["beta"], rel=1e-12)
    assert mv.se[0] == pytest.approx(exact["se"], rel=1e-12)


def test_single_effect_per_cluster_falls_back_to_one_level():
    case = REF["cases"]["bcg"]
    res = rma_mv(case["yi"], np.array(case["V"]), case["cluster"])
    assert res.random == "cluster"
    assert res.sigma2.size == 1
    assert any("single effect" in w for w in res.warnings)


@pytest.mark.parametrize("which", ["rho", "phi", "obs"])
def test_vcalc_equals_metafor(which):
    ref = REF["vcalc"][which]
    kwargs = {"rho": ref.get("rho"), "obs": ref.get("obs")}
    if which == "phi":
        kwargs = {"time": ref["time"], "phi": ref["phi"]}
    V = vcalc(ref["vi"], ref["cluster"], **kwargs)
    np.testing.assert_allclose(V, np.array(ref["V"]), rtol=1e-14, atol=1e-17)


def test_rho_argument_builds_vcalc_matrix():
    ref = REF["vcalc"]["rho"]
    case = REF["cases"]["timecourse"]
    a = rma_mv(case["yi"], ref["vi"], case["cluster"], case["effect"], rho=0.6, profile=False)
    b = rma_mv(case["yi"], np.array(case["V"]), case["cluster"], case["effect"], profile=False)
    np.testing.assert_allclose(a.sigma2, b.sigma2, rtol=1e-12)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-12)


def test_categorical_moderator_is_dummy_coded_against_first_level():
    case = REF["cases"]["timecourse_time"]
    as_text = pd.DataFrame({"time": case["mods"]["time"]})
    res = rma_mv(case["yi"], np.array(case["V"]), case["cluster"], case["effect"], mods=as_text)
    # text levels sort as strings: 14d, 1d, 3d, 40min, 7d (reference 14d)
    assert res.coef_names == ("intrcpt", "time1d", "time3d", "time40min", "time7d")
    ordered = rma_mv(
        case["yi"], np.array(case["V"]), case["cluster"], case["effect"], mods=_mods(case)
    )
    assert ordered.coef_names == tuple(case["fits"]["cluster/effect|REML|z"]["coef_names"])
    # the same model in another parametrisation: same fit
    assert res.loglik == pytest.approx(ordered.loglik, rel=1e-10)
    np.testing.assert_allclose(res.sigma2, ordered.sigma2, rtol=1e-8)


def test_small_time_course_and_json_summary():
    # the report's use: one condition, few trials, effects at several times, log days
    yi = [-0.9, -0.6, -0.4, -1.1, -0.7]
    vi = [0.05, 0.06, 0.08, 0.04, 0.05]
    trial = ["A", "A", "A", "B", "B"]
    days = np.log([1 / 36, 1, 7, 1, 7])
    res = rma_mv(yi, vi, trial, mods={"log_days": days}, rho=0.6, test="t")
    assert res.converged
    out = res.to_dict()
    json.dumps(out)
    assert out["coefficients"][1]["name"] == "log_days"
    assert [s["level"] for s in out["sigma2"]] == ["cluster", "cluster/effect"]
    pred = res.predict(np.log([1, 7]))
    assert np.all(pred["pi_low"] <= pred["ci_low"])
    rob = ketameta.robust(res, trial, type="CR2")
    json.dumps(rob.to_dict())


def test_missing_rows_are_left_out_with_a_warning():
    yi = [0.1, np.nan, 0.3, 0.5, 0.2, 0.4]
    vi = [0.02, 0.03, 0.02, 0.04, 0.03, 0.02]
    res = rma_mv(yi, vi, [1, 1, 2, 2, 3, 3])
    assert res.k == 5
    assert res.not_na.tolist() == [True, False, True, True, True, True]
    assert any("missing" in w for w in res.warnings)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "DL"}, "method must be one of"),
        ({"test": "knha"}, "test must be one of"),
        ({"random": "effect"}, "random must be one of"),
        ({"cluster": [1, 2]}, "cluster must have one entry per effect"),
        ({"V": np.eye(3)}, r"V must be \(4, 4\)"),
        ({"V": [0.1, -0.1, 0.1, 0.1]}, "every sampling variance must be > 0"),
        ({"V": -np.eye(4)}, "not positive definite"),
        ({"mods": [[1, 2]] * 4}, "rank deficient"),
        ({"sigma2": [0.1]}, "sigma2 needs 2 entries"),
    ],
)
def test_invalid_input_raises_one_clear_message(kwargs, message):
    args = {"yi": [0.1, 0.2, 0.3, 0.4], "V": [0.1] * 4, "cluster": [1, 1, 2, 2]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        rma_mv(**args)


def test_too_few_effects_for_the_model():
    with pytest.raises(ValueError, match="cannot estimate"):
        rma_mv([0.1, 0.2], [0.1, 0.1], [1, 2], mods=[0.0, 1.0])


def _long_time_course(trials: int, points: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    study = np.repeat([f"T{t}" for t in range(trials)], points)
    day = np.tile(np.geomspace(0.2, 90, points), trials)
    yi = rng.normal(-0.5, 0.3, study.size) + 0.1 * np.log10(day)
    vi = rng.uniform(0.02, 0.1, study.size)
    return yi, vi, study, day


@pytest.mark.parametrize("rho", [None, 0.6])
def test_the_marginal_covariance_is_read_from_its_blocks(rho):
    # M and V are assembled on access; M_rows reads any rows (within one block or across
    # several) from the blocks, as the (k, k) matrix would give them
    yi, vi, study, day = _long_time_course(6, 4)
    fit = rma_mv(yi, vi, cluster=study, effect=day, rho=rho)
    M = fit.M
    expected_v = np.diag(vi) if rho is None else vcalc(vi, study, obs=day, rho=rho)
    np.testing.assert_array_equal(fit.V, expected_v)
    np.testing.assert_allclose(
        M, expected_v + fit.sigma2[0] * (study[:, None] == study[None, :])
        + fit.sigma2[1] * np.eye(yi.size), rtol=1e-12)
    assert [list(b) for b in fit.blocks] == [list(np.flatnonzero(study == s))
                                            for s in dict.fromkeys(study)]
    rng = np.random.default_rng(0)
    for rows in (fit.blocks[2], np.arange(yi.size), rng.choice(yi.size, 9, replace=False)):
        np.testing.assert_array_equal(fit.M_rows(rows), M[np.ix_(rows, rows)])


def test_a_long_time_course_is_fitted_without_a_k_by_k_matrix():
    # 200 trials of 15 time points: a (k, k) matrix of floats would take 69 MiB; the fit
    # and its cluster-robust tests work on the trials' blocks
    import tracemalloc

    from ketameta import robust

    yi, vi, study, day = _long_time_course(200, 15)
    x = np.log10(day).reshape(-1, 1)
    tracemalloc.start()
    try:
        fit = rma_mv(yi, vi, cluster=study, effect=day, mods=x, test="t", profile=False)
        for kind in ("CR2", "CR1"):
            robust(fit, cluster=study, type=kind)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert fit.k == 3000 and fit.converged
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MiB"
