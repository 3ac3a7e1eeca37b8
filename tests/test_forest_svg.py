"""The forest plot's SVG is written directly (ketameta.report._svgdirect) and must be,
byte for byte, the SVG matplotlib's backend writes for the same figure built from Artists
(forest_matplotlib.py, the way the reports drew it before): same elements, ids, positions,
text, so that no page changes by a pixel.

Compared here: a grid of hand-made forests that between them use every element the writer
knows (log and reversed axes, arrows on either side, prediction-interval caps, diamonds cut
at the axis, bands and dashed reference lines, risk-of-bias lights and bars, grouped column
headers, links, italics, several panels), seeded random forests, every forest of
the fixture pages, and the text measurements the layout reads.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import yaml
from forest_matplotlib import forest_svg as forest_matplotlib

from ketameta.report import _svg, plots, render_condition, render_index
from ketameta.report.plots import Axis, Column, Row, forest_svg

FIXTURES = Path(__file__).parent / "fixtures" / "report"

SMD = Axis("Standardised mean difference (Hedges' g)", favours_left="Favours ketamine",
           favours_right="Favours control")
RR = Axis("Risk ratio (log scale)", log=True, favours_left="Favours control",
          favours_right="Favours (es)ketamine")
SINGLE = Axis("Proportion (logit)", null=None)


def _rows_full() -> list[Row]:
    rob = ("low", "some", "high", None, "low", "some")
    return [
        Row("heading", "Intravenous"),
        Row("study", "Zarate 2006", cells=("18", "12.1", "7.2", "18", "20.3", "6.9"),
            right=("21.4%", "-1.12 [-1.83, -0.41]"), estimate=-1.12, low=-1.83, high=-0.41,
            weight=21.4, url="#study-zarate-2006", rob=rob),
        Row("study", "Murrough 2013 & co <b>", cells=("47", "", "", "25", "", ""),
            right=("30.0%", "-0.81 [-1.31, -0.31]"), estimate=-0.81, low=-1.31, high=-0.31,
            weight=30.0, flagged=True, rob=(None,) * 6),
        Row("study", 'Su 2017 "0.2 mg/kg"', cells=("24",), right=("5.0%", "wide"),
            estimate=-0.3, low=-9.0, high=7.5, weight=5.0, rob=rob[::-1]),
        Row("study", "Off the axis", right=("1.0%", "far"), estimate=-40.0, low=-45.0,
            high=-35.0, weight=1.0),
        Row("pooled", "Random-effects model", right=("100%", "-0.90 [-1.40, -0.40]"),
            estimate=-0.9, low=-1.4, high=-0.4, rob_bar=(40.0, 25.0, 20.0, 15.0)),
        Row("pi", "Prediction interval", right=("", "[-2.10, 0.30]"), low=-2.1, high=0.3),
        Row("note", "Heterogeneity: I² = 41%", cells=("note",)),
    ]


def _case(name: str) -> dict:
    cols_left = (Column("N", "(Es)ketamine"), Column("Mean", "(Es)ketamine"),
                 Column("SD", "(Es)ketamine"), Column("N", "Control"),
                 Column("Mean", "Control"), Column("SD", "Control"))
    cols_right = (Column("Weight"), Column("SMD [95% CI]"))
    rob = ("D1", "D2", "D3", "D4", "D5", "RoB")
    footer = ("Heterogeneity: τ² = 0.05; χ² = 7.2, df = 3 (p = 0.07); I² = 41%",
              "Test for overall effect: t = −3.1 (p = 0.04)")
    if name == "full":
        return dict(rows=_rows_full(), axes=[SMD], left=cols_left, right=cols_right,
                    footer=footer, rob_columns=rob)
    if name == "ratio":
        rows = [Row("study", f"Trial {i}", right=(f"{w:.0f}%",), estimate=e, low=lo, high=hi,
                    weight=w)
                for i, (e, lo, hi, w) in enumerate([(0.7, -0.2, 1.6, 30), (2.5, 1.0, 9.5, 10),
                                                    (-3.0, -8.0, -2.5, 5), (0.1, 0.0, 0.2, 55)])]
        rows += [Row("pooled", "Pooled", estimate=0.6, low=-0.5, high=4.0),
                 Row("pi", "Prediction interval", low=-6.0, high=7.0)]
        return dict(rows=rows, axes=[RR], right=(Column("Weight"),), footer=footer[:1])
    if name == "reversed_overview":
        axes = [Axis("SMD", reverse=True, favours_left="Favours ketamine",
                     favours_right="Favours control"),
                Axis("Risk ratio", log=True, favours_right="Favours ketamine")]
        rows = [Row("heading", "TRD"),
                Row("summary", "Severity, 24 h", right=("8", "−0.9"), estimate=-0.9, low=-1.3,
                    high=-0.5, pi_low=-2.4, pi_high=0.6, url="TRD.html#a"),
                Row("summary", "Response, 24 h", right=("6", "2.1"), estimate=0.74, low=0.3,
                    high=1.2, pi_low=-0.4, pi_high=2.0, panel=1),
                Row("summary", "One trial", right=("1", "1.3"), estimate=0.26, low=-0.8,
                    high=1.3, panel=1),
                Row("summary", "Not pooled", right=("0", "—"), panel=0)]
        return dict(rows=rows, axes=axes, right=(Column("k"), Column("Effect")),
                    label_header="Outcome", font_size=10.0)
    if name == "leave_one_out":
        rows = [Row("study", f"Omitting {s}", right=(f"{e:.2f}",), estimate=e, low=e - 0.5,
                    high=e + 0.4) for s, e in (("A 2001", -0.8), ("B 2010", -0.6),
                                               ("C 2019", -1.1))]
        return dict(rows=rows, axes=[Axis("SMD")], right=(Column("SMD [95% CI]"),),
                    refline=-0.85, band=(-1.3, -0.4), label_header="Omitted trial")
    if name == "single_arm":
        rows = [Row("study", "Arm A", estimate=-1.0, low=-1.5, high=-0.5, weight=None),
                Row("study", "Arm B", estimate=0.2, low=float("nan"), high=None),
                Row("pooled", "Pooled", estimate=-0.4, low=None, high=None)]
        return dict(rows=rows, axes=[SINGLE])
    if name == "pi_beyond_axis":
        rows = [Row("study", "Only", estimate=0.2, low=0.1, high=0.3, weight=100.0),
                Row("pooled", "Pooled", estimate=0.2, low=-0.1, high=0.5),
                Row("pi", "Prediction interval", low=-50.0, high=0.3),
                Row("pi", "Another", low=0.1, high=60.0)]
        return dict(rows=rows, axes=[SMD], right=(Column("Group", "A group header wider than"
                                                         " its one column", "left"),))
    raise KeyError(name)


CASES = ["full", "ratio", "reversed_overview", "leave_one_out", "single_arm", "pi_beyond_axis"]


def _random_case(seed: int) -> dict:
    rnd = random.Random(seed)
    log = rnd.random() < 0.4
    axes = [Axis("Effect", log=log, reverse=rnd.random() < 0.3,
                 favours_left="left" if rnd.random() < 0.5 else None,
                 favours_right="right side" if rnd.random() < 0.5 else None)]
    rows = []
    for i in range(rnd.randint(1, 14)):
        e = rnd.gauss(0, 1)
        spread = abs(rnd.gauss(0.4, 0.6))
        kind = rnd.choice(["study"] * 6 + ["heading", "note", "pooled", "pi"])
        rows.append(Row(kind, f"Study {i} " + "x" * rnd.randint(0, 20),
                        cells=tuple(str(rnd.randint(1, 300)) for _ in range(2)),
                        right=(f"{e:.2f}",), estimate=e, low=e - spread,
                        high=e + spread * rnd.choice([0.5, 1, 4]),
                        weight=rnd.uniform(0, 40) if rnd.random() < 0.9 else None,
                        rob=tuple(rnd.choice(["low", "some", "high", None]) for _ in range(3))))
    return dict(rows=rows, axes=axes, left=(Column("n", "Arm"), Column("m", "Arm")),
                right=(Column("Estimate"),), rob_columns=("D1", "D2", "All"),
                footer=("A footer line",) * rnd.randint(0, 2))


def _both(kwargs: dict, fig_id: str = "forest-case") -> tuple[str, str]:
    return (forest_svg(fig_id, "Forest plot", **kwargs),
            forest_matplotlib(fig_id, "Forest plot", **kwargs))


@pytest.mark.parametrize("name", CASES)
def test_forest_is_the_matplotlib_svg_byte_for_byte(name):
    new, old = _both(_case(name), f"forest-{name}")
    assert new == old


@pytest.mark.parametrize("seed", range(12))
def test_random_forests_are_the_matplotlib_svg_byte_for_byte(seed):
    new, old = _both(_random_case(seed), f"forest-random-{seed}")
    assert new == old


def test_every_forest_of_the_fixture_pages_is_the_matplotlib_svg(tmp_path, monkeypatch):
    calls = []

    def recording(*args, **kwargs):
        calls.append((args, kwargs))
        return forest_svg(*args, **kwargs)

    monkeypatch.setattr(plots, "forest_svg", recording)
    config = yaml.safe_load((FIXTURES / "config.yaml").read_text(encoding="utf-8"))
    processed = FIXTURES / "processed"
    for condition in config["conditions"]:
        ids = [a for a, e in config["analyses"].items() if e["condition"] == condition]
        render_condition(condition, config, [processed / a / "summary.json" for a in ids],
                         [processed / a / "effects.csv" for a in ids],
                         tmp_path / f"{condition}.html")
    ids = list(config["analyses"])
    render_index(config, [processed / a / "summary.json" for a in ids],
                 [processed / a / "effects.csv" for a in ids], tmp_path / "index.html")
    assert len(calls) >= 10  # main, subgroup, leave-one-out and overview forests
    for args, kwargs in calls:
        assert forest_svg(*args, **kwargs) == forest_matplotlib(*args, **kwargs), args[0]


def test_a_forest_needs_an_axis():
    with pytest.raises(ValueError, match="at least one axis"):
        forest_svg("forest-x", "t", [Row("note", "A")], axes=[])


def test_direct_svg_keeps_the_fragment_guarantees():
    svg = forest_svg("forest-x", "Title <&>", **_case("full"))
    ids = re.findall(r'\bid="([^"]+)"', svg)
    assert len(ids) == len(set(ids)) and all(i.startswith("forest-x") for i in ids)
    assert "<title>Title &lt;&amp;&gt;</title>" in svg
    assert "Murrough 2013 &amp; co &lt;b&gt;" in svg
    bad = _case("full")
    bad["rows"][1] = Row("study", "X", estimate=0.1, low=0.0, high=0.2, url="javascript:x()")
    with pytest.raises(ValueError, match="javascript"):
        forest_svg("forest-x", "t", **bad)


def test_text_measurements_are_remembered_and_equal_to_matplotlibs():
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    prop = FontProperties(family=["DejaVu Sans"], size=8.5, weight="bold")
    fresh = TextToPath().get_text_width_height_descent("Zarate 2006 (0.5 mg/kg)", prop,
                                                       ismath=False)
    assert _svg.text_extent("Zarate 2006 (0.5 mg/kg)", prop) == fresh
    assert _svg.text_extent("Zarate 2006 (0.5 mg/kg)", prop.copy()) is \
        _svg.text_extent("Zarate 2006 (0.5 mg/kg)", prop)
