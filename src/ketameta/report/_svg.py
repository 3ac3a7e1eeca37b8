"""Matplotlib's SVG backend with the text measurements remembered between figures.

Measuring a string is the most expensive step of drawing our figures: matplotlib lays
the glyphs out with FreeType for every label, every time a figure is drawn, and a
condition page draws dozens of figures that repeat the same labels, headers and tick
values. The renderer here answers the same questions with the same numbers (it measures
each string in each font once, with the FreeType calls and arithmetic of matplotlib's
:meth:`TextToPath.get_text_width_height_descent <matplotlib.textpath.TextToPath.\
get_text_width_height_descent>`, and reads a font's line metrics from its tables once),
so that every figure is byte for byte the figure matplotlib's own SVG backend writes; only
the repeated work is gone. ``tests/test_svg_text.py`` compares the measurements with
matplotlib's.

Every figure of the reports drawn through matplotlib is made by :func:`new_figure`, which
attaches the canvas below. matplotlib's figure and SVG backend are imported only then: the
figures written directly (:mod:`ketameta.report._svgdirect`) need the measurements alone.
"""

from __future__ import annotations

import functools
import io
from typing import TYPE_CHECKING

from matplotlib.font_manager import FontProperties, fontManager, get_font
from matplotlib.ft2font import LoadFlags

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
    72 dpi, FreeType's layout of ``s`` without hinting, its box in 64ths of a point, scaled
    to the font's size.
    """
    fontsize = prop.get_size_in_points()
    scale = fontsize / MEASURE_SIZE
    font = get_font(_font_files(prop))
    font.set_size(MEASURE_SIZE, MEASURE_DPI)
    font.set_text(s, 0.0, flags=LoadFlags.NO_HINTING)
    w, h = font.get_width_height()
    w /= 64.0
    h /= 64.0
    d = font.get_descent()
    d /= 64.0
    return w * scale, h * scale, d * scale


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
