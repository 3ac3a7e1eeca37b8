"""The few-trial headline (ketameta.fewtrials): when it applies and that it is bayesmeta."""

from __future__ import annotations

import pandas as pd
import pytest

from ketameta import bayesmeta
from ketameta.fewtrials import few_trials_block

CFG = {"measure": "SMD", "level": 95}


def frame(k, **extra):
    return pd.DataFrame({"study": [f"S{i}" for i in range(k)],
                         "yi": [-0.9, -0.5, -0.7, -0.2, -0.4, -0.6][:k],
                         "vi": [0.08, 0.05, 0.06, 0.03, 0.04, 0.05][:k], **extra})


def test_block_is_bayesmeta_with_the_half_normal_prior():
    block = few_trials_block(frame(2), CFG)
    ref = bayesmeta([-0.9, -0.5], [0.08, 0.05], tau_prior={"family": "halfnormal",
                                                            "scale": 0.5}).to_dict()
    assert block["k"] == 2 and block["tau_prior"] == {"family": "halfnormal", "scale": 0.5}
    for part in ("mu", "tau", "theta_new"):
        for key in ("median", "mean", "sd", "ci_low", "ci_high"):
            assert block[part][key] == pytest.approx(ref[part][key], rel=1e-12), (part, key)
    assert block["prob_mu_negative"] == pytest.approx(ref["prob_mu_negative"], rel=1e-12)
    assert block["prob_mu_negative"] + block["prob_mu_positive"] == pytest.approx(1)


def test_when_it_applies():
    assert few_trials_block(frame(1), CFG) is None  # one trial: not pooled
    assert few_trials_block(frame(4), CFG) is not None
    assert few_trials_block(frame(5), CFG) is None  # above bayes_max_k
    assert few_trials_block(frame(5), {**CFG, "few_trials": {"bayes_max_k": 6}})["k"] == 5
    assert few_trials_block(frame(3), {**CFG, "measure": "MD"}) is None  # points: no default
    assert few_trials_block(frame(3), {**CFG, "measure": "RR"}) is not None
    gen = {**CFG, "measure": "GEN"}
    assert few_trials_block(frame(2, effect_type=["logHR", "HR"]), gen) is not None
    assert few_trials_block(frame(2, effect_type=["MD", "MD"]), gen) is None
    wider = few_trials_block(frame(3), {**CFG, "few_trials": {"tau_prior_scale": 1.0}})
    assert wider["tau_prior"]["scale"] == 1.0
    assert wider["mu"]["ci_high"] - wider["mu"]["ci_low"] > (
        few_trials_block(frame(3), CFG)["mu"]["ci_high"]
        - few_trials_block(frame(3), CFG)["mu"]["ci_low"])
