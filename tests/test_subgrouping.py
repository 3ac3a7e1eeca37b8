"""Subgroup analyses of an analysis (ketameta.subgrouping) against metafor and the engine.

Reference: tests/reference/subgroup_tests.json, written by subgroup_tests_cases.R (metafor
rma(..., subset = group == g) per subgroup at exact convergence, and the test for subgroup
differences rma(yi = est, sei = se, method = "EE")$QE); the exact calls are in the script.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ketameta.subgrouping import subgroup_blocks
from ketameta.subgroups import subgroup

REF = json.loads((Path(__file__).parent / "reference" / "subgroup_tests.json").read_text())
RTOL = 1e-8  # both sides at the exact optimum; rounding in iterations and quantiles is left
SETTINGS = {("REML", "knha"), ("REML", "z"), ("DL", "z")}


def test_reference_grid_is_complete():
    got = {(c["case"], c["method"], c["test"]) for c in REF["cases"]}
    assert got == {(case, m, t) for case in ("route", "single") for m, t in SETTINGS}
    assert REF["meta"]["metafor"].startswith("3.8")


@pytest.mark.parametrize("case", REF["cases"], ids=lambda c: f"{c['case']}-{c['method']}-{c['test']}")
def test_subgroups_match_metafor(case):
    frame = pd.DataFrame({"study": [f"S{i}" for i in range(len(case["yi"]))],
                          "yi": case["yi"], "vi": case["vi"], "route": case["group"]})
    cfg = {"method": case["method"], "test": case["test"], "level": 95, "subgroups": ["route"]}
    (block,) = subgroup_blocks(frame, cfg)["subgroups"]
    assert block["variable"] == "route"
    assert [g["label"] for g in block["groups"]] == [g["label"] for g in case["groups"]]
    for got, ref in zip(block["groups"], case["groups"], strict=True):
        assert got["k"] == ref["k"] and got["single"] == (ref["k"] == 1)
        for key in ("estimate", "se", "ci_low", "ci_high", "p_value"):
            assert got[key] == pytest.approx(ref[key], rel=RTOL, abs=1e-13), (got["label"], key)
        if ref["k"] > 1:
            assert got["tau2"] == pytest.approx(ref["tau2"], rel=RTOL, abs=1e-13)
        else:
            assert got["tau2"] is None
    assert block["Q_between"] == pytest.approx(case["Q_between"], rel=RTOL)
    assert block["Q_between_df"] == case["Q_between_df"]
    assert block["Q_between_p"] == pytest.approx(case["Q_between_p"], rel=RTOL)


def frame():
    return pd.DataFrame({
        "study": list("ABCDEF"),
        "yi": [-0.8, -1.0, -0.5, -0.3, -0.4, -0.6],
        "vi": [0.1, 0.06, 0.03, 0.02, 0.05, 0.04],
        "drug": ["ketamine", "ketamine", "esketamine", "esketamine", "ketamine", "ketamine"],
        "route": ["IV", "IV", "IN", "intranasal", "oral", "IV"],
        "comparator": ["midazolam", "saline", "placebo_spray", "placebo_spray", "placebo",
                       "saline"],
        "design": ["parallel"] * 6,
    })


def test_default_columns_comparator_kinds_and_the_engine():
    cfg = {"method": "REML", "test": "knha", "level": 95}
    blocks = subgroup_blocks(frame(), cfg)
    assert [b["variable"] for b in blocks["subgroups"]] == ["route", "drug", "comparator"]
    comparator = blocks["subgroups"][2]
    assert [g["label"] for g in comparator["groups"]] == ["active control", "inert control"]
    assert comparator["groups"][0]["single"] and comparator["groups"][0]["studies"] == ["A"]
    data = frame()
    ref = subgroup(data["yi"], data["vi"], ["IV", "IV", "IN", "intranasal", "oral", "IV"],
                   method="REML", test="knha", level=95, tau2="separate")
    assert blocks["subgroups"][0]["Q_between"] == pytest.approx(ref.Q_between, rel=1e-12)


def test_ketamine_against_esketamine_is_its_own_result():
    cfg = {"method": "REML", "test": "z", "level": 95}
    kve = subgroup_blocks(frame(), cfg)["ketamine_vs_esketamine"]
    assert kve["variable"] == "drug_route"
    assert [(g["label"], g["studies"]) for g in kve["groups"]] == [
        ("IV ketamine", ["A", "B", "F"]), ("IN esketamine", ["C", "D"])]
    data = frame().iloc[[0, 1, 2, 3, 5]]
    ref = subgroup(data["yi"], data["vi"], ["K", "K", "E", "E", "K"], method="REML",
                   test="z", level=95, tau2="separate")
    assert kve["Q_between_p"] == pytest.approx(ref.Q_between_p, rel=1e-12)
    only_iv = frame().assign(drug="ketamine", route="IV")
    none = subgroup_blocks(only_iv, {**cfg, "subgroups": []})
    assert none == {"subgroups": [], "ketamine_vs_esketamine": None}
    assert subgroup_blocks(frame().iloc[:1], cfg) == none
    assert np.isfinite(kve["Q_between"])
