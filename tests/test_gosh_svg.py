"""The GOSH plot's SVG is written directly (ketameta.report._svgdirect) and must be, byte for
byte, the SVG matplotlib's backend writes for the same figure built from Artists
(gosh_matplotlib.py, the way the reports drew it before), so that no page changes.

Compared here: GOSH plots of hand-made and seeded random trials (2 to 9 trials, each
estimator's I², with and without the full model's diamond and so with and without the
legend, identical trials whose estimates span a point so that the tick labels need an
offset, large and negative estimates), densities of many subsets with their colour bars
(coarse and fine grids, an empty grid), and the GOSH plot of the shipped data's primary TRD
analysis.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from gosh_matplotlib import gosh_svg as gosh_matplotlib

from ketameta import multiverse as mvmod
from ketameta.gosh import gosh
from ketameta.io import read_data, validate_config
from ketameta.report.robustness import gosh_svg

ROOT = Path(__file__).resolve().parents[1]


def _block(yi, vi, method: str = "REML", points: bool = True, full: bool = True,
           bins: int = 40) -> dict:
    """A ``gosh`` block as ``multiverse.gosh_block`` writes it."""
    res = gosh(np.asarray(yi, dtype=float), np.asarray(vi, dtype=float), method=method)
    counts, xe, ye = res.density(bins=bins)
    block = {**res.summary(), "k": len(yi), "density": counts.tolist(),
             "estimate_edges": [float(x) for x in xe], "I2_edges": [float(y) for y in ye],
             "points": [[float(e), float(i)] for e, i in zip(res.estimate, res.I2, strict=True)
                        if math.isfinite(e) and math.isfinite(i)] if points else None}
    if not full:
        block["full_estimate"] = None
    return block


def _case(name: str) -> dict:
    rng = np.random.default_rng(11)
    if name == "five":
        return _block([-0.9, -0.4, -1.3, -0.2, -0.7], [0.05, 0.08, 0.1, 0.04, 0.06])
    if name == "two":
        return _block([0.3, 0.5], [0.02, 0.03], method="DL")
    if name == "no_full_model":
        return _block([0.1, 0.4, 0.2], [0.02, 0.05, 0.03], full=False)
    if name == "identical_trials":  # a point range: the estimate axis needs an offset
        return _block([0.25] * 4, [0.04] * 4)
    if name == "homogeneous":
        return _block([0.50, 0.51, 0.49, 0.50, 0.52, 0.48], [0.1] * 6, method="PM")
    if name == "large_ratio":
        return _block(rng.normal(4.0, 1.5, 7), rng.uniform(0.05, 0.5, 7), method="HE")
    if name == "negative_heterogeneous":
        return _block(rng.normal(-2.0, 2.0, 9), rng.uniform(0.01, 0.1, 9), method="DL")
    raise KeyError(name)


CASES = ["five", "two", "no_full_model", "identical_trials", "homogeneous", "large_ratio",
         "negative_heterogeneous"]


@pytest.mark.parametrize("name", CASES)
def test_gosh_is_the_matplotlib_svg_byte_for_byte(name):
    block = _case(name)
    assert gosh_svg(f"gosh-{name}", "GOSH", block, "SMD") == \
        gosh_matplotlib(f"gosh-{name}", "GOSH", block, "SMD")


@pytest.mark.parametrize("seed", range(8))
def test_random_gosh_plots_are_the_matplotlib_svg_byte_for_byte(seed):
    rng = np.random.default_rng(200 + seed)
    k = int(rng.integers(2, 10))
    block = _block(rng.normal(rng.normal(0, 1), abs(rng.normal(0, 0.8)), k),
                   rng.uniform(0.005, 0.3, k), method=str(rng.choice(["REML", "DL", "PM"])),
                   full=bool(rng.random() < 0.8))
    assert gosh_svg(f"gosh-r{seed}", "GOSH", block, "log RR") == \
        gosh_matplotlib(f"gosh-r{seed}", "GOSH", block, "log RR")


DENSITIES = [(12, 30, True), (11, 40, True), (14, 120, True), (13, 8, False), (16, 300, True)]


@pytest.mark.parametrize(("k", "bins", "full"), DENSITIES)
def test_density_with_its_colour_bar_is_the_matplotlib_svg(k, bins, full):
    """Many subsets: counts per cell as an image (coloured before or after resampling,
    depending on the cell size), the colour bar with its rasterised steps and log ticks."""
    rng = np.random.default_rng(k * bins)
    block = _block(rng.normal(0.3, 0.3, k), rng.uniform(0.01, 0.1, k), method="DL",
                   points=False, bins=bins, full=full)
    svg = gosh_svg("gosh-d", "GOSH", block, "SMD")
    assert svg == gosh_matplotlib("gosh-d", "GOSH", block, "SMD")
    assert "subsets per cell" in svg


def test_empty_density_is_the_matplotlib_svg():
    block = _block([0.1, 0.2, 0.3], [0.01, 0.02, 0.03], points=False, bins=5)
    block["density"] = np.zeros((5, 5)).tolist()
    assert gosh_svg("gosh-e", "GOSH", block, "SMD") == \
        gosh_matplotlib("gosh-e", "GOSH", block, "SMD")


def test_the_gosh_plot_of_the_shipped_data_is_the_matplotlib_svg():
    config = validate_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()),
                             ROOT / "workflow" / "schemas" / "config.schema.yaml")
    trials = read_data(config["data_dir"], ROOT)
    block = mvmod.gosh_block(mvmod.for_condition(trials[trials["condition"] == "TRD"],
                                                 config, "TRD"))
    assert block is not None and block["points"]
    assert gosh_svg("gosh-trd", "GOSH", block, "SMD") == \
        gosh_matplotlib("gosh-trd", "GOSH", block, "SMD")
