"""Tests of ketameta.robust against metafor's robust() and clubSandwich.

Reference numbers come from ``tests/reference/rma_mv.json`` (``robust`` entries of every
rma.mv fit, and the ``rma_uni`` block), written by ``tests/reference/rma_mv_cases.R``:
metafor's ``robust(fit, cluster, adjust=TRUE/FALSE)`` (CR1/CR0) and clubSandwich's
``vcovCR(type="CR2")``, ``coef_test(test="Satterthwaite")``, ``conf_int()`` with the
omnibus test of ``robust(fit, cluster, clubSandwich=TRUE)``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import ketameta
from ketameta import rma_mv, robust

REF = json.loads((Path(__file__).parent / "reference" / "rma_mv.json").read_text())

# The sandwich estimators are closed-form given the fitted model; the fits here use
# metafor's own sigma2 (fixed), so agreement is at rounding level (observed worst ~1e-13,
# on a CI bound near 0 where the absolute tolerance applies).
RTOL = 1e-9
ATOL = 1e-12

TYPES = ("CR0", "CR1", "CR2")
EXPECTED_MV_RECORDS = 84  # robust records: (fit, cluster variable) pairs
EXPECTED_UNI_FITS = 12


def _mods(case):
    if not case["mods"]:
        return None
    cols = {}
    for name, values in case["mods"].items():
        levels = case["mod_levels"].get(name)
        cols[name] = pd.Categorical(values, categories=levels) if levels else values
    return pd.DataFrame(cols)


def _records():
    for name, case in REF["cases"].items():
        for key, fit in case["fits"].items():
            for cl in fit["robust"]:
                yield pytest.param(name, key, cl, id=f"{name}-{key}-{cl}")


def _check(res, ref):
    assert "error" not in ref, ref.get("error")
    for field in ("beta", "vcov", "se", "statistic", "p_value", "ci_low", "ci_high"):
        np.testing.assert_allclose(
            np.asarray(getattr(res, field), float),
            np.array(ref[field], float),
            rtol=RTOL,
            atol=ATOL,
        )
    df = ref["df"]
    np.testing.assert_allclose(
        res.df, np.broadcast_to(np.array(df, float), res.df.shape), rtol=RTOL
    )
    assert res.QM == pytest.approx(ref["QM"], rel=RTOL, abs=ATOL)
    assert res.QM_p == pytest.approx(ref["QM_p"], rel=RTOL, abs=ATOL)
    np.testing.assert_allclose(np.array(res.QM_df, float), np.array(ref["QM_df"], float), rtol=RTOL)


def test_reference_grid_is_complete():
    records = list(_records())
    assert len(records) == EXPECTED_MV_RECORDS
    assert len(REF["rma_uni"]["fits"]) == EXPECTED_UNI_FITS
    assert REF["clubsandwich_version"]
    for name, key, cl in (r.values for r in records):
        rob = REF["cases"][name]["fits"][key]["robust"][cl]
        assert set(rob) == set(TYPES)
        for typ in TYPES:
            assert "error" not in rob[typ]


@pytest.mark.parametrize(("name", "key", "cl"), list(_records()))
def test_rma_mv_robust_equals_metafor_and_clubsandwich(name, key, cl):
    case = REF["cases"][name]
    ref = case["fits"][key]
    random, method, test = key.split("|")
    fit = rma_mv(
        case["yi"],
        np.array(case["V"]),
        case["cluster"],
        case["effect"],
        mods=_mods(case),
        random=random,
        method=method,
        test=test,
        sigma2=ref["sigma2"],
        profile=False,
    )
    cluster = case["robust_clusters"][cl]
    _check(robust(fit, cluster, adjust=True), ref["robust"][cl]["CR1"])
    _check(robust(fit, cluster, adjust=False), ref["robust"][cl]["CR0"])
    _check(robust(fit, cluster, type="CR2"), ref["robust"][cl]["CR2"])


def _uni_fits():
    for key in REF["rma_uni"]["fits"]:
        yield pytest.param(key, id=key)


@pytest.mark.parametrize("key", list(_uni_fits()))
def test_rma_robust_equals_metafor_and_clubsandwich(key):
    inp = REF["rma_uni"]["input"]
    ref = REF["rma_uni"]["fits"][key]
    method, test, design = key.split("|")
    if design == "intercept":
        # today's intercept-only RMAResult (estimate, se, tau2, yi, vi)
        fit = ketameta.rma(inp["yi"], inp["vi"], method=method, test=test)
    else:
        # the names a meta-regression result exposes: X, yi, vi, tau2, beta, vcov, level
        X = np.column_stack([np.ones(len(inp["yi"])), inp["ablat"]])
        fit = SimpleNamespace(
            X=X,
            yi=np.array(inp["yi"]),
            vi=np.array(inp["vi"]),
            tau2=ref["tau2"],
            beta=np.array(ref["beta"]),
            vcov=np.array(ref["vcov"]),
            test=test,
            level=95,
        )
    rob = ref["robust"]["alloc"]
    _check(robust(fit, inp["alloc"], adjust=True), rob["CR1"])
    _check(robust(fit, inp["alloc"], adjust=False), rob["CR0"])
    _check(robust(fit, inp["alloc"], type="CR2"), rob["CR2"])


def _three_level():
    case = REF["cases"]["konstantopoulos2011"]
    return case, rma_mv(case["yi"], np.array(case["V"]), case["cluster"], case["effect"])


def test_cluster_may_be_given_for_all_input_rows():
    yi = [0.1, np.nan, 0.3, 0.5, 0.2, 0.4, 0.6]
    vi = [0.02, 0.03, 0.02, 0.04, 0.03, 0.02, 0.05]
    trial = [1, 1, 2, 2, 3, 3, 3]
    fit = rma_mv(yi, vi, trial)
    a = robust(fit, trial, type="CR2")
    b = robust(fit, [t for t, y in zip(trial, yi, strict=True) if not np.isnan(y)], type="CR2")
    np.testing.assert_array_equal(a.vcov, b.vcov)
    assert a.n_clusters == 3


def test_too_few_clusters_gives_undefined_tests_with_a_warning():
    fit = rma_mv(
        [0.1, 0.3, 0.2, 0.6, 0.5],
        [0.02, 0.03, 0.02, 0.04, 0.03],
        [1, 1, 1, 2, 2],
        mods=[0.0, 1.0, 2.0, 0.0, 1.0],
    )
    res = robust(fit, [1, 1, 1, 2, 2])
    assert all(math.isnan(v) for v in res.p_value)
    assert math.isnan(res.QM_p)
    assert any("must exceed the number of coefficients" in w for w in res.warnings)
    json.dumps(res.to_dict())


def test_cr2_needs_random_effects_nested_in_clusters():
    case, fit = _three_level()
    coarse = [str(i % 2) for i in range(fit.k)]  # splits districts across two clusters
    with pytest.raises(ValueError, match="nested in the clusters"):
        robust(fit, coarse, type="CR2")
    # metafor's CR1 has no such requirement
    assert robust(fit, coarse).n_clusters == 2


@pytest.mark.parametrize(
    ("cluster", "kwargs", "message"),
    [
        ([1] * 56, {}, "at least two clusters"),
        ([1, 2], {}, "cluster has 2 entries"),
        (None, {"type": "HC0"}, "type must be one of"),
        ([None] + [1] * 55, {}, "missing values"),
    ],
)
def test_invalid_input_raises_one_clear_message(cluster, kwargs, message):
    case, fit = _three_level()
    with pytest.raises(ValueError, match=message):
        robust(fit, case["cluster"] if cluster is None else cluster, **kwargs)


def test_batch_rma_is_refused():
    batch = ketameta.rma(np.array([[0.1, 0.2, 0.3], [0.2, 0.1, 0.4]]), np.full((2, 3), 0.05))
    with pytest.raises(ValueError, match="one fit, not a batch"):
        robust(batch, [1, 2, 3])
