"""Tests of ketameta.escalc against metafor's escalc() and against statsmodels.

The reference numbers come from tests/reference/escalc.json, written by
tests/reference/escalc_cases.R (metafor and R versions recorded in the file; each case stores
the exact R code that produced it). R is not needed to run these tests.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.meta_analysis import effectsize_2proportions, effectsize_smd

import ketameta.effects as effects
from ketameta.effects import escalc, hedges_j

REFERENCE = json.loads((Path(__file__).parent / "reference" / "escalc.json").read_text())
CASES = REFERENCE["cases"]

# Tolerances.
# RTOL_METAFOR: ketameta evaluates the same closed-form expressions as metafor (J on the log
# scale via log-gamma, as metafor's .cmicalc). What remains is floating-point rounding: the
# largest relative difference measured over all cases is 7e-15 (metafor 3.8-1, R 4.2.2, NumPy
# 2.4). 1e-12 leaves room for a different libm (lgamma, log, asin) while staying six orders of
# magnitude tighter than the project's 1e-6 requirement. atol is 0: values that are exactly 0 in
# metafor (double-zero tables, yi = log 1) are exactly 0 here too.
RTOL_METAFOR = 1e-12
# RTOL_SAME_FORMULA: statsmodels' two-proportion effect sizes with zero_correction=0.5 are the
# same formulas as metafor's defaults written in a different algebraic order (e.g.
# (1-p)/(p n) for 1/a - 1/n); only rounding differs.
RTOL_SAME_FORMULA = 1e-12

# The grid of reference cases; the JSON must contain at least these so that a regenerated
# reference cannot silently lose cases.
PINNED_CASES = (
    {
        f"{m}_{d}_{v}"
        for m, d in (("smd", "normand1999"), ("smd", "tiny"))
        for v in ("LS", "LS2", "UB", "RevMan")
    }
    | {f"md_{d}_{v}" for d in ("normand1999", "tiny") for v in ("LS", "UB", "HO")}
    | {f"{m}_bcg{s}" for m in ("rr", "or", "rd") for s in ("", "_if0all")}
    | {"rd_bcg_UB", "rd_zeros_UB"}
    | {
        f"{m}_zeros_{to}{d}"
        for m in ("rr", "or", "rd")
        for to in ("only0", "all", "if0all", "none")
        for d in ("", "_drop00")
    }
    | {f"{m}_zeros_add{a}" for m in ("rr", "or", "rd") for a in ("1", "0.1")}
    | {
        f"{m}_{d}_{to}"
        for m in ("plo", "pr", "pft")
        for d in ("pritz1997", "single")
        for to in ("only0", "all", "if0all", "none")
    }
    | {f"pr_{d}_UB" for d in ("pritz1997", "single")}
    | {f"pft_{d}_add0.5_{to}" for d in ("pritz1997", "single") for to in ("only0", "all")}
    | {
        "gen_md_vi",
        "gen_logor_sei",
        "gen_rr_ci",
        "gen_hr_ci",
        "gen_loghr_ci",
        "gen_smd_ci",
        "gen_rd_ci",
        "gen_rr_mixed",
        "gen_d_sei",
        "smd_mixed_arms_reported",
    }
)


def frame_of(case):
    """The input of a reference case as a DataFrame in ketameta's column names."""
    return pd.DataFrame(case["input"])


def run(case):
    with warnings.catch_warnings():
        # undefined rows (metafor's NA) warn; the warnings have their own tests below
        warnings.simplefilter("ignore")
        return escalc(case["measure"], frame_of(case), **case["options"])


def test_reference_grid_is_complete():
    missing = PINNED_CASES - set(CASES)
    assert not missing, f"reference cases missing from escalc.json: {sorted(missing)}"
    assert len(PINNED_CASES) == 92


def test_reference_records_versions():
    assert REFERENCE["r_version"].startswith("R version ")
    major, minor = (int(x) for x in REFERENCE["metafor_version"].split(".")[:2])
    assert (major, minor) >= (3, 8)


def test_reference_covers_every_measure_and_option():
    measures = {c["measure"] for c in CASES.values()}
    assert measures == set(effects.MEASURES)
    assert {c["options"]["to"] for c in CASES.values()} == {"only0", "all", "if0all", "none"}
    assert {c["options"]["drop00"] for c in CASES.values()} == {False, True}


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_matches_metafor(case_id):
    case = CASES[case_id]
    out = run(case)
    for column in ("yi", "vi"):
        expected = np.array(case[column], dtype=float)
        np.testing.assert_allclose(
            out[column].to_numpy(),
            expected,
            rtol=RTOL_METAFOR,
            atol=0,
            equal_nan=True,
            err_msg=f"{case_id} {column}; R: {case['call']}",
        )


def test_reference_contains_undefined_and_dropped_rows():
    # the NaN paths are exercised, not only the finite ones
    assert np.isnan(np.array(CASES["rr_zeros_none"]["yi"], dtype=float)).sum() == 6
    assert np.isnan(np.array(CASES["or_zeros_only0_drop00"]["yi"], dtype=float)).sum() == 3
    assert np.isnan(np.array(CASES["smd_tiny_LS"]["yi"], dtype=float)).sum() == 2


# --- metafor's defaults, spelled out -------------------------------------------------------


def test_default_zero_cell_handling_is_metafors():
    ref = CASES["or_zeros_only0"]
    assert ref["options"] == {"vtype": "LS", "add": None, "to": "only0", "drop00": False}
    default = escalc("OR", frame_of(ref))
    explicit = escalc("OR", frame_of(ref), add=0.5, to="only0", drop00=False)
    pd.testing.assert_frame_equal(default, explicit)
    # a double-zero table is kept with yi = 0 (metafor: drop00=FALSE)
    assert default.yi[2] == 0 and np.isfinite(default.vi[2])


def test_rd_gets_the_continuity_correction_too():
    # metafor adds 1/2 to tables with a zero cell for RD as well (same code path as RR, OR):
    # row 0 is 0/20 vs 5/20, so p1 = 0.5/21 and p2 = 5.5/21
    out = escalc("RD", frame_of(CASES["rd_zeros_only0"]))
    assert out.yi[0] == pytest.approx(0.5 / 21 - 5.5 / 21, rel=1e-15)


def test_pft_adds_nothing_unless_asked():
    frame = pd.DataFrame({"events_treat": [0, 5], "n_treat": [10, 10]})
    default = escalc("PFT", frame)
    zero = escalc("PFT", frame, add=0)
    pd.testing.assert_frame_equal(default, zero)
    assert escalc("PFT", frame, add=0.5).yi[0] != default.yi[0]


def test_drop00_keeps_rows_as_nan():
    case = CASES["rr_zeros_only0_drop00"]
    frame = frame_of(case)
    frame.index = [f"s{i}" for i in range(len(frame))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # dropping on request is not warned about
        out = escalc("RR", frame, drop00=True)
    assert list(out.index) == list(frame.index)
    assert out.yi.isna().tolist() == [False, False, True, True, False, False, False, False, True]


def test_undefined_rows_warn_with_their_labels():
    frame = pd.DataFrame(
        {"events_treat": [0, 4], "n_treat": [20, 20], "events_ctrl": [3, 5], "n_ctrl": [20, 20]},
        index=["Zarate 2006", "Murrough 2013"],
    )
    with pytest.warns(RuntimeWarning, match="row 'Zarate 2006'"):
        out = escalc("OR", frame, to="none")
    assert np.isnan(out.yi["Zarate 2006"]) and np.isnan(out.vi["Zarate 2006"])
    assert np.isfinite(out.yi["Murrough 2013"])


def test_smd_with_three_participants_is_nan_as_in_metafor():
    frame = pd.DataFrame(
        {
            "n_treat": [1],
            "mean_treat": [5.0],
            "sd_treat": [1.0],
            "n_ctrl": [2],
            "mean_ctrl": [4.0],
            "sd_ctrl": [2.0],
        }
    )
    with pytest.warns(RuntimeWarning, match="undefined"):
        out = escalc("SMD", frame)
    assert np.isnan(out.yi[0]) and np.isnan(out.vi[0])


# --- the returned frame -----------------------------------------------------------------------


def test_returns_copy_with_float_yi_vi_and_other_columns_kept():
    frame = frame_of(CASES["smd_normand1999_LS"]).assign(study=list("abcdefghi"), rob="low")
    before = frame.copy()
    out = escalc("SMD", frame)
    pd.testing.assert_frame_equal(frame, before)
    assert out is not frame
    assert list(out.columns) == [*frame.columns, "yi", "vi"]
    assert out.yi.dtype == np.float64 and out.vi.dtype == np.float64
    assert out.study.tolist() == list("abcdefghi")


def test_empty_frame():
    frame = pd.DataFrame({c: pd.Series([], dtype=float) for c in effects.CONTINUOUS})
    out = escalc("MD", frame)
    assert len(out) == 0 and {"yi", "vi"} <= set(out.columns)


def test_counts_and_numbers_as_strings_are_read():
    # CSV readers may leave numeric columns as strings
    case = CASES["rr_bcg"]
    frame = frame_of(case).astype(str)
    out = escalc("RR", frame)
    np.testing.assert_allclose(out.yi, case["yi"], rtol=RTOL_METAFOR)


def test_blank_strings_count_as_missing():
    frame = continuous().astype(str)
    frame.loc[7, "sd_ctrl"] = "  "
    with pytest.raises(ValueError, match=r"row 7 lacks sd_ctrl"):
        escalc("MD", frame)


def test_reported_rows_join_arm_rows_of_the_same_scale():
    arms = frame_of(CASES["rr_bcg"]).iloc[:3]
    reported = pd.DataFrame(
        {
            "effect_type": ["RR", "logRR"],
            "yi": [0.7, -0.2],
            "ci_low": [0.5, -0.5],
            "ci_high": [0.98, 0.1],
        }
    )
    frame = pd.concat([arms, reported], ignore_index=True)
    out = escalc("RR", frame)
    np.testing.assert_allclose(out.yi[:3], CASES["rr_bcg"]["yi"][:3], rtol=RTOL_METAFOR)
    gen = escalc("GEN", reported)
    np.testing.assert_allclose(out.yi[3:], gen.yi, rtol=0)
    np.testing.assert_allclose(out.vi[3:], gen.vi, rtol=0)
    assert out.yi[3] == pytest.approx(np.log(0.7), rel=1e-15)


def test_reported_ratio_is_logged_and_vi_read_on_log_scale():
    frame = pd.DataFrame(
        {"effect_type": ["HR", "logHR"], "yi": [0.5, np.log(0.5)], "sei": [0.2, 0.2]}
    )
    out = escalc("GEN", frame)
    assert out.yi.tolist() == pytest.approx([np.log(0.5)] * 2, rel=1e-15)
    assert out.vi.tolist() == pytest.approx([0.04, 0.04], rel=1e-15)


def test_reported_vi_takes_precedence_over_sei_and_ci():
    frame = pd.DataFrame(
        {
            "effect_type": ["MD"],
            "yi": [1.0],
            "vi": [0.3],
            "sei": [9.0],
            "ci_low": [-5.0],
            "ci_high": [7.0],
        }
    )
    assert escalc("GEN", frame).vi[0] == 0.3


def test_asymmetric_reported_ci_warns():
    frame = pd.DataFrame({"effect_type": ["RR"], "yi": [0.9], "ci_low": [0.5], "ci_high": [3.0]})
    with pytest.warns(UserWarning, match="midpoint"):
        escalc("GEN", frame)


# --- errors ---------------------------------------------------------------------------------


def continuous(**overrides):
    data = {
        "n_treat": [20, 22, 25],
        "mean_treat": [10.0, 11.0, 9.5],
        "sd_treat": [3.0, 2.5, 4.0],
        "n_ctrl": [21, 20, 24],
        "mean_ctrl": [12.0, 12.5, 11.0],
        "sd_ctrl": [3.2, 2.9, 3.5],
    }
    data.update(overrides)
    return pd.DataFrame(data, index=[3, 7, 9])


def test_missing_columns_name_rows_and_columns():
    frame = continuous(sd_treat=[3.0, np.nan, np.nan], sd_ctrl=[3.2, np.nan, 3.5])
    with pytest.raises(ValueError) as err:
        escalc("SMD", frame)
    message = str(err.value)
    assert "row 7 lacks sd_treat, sd_ctrl" in message
    assert "row 9 lacks sd_treat" in message
    assert "n_treat, mean_treat, sd_treat, n_ctrl, mean_ctrl, sd_ctrl" in message


def test_absent_column_is_reported_as_missing():
    frame = continuous().drop(columns="sd_ctrl")
    with pytest.raises(ValueError, match=r"rows 3, 7, 9 lack sd_ctrl"):
        escalc("MD", frame)


def test_wrong_data_group_for_measure():
    with pytest.raises(ValueError, match=r"lack events_treat, events_ctrl"):
        escalc("OR", continuous())
    reported = pd.DataFrame({"effect_type": ["OR"], "yi": [2.0], "sei": [0.3]}, index=["A"])
    with pytest.raises(ValueError, match=r"row 'A'.*does not fit measure SMD"):
        escalc("SMD", reported)
    with pytest.raises(ValueError, match=r"does not fit measure PLO.*single-arm counts"):
        escalc("PLO", reported)
    with pytest.raises(ValueError, match=r"GEN.*rows 3, 7, 9 lack effect_type"):
        escalc("GEN", continuous())


@pytest.mark.parametrize(
    ("measure", "frame", "match"),
    [
        ("SMD", continuous(sd_treat=[3.0, -1.0, 4.0]), r"row 7: sd_treat must not be negative"),
        ("MD", continuous(n_ctrl=[21, 0, 24]), r"row 7: n_ctrl must be positive"),
        ("MD", continuous(mean_treat=[1.0, np.inf, 2.0]), r"row 7: mean_treat is infinite"),
        ("SMD", continuous(sd_ctrl=["3.2", "n/a", "3.5"]), r"row 7: column 'sd_ctrl' is not a"),
        (
            "RR",
            pd.DataFrame(
                {
                    "events_treat": [5, 30],
                    "n_treat": [20, 20],
                    "events_ctrl": [1, 2],
                    "n_ctrl": [20, 20],
                }
            ),
            r"row 1: events_treat must be between 0 and n_treat",
        ),
        (
            "PLO",
            pd.DataFrame({"events_treat": [-1], "n_treat": [20]}),
            r"row 0: events_treat must be between 0 and n_treat",
        ),
    ],
)
def test_impossible_values(measure, frame, match):
    with pytest.raises(ValueError, match=match):
        escalc(measure, frame)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"effect_type": ["SMD"], "yi": [0.3]}, r"needs vi, sei, or both ci_low and ci_high"),
        ({"effect_type": ["SMD"], "yi": [0.3], "ci_low": [0.1]}, r"needs vi, sei"),
        ({"effect_type": ["Hedges g"], "yi": [0.3], "vi": [0.1]}, r"unknown effect_type"),
        ({"effect_type": ["RR"], "yi": [-0.2], "sei": [0.1]}, r"must be positive"),
        (
            {"effect_type": ["RR"], "yi": [0.8], "ci_low": [0.0], "ci_high": [1.5]},
            r"CI bounds of a ratio",
        ),
        (
            {"effect_type": ["MD"], "yi": [1.0], "ci_low": [2.0], "ci_high": [0.0]},
            r"ci_high must be larger than ci_low",
        ),
        (
            {
                "effect_type": ["MD"],
                "yi": [1.0],
                "ci_low": [0.0],
                "ci_high": [2.0],
                "ci_level": [0.95],
            },
            r"ci_level is in percent",
        ),
        ({"effect_type": ["MD"], "yi": [1.0], "vi": [0.0]}, r"vi must be positive"),
        ({"effect_type": ["MD"], "yi": [1.0], "sei": [-0.1]}, r"sei must be positive"),
        ({"effect_type": ["MD"], "vi": [0.1]}, r"lacks yi"),
        ({"effect_type": ["d"], "yi": [0.4], "sei": [0.2]}, r"lacks n_treat, n_ctrl.*Cohen's d"),
        (
            {"effect_type": ["RR", "OR"], "yi": [0.8, 0.7], "sei": [0.2, 0.2]},
            r"different scales cannot be pooled.*logOR, logRR",
        ),
    ],
)
def test_reported_effect_errors(data, match):
    with pytest.raises(ValueError, match=match):
        escalc("GEN", pd.DataFrame(data))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"measure": "Hedges"}, r"unknown measure 'Hedges'"),
        ({"measure": "OR", "vtype": "RevMan"}, r"vtype 'RevMan' is not available.*LS"),
        ({"measure": "SMD", "vtype": "HO"}, r"one of LS, LS2, UB, RevMan"),
        ({"measure": "OR", "to": "each"}, r"unknown to='each'; one of only0, all, if0all, none"),
        ({"measure": "OR", "add": -0.5}, r"add must be a finite number >= 0"),
        ({"measure": "OR", "drop00": "yes"}, r"drop00 must be True or False"),
    ],
)
def test_option_errors(kwargs, match):
    frame = frame_of(CASES["or_bcg"])
    measure = kwargs.pop("measure")
    with pytest.raises(ValueError, match=match):
        escalc(measure, frame, **kwargs)


def test_frame_must_be_a_dataframe():
    with pytest.raises(TypeError, match="DataFrame"):
        escalc("OR", {"events_treat": [1]})


def test_long_row_lists_are_shortened():
    frame = pd.DataFrame({"events_treat": range(30), "n_treat": [50] * 30})
    with pytest.raises(ValueError, match=r"rows 0, 1, .*, 9 and 20 more lack events_ctrl"):
        escalc("RR", frame)


# --- independent cross-checks -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("measure", "statistic"), [("RR", "risk-ratio"), ("OR", "odds-ratio"), ("RD", "diff")]
)
def test_two_proportions_agree_with_statsmodels(measure, statistic):
    # statsmodels' effectsize_2proportions uses metafor's formulas. Its zero_correction=0.5
    # adds 1/2 to every cell of a table with a zero cell (zero events or only events in an
    # arm), as metafor's add=1/2, to="only0" -- but (statsmodels 0.15) it also adds 1/2 to the
    # event counts of tables *without* a zero cell while leaving their n unchanged, so it is
    # compared here only where it is right: tables without a zero cell uncorrected (bcg and
    # the zero-free rows of the zero grid), tables with a zero cell corrected.
    frames = [
        frame_of(CASES[f"{measure.lower()}_bcg"]),
        frame_of(CASES[f"{measure.lower()}_zeros_only0"]),
    ]
    frame = pd.concat(frames, ignore_index=True)
    ours = escalc(measure, frame)
    x1, n1, x2, n2 = (
        frame[c].to_numpy(float) for c in ("events_treat", "n_treat", "events_ctrl", "n_ctrl")
    )
    has_zero = (x1 == 0) | (x1 == n1) | (x2 == 0) | (x2 == n2)
    assert 0 < has_zero.sum() < len(frame)
    with np.errstate(divide="ignore", invalid="ignore"):  # uncorrected zero rows are unused
        plain = effectsize_2proportions(x1, n1, x2, n2, statistic=statistic)
    corrected = effectsize_2proportions(x1, n1, x2, n2, statistic=statistic, zero_correction=0.5)
    yi = np.where(has_zero, corrected[0], plain[0])
    vi = np.where(has_zero, corrected[1], plain[1])
    # atol: statsmodels computes log(p1) - log(1-p1) - log(p2) + log(1-p2), which leaves
    # -2.8e-17 instead of 0 for a double-zero table (yi exactly 0 in metafor and here)
    np.testing.assert_allclose(ours.yi, yi, rtol=RTOL_SAME_FORMULA, atol=1e-15)
    np.testing.assert_allclose(ours.vi, vi, rtol=RTOL_SAME_FORMULA)


def test_smd_agrees_with_statsmodels_up_to_the_j_approximation():
    # statsmodels' effectsize_smd is RevMan's SMD: g with J ~ 1 - 3/(4N - 9) and variance
    # N/(n1 n2) + g^2/(2(N - 3.94)). With the exact J our g differs from it only by the ratio
    # of exact to approximate J.
    frame = frame_of(CASES["smd_normand1999_LS"])
    n1, n2 = frame.n_treat.to_numpy(float), frame.n_ctrl.to_numpy(float)
    g_sm, v_sm = effectsize_smd(
        frame.mean_treat.to_numpy(float),
        frame.sd_treat.to_numpy(float),
        n1,
        frame.mean_ctrl.to_numpy(float),
        frame.sd_ctrl.to_numpy(float),
        n2,
    )
    ours = escalc("SMD", frame, vtype="RevMan")
    ratio = hedges_j(n1 + n2 - 2) / (1 - 3 / (4 * (n1 + n2) - 9))
    np.testing.assert_allclose(ours.yi, g_sm * ratio, rtol=RTOL_SAME_FORMULA)
    # the approximation differs by up to 9e-5 here (N = 21), far above RTOL_SAME_FORMULA, so
    # the check above would fail without the ratio
    assert np.max(np.abs(ratio - 1)) > 1e3 * RTOL_SAME_FORMULA
    # the RevMan variance evaluated at statsmodels' g is statsmodels' variance
    n = n1 + n2
    v_ours_at_g_sm = ours.vi - (ours.yi**2 - g_sm**2) / (2 * (n - 3.94))
    np.testing.assert_allclose(v_ours_at_g_sm, v_sm, rtol=RTOL_SAME_FORMULA)


def test_crossover_d_uses_paired_degrees_of_freedom():
    # Zarate 2006 (data/raw/trd.csv): crossover, 18 patients, d = -1.46 [-2.01, -0.91]; the
    # within-patient d gets J with n - 1 = 17 df; a parallel d of 18 + 18 gets 34 df.
    frame = pd.DataFrame(
        {
            "effect_type": ["d", "d"],
            "yi": [-1.46, -1.46],
            "ci_low": [-2.01, -2.01],
            "ci_high": [-0.91, -0.91],
            "n_treat": [18, 18],
            "n_ctrl": [18, 18],
            "design": ["crossover", "parallel"],
        }
    )
    out = escalc("SMD", frame)
    se = (-0.91 - -2.01) / (2 * stats.norm.ppf(0.975))
    for row, df in ((0, 17), (1, 34)):
        j = math.exp(math.lgamma(df / 2) - math.log(math.sqrt(df / 2)) - math.lgamma((df - 1) / 2))
        assert out["yi"][row] == pytest.approx(j * -1.46, rel=1e-12)
        assert out["vi"][row] == pytest.approx((j * se) ** 2, rel=1e-12)
