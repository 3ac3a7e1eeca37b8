"""Tests of ketameta.rma against metafor, plus batch, k = 1 and robustness properties.

Reference numbers come from ``tests/reference/rma.json``, written by
``tests/reference/rma_cases.R`` (metafor's rma(), predict(), confint(), weights(); the R
and metafor versions are recorded in the file) with metafor's default stopping rules, which
``control="metafor"`` reproduces; and from ``tests/reference/rma_exact.json``, the same grid
at metafor's tight settings (``--tight``), which pins the exact default. Regenerate with
``Rscript tests/reference/rma_cases.R [--tight]`` from the repository root.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from ketameta import models
from ketameta._batch import as_batch, zeroin
from ketameta.models import rma

REF = json.loads((Path(__file__).parent / "reference" / "rma.json").read_text())
REF_EXACT = json.loads((Path(__file__).parent / "reference" / "rma_exact.json").read_text())

# The engine reproduces metafor's algorithms step for step (closed forms, the Fisher
# scoring sequence, R's uniroot() path), so agreement is at rounding level (observed
# worst case ~2e-12, for tau2 ~ 5e-7 at the boundary of k = 2). 1e-9 leaves room for
# libm/BLAS differences across platforms while still catching any algorithmic deviation.
RTOL = 1e-9
# Quantities that are mathematically 0 may come out as +-1e-17 on one side.
ATOL = 1e-14
# Fallback roots: ours is exact to machine precision; metafor's reference is a damped
# Fisher scoring stopped at |change| < 1e-13 (or uniroot with tol 1e-15), so the two agree
# to ~1e-11 relative; 1e-8 is a safe bound well inside the 1e-6 contract.
RTOL_FALLBACK = 1e-8
# The exact default against metafor at threshold = tol = 1e-12: both are the exact optimum,
# each to its own stopping rule (ours: relative change 1e-10, roots to machine precision;
# metafor's: absolute change 1e-12), so they agree far inside 1e-8.
RTOL_EXACT = 1e-8
# Where the optimum is τ² = 0, metafor's absolute threshold of 1e-12 leaves residues of
# that size (e.g. 1.2e-13 for k2, ML; I² 1.8e-10 %) that the exact answer does not have.
ATOL_EXACT = {"tau2": 1e-12, "I2": 1e-9, "H2": 1e-11}

# Fields compared against metafor; R names mapped in the R script to these.
FIELDS = (
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "statistic",
    "p_value",
    "tau2",
    "se_tau2",
    "I2",
    "H2",
    "Q",
    "Q_p",
    "pi_low",
    "pi_high",
)
CI_FIELDS = (
    "tau2_ci_low",
    "tau2_ci_high",
    "I2_ci_low",
    "I2_ci_high",
    "H2_ci_low",
    "H2_ci_high",
)

# Guard: the grid of reference cases must not shrink silently.
EXPECTED_CASES = (
    "bcg_logrr",
    "normand1999_smd",
    "hackshaw1998_logor",
    "li2007_logor_zero_cells",
    "k2",
    "k2_wide",
    "homogeneous",
    "identical_effects",
    "extreme_weights",
    "outlier",
    "large_k150",
)
EXPECTED_METHODS = ("EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
EXPECTED_TESTS = ("z", "knha", "adhoc", "t")
EXPECTED_FITS = 11 * 9 * 4  # cases x methods x tests


def _num(x):
    """JSON value from R to float (null -> NaN, "Inf" strings -> inf)."""
    if x is None:
        return math.nan
    if isinstance(x, str):
        return {"Inf": math.inf, "-Inf": -math.inf}[x]
    return float(x)


def _close(actual, expected, rtol=RTOL, atol=ATOL):
    actual = float(actual)
    if math.isnan(expected) or math.isnan(actual):
        return math.isnan(expected) and math.isnan(actual)
    if math.isinf(expected) or math.isinf(actual):
        return actual == expected
    return abs(actual - expected) <= atol + rtol * abs(expected)


GRID = [
    (case, key)
    for case, data in REF["cases"].items()
    for key in data["fits"]
]


def test_reference_grid_is_complete():
    assert tuple(REF["cases"]) == EXPECTED_CASES
    assert tuple(REF["methods"]) == EXPECTED_METHODS
    assert tuple(REF["tests"]) == EXPECTED_TESTS
    assert len(GRID) == EXPECTED_FITS
    for data in REF["cases"].values():
        assert sorted(data["fits"]) == sorted(
            f"{m}/{t}" for m in EXPECTED_METHODS for t in EXPECTED_TESTS
        )
        for ref in data["fits"].values():
            assert "error" not in ref
            for name in FIELDS + ("weights", "pi_higgins_low", "pi_higgins_high"):
                assert name in ref
    assert REF["metafor_version"] and REF["r_version"].startswith("R version")
    assert len(REF["level90"]) == 12
    assert len(REF["fallback"]) == 6
    assert len(REF["stuck"]) >= 1


def _compare_fit(data, ref, method, test, control, rtol, atol=None):
    res = rma(data["yi"], data["vi"], method=method, test=test, control=control)
    atol = atol or {}
    bad = []
    for name in FIELDS:
        if not _close(getattr(res, name), _num(ref[name]), rtol=rtol,
                      atol=atol.get(name, ATOL)):
            bad.append((name, getattr(res, name), _num(ref[name])))
    expected_df = math.inf if test == "z" else _num(ref["df"])
    if res.df != expected_df:
        bad.append(("df", res.df, expected_df))
    for name in CI_FIELDS:
        expected = math.nan if method == "EE" else _num(ref[name])
        if not _close(getattr(res, name), expected, rtol=rtol):
            bad.append((name, getattr(res, name), expected))
    weights = np.array(ref["weights"], dtype=float)
    np.testing.assert_allclose(res.weights, weights, rtol=rtol, atol=ATOL)
    higgins = rma(
        data["yi"], data["vi"], method=method, test=test, pi="higgins", control=control
    )
    for name, ref_name in (("pi_low", "pi_higgins_low"), ("pi_high", "pi_higgins_high")):
        if not _close(getattr(higgins, name), _num(ref[ref_name]), rtol=rtol):
            bad.append(("higgins " + name, getattr(higgins, name), _num(ref[ref_name])))
    assert not bad, bad
    assert res.converged


@pytest.mark.parametrize(("case", "key"), GRID)
def test_matches_metafor(case, key):
    """control="metafor": metafor's default stopping, step for step."""
    data = REF["cases"][case]
    method, test = key.split("/")
    _compare_fit(data, data["fits"][key], method, test, "metafor", RTOL)


def test_exact_reference_grid_is_complete():
    assert tuple(REF_EXACT["cases"]) == EXPECTED_CASES
    assert REF_EXACT["control"]["threshold"] == 1e-12
    assert REF_EXACT["control"]["confint_tol"] == 1e-12
    for name, data in REF_EXACT["cases"].items():
        assert data["yi"] == REF["cases"][name]["yi"]
        assert sorted(data["fits"]) == sorted(REF["cases"][name]["fits"])
        assert not any("error" in ref for ref in data["fits"].values())
    assert len(REF_EXACT["level90"]) == 12


@pytest.mark.parametrize(("case", "key"), GRID)
def test_default_is_the_exact_optimum(case, key):
    """The default control: metafor at threshold = tol = 1e-12 (confint tol 1e-12)."""
    data = REF_EXACT["cases"][case]
    method, test = key.split("/")
    _compare_fit(data, data["fits"][key], method, test, None, RTOL_EXACT, ATOL_EXACT)


def test_exact_and_metafor_stopping_differ_where_metafor_stops_early():
    data = REF["cases"]["bcg_logrr"]
    exact = rma(data["yi"], data["vi"], method="DL")
    early = rma(data["yi"], data["vi"], method="DL", control="metafor")
    assert exact.tau2 == early.tau2  # closed form: no iteration
    assert exact.tau2_ci_low != early.tau2_ci_low  # uniroot() at eps^0.25 stops early
    assert exact.control.name == "exact" and early.control.name == "metafor"
    tight = rma(data["yi"], data["vi"], method="REML",
                control={"threshold": 1e-12, "tol": 1e-12, "maxiter": 10000})
    ref = REF_EXACT["cases"]["bcg_logrr"]["fits"]["REML/z"]
    assert _close(tight.tau2, ref["tau2"], rtol=1e-10)
    assert _close(tight.tau2_ci_high, ref["tau2_ci_high"], rtol=1e-10)


@pytest.mark.parametrize(
    ("control", "message"),
    [
        ("tight", "control must be"),
        ({"thresh": 1e-8}, "unknown control setting 'thresh'"),
        ({"maxiter": 0}, "maxiter >= 1"),
        ({"stepadj": 2}, "stepadj must be in"),
    ],
)
def test_invalid_control_raises(control, message):
    with pytest.raises(ValueError, match=message):
        rma([0.1, 0.2, 0.5], [0.01, 0.02, 0.03], control=control)


@pytest.mark.parametrize("key", sorted(REF["level90"]))
def test_level_90_matches_metafor(key):
    case, method, test = key.split("/")
    data = REF["cases"][case]
    ref = REF["level90"][key]
    res = rma(data["yi"], data["vi"], method=method, test=test, level=90, control="metafor")
    bad = [
        (name, getattr(res, name), _num(ref[name]))
        for name in FIELDS + CI_FIELDS
        if not _close(getattr(res, name), _num(ref[name]))
    ]
    assert not bad, bad
    ref = REF_EXACT["level90"][key]
    res = rma(data["yi"], data["vi"], method=method, test=test, level=90)
    bad = [
        (name, getattr(res, name), _num(ref[name]))
        for name in FIELDS + CI_FIELDS
        if not _close(getattr(res, name), _num(ref[name]), rtol=RTOL_EXACT)
    ]
    assert not bad, bad


@pytest.mark.parametrize("case", EXPECTED_CASES)
def test_ci_flags_follow_metafor(case):
    """Null-set and beyond-tau2.max Q-profile intervals are flagged as metafor signs them."""
    data = REF["cases"][case]
    for method in EXPECTED_METHODS[1:]:
        ref = data["fits"][f"{method}/z"]
        res = rma(data["yi"], data["vi"], method=method, control="metafor")
        text = " ".join(res.warnings)
        assert ("null set" in text) == bool(ref["ci_null"])
        assert ("upper bound of the Q-profile" in text) == (
            ref["ub_sign"] == ">" and ref["lb_sign"] != ">"
        )


def test_fe_is_alias_of_ee():
    data = REF["cases"]["bcg_logrr"]
    ee = rma(data["yi"], data["vi"], method="EE", test="knha")
    fe = rma(data["yi"], data["vi"], method="FE", test="knha")
    for name in FIELDS + CI_FIELDS:
        a, b = getattr(ee, name), getattr(fe, name)
        assert (a == b) or (math.isnan(a) and math.isnan(b))
    assert fe.method == "FE"
    assert any("Knapp-Hartung" in w for w in fe.warnings)


@pytest.mark.parametrize("test", EXPECTED_TESTS)
def test_k1_matches_metafor(test):
    ref_all = REF["k1"]
    ref = ref_all["fits"][test]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = rma([ref_all["yi"]], [ref_all["vi"]], method=ref_all["method"], test=test)
    for name in ("estimate", "se", "ci_low", "ci_high", "statistic", "p_value"):
        assert _close(getattr(res, name), _num(ref[name])), name
    assert res.k == 1 and res.df == math.inf
    for name in ("tau2", "tau", "se_tau2", "I2", "H2", "Q", "Q_p", "pi_low", "pi_high"):
        assert math.isnan(getattr(res, name)), name
    for name in CI_FIELDS:
        assert math.isnan(getattr(res, name)), name
    assert res.weights.tolist() == [100.0]
    assert res.converged
    d = res._engine_dict()
    assert d["tau2"] is None and d["Q"] is None and d["pi_low"] is None
    assert d["Q_df"] == 0 and d["k"] == 1
    assert any("k = 1" in w for w in res.warnings)


@pytest.mark.parametrize("idx", range(6))
def test_fisher_scoring_fallback_reaches_exact_root(idx):
    ref = REF["fallback"][idx]
    res = rma(ref["yi"], ref["vi"], method=ref["method"], control="metafor")
    assert not res.converged
    assert any("did not converge" in w and ref["method"] in w for w in res.warnings)
    for name in ("tau2", "estimate", "se"):
        assert _close(getattr(res, name), ref[name], rtol=RTOL_FALLBACK), name
    # the exact default converges on these problems without a fallback
    exact = rma(ref["yi"], ref["vi"], method=ref["method"])
    assert exact.converged and not exact.warnings
    for name in ("tau2", "estimate", "se"):
        assert _close(getattr(exact, name), ref[name], rtol=RTOL_FALLBACK), name


@pytest.mark.parametrize("idx", range(len(REF["stuck"])))
def test_local_maximum_check_sets_tau2_to_zero(idx):
    ref = REF["stuck"][idx]
    res = rma(ref["yi"], ref["vi"], method=ref["method"], control="metafor")
    assert res.tau2 == 0.0 == ref["tau2"]
    assert _close(res.estimate, ref["estimate"]) and _close(res.se, ref["se"])
    assert any("local maximum" in w for w in res.warnings)
    assert res.converged


def test_pm_beyond_tau2_max_falls_back_to_exact_root():
    ref = REF["pm_wide"]
    assert "tau2.max" in ref["default_error"]
    res = rma(ref["yi"], ref["vi"], method="PM", control="metafor")
    assert not res.converged
    assert any("PM" in w and "tau2.max" in w for w in res.warnings)
    for name in ("tau2", "estimate", "se"):
        assert _close(getattr(res, name), ref[name], rtol=RTOL_FALLBACK), name


def _padded_reference_batch():
    """All reference cases except the large one, NaN-padded to a common width.

    Each row is padded at the end except the second, which gets a NaN in the middle.
    """
    names = [n for n in EXPECTED_CASES if n != "large_k150"]
    width = max(len(REF["cases"][n]["yi"]) for n in names) + 1
    Y = np.full((len(names), width), np.nan)
    V = np.full((len(names), width), np.nan)
    for i, name in enumerate(names):
        y = np.array(REF["cases"][name]["yi"])
        v = np.array(REF["cases"][name]["vi"])
        if i == 1:
            y = np.insert(y, 2, np.nan)
            v = np.insert(v, 2, 0.5)
        Y[i, : y.size] = y
        V[i, : v.size] = v
    return names, Y, V


@pytest.mark.parametrize("method", EXPECTED_METHODS)
@pytest.mark.parametrize("test", ["z", "knha"])
def test_batch_equals_row_by_row(method, test):
    names, Y, V = _padded_reference_batch()
    batch = rma(Y, V, method=method, test=test, pi="higgins")
    assert batch.is_batch and batch.estimate.shape == (len(names),)
    for i in range(len(names)):
        single = rma(Y[i], V[i], method=method, test=test, pi="higgins")
        for name in FIELDS + CI_FIELDS + ("df", "tau", "Q_df"):
            a, b = getattr(batch, name)[i], getattr(single, name)
            assert _close(a, b, rtol=1e-13, atol=0.0), (names[i], name, a, b)
        np.testing.assert_allclose(batch.weights[i], single.weights, rtol=1e-13)
        # a 1-D fit notes the NaN cells it dropped; in a batch they are padding
        assert batch.warnings[i] == tuple(w for w in single.warnings if "omitted" not in w)
        assert bool(batch.converged[i]) == single.converged
        assert int(batch.k[i]) == single.k


def test_missing_studies_are_omitted_with_a_note():
    data = REF["cases"]["bcg_logrr"]
    y = np.array(data["yi"] + [np.nan])
    v = np.array(data["vi"] + [0.1])
    res = rma(y, v)
    full = rma(data["yi"], data["vi"])
    assert res.k == full.k and res.estimate == full.estimate
    assert math.isnan(res.weights[-1]) and res.weights.shape == y.shape
    assert res.warnings[0].startswith("1 study with missing yi or vi omitted")


def test_batch_mixed_k_rows():
    Y = np.array([[0.4, np.nan, np.nan], [np.nan, np.nan, np.nan], [0.1, 0.5, 0.3]])
    V = np.array([[0.09, np.nan, np.nan], [np.nan, np.nan, np.nan], [0.02, 0.03, 0.05]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = rma(Y, V, method="REML", test="knha")
    assert res.k.tolist() == [1, 0, 3]
    assert res.estimate[0] == 0.4 and math.isnan(res.estimate[1])
    assert math.isnan(res.tau2[0]) and res.df[0] == math.inf and res.df[2] == 2.0
    assert any("k = 0" in w for w in res.warnings[1])
    single = rma(Y[2], V[2], method="REML", test="knha")
    assert _close(res.estimate[2], single.estimate, rtol=1e-14)
    d = res._engine_dict()
    assert d["k"] == [1, 0, 3] and d["tau2"][0] is None and d["estimate"][1] is None
    json.dumps(d, allow_nan=False)


def _hard_problem(rng):
    """A random meta-analysis of one of the known hard kinds."""
    kind = rng.integers(6)
    k = int(rng.integers(2, 30))
    v = rng.uniform(0.001, 0.5, k)
    y = rng.normal(0.0, 1.0, k) * rng.uniform(0.0, 2.0)
    if kind == 0:  # variance ratio 1e5
        v[rng.integers(k)] = v.max() * 1e-5
    elif kind == 1:  # one extreme outlier
        y[rng.integers(k)] = 50.0 * rng.choice([-1, 1])
    elif kind == 2:  # identical effects
        y[:] = rng.normal()
    elif kind == 3:  # k = 2
        y, v = y[:2], v[:2]
    elif kind == 4:  # huge effects scale
        y = y * 1e3
    else:  # almost homogeneous
        y = 0.3 + rng.normal(0.0, 1e-3, k)
    return y, v


def _hard_batch(seed, n):
    rng = np.random.default_rng(seed)
    problems = [_hard_problem(rng) for _ in range(n)]
    width = max(len(y) for y, _ in problems)
    Y = np.full((n, width), np.nan)
    V = np.full((n, width), np.nan)
    for i, (y, v) in enumerate(problems):
        Y[i, : y.size] = y
        V[i, : v.size] = v
    return problems, Y, V


@pytest.mark.parametrize("method", EXPECTED_METHODS)
def test_never_raises_on_hard_inputs(method):
    """Random hard problems (batch and single fits): no exception, no numpy warning,
    and results that make sense."""
    problems, Y, V = _hard_batch(12345, 150)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for test in EXPECTED_TESTS:
            res = rma(Y, V, method=method, test=test)
            assert np.isfinite(res.estimate).all()
            assert (res.tau2 >= 0.0).all()
            assert (res.ci_low <= res.estimate).all() and (res.estimate <= res.ci_high).all()
            assert ((0.0 <= res.Q_p) & (res.Q_p <= 1.0)).all()
            assert ((0.0 <= res.I2) & (res.I2 <= 100.0)).all() and (res.H2 >= 0.0).all()
            if method != "EE":
                assert (res.pi_low <= res.ci_low).all() and (res.pi_high >= res.ci_high).all()
                assert (res.H2 >= 1.0).all()
                assert (0.0 <= res.tau2_ci_low).all()
                assert (res.tau2_ci_low <= res.tau2_ci_high).all()
            np.testing.assert_allclose(np.nansum(res.weights, axis=1), 100.0)
            for ok, warn in zip(res.converged, res.warnings, strict=True):
                assert ok or warn
        for y, v in problems[:10]:
            single = rma(y, v, method=method, test="knha")
            assert np.isfinite(single.estimate)


def test_tau2_is_truncated_at_zero_for_every_estimator():
    data = REF["cases"]["homogeneous"]
    for method in EXPECTED_METHODS:
        if method != "SJ":  # SJ is positive by construction unless all yi are equal
            assert rma(data["yi"], data["vi"], method=method).tau2 == 0.0
    same = REF["cases"]["identical_effects"]
    assert rma(same["yi"], same["vi"], method="SJ").tau2 == 0.0


def test_estimators_are_exposed_by_name():
    b = as_batch(REF["cases"]["bcg_logrr"]["yi"], REF["cases"]["bcg_logrr"]["vi"])
    for method, estimator in models.TAU2_ESTIMATORS.items():
        est = estimator(b, "metafor")
        ref = REF["cases"]["bcg_logrr"]["fits"][f"{method}/z"]
        assert _close(est.tau2[0], ref["tau2"]) and _close(est.se_tau2[0], ref["se_tau2"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "XX"}, "method must be one of"),
        ({"test": "hksj"}, "test must be one of"),
        ({"pi": "riley"}, "pi must be one of"),
        ({"level": 100}, "level must be in"),
    ],
)
def test_invalid_options_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        rma([0.1, 0.2], [0.01, 0.02], **kwargs)


@pytest.mark.parametrize(
    ("yi", "vi", "message"),
    [
        ([0.1, 0.2], [0.01, 0.0], "sampling variances must be positive"),
        ([0.1, 0.2], [0.01, -1.0], "sampling variances must be positive"),
        ([0.1, 0.2], [0.01], "same shape"),
        ([0.1, np.inf], [0.01, 0.02], "infinite"),
        ([np.nan], [np.nan], "k = 0"),
    ],
)
def test_invalid_data_raise(yi, vi, message):
    with pytest.raises(ValueError, match=message):
        rma(yi, vi)


def test_level_conventions_follow_metafor():
    assert models.level_to_alpha(95) == pytest.approx(0.05)
    assert models.level_to_alpha(0.95) == pytest.approx(0.05)
    assert models.level_to_alpha(0.1) == pytest.approx(0.1)
    data = REF["cases"]["bcg_logrr"]
    a = rma(data["yi"], data["vi"], level=90)
    b = rma(data["yi"], data["vi"], level=0.90)
    assert a.ci_low == b.ci_low and a.tau2_ci_high == b.tau2_ci_high
    assert a.ci_high - a.ci_low < rma(data["yi"], data["vi"]).ci_high - a.ci_low


def test_engine_dict_is_plain_json():
    data = REF["cases"]["identical_effects"]
    res = rma(data["yi"], data["vi"], method="REML", test="knha")
    d = res._engine_dict()
    assert d["statistic"] is None  # se = 0 gives an infinite t statistic: undefined
    assert d["p_value"] == 0.0
    text = json.dumps(d, allow_nan=False)
    assert '"method": "REML"' in text
    assert set(d) == set(models._ENGINE_KEYS) | {"converged", "warnings"}
    for value in d.values():
        assert value is None or isinstance(value, (int, float, str, bool, list))


def test_to_dict_is_the_fit_alone():
    data = REF["cases"]["bcg_logrr"]
    res = rma(data["yi"], data["vi"], method="REML", test="knha")
    d = res.to_dict()
    assert d == res._engine_dict()
    assert "egger_p" not in d and "leave1out" not in d


def test_zeroin_finds_roots_and_reports_the_iteration_limit():
    def f(x, rows):
        return x * x - np.array([2.0, 3.0])[rows]

    lo, hi = np.zeros(2), np.full(2, 4.0)
    root, conv = zeroin(f, lo, hi, f(lo, np.arange(2)), f(hi, np.arange(2)), 0.0, 100)
    np.testing.assert_allclose(root, np.sqrt([2.0, 3.0]), rtol=1e-15)
    assert conv.all()
    _, conv = zeroin(f, lo, hi, f(lo, np.arange(2)), f(hi, np.arange(2)), 0.0, 1)
    assert not conv.any()
    # the single-row fast path takes exactly the same steps as the vectorised one
    vec, _ = zeroin(f, lo, hi, f(lo, np.arange(2)), f(hi, np.arange(2)), 1e-4, 1000)
    for row in range(2):

        def f_row(x, rows, row=row):
            return f(x, rows + row)

        one, _ = zeroin(f_row, lo[[row]], hi[[row]], f(lo, np.arange(2))[[row]],
                        f(hi, np.arange(2))[[row]], 1e-4, 1000)
        assert one[0] == vec[row]


def test_result_fields_are_the_documented_interface():
    expected = (
        "yi vi k method test level estimate se ci_low ci_high statistic p_value df tau2 tau "
        "se_tau2 I2 H2 Q Q_df Q_p pi_low pi_high tau2_ci_low tau2_ci_high I2_ci_low "
        "I2_ci_high H2_ci_low H2_ci_high weights converged warnings pi control"
    ).split()
    assert models._field_names() == tuple(expected)
