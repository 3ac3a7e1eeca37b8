"""Tests of ketameta.gosh against metafor's gosh(), plus sampling, chunking and summaries.

Reference numbers come from ``tests/reference/gosh.json``, written by
``tests/reference/gosh_cases.R`` (metafor's gosh() on every subset of four public data
sets with k = 6, 9, 9 and 12; the R and metafor versions are recorded in the file).
Regenerate with ``Rscript tests/reference/gosh_cases.R`` from the repository root.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import ketameta
from ketameta.gosh import gosh, subset_codes

REF = json.loads((Path(__file__).parent / "reference" / "gosh.json").read_text())

# The project's bar for agreement with metafor. Closed-form estimators agree to ~1e-13;
# iterative ones to ~1e-8 relative where tau2 is tiny (both stop Fisher scoring at the
# same step, but the last digits of tiny tau2 values differ by rounding).
RTOL = 1e-6
# tau2 and I2 that are 0 in one implementation may be ~1e-12 in the other.
ATOL = {"tau2": 1e-10, "I2": 1e-8, "estimate": 1e-12, "H2": 1e-12, "Q": 1e-10}
# metafor's gosh() columns and our field names
COLUMNS = {"estimate": "estimate", "tau2": "tau2", "I2": "I2", "H2": "H2", "QE": "Q"}
CLOSED_FORM = ("EE", "DL", "HE", "HS", "SJ")
ITERATIVE = ("ML", "REML", "EB", "PM")
CASES = {"hine1989_rd": 6, "normand1999_smd": 9, "collins1985b_logor": 9, "hahn2001_logor": 12}


def _engine_control() -> str:
    """Which of the two recorded stopping rules ketameta.rma follows by default.

    The reference records iterative estimators both with metafor's default stopping rules
    and iterated to the exact optimum; the fit to all studies tells which one the engine's
    default reproduces, and every subset is then compared with that one.
    """
    case = REF["cases"]["collins1985b_logor"]
    ours = ketameta.rma(case["yi"], case["vi"], method="REML").tau2
    for control in ("metafor", "exact"):
        theirs = case["fits"][f"REML_{control}"]["full_tau2"]
        if abs(ours - theirs) <= 1e-9 * theirs:
            return control
    raise AssertionError(f"REML tau2 {ours!r} matches neither recorded stopping rule")


def _fits():
    control = _engine_control()
    for name, case in REF["cases"].items():
        for key in case["fits"]:
            method, _, variant = key.partition("_")
            if variant and variant != control:
                continue
            yield pytest.param(name, key, method, id=f"{name}-{key}")


def _array(values) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in values], dtype=float)


def test_reference_grid_is_complete():
    assert REF["metafor_version"].startswith("3.8")
    assert {n: len(c["yi"]) for n, c in REF["cases"].items()} == CASES
    for name, case in REF["cases"].items():
        expected = [m for m in CLOSED_FORM] + [
            f"{m}_{v}" for m in ITERATIVE for v in ("metafor", "exact")
        ]
        if name == "hahn2001_logor":
            expected = ["DL", "REML_metafor", "REML_exact"]
        assert list(case["fits"]) == expected
        for fit in case["fits"].values():
            assert len(fit["members"]) == 2 ** len(case["yi"]) - 1


@pytest.mark.parametrize(("name", "key", "method"), list(_fits()))
def test_every_subset_equals_metafor(name, key, method):
    case = REF["cases"][name]
    ref = case["fits"][key]
    res = gosh(case["yi"], case["vi"], method=method)
    k = len(case["yi"])
    assert res.exact and res.n_subsets == 2**k - 1
    codes = res.members.astype(np.int64) @ (2 ** np.arange(k))
    np.testing.assert_array_equal(codes, ref["members"])
    np.testing.assert_array_equal(res.k, ref["k"])
    failed_in_r = np.isnan(_array(ref["estimate"]))
    # metafor's gosh() drops a subset whose fit stops with an error (Fisher scoring that
    # does not converge); ketameta fits it with its documented fallback and says so.
    np.testing.assert_array_equal(failed_in_r, ~res.converged)
    for theirs, ours in COLUMNS.items():
        np.testing.assert_allclose(
            getattr(res, ours)[~failed_in_r],
            _array(ref[theirs])[~failed_in_r],
            rtol=RTOL,
            atol=ATOL[ours],
            err_msg=f"{name} {key} {ours}",
        )
    assert res.full_estimate == pytest.approx(ref["full_estimate"], rel=RTOL)


def test_subset_estimates_equal_rma_on_each_subset():
    case = REF["cases"]["normand1999_smd"]
    yi, vi = np.array(case["yi"]), np.array(case["vi"])
    res = gosh(yi, vi, method="REML", test="knha", level=90)
    for row in (0, 40, 300, res.n_subsets - 1):
        sel = res.members[row]
        one = ketameta.rma(yi[sel], vi[sel], method="REML", test="knha", level=90)
        for field in ("estimate", "se", "ci_low", "ci_high", "p_value"):
            assert getattr(res, field)[row] == pytest.approx(getattr(one, field), rel=1e-12)


def test_subset_codes_follow_metafor_order():
    np.testing.assert_array_equal(subset_codes(3), [1, 2, 4, 3, 5, 6, 7])


def test_chunking_does_not_change_results():
    case = REF["cases"]["collins1985b_logor"]
    whole = gosh(case["yi"], case["vi"], method="PM")
    parts = gosh(case["yi"], case["vi"], method="PM", chunk_cells=9 * 7)
    for field in ("estimate", "se", "tau2", "I2", "H2", "Q", "ci_low", "ci_high"):
        np.testing.assert_array_equal(getattr(whole, field), getattr(parts, field))


def test_random_subsets_are_seeded_and_follow_metafor_rules():
    rng = np.random.default_rng(1)
    yi, vi = rng.normal(0.3, 0.3, 25), rng.uniform(0.01, 0.1, 25)
    a = gosh(yi, vi, method="DL", subsets=5000, seed=7)
    b = gosh(yi, vi, method="DL", subsets=5000, seed=7)
    c = gosh(yi, vi, method="DL", subsets=5000, seed=8)
    assert not a.exact and a.n_subsets == 5000
    np.testing.assert_array_equal(a.members, b.members)
    assert not np.array_equal(a.members, c.members)
    np.testing.assert_array_equal(a.k, a.members.sum(axis=1))
    assert (np.diff(a.k) >= 0).all() and a.k.min() >= 1
    # sizes follow binomial(25, 1/2): mean 12.5, sd 2.5
    assert abs(a.k.mean() - 12.5) < 0.2
    # beyond max_k_all without `subsets`, metafor's 10^6 draws are the default
    assert gosh(yi[:4], vi[:4], method="DL", max_k_all=3, subsets=10).n_subsets == 10


def test_all_subsets_when_subsets_exceeds_their_number():
    res = gosh([0.1, 0.4, 0.2], [0.01, 0.02, 0.03], method="DL", subsets=100)
    assert res.exact and res.n_subsets == 7


def test_single_study_subsets_as_metafor_reports_them():
    res = gosh([0.1, 0.4, 0.2], [0.01, 0.02, 0.03], method="REML")
    one = res.k == 1
    assert (res.tau2[one] == 0).all() and (res.Q[one] == 0).all()
    assert (res.I2[one] == 0).all() and (res.H2[one] == 1).all()
    np.testing.assert_allclose(res.estimate[one], [0.1, 0.4, 0.2])


def test_frame_summary_and_density():
    case = REF["cases"]["hine1989_rd"]
    res = gosh(case["yi"], case["vi"], method="DL")
    frame = res.to_frame([f"s{j}" for j in range(6)])
    assert list(frame.columns[:3]) == ["k", "estimate", "se"]
    assert frame.shape == (63, 10 + 6)
    summary = res.summary()
    json.dumps(summary)
    assert summary["n_subsets"] == 63 and summary["exact"] is True
    assert summary["estimate_min"] <= summary["estimate_median"] <= summary["estimate_max"]
    counts, x_edges, y_edges = res.density(bins=10)
    assert counts.sum() == 63 and counts.shape == (10, 10)
    assert y_edges[0] == 0 and y_edges[-1] == 100


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0.1], [0.01]), "at least 2 studies"),
        (([0.1, np.nan], [0.01, 0.02]), "without missing values"),
        (([[0.1, 0.2]], [[0.01, 0.02]]), "1-D"),
    ],
)
def test_bad_input_says_what_is_wrong(args, message):
    with pytest.raises(ValueError, match=message):
        gosh(*args)


def test_bad_subsets_and_method():
    with pytest.raises(ValueError, match="subsets must be at least 2"):
        gosh([0.1, 0.2], [0.01, 0.02], subsets=1)
    with pytest.raises(ValueError, match="method must be one of"):
        gosh([0.1, 0.2], [0.01, 0.02], method="XX")


def test_memory_stays_bounded():
    """Peak memory of k = 16 (65,535 subsets) stays far below the unchunked size."""
    rng = np.random.default_rng(3)
    yi, vi = rng.normal(0.3, 0.3, 16), rng.uniform(0.01, 0.1, 16)
    tracemalloc.start()
    res = gosh(yi, vi, method="REML", chunk_cells=2**16)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out_bytes = res.members.nbytes + 11 * res.estimate.nbytes
    # one chunk of 4,096 rows x 16 studies is ~0.5 MB per float array
    assert peak < out_bytes + 40 * 2**20
