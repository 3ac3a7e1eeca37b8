"""Tests of the conversion helpers in ketameta.effects.

Reference numbers come from tests/reference/escalc.json (section "conversions", written by
tests/reference/escalc_cases.R with metafor and base R), from closed forms stated beside each
test, or from the formula of the cited source evaluated on round numbers.
"""

from __future__ import annotations

import doctest
import json
import math
from pathlib import Path

import numpy as np
import pytest

import ketameta.effects as effects
from ketameta.effects import d_to_g, hedges_j, logor_to_smd, sd_from_se, se_from_ci, se_from_p

REFERENCE = json.loads((Path(__file__).parent / "reference" / "escalc.json").read_text())
CONV = REFERENCE["conversions"]
CASES = REFERENCE["cases"]

# Same closed-form expressions as metafor / base R; the largest difference measured is a few
# ulp. 1e-12 leaves room for another libm (lgamma, qnorm/qt via scipy's special functions)
# and is far tighter than the project's 1e-6.
RTOL = 1e-12


def test_pinned_conversion_references_present():
    assert {"hedges_j", "d_to_g", "logor_to_smd", "se_from_ci", "se_from_p"} <= set(CONV)


# --- hedges_j --------------------------------------------------------------------------------


def test_hedges_j_matches_metafor():
    ref = CONV["hedges_j"]
    np.testing.assert_allclose(hedges_j(np.array(ref["df"])), ref["j"], rtol=RTOL)


def test_hedges_j_closed_forms():
    # J(2) = Γ(1) / (1 · Γ(1/2)) = 1/√π;  J(3) = Γ(3/2) / (√(3/2) · Γ(1)) = (√π/2)/√(3/2)
    assert hedges_j(2) == pytest.approx(1 / math.sqrt(math.pi), rel=1e-14)
    assert hedges_j(3) == pytest.approx(math.sqrt(math.pi) / 2 / math.sqrt(1.5), rel=1e-14)


def test_hedges_j_against_arbitrary_precision():
    # the defining ratio of gamma functions in 40-digit arithmetic (Hedges 1981, eq. 6e)
    mpmath = pytest.importorskip("mpmath")
    m = list(range(2, 120))
    with mpmath.workdps(40):
        exact = [
            float(
                mpmath.gamma(mpmath.mpf(k) / 2)
                / (mpmath.sqrt(mpmath.mpf(k) / 2) * mpmath.gamma(mpmath.mpf(k - 1) / 2))
            )
            for k in m
        ]
    np.testing.assert_allclose(hedges_j(np.array(m)), exact, rtol=1e-13)


def test_hedges_j_large_df_and_approximation():
    # no overflow where Γ itself overflows (m >= 344), and J -> 1 like 1 - 3/(4m - 1)
    # (Hedges 1981, eq. 6e), whose error is O(m^-2). (Beyond m ~ 1e6 the difference of two
    # large log-gammas, computed as metafor does, carries a relative error of about 1e-9.)
    m = np.array([344.0, 1e3, 1e4])
    j = hedges_j(m)
    assert np.all(np.isfinite(j)) and np.all(j <= 1)
    assert np.all(np.abs(j - (1 - 3 / (4 * m - 1))) <= 10 / m**2)


def test_hedges_j_undefined_below_two_df():
    assert np.isnan(hedges_j([0.0, 1.0, 0.5])).all()
    assert isinstance(hedges_j(10), np.floating)


# --- d_to_g ------------------------------------------------------------------------------------


def test_d_to_g_without_variance_matches_metafor():
    ref = CONV["d_to_g"]
    inp = ref["input"]
    g, v = d_to_g(np.array(inp["d"]), np.array(inp["n_treat"]), np.array(inp["n_ctrl"]))
    np.testing.assert_allclose(g, ref["g"], rtol=RTOL)
    np.testing.assert_allclose(v, ref["vi"], rtol=RTOL)


def test_d_to_g_with_variance_matches_metafor_j():
    # var(g) = J² var(d) (Borenstein et al. 2009, eq. 4.24), J from metafor's .cmicalc
    ref = CASES["gen_d_sei"]
    inp = ref["input"]
    sei = np.array(inp["sei"])
    g, v = d_to_g(np.array(inp["yi"]), np.array(inp["n_treat"]), np.array(inp["n_ctrl"]), vi=sei**2)
    np.testing.assert_allclose(g, ref["yi"], rtol=RTOL)
    np.testing.assert_allclose(v, ref["vi"], rtol=RTOL)


def test_d_to_g_broadcasts_and_is_nan_without_df():
    g, v = d_to_g([0.2, 0.4], 10, 12)
    assert g.shape == v.shape == (2,)
    g, v = d_to_g(0.5, 1, 2)  # N = 3: one degree of freedom, J undefined
    assert np.isnan(g) and np.isnan(v)


@pytest.mark.parametrize(
    ("args", "match"),
    [((0.5, 0, 10), "must be positive"), ((0.5, 10, np.nan), "must be positive")],
)
def test_d_to_g_errors(args, match):
    with pytest.raises(ValueError, match=match):
        d_to_g(*args)
    with pytest.raises(ValueError, match="must not be negative"):
        d_to_g(0.5, 10, 10, vi=-0.1)


# --- logor_to_smd ------------------------------------------------------------------------------


def test_logor_to_smd_matches_metafor_or2dl():
    ref = CONV["logor_to_smd"]
    d, v = logor_to_smd(np.array(ref["logor"]), np.array(ref["vi"]))
    np.testing.assert_allclose(d, ref["d"], rtol=RTOL)
    np.testing.assert_allclose(v, ref["vi_d"], rtol=RTOL)


def test_logor_to_smd_chinn_constants():
    # Chinn (2000): d = ln(OR)/1.81 (√3/π = 0.5513), var(d) = var(ln OR) · 3/π² (0.3040)
    d, v = logor_to_smd(1.0, 1.0)
    assert d == pytest.approx(0.5513288954217921, rel=1e-15)
    assert 1 / d == pytest.approx(1.81, abs=0.005)
    assert v == pytest.approx(3 / math.pi**2, rel=1e-15)
    with pytest.raises(ValueError, match="must not be negative"):
        logor_to_smd(1.0, -1.0)


# --- se_from_ci --------------------------------------------------------------------------------


def test_se_from_ci_matches_r():
    ref = CONV["se_from_ci"]
    se = se_from_ci(np.array(ref["ci_low"]), np.array(ref["ci_high"]), np.array(ref["level"]))
    np.testing.assert_allclose(se, ref["se"], rtol=RTOL)


def test_se_from_ci_ratio_on_log_scale():
    # Cochrane Handbook 6.5.2.2: for a ratio, SE = (ln upper - ln lower) / 3.92 for a 95% CI;
    # 3.92 is 2 · 1.959963984540054 (the 97.5% normal quantile) rounded
    se = se_from_ci(0.5, 2.0, log=True)
    assert se == pytest.approx(math.log(4) / (2 * 1.959963984540054), rel=1e-14)
    assert se == pytest.approx(math.log(4) / 3.92, rel=1e-4)


def test_se_from_ci_levels_per_element():
    # 90% CI: z = 1.6448536269514722 (the 95% normal quantile)
    se = se_from_ci([0.0, 0.0], [2.0, 2.0], level=[95, 90])
    np.testing.assert_allclose(se, [1 / 1.959963984540054, 1 / 1.6448536269514722], rtol=1e-14)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ci_low": 1.0, "ci_high": 0.5}, "ci_high must be larger"),
        ({"ci_low": 0.5, "ci_high": 1.0, "level": 0.95}, "in percent"),
        ({"ci_low": 0.5, "ci_high": 1.0, "level": 100}, "in percent"),
        ({"ci_low": -0.5, "ci_high": 1.0, "log": True}, "positive CI bounds"),
    ],
)
def test_se_from_ci_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        se_from_ci(**kwargs)


# --- se_from_p ---------------------------------------------------------------------------------


def test_se_from_p_matches_r():
    ref = CONV["se_from_p"]
    est, p = np.array(ref["estimate"]), np.array(ref["p_value"])
    np.testing.assert_allclose(se_from_p(est, p), ref["se_z"], rtol=RTOL)
    np.testing.assert_allclose(se_from_p(est, p, df=np.array(ref["df"])), ref["se_t"], rtol=RTOL)


def test_se_from_p_altman_bland():
    # Altman & Bland (2011) give z = -0.862 + sqrt(0.743 - 2.404 ln p) as an approximation of
    # the normal quantile of a two-sided p, SE = estimate / z; for p <= 0.2 it is within 0.5%
    # of the exact quantile, so the exact SE must agree with it to 1%
    p = np.array([0.001, 0.01, 0.05, 0.2])
    z_approx = -0.862 + np.sqrt(0.743 - 2.404 * np.log(p))
    np.testing.assert_allclose(se_from_p(1.0, p), 1 / z_approx, rtol=0.01)
    # negative estimates give the same SE
    assert se_from_p(-0.8, 0.05) == se_from_p(0.8, 0.05)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((0.5, 0.0), {}, "strictly between 0 and 1"),
        ((0.5, 1.0), {}, "strictly between 0 and 1"),
        ((0.5, np.nan), {}, "strictly between 0 and 1"),
        ((0.0, 0.3), {}, "exactly 0"),
        ((0.5, 0.3), {"df": 0}, "df must be positive"),
    ],
)
def test_se_from_p_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        se_from_p(*args, **kwargs)


# --- sd_from_se --------------------------------------------------------------------------------


def test_sd_from_se():
    # Cochrane Handbook 6.5.2.2: SD = SE · √N
    np.testing.assert_allclose(sd_from_se([1.5, 0.8], [25, 64]), [7.5, 6.4], rtol=1e-15)
    with pytest.raises(ValueError, match="se must not be negative"):
        sd_from_se(-1.0, 10)
    with pytest.raises(ValueError, match="n must be positive"):
        sd_from_se(1.0, 0)


def test_docstring_examples():
    result = doctest.testmod(effects, raise_on_error=False)
    assert result.attempted >= 7
    assert result.failed == 0
