"""Pooled arm proportions (ketameta.proportions) against metafor.

Reference: tests/reference/proportions.json, written by proportions_cases.R (metafor
rma(xi, ni, measure="PLO") at exact convergence, back-transformed by predict(transf =
transf.ilogit)); the exact call is stored beside each case.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ketameta.models import rma
from ketameta.proportions import arm_proportions

REF = json.loads((Path(__file__).parent / "reference" / "proportions.json").read_text())
# Both sides stop at the same place (the exact optimum when rma() takes a ``control`` and
# converges exactly by default; metafor's stopping rule before that, the "default" values):
# what is left is floating-point rounding in the iterations and the quantiles.
RTOL = 1e-8
EXACT = "control" in inspect.signature(rma).parameters
CASES = ("trd_like", "zero_arm", "all_events", "two", "one")
SETTINGS = (("REML", "knha"), ("REML", "z"), ("DL", "z"), ("PM", "adhoc"))


def test_reference_grid_is_complete():
    got = {(c["case"], c["method"], c["test"]) for c in REF["cases"]}
    assert got == {(c, m, t) for c in CASES for m, t in SETTINGS}
    assert REF["meta"]["metafor"].startswith("3.8")


@pytest.mark.parametrize("case", REF["cases"], ids=lambda c: f"{c['case']}-{c['method']}-{c['test']}")
def test_each_arm_matches_metafor(case):
    # the same arm data as the treatment arms and, shifted, as the control arms
    events, n = np.array(case["events"], float), np.array(case["n"], float)
    frame = pd.DataFrame({"study": [f"S{i}" for i in range(len(n))], "events_treat": events,
                          "n_treat": n, "events_ctrl": events, "n_ctrl": n})
    cfg = {"method": case["method"], "test": case["test"], "level": 95}
    block = arm_proportions(frame, cfg)
    ref = case if EXACT else {**case, **case["default"]}
    for arm in ("treat", "ctrl"):
        got = block[arm]
        assert got["k"] == len(n) and got["n"] == int(n.sum())
        for key in ("estimate", "ci_low", "ci_high", "proportion", "proportion_ci_low",
                    "proportion_ci_high"):
            assert got[key] == pytest.approx(ref[key], rel=RTOL, abs=1e-13), (arm, key)
        if len(n) > 1:
            assert got["tau2"] == pytest.approx(ref["tau2"], rel=RTOL, abs=1e-13)
        else:
            assert got["tau2"] is None


def test_rows_without_arm_events_are_left_out():
    frame = pd.DataFrame({"study": ["A", "B", "C"], "events_treat": [5, np.nan, 7],
                          "n_treat": [10, 12, 14], "events_ctrl": [2, np.nan, 3],
                          "n_ctrl": [10, 12, 14]})
    block = arm_proportions(frame, {"method": "REML", "test": "z", "level": 95})
    assert block["studies"] == ["A", "C"] and block["treat"]["events"] == 12
    none = frame.assign(events_treat=np.nan)
    assert arm_proportions(none, {"method": "REML", "test": "z", "level": 95}) is None
    assert arm_proportions(frame.drop(columns="events_ctrl"), {}) is None
