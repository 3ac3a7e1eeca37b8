"""What an analysis combines (ketameta.mixing) and its result without crossover trials."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ketameta.mixing import mixture, score_type
from ketameta.models import rma

CFG = {"measure": "SMD", "timepoint": "end", "method": "REML", "test": "knha", "level": 95}


def frame(**columns):
    base = {
        "study": ["A", "B", "C", "D"],
        "yi": [-0.9, -0.4, -0.6, -0.2],
        "vi": [0.08, 0.05, 0.11, 0.04],
        "kind": ["continuous"] * 4,
        "design": ["crossover", "parallel", "parallel", "parallel"],
        "comparator": ["saline", "midazolam", "placebo", "saline"],
        "drug": ["ketamine"] * 4,
        "route": ["IV"] * 4,
        "scale": ["MADRS", "MADRS", "HDRS", "MADRS"],
        "notes": ["change scores", "Post-infusion scores, not change", "", ""],
        "day": [28, 28, np.nan, 8],
    }
    base.update(columns)
    return pd.DataFrame(base)


def test_every_mixture_is_named():
    block = mixture(frame(), CFG)
    text = {m["what"]: m["text"] for m in block["mixed"]}
    assert text["design"] == "crossover (1) and parallel (3) trials"
    assert text["score"] == "change from baseline (1) and final scores (1); not stated for 2"
    assert text["comparator"] == ("active controls (midazolam (1)) and inert controls "
                                  "(saline (2), placebo (1))")
    assert text["day"] == "end of treatment at different times: day 8, 28; not dated for 1 trial"
    assert text["scale"] == "different scales, standardised: MADRS (3), HDRS (1)"
    assert "drug" not in text and "route" not in text


def test_nothing_mixed_says_nothing():
    same = frame(design=["parallel"] * 4, comparator=["saline"] * 4, scale=["MADRS"] * 4,
                 notes=[""] * 4, day=[28] * 4)
    assert mixture(same, CFG) == {"mixed": [], "without_crossover": None}
    # drugs and routes are named when they differ; the day only matters at "end"
    other = same.assign(drug=["ketamine", "esketamine", "esketamine", "ketamine"],
                        route=["IV", "IN", "IN", "IV"], day=[1, 2, 3, 4])
    got = mixture(other, {**CFG, "timepoint": "24h"})["mixed"]
    assert [m["what"] for m in got] == ["drug", "route"]
    assert got[1]["text"] == "different routes: IV (2), IN (2)"


def test_without_crossover_is_the_fit_of_the_parallel_trials():
    data = frame()
    wc = mixture(data, CFG)["without_crossover"]
    ref = rma(data["yi"][1:].to_numpy(), data["vi"][1:].to_numpy(), method="REML",
              test="knha", level=95)
    assert wc["k"] == 3 and wc["studies"] == ["B", "C", "D"]
    for key in ("estimate", "se", "ci_low", "ci_high", "p_value", "tau2", "I2"):
        assert wc[key] == pytest.approx(float(getattr(ref, key)), rel=1e-12, abs=1e-15)


def test_score_type_reads_the_column_then_the_notes():
    assert score_type({"score": "final", "notes": "change scores"}) == "final"
    assert score_type({"notes": "LS mean change from baseline (MMRM)"}) == "change"
    assert score_type({"notes": "Post-infusion scores, not change"}) == "final"
    assert score_type({"notes": "Abstract does not say whether post scores or change"}) is None
    assert score_type({"notes": "", "scale": "MADRS"}) is None
