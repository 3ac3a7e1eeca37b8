"""The specification curve's SVG is written directly (ketameta.report._svgdirect) and must be,
byte for byte, the SVG matplotlib's backend writes for the same figure built from Artists
(speccurve_matplotlib.py, the way the reports drew it before), so that no page changes.

Compared here: a grid of hand-made curves that between them take every branch (CIs that all
include the null, all exclude it, a mix; one specification; more specifications than
columns, so that columns are medians and the panel's cells are shares; no choice panel;
many factor rows and long or hostile level names; estimates all below or all above zero;
a zero-width range; CI bounds missing; tiny and large estimates, whose tick labels need a power of ten), seeded
random curves, and the curve of every condition of the shipped data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from speccurve_matplotlib import specification_curve_svg as curve_matplotlib

from ketameta import multiverse as mvmod
from ketameta.io import read_data, validate_config, write_table
from ketameta.profiles import effective_config
from ketameta.report import robustness
from ketameta.report.render import MEASURES
from ketameta.report.robustness import robustness_context, specification_curve_svg

ROOT = Path(__file__).resolve().parents[1]


def _frame(est, half, factors: dict, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    est = np.asarray(est, dtype=float)
    half = np.broadcast_to(np.asarray(half, dtype=float), est.shape)
    frame = pd.DataFrame({"spec": np.arange(len(est)), "estimate": est,
                          "ci_low": est - half, "ci_high": est + half})
    for name, levels in factors.items():
        frame[name] = rng.choice(levels, len(est))
    return frame, factors


TWO = {"design": ["any", "parallel"], "method": ["REML", "DL", "PM"], "drug": ["ketamine"]}


def _case(name: str) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(3)
    if name == "mixed":
        return _frame(rng.normal(-0.4, 0.4, 24), 0.35, TWO)
    if name == "none_exclude":
        return _frame(rng.normal(0.0, 0.05, 9), 0.5, TWO)
    if name == "all_exclude_positive":
        return _frame(rng.uniform(1.0, 2.0, 15), 0.3, TWO)
    if name == "all_below_zero":
        return _frame(rng.uniform(-3.0, -2.0, 15), 0.3, TWO)
    if name == "one":
        return _frame([-0.7], 0.2, TWO)
    if name == "no_panel":
        return _frame(rng.normal(0.2, 0.3, 7), 0.4, {"drug": ["ketamine"], "test": ["z"]})
    if name == "zero_range":
        return _frame(np.zeros(4), 0.0, TWO)
    if name == "tiny":
        return _frame(rng.normal(3e-7, 1e-7, 12), 1e-7, TWO)
    if name == "large":
        return _frame(rng.normal(2e6, 1e5, 12), 1e5, TWO)
    if name == "grouped":
        return _frame(rng.normal(-0.5, 0.5, 1000), rng.uniform(0.1, 0.6, 1000), {
            "design": ["any", "parallel", "crossover"], "rob": ["any", "low"],
            "omit": ["none"] + [f"Trial {i} et al. 20{i:02d}" for i in range(8)],
            "method": ["REML", "DL"], "few_trial": ["none", "reml_knha"]})
    if name == "just_over":
        return _frame(rng.normal(-0.5, 0.5, 161), 0.3, TWO)
    if name == "hostile":
        return _frame(rng.normal(0.1, 0.2, 6), 0.1, {
            "route": ['IV & "oral" <b>', "IN"], "x_custom factor": ["a", "b"]})
    if name == "missing_ci":  # a bound missing: the segment is masked, the point kept
        frame, factors = _frame(rng.normal(-0.4, 0.4, 24), 0.35, TWO)
        frame.loc[[3, 10], "ci_low"] = np.nan
        frame.loc[[5, 20], "ci_high"] = np.nan
        frame.loc[7, "ci_high"] = 9.0
        frame.loc[7, "ci_low"] = np.nan
        return frame, factors
    if name == "ties":
        return _frame(np.repeat([-0.5, 0.0, 0.5], 4), 0.25, TWO)
    raise KeyError(name)


CASES = ["mixed", "none_exclude", "all_exclude_positive", "all_below_zero", "one", "no_panel",
         "zero_range", "tiny", "large", "grouped", "just_over", "hostile", "ties", "missing_ci"]


def _both(frame, factors, axis_label="SMD", fig_id="spec-case") -> tuple[str, str]:
    args = (fig_id, "Specification curve", frame, factors, axis_label)
    return specification_curve_svg(*args), curve_matplotlib(*args)


@pytest.mark.parametrize("name", CASES)
def test_curve_is_the_matplotlib_svg_byte_for_byte(name):
    new, old = _both(*_case(name), fig_id=f"spec-{name}")
    assert new == old


@pytest.mark.parametrize("seed", range(10))
def test_random_curves_are_the_matplotlib_svg_byte_for_byte(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.choice([1, 2, 3, 10, 50, 159, 160, 300, 2500]))
    factors = {f"f{j}": [f"level {i}" for i in range(int(rng.integers(1, 5)))]
               for j in range(int(rng.integers(0, 5)))}
    est = rng.normal(rng.normal(0, 1), abs(rng.normal(0, 1)), n)
    frame, _ = _frame(est, np.abs(rng.normal(0.3, 0.3, n)), factors, seed)
    new, old = _both(frame, factors, "log RR", f"spec-random-{seed}")
    assert new == old


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> dict:
    """The multiverse outputs of every condition of the shipped data, as the jobs write them."""
    config = validate_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()),
                             ROOT / "workflow" / "schemas" / "config.schema.yaml")
    trials = read_data(config["data_dir"], ROOT)
    settings = mvmod.settings_for(config)
    out = tmp_path_factory.mktemp("shipped-mv")
    written = {}
    for condition, aid in mvmod.primary_analyses(config).items():
        rows = out / f"{condition}.rows.csv"
        write_table(trials[trials["condition"] == condition], rows)
        paths = (out / f"{condition}.json", out / f"{condition}.csv")
        mvmod.write_condition(rows, effective_config(aid, config), settings, paths[1], paths[0])
        written[condition] = paths
    return written


def test_every_curve_of_the_shipped_pages_is_the_matplotlib_svg(shipped, monkeypatch):
    calls = []

    def recording(*args, **kwargs):
        calls.append((args, kwargs))
        return specification_curve_svg(*args, **kwargs)

    monkeypatch.setattr(robustness, "specification_curve_svg", recording)
    for paths in shipped.values():
        robustness_context(*paths, MEASURES)
    assert len(calls) >= 4  # TRD, MDD, bipolar, suicidality
    for args, kwargs in calls:
        assert specification_curve_svg(*args, **kwargs) == curve_matplotlib(*args, **kwargs)
