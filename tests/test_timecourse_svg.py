"""The time-course figure's SVG is written directly (ketameta.report._svgdirect) and must be,
byte for byte, the SVG matplotlib's backend writes for the same figure built from Artists
(timecourse_matplotlib.py, the way the reports drew it before).

Compared here: a grid of hand-made time courses that between them use every element the
writer knows (log and linear effect axes, a single-arm axis, missing intervals, single
trials and pooled points, the model's band and curve present or absent, "favours" labels
on either side or none, labels that need escaping, hold line breaks or only an invisible
character, one point and many, a time range with no tick), seeded random time courses,
and every time course of the fixture pages.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import yaml
from timecourse_matplotlib import timecourse_svg as timecourse_matplotlib

from ketameta.report import plots, render_condition
from ketameta.report.plots import Axis, TimePoint, timecourse_svg

FIXTURES = Path(__file__).parent / "fixtures" / "report"

SMD = Axis("Standardised mean difference")
LOG_RR = Axis("Risk ratio (log scale)", log=True)
SINGLE = Axis("Proportion (logit)", null=None)

POINTS = [TimePoint(1 / 24, "40 min", 3, -0.8, -1.2, -0.4),
          TimePoint(1.0, "24 h", 1, -0.5, None, None),
          TimePoint(7.0, "7 d", 2, -0.3, -0.9, 0.2)]
MODEL = [(0.05, -0.7, -1.0, -0.4), (1.0, -0.5, -0.8, -0.2), (7.0, -0.3, -0.6, 0.0)]
FAVOURS = {"favours_low": "favours ketamine", "favours_high": "favours control"}


def _many() -> list[TimePoint]:
    days = [1 / 24, 2 / 24, 4 / 24, 0.5, 1, 2, 3, 7, 14, 28, 56, 90, 182, 365]
    return [TimePoint(d, f"t{i}", 1 + i % 4, -1.0 + 0.1 * i, -1.6 + 0.1 * i,
                      -0.4 + 0.1 * i if i % 3 else None) for i, d in enumerate(days)]


CASES = {
    "full": dict(points=POINTS, axis=SMD, model=MODEL, **FAVOURS),
    "no_model": dict(points=POINTS, axis=SMD, **FAVOURS),
    "no_favours": dict(points=POINTS, axis=SMD, model=MODEL),
    "favours_low_only": dict(points=POINTS, axis=SMD, favours_low="lower is better"),
    "favours_high_only": dict(points=POINTS, axis=SMD, favours_high="higher & <better>"),
    "ratio": dict(points=[TimePoint(1, "1 d", 4, math.log(2.5), math.log(1.4), math.log(4.4)),
                          TimePoint(14, "2 w", 2, math.log(1.3), math.log(0.7),
                                    math.log(2.4))],
                  axis=LOG_RR, model=[(1, 0.8, 0.3, 1.3), (14, 0.2, -0.3, 0.7)], **FAVOURS),
    "single_arm": dict(points=[TimePoint(3, "3 d", 5, 0.4, 0.1, 0.7)], axis=SINGLE),
    "one_point_k1": dict(points=[TimePoint(1, "1 d", 1, -0.2, -0.9, 0.5)], axis=SMD,
                         **FAVOURS),
    "one_point_no_ci": dict(points=[TimePoint(2, "2 d", 1, 0.3, None, None)], axis=SMD),
    "no_day_tick": dict(points=[TimePoint(400, "400 d", 2, -0.4, -0.7, -0.1)], axis=SMD,
                        **FAVOURS),
    "many": dict(points=_many(), axis=SMD, model=[(d, -0.5, -0.9, -0.1) for d in
                                                  (0.04, 0.3, 2, 20, 365)], **FAVOURS),
    "model_one_point": dict(points=POINTS, axis=SMD, model=MODEL[:1], **FAVOURS),
    "long_label": dict(points=POINTS, axis=Axis("A long outcome label: change in MADRS "
                                                "total score from baseline (points)"),
                       model=MODEL, favours_low="favours (es)ketamine in " * 4,
                       favours_high="favours placebo or an active control"),
    "several_lines": dict(points=POINTS, axis=Axis("Change in MADRS\nfrom baseline\n"),
                          model=MODEL, favours_low="favours keta\nmine", favours_high="\nx"),
    "invisible_label": dict(points=POINTS, axis=SMD, favours_low="\u200b",
                            favours_high="a\u200b\nb"),
    "large_values": dict(points=[TimePoint(1, "1 d", 3, -12.5, -20.0, -5.0),
                                 TimePoint(28, "4 w", 2, -4.0, -9.5, 1.5)], axis=SMD,
                         **FAVOURS),
    "estimate_on_top_edge": dict(points=[TimePoint(1, "1 d", 2, 0.5, None, None),
                                         TimePoint(3, "3 d", 1, -0.5, -1.0, 0.0)],
                                 axis=SMD, **FAVOURS),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_direct_time_course_is_the_matplotlib_svg(name):
    case = dict(CASES[name])
    points = case.pop("points")
    args = (f"timecourse-{name}", f"Time course: {name}", points)
    assert timecourse_svg(*args, **case) == timecourse_matplotlib(*args, **case)


@pytest.mark.parametrize("seed", range(12))
def test_random_time_courses_are_the_matplotlib_svg(seed):
    rng = random.Random(seed)
    log = rng.random() < 0.3
    axis = Axis("log RR" if log else "SMD", log=log, null=None if rng.random() < 0.1 else 0.0)
    days = sorted(rng.sample([1 / 24, 4 / 24, 0.5, 1, 2, 3, 5, 7, 10, 14, 21, 28, 42, 56, 84,
                              120, 182, 270, 365], rng.randint(1, 8)))
    points = []
    for i, d in enumerate(days):
        est = rng.gauss(-0.4, 0.6)
        half = abs(rng.gauss(0.4, 0.3))
        ci = (est - half, est + half) if rng.random() < 0.85 else (None, None)
        points.append(TimePoint(d, f"t{i}", rng.choice([1, 1, 2, 3, 7]), est, *ci))
    model = []
    if rng.random() < 0.5:
        pool = days + [0.1, 30.0, 200.0]
        for d in sorted(rng.sample(pool, rng.randint(2, min(6, len(pool))))):
            m = rng.gauss(-0.3, 0.4)
            model.append((d, m, m - 0.3, m + 0.35))
    kw = dict(axis=axis, model=model)
    if rng.random() < 0.8:
        kw.update(FAVOURS)
    args = (f"timecourse-r{seed}", "Random", points)
    assert timecourse_svg(*args, **kw) == timecourse_matplotlib(*args, **kw)


def test_every_time_course_of_the_fixture_pages_is_the_matplotlib_svg(tmp_path, monkeypatch):
    calls = []

    def recording(*args, **kwargs):
        calls.append((args, kwargs))
        return timecourse_svg(*args, **kwargs)

    monkeypatch.setattr(plots, "timecourse_svg", recording)
    config = yaml.safe_load((FIXTURES / "config.yaml").read_text(encoding="utf-8"))
    processed = FIXTURES / "processed"
    for condition in config["conditions"]:
        ids = [a for a, e in config["analyses"].items() if e["condition"] == condition]
        render_condition(condition, config, [processed / a / "summary.json" for a in ids],
                         [processed / a / "effects.csv" for a in ids],
                         tmp_path / f"{condition}.html")
    assert calls, "the fixture pages show time courses"
    for args, kwargs in calls:
        assert timecourse_svg(*args, **kwargs) == timecourse_matplotlib(*args, **kwargs), args[0]


def test_the_time_course_keeps_the_fragment_guarantees():
    svg = timecourse_svg("timecourse-x", "Title <&>", POINTS, axis=SMD, model=MODEL,
                         favours_low="a & <b>", favours_high="c")
    assert "<title>Title &lt;&amp;&gt;</title>" in svg
    assert "↓ a &amp; &lt;b&gt;" in svg
    assert 'id="timecourse-x"' in svg and 'id="timecourse-x-axes_1"' in svg
