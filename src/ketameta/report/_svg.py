"""Matplotlib's SVG backend with the text measurements remembered between figures.

Measuring a string is the most expensive step of drawing our figures: matplotlib lays
the glyphs out with FreeType for every label, every time a figure is drawn, and a
condition page draws dozens of figures that repeat the same labels, headers and tick
values. The renderer here answers the same questions with the same numbers (it measures
each string in each font once, with the FreeType calls and arithmetic of matplotlib's
:meth:`TextToPath.get_text_width_height_descent <matplotlib.textpath.TextToPath.\
get_text_width_height_descent>`, and reads a font's line metrics from its tables once),
so that every figure is byte for byte the figure matplotlib's own SVG backend writes; only
the repeated work is gone. A string not measured before is mostly not laid out by FreeType
either: its numbers are composed from its glyphs' advances, kerning and boxes, read once
per glyph (:class:`GlyphLayout`). ``tests/test_svg_text.py`` compares the measurements
with matplotlib's.

Every figure of the reports drawn through matplotlib is made by :func:`new_figure`, which
attaches the canvas below. matplotlib's figure and SVG backend are imported only then: the
figures written directly (:mod:`ketameta.report._svgdirect`) need the measurements alone.
"""

from __future__ import annotations

import functools
import io
import os
import re
from typing import TYPE_CHECKING

from matplotlib import rcParams
from matplotlib.font_manager import FontProperties, fontManager, get_font
from matplotlib.ft2font import Kerning, LoadFlags

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The resolution of every figure: at 72 dpi one point is one pixel of the SVG.
DPI = 72
#: The size (points) and resolution at which matplotlib's TextToPath measures every string
#: before scaling to the font's size (``TextToPath.FONT_SCALE`` and ``TextToPath.DPI``).
MEASURE_SIZE = 100.0
MEASURE_DPI = 72

_EXTENTS: dict[tuple, tuple[float, float, float]] = {}
#: How many measurements :data:`_EXTENTS` keeps before it starts afresh. The strings that
#: repeat (headers, legends, tick labels) are measured again once; those that do not (a
#: trial's name, an effect and its CI) no longer pile up over a page of hundreds of
#: analyses (about 400 bytes each).
EXTENTS_KEPT = 8192
_LINE_METRICS: dict[tuple, tuple[float, float, float]] = {}
_FONT_FILES: dict[tuple, list] = {}


def _font_key(prop: FontProperties) -> tuple:
    return (tuple(prop.get_family()), prop.get_style(), prop.get_variant(), prop.get_weight(),
            prop.get_stretch(), prop.get_size_in_points(), prop.get_file(),
            prop.get_math_fontfamily())


def _font_files(prop: FontProperties) -> list:
    """The font files matplotlib picks for ``prop`` (remembered for every size at once).

    matplotlib's font lookup scores the installed fonts on every property but the size,
    which does not count for the scalable fonts it lists, yet remembers its answer per
    size; this asks it once per font whatever the size.
    """
    key = (tuple(prop.get_family()), prop.get_style(), prop.get_variant(), prop.get_weight(),
           prop.get_stretch(), prop.get_file())
    found = _FONT_FILES.get(key)
    if found is None:
        found = _FONT_FILES[key] = fontManager._find_fonts_by_props(prop)
    return found


def _measure(s: str, prop: FontProperties) -> tuple[float, float, float]:
    """What ``TextToPath().get_text_width_height_descent(s, prop, False)`` returns.

    The same steps without importing :mod:`matplotlib.textpath` (with its TeX and mathtext
    machinery, a fortieth of a second before the first figure): the font at 100 points and
    72 dpi, matplotlib's layout of ``s`` without hinting, its box in 64ths of a point,
    scaled to the font's size. The layout's numbers come from :class:`GlyphLayout` where it
    can give them, else from the font's layout of the whole string.
    """
    fontsize = prop.get_size_in_points()
    scale = fontsize / MEASURE_SIZE
    files = _font_files(prop)
    font = get_font(files)
    font.set_size(MEASURE_SIZE, MEASURE_DPI)
    composed = _layout_of(files, font).extent(s, font)
    if composed is None:
        font.set_text(s, 0.0, flags=LoadFlags.NO_HINTING)
        w, h = font.get_width_height()
        d = font.get_descent()
    else:
        w, h, d = composed
    w /= 64.0
    h /= 64.0
    d /= 64.0
    return w * scale, h * scale, d * scale


#: The characters whose layout :class:`GlyphLayout` composes: printable ASCII, accented
#: Latin letters and the signs a report is likely to print, all of them Latin or common to
#: every script. (matplotlib's shaping lays out a run of one script at a time, and a pair
#: that straddles two runs, a Greek letter and a Latin one, is not kerned: strings with a
#: letter of another script are left to the font.) ``tests/test_svg_text.py`` checks every
#: pair of them in every font of the family.
LAYOUT_CHARS = frozenset(
    [chr(c) for c in range(0x20, 0x7F)]
    + list("\u00a0\u2009\u202f–—−‐±≥≤≈≠×÷·•…‘’“”′″°µ²³¹½¼¾†‡§←↑→↓↔√∞")
    + list("ÄÅÆÇÉÑÖØÜßàáâãäåæçèéêëíîïñóôõöøúûüýčćęłńőśšžğış")
)
#: The font files whose layout :class:`GlyphLayout` composes: the DejaVu Sans family that
#: comes with matplotlib (another copy of a font of that name may be another version).
LAYOUT_FONTS = frozenset(("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf",
                          "DejaVuSans-BoldOblique.ttf"))
#: The pairs of characters those fonts join into one glyph (ligatures), and strings that
#: contain one: these are laid out whole by the font.
_LIGATURES = re.compile("f[fil]")
#: Strings the check of :meth:`GlyphLayout._holds` lays out both ways: kerned pairs (one
#: whose scaled kerning ends in half a unit, rounded up), spaces, signs and digits.
_PROBES = ("AV", "Ty.", "ex", "W,", "0.53 [−0.12, 1.94]", " - ", "x", "Zarate 2012 (n = 18)",
           "I² = 45%", "↓ favours control", "T² estimator: REML", "Yr'", "P(LYT)")
_LAYOUTS: dict[tuple, GlyphLayout] = {}
_MISSING = object()
#: The em at the measuring size and resolution, in 64ths of a pixel (6400).
_EM_64THS = round(MEASURE_SIZE * MEASURE_DPI / 72 * 64)


class GlyphLayout:
    """matplotlib's layout of a string in one font, composed from its glyphs' metrics.

    Laying a string out with FreeType (``FT2Font.set_text``) loads every glyph of it again,
    about 8 microseconds a character: for the thousands of labels, values and headers of a
    page's figures, the largest part of drawing them. matplotlib shapes the string with
    HarfBuzz, and in these fonts (:data:`LAYOUT_FONTS`), for these characters
    (:data:`LAYOUT_CHARS`), shaping maps each character to its own glyph (but for the
    ligatures of :data:`_LIGATURES`) and moves a glyph only by the kerning of the pair it
    ends (the fonts have no contextual positioning). The layout is then a sum over the
    characters:

    * width: each glyph's advance, plus the kerning of each adjacent pair, in the font's
      units scaled as HarfBuzz scales them (``em_mult``: times ``(6400 << 16) // units per
      em``, plus half, shifted right by 16 bits; 6400 is 100 points at 72 dpi in 64ths);
    * height and descent: from the lowest and highest point of any glyph's box, a blank
      glyph's box (a space) being the point at the origin.

    A glyph's advance and box are read once, from the font's layout of that character
    alone. Before any string is composed, a few strings (:data:`_PROBES`) are laid out both
    ways; unless every number agrees (another version of matplotlib, say, that lays out
    otherwise), every string is left to the font. ``tests/test_svg_text.py`` compares the
    two for every pair of characters in every font of the family, and for random strings.
    """

    def __init__(self, font):
        self._glyphs: dict[str, tuple | None] = {}
        self._kerns: dict[tuple[int, int], int] = {}
        self._mult = (_EM_64THS << 16) // font.units_per_EM
        self.composes = os.path.basename(font.fname) in LAYOUT_FONTS and os.path.dirname(
            os.path.abspath(font.fname)) == _BUNDLED_FONTS
        if self.composes:
            self.composes = self._holds(font)

    def _holds(self, font) -> bool:
        """Whether the composed layout equals the font's for every string of :data:`_PROBES`."""
        for s in _PROBES:
            composed = self._compose(s, font)
            font.set_text(s, 0.0, flags=LoadFlags.NO_HINTING)
            if composed != (*font.get_width_height(), font.get_descent()):
                return False
        return True

    def extent(self, s: str, font) -> tuple[int, int, int] | None:
        """Width, height and descent of ``s`` in 64ths of a point at 100 points and 72 dpi,
        as ``font.set_text`` would give them; None where the font must lay ``s`` out itself.

        ``font`` is the font this layout was made for, as ``get_font`` returns it now (set to
        100 points at 72 dpi): matplotlib opens its fonts anew in a forked process, whose
        reads of the font file must not share a file offset with its parent's.
        """
        if not self.composes or not s or _LIGATURES.search(s):
            return None
        return self._compose(s, font)

    def _glyph(self, c: str, font):
        """``(glyph index, advance, lowest, highest)`` of ``c``, or None (not composed)."""
        found = self._glyphs.get(c, _MISSING)
        if found is _MISSING:
            found = None
            index = font.get_char_index(ord(c)) if c in LAYOUT_CHARS else 0
            if index and len(font.set_text(c, 0.0, flags=LoadFlags.NO_HINTING)) == 1:
                (advance, height), descent = font.get_width_height(), font.get_descent()
                found = (index, advance, -descent, height - descent)
            self._glyphs[c] = found
        return found

    def _kern(self, left: int, right: int, font) -> int:
        pair = (left, right)
        found = self._kerns.get(pair)
        if found is None:
            units = font.get_kerning(left, right, Kerning.UNSCALED)
            found = self._kerns[pair] = (units * self._mult + 32768) >> 16
        return found

    def _compose(self, s: str, font) -> tuple[int, int, int] | None:
        width = 0
        low = high = None
        previous = None
        for c in s:
            glyph = self._glyph(c, font)
            if glyph is None:
                return None
            index, advance, lowest, highest = glyph
            if previous is not None:
                width += self._kern(previous, index, font)
            width += advance
            if low is None or lowest < low:
                low = lowest
            if high is None or highest > high:
                high = highest
            previous = index
        return width, high - low, -low

    def warm(self, chars, font) -> None:
        """Read the metrics of ``chars`` now (a process's forks then find them read)."""
        for c in chars:
            self._glyph(c, font)


def _layout_of(files: list, font) -> GlyphLayout:
    """The :class:`GlyphLayout` of the font ``get_font(files)`` opens (made once, with ``font``)."""
    # the settings matplotlib's get_font opens a font with, where this version has them
    key = (tuple(files), rcParams.get("text.hinting_factor"),
           rcParams.get("text.kerning_factor"))
    layout = _LAYOUTS.get(key)
    if layout is None:
        layout = _LAYOUTS[key] = GlyphLayout(font)
    return layout


def _bundled_fonts() -> str:
    import matplotlib

    return os.path.join(os.path.abspath(matplotlib.get_data_path()), "fonts", "ttf")


_BUNDLED_FONTS = _bundled_fonts()


def text_extent(s: str, prop: FontProperties, ismath: bool | str = False
                ) -> tuple[float, float, float]:
    """Width, height and descent of ``s`` in points, as matplotlib measures it (remembered)."""
    key = (s, ismath, _font_key(prop))
    found = _EXTENTS.get(key)
    if found is None:
        if ismath:  # mathtext (switched off in our figures) or TeX: matplotlib's own way
            from matplotlib.textpath import TextToPath

            found = TextToPath().get_text_width_height_descent(s, prop, ismath)
        else:
            found = _measure(s, prop)
        if len(_EXTENTS) >= EXTENTS_KEPT:
            _EXTENTS.clear()
        _EXTENTS[key] = found
    return found


def warm(prop: FontProperties) -> None:
    """Look up the font of ``prop`` and read its line metrics and the glyph metrics of
    printable ASCII now, for the processes forked from this one (:mod:`ketameta.worker`)."""
    line_metrics(prop)
    files = _font_files(prop)
    font = get_font(files)
    font.set_size(MEASURE_SIZE, MEASURE_DPI)
    _layout_of(files, font).warm((chr(c) for c in range(0x20, 0x7F)), font)


def line_metrics(prop: FontProperties) -> tuple[float, float, float]:
    """Ascent, descent and line gap of the font of ``prop`` at 72 dpi (remembered).

    The numbers matplotlib's text layout reads from the font's OS/2 table (else its hhea
    table) when a renderer does not supply them, computed by the same expression.
    """
    key = _font_key(prop)
    found = _LINE_METRICS.get(key)
    if found is None:
        found = (None, None, None)
        font = get_font(_font_files(prop))
        for table_name, gap_key, ascent_key, descent_key in (
                ("OS/2", "sTypoLineGap", "sTypoAscender", "sTypoDescender"),
                ("hhea", "lineGap", "ascent", "descent")):
            table = font.get_sfnt_table(table_name)
            if table is None:
                continue
            fontsize = prop.get_size_in_points()
            units_per_em = font.get_sfnt_table("head")["unitsPerEm"]
            scale = 1 / units_per_em * fontsize * DPI / 72
            found = (table[ascent_key] * scale, -table[descent_key] * scale,
                     table[gap_key] * scale)
            break
        _LINE_METRICS[key] = found
    return found


@functools.cache
def _canvas_class() -> type:
    """The canvas class (defined on first use, so that importing this module is cheap)."""
    from matplotlib.backends.backend_mixed import MixedModeRenderer
    from matplotlib.backends.backend_svg import FigureCanvasSVG, RendererSVG

    class _Renderer(RendererSVG):
        """matplotlib's SVG renderer whose text measurements are remembered across figures."""

        def get_text_width_height_descent(self, s, prop, ismath):
            if ismath == "TeX":
                return super().get_text_width_height_descent(s, prop, ismath)
            return text_extent(s, prop, ismath)

        def _get_font_height_metrics(self, prop):
            ascent, descent, gap = line_metrics(prop)
            return ascent, descent, gap

    class _Canvas(FigureCanvasSVG):
        """The SVG canvas of our figures: matplotlib's ``print_svg`` with :class:`_Renderer`."""

        def print_svg(self, filename, *, bbox_inches_restore=None, metadata=None, **_savefig):
            # ``savefig`` also passes dpi, facecolor, edgecolor and orientation, which it has
            # already applied to the figure; matplotlib's print_svg drops them the same way.
            fh = filename if isinstance(filename, io.TextIOBase) else io.TextIOWrapper(
                filename, encoding="utf-8")
            dpi = self.figure.dpi
            self.figure.dpi = DPI
            width, height = self.figure.get_size_inches()
            renderer = MixedModeRenderer(
                self.figure, width, height, dpi,
                _Renderer(width * DPI, height * DPI, fh, image_dpi=dpi, metadata=metadata),
                bbox_inches_restore=bbox_inches_restore)
            self.figure.draw(renderer)
            renderer.finalize()
            fh.flush()
            if fh is not filename:
                fh.detach()

    return _Canvas


def new_figure(width: float, height: float) -> Figure:
    """A white figure of ``width`` × ``height`` inches at 72 dpi, drawn by our SVG canvas."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    _canvas_class()(fig)
    fig.patch.set_facecolor("white")
    return fig


def svg_bytes(fig: Figure, metadata: dict) -> bytes:
    """The SVG document of ``fig`` (UTF-8)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata=metadata)
    return buf.getvalue().encode("utf-8")
