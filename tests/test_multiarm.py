"""Multi-arm trials sharing a control arm: combined, split, and the checks of a group."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ketameta.io import DataError, read_data
from ketameta.multiarm import check_unique_studies, combine_continuous, resolve_multiarm


def handbook_two_groups(n1, m1, sd1, n2, m2, sd2):
    """Cochrane Handbook v6.4, Table 6.5.a, typed from the Handbook's formula."""
    n = n1 + n2
    mean = (n1 * m1 + n2 * m2) / n
    var = ((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2 + n1 * n2 / n * (m1**2 + m2**2 - 2 * m1 * m2)) / (
        n - 1
    )
    return n, mean, math.sqrt(var)


def test_combined_sd_is_the_sd_of_the_pooled_observations():
    # Reference: the sample (n - 1) mean and SD of all observations of the arms together.
    rng = np.random.default_rng(20240601)
    arms = [
        rng.normal(loc, scale, size)
        for loc, scale, size in ((-12, 9, 11), (-15, 8, 13), (-16, 10, 12))
    ]
    n = [a.size for a in arms]
    mean = [a.mean() for a in arms]
    sd = [a.std(ddof=1) for a in arms]
    pooled = np.concatenate(arms)
    total, m, s = combine_continuous(n, mean, sd)
    assert total == pooled.size
    assert m == pytest.approx(pooled.mean(), rel=1e-13)
    assert s == pytest.approx(pooled.std(ddof=1), rel=1e-13)


def test_combined_equals_the_handbook_formula_applied_twice():
    # Daly 2018 (data/raw/trd.csv): esketamine 28, 56, 84 mg at 24 h, n 11, 11, 12.
    n, mean, sd = (11, 11, 12), (-14.8, -15.7, -16.4), (9.29, 9.09, 9.15)
    step = handbook_two_groups(n[0], mean[0], sd[0], n[1], mean[1], sd[1])
    expected = handbook_two_groups(*step, n[2], mean[2], sd[2])
    assert combine_continuous(n, mean, sd) == pytest.approx(expected, rel=1e-14)


CSV = """study,condition,outcome,timepoint,arm,group,dose,n_treat,mean_treat,sd_treat,n_ctrl,mean_ctrl,sd_ctrl,events_treat,events_ctrl,effect_type,yi,sei
Daly,TRD,sev,24h,28 mg,g1,28,11,-14.8,9.29,33,-5.7,10.28,,,,,
Daly,TRD,sev,24h,56 mg,g1,56,11,-15.7,9.09,33,-5.7,10.28,,,,,
Solo,TRD,sev,24h,,,,20,-10,8,20,-6,8,,,,,
Daly,TRD,resp,24h,28 mg,g1,28,11,,,33,,,4,1,,,
Daly,TRD,resp,24h,56 mg,g1,56,11,,,33,,,3,1,,,
Daly,TRD,md,24h,28 mg,g1,28,,,,,,,,,MD,-9.1,3.08
Daly,TRD,md,24h,56 mg,g1,56,,,,,,,,,MD,-10.0,3.0
"""


@pytest.fixture
def trials(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "trd.csv").write_text(CSV)
    return read_data("raw", root=tmp_path)


def rows_of(trials, outcome):
    return trials[trials["outcome"] == outcome]


def test_combine_continuous_arms(trials):
    out, notes = resolve_multiarm(rows_of(trials, "sev"), "combine")
    assert list(out["study"]) == ["Daly", "Solo"]
    daly = out.iloc[0]
    n, mean, sd = combine_continuous([11, 11], [-14.8, -15.7], [9.29, 9.09])
    assert (daly["n_treat"], daly["mean_treat"], daly["sd_treat"]) == (n, mean, sd)
    assert daly["n_ctrl"] == 33  # the control arm once
    assert daly["arm"] == "28 mg + 56 mg"
    assert daly["source_lines"] == "2;3"
    assert notes == [
        {
            "study": "Daly",
            "group": "g1",
            "arms": ["28 mg", "56 mg"],
            "lines": [2, 3],
            "source": "raw/trd.csv",
            "warning": None,
            "action": "combined",
        }
    ]


def test_combine_dichotomous_arms_sums_events(trials):
    out, _ = resolve_multiarm(rows_of(trials, "resp"), "combine")
    assert len(out) == 1
    row = out.iloc[0]
    assert (row["events_treat"], row["n_treat"], row["events_ctrl"], row["n_ctrl"]) == (
        7,
        22,
        1,
        33,
    )


def test_split_divides_the_control_arm(trials):
    out, notes = resolve_multiarm(rows_of(trials, "resp"), "split")
    assert list(out["study"]) == ["Daly (28 mg)", "Daly (56 mg)"]
    assert list(out["n_ctrl"]) == [16.5, 16.5]
    assert list(out["events_ctrl"]) == [0.5, 0.5]
    assert out["n_ctrl"].sum() == 33  # never counted twice
    assert notes[0]["action"] == "split"
    continuous, _ = resolve_multiarm(rows_of(trials, "sev"), "split")
    assert list(continuous["n_ctrl"]) == [16.5, 16.5, 20]
    assert list(continuous["sd_ctrl"]) == [10.28, 10.28, 8]


def test_reported_effects_keep_the_first_arm(trials):
    for mode in ("combine", "split"):
        out, notes = resolve_multiarm(rows_of(trials, "md"), mode)
        assert list(out["yi"]) == [-9.1]
        assert notes[0]["action"] == "kept first"
        assert notes[0]["warning"] == (
            "Daly: 2 reported effects share one control arm (group g1); kept the first listed "
            "(raw/trd.csv, line 7) and left out line 8, because reported effects cannot be "
            "combined"
        )


def test_rows_without_group_pass_through(trials):
    rows = rows_of(trials, "sev").assign(group=pd.NA)
    out, notes = resolve_multiarm(rows, "combine")
    assert len(out) == 3 and notes == []


@pytest.mark.parametrize("mode", ["combine", "split"])
def test_groups_of_one_row_pass_through_unchanged(trials, mode):
    # A group label that no other row of the analysis shares resolves nothing: the rows
    # come back as they are (in order, with their source lines), whatever the mode.
    rows = rows_of(trials, "sev")
    rows = rows.assign(group=[f"g{i}" for i in range(len(rows))]).iloc[::-1]
    out, notes = resolve_multiarm(rows, mode)
    expected = rows.assign(source_lines=rows["source_line"].astype(str)).reset_index(drop=True)
    pd.testing.assert_frame_equal(out, expected)
    assert notes == []


@pytest.mark.parametrize("mode", ["combine", "split"])
def test_other_rows_and_cells_keep_their_values_and_dtypes(trials, mode):
    # The output is the input's rows taken in order, with only the cells a group changes
    # set: every cell a group leaves alone (all of the row outside the group, text missing
    # on every arm) keeps its value, and every column its dtype.
    rows = rows_of(trials, "sev").assign(notes=["arm one", "arm two", "solo"])
    out, _ = resolve_multiarm(rows, mode)
    changed = ({"study", "n_ctrl"} if mode == "split"
               else {"n_treat", "mean_treat", "sd_treat", "arm", "dose", "notes", "source_lines"})
    expected = rows.assign(source_lines=rows["source_line"].astype(str))
    expected = expected.iloc[[0, 1, 2] if mode == "split" else [0, 2]].reset_index(drop=True)
    pd.testing.assert_frame_equal(out.drop(columns=list(changed)),
                                  expected.drop(columns=list(changed)))
    pd.testing.assert_series_equal(out.dtypes, expected.dtypes)
    if mode == "combine":
        assert list(out["notes"]) == ["arm one; arm two", "solo"]
        assert out["dose"].iloc[0] == "28 + 56" and pd.isna(out["dose"].iloc[1])


def test_control_arm_must_agree(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "trd.csv").write_text(
        CSV.replace("56 mg,g1,56,11,-15.7,9.09,33", "56 mg,g1,56,11,-15.7,9.09,30")
    )
    trials = read_data("raw", root=tmp_path)
    with pytest.raises(DataError) as caught:
        resolve_multiarm(rows_of(trials, "sev"), "combine")
    assert str(caught.value) == (
        "raw/trd.csv, line 3, column n_ctrl: the rows of group 'g1' of study 'Daly' share one "
        "control arm, but n_ctrl differs from line 2 (30 here, 33 there)"
    )


def test_group_must_stand_in_one_file(tmp_path):
    (tmp_path / "raw").mkdir()
    header, first, second = CSV.splitlines()[:3]
    (tmp_path / "raw" / "a.csv").write_text(f"{header}\n{first}\n")
    (tmp_path / "raw" / "b.csv").write_text(f"{header}\n{second}\n")
    trials = read_data("raw", root=tmp_path)
    with pytest.raises(DataError) as caught:
        resolve_multiarm(rows_of(trials, "sev"), "combine")
    assert str(caught.value) == (
        "raw/b.csv, line 2, column group: the rows of group 'g1' of study 'Daly' share one "
        "control arm and must stand in one file, but line 2 is in raw/a.csv"
    )


def test_group_must_hold_one_kind(tmp_path):
    text = CSV.replace("Daly,TRD,md,24h,28 mg", "Daly,TRD,resp,12h,28 mg").replace(
        "Daly,TRD,md,24h,56 mg,g1,56,,,,,,,,,MD,-10.0,3.0",
        "Daly,TRD,resp,12h,56 mg,g1,56,11,,,33,,,3,1,,,",
    )
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "trd.csv").write_text(text)
    rows = read_data("raw", root=tmp_path)
    rows = rows[rows["timepoint"] == "12h"]
    with pytest.raises(DataError) as caught:
        resolve_multiarm(rows, "combine")
    assert str(caught.value) == (
        "raw/trd.csv, line 8, column group: the rows of group 'g1' of study 'Daly' share one "
        "control arm, but this row holds dichotomous data and line 7 reported data"
    )


def test_single_arms_have_no_shared_control(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "p.csv").write_text(
        "study,condition,outcome,timepoint,arm,group,events_treat,n_treat\n"
        "Open,TRD,resp,24h,low,g1,4,10\n"
        "Open,TRD,resp,24h,high,g1,6,10\n"
    )
    with pytest.raises(DataError) as caught:
        resolve_multiarm(read_data("raw", root=tmp_path), "combine")
    assert str(caught.value) == (
        "raw/p.csv, line 3, column group: group 'g1' of study 'Open' marks arms that share a "
        "control arm, but single-arm rows have no control arm; leave group empty and give each "
        "arm its own study label"
    )


def test_a_study_enters_an_analysis_once(trials):
    rows = rows_of(trials, "sev").assign(group=pd.NA)
    rows = rows.assign(arm=pd.NA)
    with pytest.raises(DataError) as caught:
        check_unique_studies(rows, "trd_sev")
    assert str(caught.value) == (
        "raw/trd.csv, line 3, column study: study 'Daly' enters analysis trd_sev twice (also "
        "line 2); arms that share a control arm need one group label, separate comparisons "
        "need distinct study labels"
    )


def test_unknown_mode(trials):
    with pytest.raises(ValueError, match="combine or split"):
        resolve_multiarm(trials, "drop")
