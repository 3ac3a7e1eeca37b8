"""The funnel plot's SVG is written directly (ketameta.report._svgdirect) and must be, byte
for byte, the SVG matplotlib's backend writes for the same figure built from Artists
(funnel_matplotlib.py, the way the reports drew it before).

Compared here: a grid of hand-made funnels that between them use every element the writer
knows (linear and log axes, a single-arm axis, trim-and-fill studies with and without the
adjusted estimate, one study and many, standard errors so small or so large that
matplotlib's tick formatter writes a scale factor above the axis, or all zero, labels that need
escaping or hold a line break), seeded random funnels, and every funnel of the fixture pages.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import yaml
from funnel_matplotlib import funnel_svg as funnel_matplotlib

from ketameta.report import plots, render_condition
from ketameta.report.plots import Axis, funnel_svg

FIXTURES = Path(__file__).parent / "fixtures" / "report"

SMD = Axis("Standardised mean difference", favours_left="Favours ketamine",
           favours_right="Favours control")
LOG_RR = Axis("Risk ratio (log scale)", log=True)
SINGLE = Axis("Proportion (logit) & <more>", null=None)

YI = [-0.5, -0.2, -0.9, 0.1, -0.7]
SEI = [0.2, 0.3, 0.25, 0.4, 0.15]

CASES = {
    "plain": dict(yi=YI, sei=SEI, estimate=-0.4, axis=SMD),
    "trim_and_fill": dict(yi=YI, sei=SEI, estimate=-0.4, axis=SMD, filled_yi=[0.3, 0.5],
                          filled_sei=[0.35, 0.3], adjusted=-0.3),
    "filled_without_adjusted": dict(yi=YI, sei=SEI, estimate=-0.4, axis=SMD,
                                    filled_yi=[0.3], filled_sei=[0.35]),
    "adjusted_without_filled": dict(yi=YI, sei=SEI, estimate=-0.4, axis=SMD, adjusted=-0.3),
    "ratio": dict(yi=[math.log(v) for v in (1.8, 2.5, 0.9, 3.1)], sei=[0.3, 0.5, 0.4, 0.7],
                  estimate=math.log(1.9), axis=LOG_RR),
    "single_arm": dict(yi=[0.4, 1.2, -0.3], sei=[0.2, 0.5, 0.3], estimate=0.5, axis=SINGLE),
    "one_study": dict(yi=[0.2], sei=[0.1], estimate=0.2, axis=SMD),
    "many": dict(yi=[math.sin(i) for i in range(40)], sei=[0.05 + 0.01 * i for i in range(40)],
                 estimate=0.02, axis=SMD),
    "tiny_se": dict(yi=[1e-6, -2e-6, 3e-6], sei=[1e-6, 2e-6, 3e-6], estimate=0.5e-6,
                    axis=SMD),
    "huge_se": dict(yi=[2e6, -1e6, 5e6], sei=[3e6, 2e6, 4e6], estimate=1e6, axis=SMD),
    "mean_difference": dict(yi=[-4.5, -8.0, -2.2, -6.1], sei=[1.8, 3.5, 2.2, 1.2],
                            estimate=-5.0, axis=Axis("Mean difference (MADRS points)"),
                            filled_yi=[0.5], filled_sei=[3.0], adjusted=-4.1),
    "several_lines": dict(yi=YI, sei=SEI, estimate=-0.4,
                          axis=Axis("Mean difference\n(points)")),
    "zero_se": dict(yi=[0.1, 0.2], sei=[0.0, 0.0], estimate=0.15, axis=SMD),
    "equal_se": dict(yi=[-0.3, 0.1, -0.1], sei=[0.2, 0.2, 0.2], estimate=-0.1, axis=SMD),
}


@pytest.mark.filterwarnings("ignore:Attempting to set identical")
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_direct_funnel_is_the_matplotlib_svg(name):
    case = dict(CASES[name])
    args = (f"funnel-{name}", f"Funnel: {name}", case.pop("yi"), case.pop("sei"))
    assert funnel_svg(*args, **case) == funnel_matplotlib(*args, **case)


@pytest.mark.parametrize("seed", range(12))
def test_random_funnels_are_the_matplotlib_svg(seed):
    rng = random.Random(seed)
    k = rng.randint(2, 25)
    scale = 10 ** rng.uniform(-2, 1)
    sei = [scale * rng.uniform(0.05, 1.0) for _ in range(k)]
    yi = [rng.gauss(-0.3 * scale, s) for s in sei]
    axis = Axis("log OR", log=True) if rng.random() < 0.3 else SMD
    kw = dict(estimate=sum(yi) / k, axis=axis)
    if rng.random() < 0.5:
        k0 = rng.randint(1, 4)
        kw.update(filled_yi=[rng.gauss(0.3 * scale, scale) for _ in range(k0)],
                  filled_sei=[scale * rng.uniform(0.05, 1.0) for _ in range(k0)],
                  adjusted=kw["estimate"] + 0.1 * scale)
    args = (f"funnel-r{seed}", "Random", yi, sei)
    assert funnel_svg(*args, **kw) == funnel_matplotlib(*args, **kw)


def test_every_funnel_of_the_fixture_pages_is_the_matplotlib_svg(tmp_path, monkeypatch):
    calls = []

    def recording(*args, **kwargs):
        calls.append((args, kwargs))
        return funnel_svg(*args, **kwargs)

    monkeypatch.setattr(plots, "funnel_svg", recording)
    config = yaml.safe_load((FIXTURES / "config.yaml").read_text(encoding="utf-8"))
    # the pages show a funnel from this many trials on (ten by default, more than the
    # fixtures have): every analysis with two or more trials gets one here
    config.setdefault("few_trials", {})["small_study_min_k"] = 2
    processed = FIXTURES / "processed"
    for condition in config["conditions"]:
        ids = [a for a, e in config["analyses"].items() if e["condition"] == condition]
        render_condition(condition, config, [processed / a / "summary.json" for a in ids],
                         [processed / a / "effects.csv" for a in ids],
                         tmp_path / f"{condition}.html")
    assert len(calls) >= 3
    for args, kwargs in calls:
        assert funnel_svg(*args, **kwargs) == funnel_matplotlib(*args, **kwargs), args[0]


def test_the_funnel_keeps_the_fragment_guarantees():
    svg = funnel_svg("funnel-x", "Title <&>", YI, SEI, estimate=-0.4, axis=SINGLE)
    assert "<title>Title &lt;&amp;&gt;</title>" in svg
    assert "Proportion (logit) &amp; &lt;more&gt;" in svg
    assert 'id="funnel-x"' in svg and 'id="funnel-x-legend_1"' in svg
