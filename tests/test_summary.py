"""Tests of ketameta.summary: the composition of summary.json from a fit.

The numbers themselves are pinned elsewhere (test_rma, test_bias, test_sensitivity); these
tests check that the summary calls each test once per batch with the fit's own settings,
equals one analysis at a time, reports undefined values as null, and that the modules no
longer import each other in a circle.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from ketameta import summary
from ketameta.bias import regtest, trimfill
from ketameta.models import rma
from ketameta.summary import fit_summary

REF = json.loads((Path(__file__).parent / "reference" / "rma.json").read_text())
SRC = Path(__file__).parent.parent / "src" / "ketameta"


def test_fit_summary_includes_bias_and_sensitivity():
    data = REF["cases"]["bcg_logrr"]
    res = rma(data["yi"], data["vi"], method="REML", test="knha")
    labels = [f"S{i}" for i in range(len(data["yi"]))]
    d = fit_summary(res, studies=labels)
    json.dumps(d, allow_nan=False)
    assert list(d)[:4] == ["k", "method", "test", "level"]
    assert [r["study"] for r in d["leave1out"]] == labels
    assert isinstance(d["trimfill_k0"], int)
    batch = rma(np.vstack([data["yi"], data["yi"]]), np.vstack([data["vi"], data["vi"]]))
    db = fit_summary(batch)
    assert db["leave1out"][0] == db["leave1out"][1] and len(db["egger_p"]) == 2


def test_batch_fit_summary_equals_one_at_a_time():
    # Ragged rows (k = 1, 2, 3, 6) and one row with equal variances: the batch dict (one
    # regtest / trimfill / leave1out call each) must equal the dict of each row on its own.
    rng = np.random.default_rng(20261121)
    y = rng.normal(0.3, 0.4, size=(5, 6))
    v = rng.uniform(0.02, 0.3, size=(5, 6))
    for row, k in enumerate((1, 2, 3, 6, 6)):
        y[row, k:] = v[row, k:] = np.nan
    v[4] = 0.1
    labels = [[f"r{r}s{j}" for j in range(6)] for r in range(5)]
    batch = fit_summary(rma(y, v, method="REML", test="knha"), studies=labels)
    for row in range(5):
        keep = ~np.isnan(y[row])
        single = fit_summary(
            rma(y[row, keep], v[row, keep], method="REML", test="knha"),
            studies=[labels[row][j] for j in np.flatnonzero(keep)],
        )
        for key, value in single.items():
            got = batch[key][row]
            if isinstance(value, float):
                assert got == pytest.approx(value, rel=1e-10, abs=1e-14), key
            elif key == "leave1out" and value is not None:
                assert [r["study"] for r in got] == [r["study"] for r in value]
                for a, b in zip(got, value, strict=True):
                    for f in ("estimate", "ci_low", "ci_high", "tau2", "I2"):
                        assert a[f] == pytest.approx(b[f], rel=1e-10, abs=1e-14), (key, f)
            elif key != "warnings":
                assert got == value, key


def test_fit_summary_with_undefined_trimfill_gives_null():
    # metafor's trimfill() stops with an error when all variances are equal and no side is
    # given; to_dict must then report null, not raise.
    d = fit_summary(rma([0.1, 0.5, 0.3, 0.9], [0.2] * 4))
    json.dumps(d, allow_nan=False)
    assert d["trimfill_k0"] is None and d["trimfill_estimate"] is None
    assert d["egger_statistic"] is None or np.isfinite(d["egger_statistic"])


def test_summary_uses_the_classical_egger_test_and_the_fit_control():
    data = REF["cases"]["bcg_logrr"]
    res = rma(data["yi"], data["vi"], method="PM", test="knha", control="metafor")
    d = fit_summary(res)
    lm = regtest(data["yi"], data["vi"], model="lm")
    assert d["egger_statistic"] == lm.statistic and d["egger_p"] == lm.p_value
    tf = trimfill(data["yi"], data["vi"], method="PM", test="knha", control="metafor")
    assert d["trimfill_estimate"] == tf.estimate
    exact = fit_summary(rma(data["yi"], data["vi"], method="PM", test="knha"))
    assert exact["leave1out"][0]["tau2"] != d["leave1out"][0]["tau2"]
    assert exact["leave1out"][0]["tau2"] == pytest.approx(d["leave1out"][0]["tau2"], rel=1e-4)


def test_contract_keys_are_declared_once():
    assert summary.CONTRACT_KEYS[:3] == ("analysis", "k", "measure")
    assert len(set(summary.CONTRACT_KEYS)) == len(summary.CONTRACT_KEYS)
    fit_keys = set(fit_summary(rma([0.1, 0.4, 0.3], [0.1, 0.2, 0.1])))
    assert fit_keys <= set(summary.CONTRACT_KEYS)
    assert set(summary.CONTRACT_KEYS) - fit_keys == {"analysis", "measure"}


def _imports(module: str) -> set[str]:
    tree = ast.parse((SRC / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level == 1 or name.startswith("ketameta"):
                found.add(name.removeprefix("ketameta.").removeprefix("ketameta"))
    return found


def test_statistics_modules_import_one_way():
    """models knows nothing of bias, sensitivity or summary; bias and sensitivity do not
    import each other; summary sits above them."""
    assert not _imports("models") & {"bias", "sensitivity", "summary", "subgroups"}
    assert not _imports("estimators") & {"models", "bias", "sensitivity", "summary"}
    assert "sensitivity" not in _imports("bias") and "bias" not in _imports("sensitivity")
    assert {"bias", "sensitivity", "models"} <= _imports("summary")
    assert _imports("_results") == set()
