"""Subgroup analyses (``ketameta.subgroup``) against metafor at its tight settings.

Reference numbers come from ``tests/reference/metareg.json`` (``subgroups``), written by
``tests/reference/metareg_cases.R``: per subgroup ``rma(yi, vi, subset = group == g,
method, test, control = ctl)``; the test for subgroup differences with separate τ² is
``rma(estimates, sei = standard errors, method = "EE")$QE`` on G − 1 df, with a common τ²
the ``QM`` of ``rma(yi, vi, mods = ~ factor(group), method, test, control = ctl)``, and the
subgroup fits then use that τ² (``rma(yi, vi, tau2 = τ², subset = group == g, test)``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import ketameta
from ketameta.subgroups import SubgroupResult, subgroup

REF = json.loads((Path(__file__).parent / "reference" / "metareg.json").read_text())["subgroups"]

# Both sides at the exact optimum; the subgroup fits are intercept-only models (1e-8 as the
# rma grid) and Q_between combines them. tau2 = 0 residues of metafor's threshold: 1e-12.
RTOL = 1e-8
ATOL_TAU2 = 1e-12
EXPECTED_SETS = ("bcg_alloc", "bcg_single_trial", "bangertdrowns2004_grade", "molloy2014_design")
METHODS = ("EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
GRID = [
    (name, f"{m}/{t}", model)
    for name in EXPECTED_SETS
    for m in METHODS
    for t in ("z", "knha")
    for model in ("separate", "common")
]
FIT_FIELDS = ("estimate", "se", "ci_low", "ci_high", "statistic", "p_value")


def _close(actual, expected, rtol=RTOL, atol=0.0):
    if expected is None:
        return math.isnan(actual)
    return actual == pytest.approx(expected, rel=rtol, abs=atol)


def test_reference_grid_is_complete():
    assert tuple(REF) == EXPECTED_SETS
    for data in REF.values():
        assert sorted(data["results"]) == sorted(
            f"{m}/{t}" for m in METHODS for t in ("z", "knha")
        )
        for res in data["results"].values():
            assert "error" not in res["separate"] and "error" not in res["common"]
    sizes = [fit["k"] for fit in REF["bcg_single_trial"]["results"]["REML/z"]["separate"]
             ["fits"].values()]  # fmt: skip
    assert 1 in sizes  # a subgroup of a single trial


@pytest.mark.parametrize(("name", "key", "model"), GRID)
def test_matches_metafor(name, key, model):
    data = REF[name]
    ref = data["results"][key][model]
    method, test = key.split("/")
    res = subgroup(data["yi"], data["vi"], data["groups"], method=method, test=test,
                   tau2=model)
    assert isinstance(res, SubgroupResult)
    assert list(res.groups) == list(dict.fromkeys(data["groups"]))  # first appearance
    assert list(ref["fits"]) == list(res.groups)
    for label, fit_ref in ref["fits"].items():
        fit = res.fits[label]
        assert fit.k == fit_ref["k"]
        for field in FIT_FIELDS:
            assert _close(getattr(fit, field), fit_ref[field]), (label, field)
        if fit.k >= 2:
            assert _close(fit.tau2, fit_ref["tau2"], atol=ATOL_TAU2), (label, "tau2")
            assert _close(fit.Q, fit_ref["Q"]), (label, "Q")
            if method != "EE":  # metafor refits with tau2 = 0 fixed; EE gives no PI
                assert _close(fit.pi_low, fit_ref["pi_low"]), (label, "pi_low")
    assert _close(res.Q_between, ref["Q_between"])
    assert _close(res.Q_between_p, ref["Q_between_p"])
    if model == "separate":
        assert res.Q_between_df == ref["Q_between_df"] == len(res.groups) - 1
        assert res.Q_between_test == "chi2" and math.isnan(res.tau2)
    else:
        assert res.Q_between_df == ref["Q_between_df"][0] == len(res.groups) - 1
        assert _close(res.tau2, ref["tau2"], atol=ATOL_TAU2)
        if test == "z":
            assert res.Q_between_test == "chi2" and math.isnan(res.Q_between_df2)
        else:
            assert res.Q_between_test == "F" and res.Q_between_df2 == ref["Q_between_df"][1]


def test_single_trial_subgroup_is_that_trial():
    data = REF["bcg_single_trial"]
    res = subgroup(data["yi"], data["vi"], data["groups"], test="knha")
    first = res.fits["first"]
    assert first.k == 1 and first.estimate == data["yi"][0] and first.df == math.inf
    assert math.isnan(first.tau2) and any("k = 1" in w for w in first.warnings)


def test_to_dict_is_plain_json():
    data = REF["bcg_alloc"]
    res = subgroup(data["yi"], data["vi"], data["groups"], tau2="common", test="knha")
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["groups"] == list(res.groups) and d["Q_between_test"] == "F"
    assert set(d["fits"]) == set(res.groups)
    assert d["fits"]["random"]["estimate"] == res.fits["random"].estimate


def test_missing_studies_are_left_out():
    data = REF["bcg_alloc"]
    yi = np.array(data["yi"] + [np.nan])
    vi = np.array(data["vi"] + [0.1])
    a = subgroup(yi, vi, data["groups"] + ["new"])
    b = subgroup(data["yi"], data["vi"], data["groups"])
    assert a.groups == b.groups and a.Q_between == b.Q_between


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tau2": "pooled"}, "tau2 must be"),
        ({"groups": ["a", "b"]}, "one label per study"),
        ({"groups": ["a", None, "b"]}, "label missing for the study at position 1"),
        ({"groups": ["a", "a", "a"]}, "at least two subgroups"),
        ({"method": "XX"}, "method must be one of"),
    ],
)
def test_invalid_input_raises(kwargs, message):
    args = {"groups": ["a", "b", "a"], **kwargs}
    with pytest.raises(ValueError, match=message):
        subgroup([0.1, 0.3, 0.2], [0.1, 0.1, 0.2], **args)


def test_subgroup_is_exported():
    assert ketameta.subgroup is subgroup and ketameta.SubgroupResult is SubgroupResult
