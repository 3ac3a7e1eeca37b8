"""Text measured for the figures (ketameta.report._svg) is matplotlib's measurement.

The figures lay text out with the width, height and descent matplotlib's
``TextToPath.get_text_width_height_descent`` gives; ``_svg`` makes the same FreeType calls
without importing matplotlib.textpath, and asks matplotlib's font lookup once per font
rather than once per font and size. Both must give the same numbers, bit for bit, for any
string, size, weight and style, including characters the font lacks.
"""

from __future__ import annotations

import random

import pytest
from matplotlib.font_manager import FontProperties, fontManager
from matplotlib.textpath import TextToPath

from ketameta.report import _svg

CHARS = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:[]()<>&'\"-"
         "–—±≥≤×²³τσ%/ÄéüßΩµ→←½·…\u00a0\u2009漢🙂")


def _strings(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    words = ["", " ", "Zarate 2006", "0.52 [0.12, 0.93]", "Favours ketamine", "AV", "To",
             "fi", "ffl", "WAVE", "Yo", "1,000", "−0.5", "τ² = 0.03", "I² = 41%"]
    out = list(words)
    out += ["".join(rng.choice(CHARS) for _ in range(rng.randint(1, 30)))
            for _ in range(count)]
    return out


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # 漢 and 🙂: both warn
@pytest.mark.parametrize("size", [7.0, 8.0, 8.5, 9.0, 9.5, 12.0, 23.3])
@pytest.mark.parametrize("weight, style", [("normal", "normal"), ("bold", "normal"),
                                           ("normal", "italic"), ("bold", "italic")])
def test_measurements_equal_matplotlibs(size, weight, style):
    reference = TextToPath()
    prop = FontProperties(family=["DejaVu Sans"], size=size, weight=weight, style=style)
    for s in _strings(seed=int(size * 10) + len(weight) + len(style), count=80):
        assert _svg._measure(s, prop) == reference.get_text_width_height_descent(
            s, prop, ismath=False), (s, size, weight, style)


def test_the_measurement_constants_are_textpaths():
    assert (_svg.MEASURE_SIZE, _svg.MEASURE_DPI) == (TextToPath.FONT_SCALE, TextToPath.DPI)


def test_one_font_lookup_serves_every_size():
    for family in (["DejaVu Sans"], ["sans-serif"], ["serif"], ["monospace"]):
        for weight in ("normal", "bold"):
            first = None
            for size in (6, 8.5, 9, 14, 40):
                prop = FontProperties(family=family, size=size, weight=weight)
                assert _svg._font_files(prop) == fontManager._find_fonts_by_props(prop)
                first = first or _svg._font_files(prop)
                assert _svg._font_files(prop) is first  # asked once, remembered


def test_text_extent_remembers_and_leaves_math_to_matplotlib():
    prop = FontProperties(family=["DejaVu Sans"], size=8.5)
    first = _svg.text_extent("Murrough 2013", prop)
    assert _svg.text_extent("Murrough 2013", prop.copy()) is first
    assert first == TextToPath().get_text_width_height_descent("Murrough 2013", prop, False)
    math = _svg.text_extent(r"$\tau^2$", prop, ismath=True)
    assert math == TextToPath().get_text_width_height_descent(r"$\tau^2$", prop, True)
    assert math != _svg.text_extent(r"$\tau^2$", prop)  # as plain text, measured apart


def test_the_measurements_kept_are_bounded(monkeypatch):
    # A page of hundreds of analyses measures thousands of strings that never come back (a
    # trial's name, an effect and its CI): past EXTENTS_KEPT the store starts afresh, and
    # a string measured again gets the same numbers.
    monkeypatch.setattr(_svg, "_EXTENTS", {})
    monkeypatch.setattr(_svg, "EXTENTS_KEPT", 5)
    prop = FontProperties(family=["DejaVu Sans"], size=8.5)
    first = _svg.text_extent("Study", prop)
    for i in range(12):
        _svg.text_extent(f"0.{i} [0.{i}, 1.{i}]", prop)
        assert len(_svg._EXTENTS) <= 5
    again = _svg.text_extent("Study", prop)
    assert again == first and again is not first  # measured again, the same
