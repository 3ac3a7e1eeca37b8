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


# ------------------------------------------------------------ the layout composed from glyphs

FAMILY = [("normal", "normal"), ("bold", "normal"), ("normal", "italic"), ("bold", "italic")]


def _font_of(weight: str, style: str):
    from matplotlib.font_manager import get_font

    prop = FontProperties(family=["DejaVu Sans"], size=8.5, weight=weight, style=style)
    font = get_font(_svg._font_files(prop))
    font.set_size(_svg.MEASURE_SIZE, _svg.MEASURE_DPI)
    return font


def _laid_out(font, s: str) -> tuple:
    """The font's own layout of ``s``: glyph origins, then width, height and descent."""
    from matplotlib.ft2font import LoadFlags

    xys = font.set_text(s, 0.0, flags=LoadFlags.NO_HINTING)
    return [tuple(p) for p in xys], (*font.get_width_height(), font.get_descent())


@pytest.mark.parametrize("weight, style", FAMILY)
def test_every_pair_of_characters_is_laid_out_as_the_font_does(weight, style):
    # Every ordered pair of LAYOUT_CHARS: where the font joins the pair into one glyph, the
    # layout leaves the string to the font (_LIGATURES says so); everywhere else the second
    # glyph starts where the first one's advance and the pair's kerning put it, on the
    # baseline, and the pair's box is the union of the glyphs' boxes. The pairs are laid
    # out a row at a time (one string per first character: a b1 a b2 a ...), whose glyph
    # origins give the offset of every pair in it.
    font = _font_of(weight, style)
    layout = _svg.GlyphLayout(font)
    assert layout.composes
    chars = sorted(_svg.LAYOUT_CHARS)
    joined = {a + b for a in chars for b in chars if _svg._LIGATURES.fullmatch(a + b)}
    assert joined == {"ff", "fi", "fl"}
    for a in chars:
        row = [b for b in chars if a + b not in joined and b + a not in joined]
        s = "".join(a + b for b in row) + a
        origins, _ = _laid_out(font, s)
        assert len(origins) == len(s), a  # one glyph per character
        for i, b in enumerate(row):
            for left, right, at in ((a, b, 2 * i), (b, a, 2 * i + 1)):
                gl, gr = layout._glyph(left, font), layout._glyph(right, font)
                assert origins[at + 1][1] == 0
                assert origins[at + 1][0] - origins[at][0] == gl[1] + layout._kern(gl[0], gr[0], font), (
                    left + right, weight, style)
    for pair in joined:  # the font's ligatures: one glyph, so never composed
        origins, _ = _laid_out(font, pair)
        assert len(origins) == 1 and layout.extent(pair, font) is None


@pytest.mark.parametrize("weight, style", FAMILY)
def test_composed_extents_equal_the_fonts_layout(weight, style):
    font = _font_of(weight, style)
    layout = _svg.GlyphLayout(font)
    chars = sorted(_svg.LAYOUT_CHARS)
    rng = random.Random(len(weight) * 7 + len(style))
    strings = [a + b for a in chars for b in rng.sample(chars, 12)]
    strings += ["".join(rng.choice(chars) for _ in range(rng.randint(1, 60)))
                for _ in range(3000)]
    strings += [" ", "  ", "-", "- ", " -", "_", "¨", "I", "official", "fluffy waffle"]
    composed = 0
    for s in strings:
        expected = _laid_out(font, s)[1]
        got = layout.extent(s, font)
        if got is not None:
            composed += 1
            assert got == expected, (s, weight, style)
    assert composed > 0.9 * len(strings)


def test_strings_the_layout_cannot_compose_are_laid_out_by_the_font():
    font = _font_of("normal", "normal")
    layout = _svg.GlyphLayout(font)
    for s in ("", "fit", "of office", "漢字", "Zarate\u0301", "a\tb", "🙂"):
        assert layout.extent(s, font) is None, s
    assert layout.extent("Zarate 2012", font) is not None


def test_another_layout_turns_the_composition_off(monkeypatch):
    # Where the font's layout of the probe strings differs from the composed one (another
    # version of matplotlib, say), nothing is composed, and every measurement is the font's.
    font = _font_of("normal", "normal")
    monkeypatch.setattr(_svg.GlyphLayout, "_kern", lambda self, left, right, font: 0)
    layout = _svg.GlyphLayout(font)
    assert not layout.composes and layout.extent("Zarate 2012", font) is None
    monkeypatch.setattr(_svg, "_LAYOUTS", {})
    monkeypatch.setattr(_svg, "_EXTENTS", {})
    prop = FontProperties(family=["DejaVu Sans"], size=8.5)
    assert _svg._measure("AVAVA", prop) == TextToPath().get_text_width_height_descent(
        "AVAVA", prop, False)


def test_only_the_fonts_that_come_with_matplotlib_are_composed(tmp_path):
    import shutil

    from matplotlib.ft2font import FT2Font

    source = _font_of("normal", "normal").fname
    copy = tmp_path / "DejaVuSans.ttf"
    shutil.copyfile(source, copy)
    font = FT2Font(str(copy))
    font.set_size(_svg.MEASURE_SIZE, _svg.MEASURE_DPI)
    assert not _svg.GlyphLayout(font).composes


def test_a_forked_process_lays_out_with_its_own_font(monkeypatch):
    # matplotlib opens its fonts anew in a forked process (it clears get_font's cache at
    # fork), because a font read through a file shared with the parent would share its
    # file offset with every sibling process: concurrent reads then load the wrong bytes.
    # The glyph tables made in the parent (the warm worker) are kept, but no font object
    # is: every glyph read after the fork goes through the font get_font returns then.
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    prop = FontProperties(family=["DejaVu Sans"], size=8.5)
    monkeypatch.setattr(_svg, "_EXTENTS", {})
    monkeypatch.setattr(_svg, "_LAYOUTS", {})
    _svg.warm(prop)
    for layout in _svg._LAYOUTS.values():
        assert not any(isinstance(v, FT2Font) for v in vars(layout).values())
    font_manager._get_font.cache_clear()  # what a fork does

    class Recording:
        def __init__(self, font):
            self.font, self.calls = font, []

        def __getattr__(self, name):
            self.calls.append(name)
            return getattr(self.font, name)

    fonts = []

    def get_font(files):
        fonts.append(Recording(font_manager.get_font(files)))
        return fonts[-1]

    monkeypatch.setattr(_svg, "get_font", get_font)
    for s in ("Zarate 2012", "é ø ß ±", "fit"):  # composed, new glyphs, FreeType's own
        assert _svg._measure(s, prop) == TextToPath().get_text_width_height_descent(
            s, prop, False)
    assert [("set_text" in f.calls) for f in fonts] == [False, True, True]
