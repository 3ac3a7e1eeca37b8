"""Figures of the reports: forest, funnel, leave-one-out and overview plots as inline SVG.

Figures are drawn with matplotlib's object-oriented API (no ``pyplot`` state) and
returned as an SVG fragment ready to be inlined in a page. The forest plots (most of a
page's figures), the time courses and the funnel plots are the exception in how, not in
what: :func:`forest_svg`, :func:`timecourse_svg` and :func:`funnel_svg` write their SVG
directly (:mod:`ketameta.report._svgdirect`), element for element what matplotlib's SVG
backend writes for the same figure built from Artists, at a fraction of the cost and
without importing matplotlib's figure, axes and backend; the other figures go through
matplotlib with text measurements remembered between figures (:mod:`ketameta.report._svg`).
Either way:

* text stays text (``svg.fonttype = "none"``): small, selectable and read by screen readers;
  matplotlib escapes it (``&``, ``<``, ``>``), and the fragment is then re-parsed and
  re-serialised with :mod:`xml.etree.ElementTree`, which escapes attributes and text again
  and lets us check that no script or event handler can be present (the direct writer
  escapes every text and attribute itself, writes no attribute from the data but a link,
  and refuses ``javascript:`` links);
* invisible direction and zero-width characters are removed from every text
  (:func:`ketameta.report.formatting.plain`);
* mathtext is switched off (``text.parse_math = False``), so a study label with ``$`` is
  printed as typed instead of being parsed as TeX;
* output is deterministic: ``svg.hashsalt`` is fixed per figure, the SVG ``Date`` metadata is
  dropped, and every element id is prefixed with the figure id so that several figures on one
  page never share an id.

The layout follows the forest plots reviewers know from Cochrane reviews (RevMan) and
metafor's ``forest()`` (Viechtbauer 2010, J Stat Softw 36(3)); docs/forest_conventions.md
lists what matches and what differs.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import TYPE_CHECKING, NamedTuple

import matplotlib
import numpy as np
from matplotlib.colors import to_hex
from matplotlib.font_manager import FontProperties
from matplotlib.markers import TICKDOWN, TICKLEFT
from matplotlib.patches import Polygon, Rectangle
from matplotlib.path import Path
from matplotlib.ticker import AutoLocator, ScalarFormatter
from matplotlib.transforms import (
    Affine2D,
    Bbox,
    BboxTransformTo,
    IdentityTransform,
    ScaledTranslation,
    TransformedBbox,
    _interval_contains_close,
    blended_transform_factory,
)

from . import _svgdirect
from . import formatting as fmt
from ._svg import DPI, new_figure, svg_bytes, text_extent
from ._svgdirect import Canvas, Panel, ScaledPanel, background, number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)

FONT_SIZE = 8.5  # points
ROW_HEIGHT = 0.21  # inches per row of a forest plot
FIGURE_WIDTH = 10.0  # inches; the page scales the SVG down to its column width

INK = "#1a1a1a"  # text, squares, diamond (contrast 17:1 on white)
MUTED = "#595959"  # secondary text and axes (7:1 on white, passes WCAG AA)
ACCENT = "#8c1d18"  # prediction interval, filled studies (8.9:1 on white)
GRID = "#bdbdbd"  # reference lines (graphical object: 1.9:1 is enough for non-text)

#: Traffic-light fill, mark colour and mark of each risk-of-bias judgement (robvis' colours,
#: darkened so that the marks keep their contrast); "not assessed" is an open circle with "?".
ROB_STYLE = {
    "low": ("#1e7b34", "white", "+"),
    "some": ("#e0b000", INK, "\u2212"),
    "high": ("#b00020", "white", "\u00d7"),
    None: ("white", INK, "?"),
}
ROB_COLUMN_WIDTH = 0.28  # inches per traffic-light column
ROB_BAR_MISSING = "#c8c8c8"  # the summary bar's share not assessed (grey, not white)

_RC_BASE = {
    "svg.fonttype": "none",
    "font.family": ["DejaVu Sans"],
    "font.size": FONT_SIZE,
    "text.parse_math": False,
    "axes.unicode_minus": True,
    "axes.edgecolor": MUTED,
    "xtick.color": MUTED,
    "xtick.labelcolor": INK,
    "xtick.labelsize": FONT_SIZE,
    "ytick.labelsize": FONT_SIZE,
    "path.simplify": False,
}

_FORBIDDEN_TAGS = {"script", "foreignObject", "iframe", "object", "embed"}

def text_width(text: str, bold: bool = False, size: float = FONT_SIZE) -> float:
    """Width of ``text`` in inches when set in the figures' font (DejaVu Sans)."""
    width, _, _ = text_extent(text, _text_font(size, bold, False))
    return width / 72.0


_TEXT_FONTS: dict[tuple[float, bool, bool], FontProperties] = {}


def _text_font(size: float, bold: bool, italic: bool) -> FontProperties:
    """The figures' font (DejaVu Sans) at ``size`` points (shared, never changed)."""
    key = (size, bold, italic)
    prop = _TEXT_FONTS.get(key)
    if prop is None:
        prop = _TEXT_FONTS[key] = FontProperties(
            family=["DejaVu Sans"], size=size, weight="bold" if bold else "normal",
            style="italic" if italic else "normal")
    return prop


@dataclass(frozen=True)
class Axis:
    """The effect axis of one forest-plot panel.

    ``log`` means the values are on the log scale (RR, OR, HR) and the tick labels are
    back-transformed ratios; ``null`` is the no-effect value on the analysis scale (0), or
    ``None`` for single-arm measures, which have no comparison and no "favours" labels.
    ``reverse`` draws larger values to the left (the overview turns every outcome whose
    lower values are better this way, so that benefit is always on the right).
    """

    label: str
    log: bool = False
    null: float | None = 0.0
    favours_left: str | None = None
    favours_right: str | None = None
    reverse: bool = False


@dataclass(frozen=True)
class Column:
    """A text column of a forest plot: header, optional group header above it, alignment."""

    header: str
    group: str = ""
    align: str = "right"


@dataclass(frozen=True)
class Row:
    """One row of a forest plot.

    ``kind`` is one of ``study`` (square sized by ``weight``, whiskers to the CI),
    ``pooled`` (diamond spanning the CI), ``pi`` (prediction-interval bar),
    ``summary`` (overview row: diamond for the CI, thin line for the prediction interval),
    ``heading`` (bold label only) or ``note`` (label and cells only). Effects are on the
    analysis scale. ``rob`` holds the risk-of-bias judgements drawn in the traffic-light
    columns (``low``, ``some``, ``high`` or None for not assessed), one per column;
    ``rob_bar`` the weighted shares (percent: low, some, high, not assessed) drawn as one
    bar across those columns on a pooled row.
    """

    kind: str
    label: str
    cells: tuple[str, ...] = ()
    right: tuple[str, ...] = ()
    estimate: float | None = None
    low: float | None = None
    high: float | None = None
    weight: float | None = None
    pi_low: float | None = None
    pi_high: float | None = None
    panel: int = 0
    url: str | None = None
    flagged: bool = False
    rob: tuple[str | None, ...] = ()
    rob_bar: tuple[float, float, float, float] | None = None


@dataclass
class _Panel:
    axis: Axis
    rows: list[Row] = field(default_factory=list)
    refline: float | None = None
    band: tuple[float, float] | None = None


# ----------------------------------------------------------------------------- axis ticks

_LOG_TICKS_FINE = [m * 10.0**e for e in range(-4, 5) for m in (1, 1.5, 2, 3, 5, 7)]
_LOG_TICKS_COARSE = [m * 10.0**e for e in range(-4, 5) for m in (1, 2, 5)]
_LOG_TICKS_DECADES = [10.0**e for e in range(-4, 5)]
_LOG_TICKS_SPARSE = [10.0**e for e in range(-4, 5, 2)]


def _finite(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if fmt.is_number(v)]


def axis_limits(
    core: Sequence[float | None], whiskers: Sequence[float | None], log: bool
) -> tuple[float, float, list[float]]:
    """Choose the x range and ticks of a panel (analysis scale).

    The range always covers the ``core`` values (point estimates and the null line);
    intervals (``whiskers``: study CIs, pooled CIs, prediction intervals) extend it by at
    most the core's width on each side, beyond which they end in an arrow, so that one
    very imprecise interval (k = 2 with Hartung–Knapp, say) does not squeeze every other
    row into a few pixels. Ticks are "nice" numbers on the displayed scale (ratios 1-2-5,
    decades when the range is wide, on a log axis), and the range is widened to the outer
    ticks.
    """
    core_v = _finite(core) or [0.0]
    whisk = _finite(whiskers)
    lo, hi = min(core_v), max(core_v)
    width = max(hi - lo, math.log(2.0) if log else 0.5)
    lo = min(lo, max(min(whisk, default=lo), lo - width))
    hi = max(hi, min(max(whisk, default=hi), hi + width))
    if hi - lo < width:  # e.g. only the null line (a panel with nothing pooled)
        pad = (width - (hi - lo)) / 2
        lo, hi = lo - pad, hi + pad
    if log:
        r_lo, r_hi = math.exp(lo), math.exp(hi)
        ticks: list[float] = []
        for cands in (_LOG_TICKS_COARSE, _LOG_TICKS_FINE, _LOG_TICKS_DECADES,
                      _LOG_TICKS_SPARSE):
            below = [c for c in cands if c <= r_lo * (1 + 1e-9)]
            above = [c for c in cands if c >= r_hi * (1 - 1e-9)]
            t_lo = max(below) if below else min(cands)
            t_hi = min(above) if above else max(cands)
            ticks = [c for c in cands if t_lo <= c <= t_hi]
            if cands is _LOG_TICKS_COARSE and len(ticks) < 4:
                continue
            if len(ticks) <= 7:
                break
        logs = [math.log(t) for t in ticks]
        return logs[0], logs[-1], logs
    locator = matplotlib.ticker.MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10])
    ticks = [float(t) for t in locator.tick_values(lo, hi)]
    while len(ticks) > 2 and ticks[1] <= lo + 1e-12:
        ticks = ticks[1:]
    while len(ticks) > 2 and ticks[-2] >= hi - 1e-12:
        ticks = ticks[:-1]
    return ticks[0], ticks[-1], ticks


def _tick_label(value: float, log: bool) -> str:
    if log:
        ratio = math.exp(value)
        return fmt.tick(float(f"{ratio:.3g}"))
    return fmt.tick(round(value, 10))


# ----------------------------------------------------------------------------- SVG output


def _svg_fragment(fig: Figure, fig_id: str, title: str) -> str:
    """Serialise ``fig`` to an SVG element string with ids prefixed by ``fig_id``.

    Raises
    ------
    ValueError
        If the SVG contains an element or attribute that could run code; our figures never
        do, so this guards the ``Markup`` the renderer puts around the fragment.
    """
    root = ET.fromstring(svg_bytes(fig, {"Date": None, "Creator": None}))
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    href = f"{{{XLINK_NS}}}href"

    def prefixed(value: str) -> str:
        return re.sub(r"url\(#([^)]+)\)",
                      lambda m: f"url(#{fig_id}-{m.group(1)})" if m.group(1) in ids else m.group(0),
                      value)

    for el in root.iter():
        # Direction overrides and zero-width characters could show a label reversed or two
        # labels alike; the input checks refuse them, and the figures drop any that remain.
        el.text = fmt.plain(el.text)
        el.tail = fmt.plain(el.tail)
        tag = el.tag.split("}")[-1]
        if tag in _FORBIDDEN_TAGS:
            raise ValueError(f"refusing to inline SVG with a <{tag}> element")
        for name, value in list(el.attrib.items()):
            local = name.split("}")[-1]
            if local.lower().startswith("on"):
                raise ValueError(f"refusing to inline SVG with an event attribute {local!r}")
            if local == "id":
                el.set(name, f"{fig_id}-{value}")
            elif name == href and value.startswith("#") and value[1:] in ids:
                el.set(name, f"#{fig_id}-{value[1:]}")
            elif name == href and value.strip().lower().startswith("javascript:"):
                raise ValueError("refusing to inline SVG with a javascript: link")
            elif "url(#" in value:
                el.set(name, prefixed(value))
    for child in list(root):
        if child.tag.split("}")[-1] == "metadata":
            root.remove(child)
    title_el = ET.Element(f"{{{SVG_NS}}}title")
    title_el.text = fmt.plain(title)
    root.insert(0, title_el)
    root.set("role", "img")
    root.set("class", "figure")
    root.set("id", fig_id)
    return ET.tostring(root, encoding="unicode")


def _new_figure(width: float, height: float) -> Figure:
    return new_figure(width, height)


def _rc(fig_id: str) -> dict:
    return {**_RC_BASE, "svg.hashsalt": f"ketameta-{fig_id}"}


# ----------------------------------------------------------------------------- forest


class _ForestLayout(NamedTuple):
    """Sizes and positions of a forest plot, in inches (``body_*`` as figure fractions)."""

    pad: float
    panel_w: float
    rob_w: float
    width: float
    height: float
    foot_h: float
    body_bottom: float
    body_top: float
    x_label: float
    x_left: list[float]
    x_panels: list[float]
    x_right: list[float]


def _forest_layout(rows: Sequence[Row], panels: Sequence[_Panel], left: Sequence[Column],
                   right: Sequence[Column], footer: Sequence[str], label_header: str,
                   rob_columns: Sequence[str], font_size: float) -> _ForestLayout:
    """Where everything of a forest plot goes: column widths from the texts' widths, panel
    widths from what is left of :data:`FIGURE_WIDTH` (at least room for the "favours"
    labels), heights from the number of rows and footer lines."""
    pad = 0.14
    label_w = max([text_width(r.label, bold=r.kind in ("heading", "pooled"), size=font_size)
                   for r in rows]
                  + [text_width(label_header, bold=True, size=font_size)]) + pad

    def col_width(col: Column, texts: list[tuple[str, bool]]) -> float:
        return max([text_width(t, bold=b, size=font_size) for t, b in texts]
                   + [text_width(col.header, bold=True, size=font_size)]) + pad

    left_w = [col_width(col, [(r.cells[j], r.kind == "pooled") for r in rows if len(r.cells) > j])
              for j, col in enumerate(left)]
    right_w = [col_width(col, [(r.right[j], r.kind == "pooled") for r in rows
                               if len(r.right) > j]) for j, col in enumerate(right)]
    # a group header ("Ketamine", "Control") must fit over its columns
    for cols, widths in ((left, left_w), (right, right_w)):
        for name in dict.fromkeys(c.group for c in cols if c.group):
            members = [j for j, c in enumerate(cols) if c.group == name]
            need = (text_width(name, bold=True, size=font_size) + pad
                    - sum(widths[j] for j in members))
            if need > 0:
                for j in members:
                    widths[j] += need / len(members)
    margin = 0.12
    gap = 0.4
    rob_w = ROB_COLUMN_WIDTH * len(rob_columns) + (0.1 if rob_columns else 0.0)
    fixed = margin * 2 + label_w + sum(left_w) + sum(right_w) + gap * len(panels) + rob_w
    min_panel = 2.4
    for a in (p.axis for p in panels):
        if a.favours_left or a.favours_right:
            need = sum(text_width(f"\u2190 {t}", size=font_size - 0.5)
                       for t in (a.favours_left, a.favours_right) if t) + 0.3
            min_panel = max(min_panel, need)
    panel_w = max(min_panel, (FIGURE_WIDTH - fixed) / max(len(panels), 1))
    width = max(FIGURE_WIDTH, fixed + panel_w * len(panels))

    has_groups = any(c.group for c in list(left) + list(right))
    head_h = ROW_HEIGHT * (2.2 if has_groups else 1.3)
    body_h = ROW_HEIGHT * (len(rows) + 0.4)
    has_favours = any(p.axis.favours_left or p.axis.favours_right for p in panels)
    axis_h = 0.40 + (0.12 if has_favours else 0.0)
    foot_h = 0.18 * len(footer) + (0.08 if footer else 0.0)
    height = head_h + body_h + axis_h + foot_h + 0.1

    body_bottom = (axis_h + foot_h + 0.05) / height
    body_top = (axis_h + foot_h + 0.05 + body_h) / height
    x_label = margin
    x_left = [x_label + label_w]
    for w in left_w:
        x_left.append(x_left[-1] + w)
    x_panels = []
    x = x_left[-1] + gap / 2
    for _ in panels:
        x_panels.append(x)
        x += panel_w + gap
    x_right = [x - gap / 2]
    for w in right_w:
        x_right.append(x_right[-1] + w)
    return _ForestLayout(pad, panel_w, rob_w, width, height, foot_h, body_bottom, body_top,
                         x_label, x_left, x_panels, x_right)


def forest_svg(
    fig_id: str,
    title: str,
    rows: Sequence[Row],
    *,
    axes: Sequence[Axis],
    left: Sequence[Column] = (),
    right: Sequence[Column] = (),
    footer: Sequence[str] = (),
    refline: float | None = None,
    band: tuple[float, float] | None = None,
    label_header: str = "Study",
    rob_columns: Sequence[str] = (),
    font_size: float = FONT_SIZE,
) -> str:
    """Draw a forest plot and return it as an SVG fragment.

    Parameters
    ----------
    fig_id
        Unique id of the figure on its page (also the hash salt, so output is reproducible).
    title
        Accessible name of the figure (SVG ``<title>``).
    rows
        Rows from top to bottom; see :class:`Row`. Study squares have an area proportional to
        the study's weight (RevMan's convention), whiskers show the CI and end in an arrow
        where the CI leaves the axis.
    axes
        One :class:`Axis` per panel; rows go to the panel named by ``Row.panel``. The overview
        page uses one panel per effect measure so that, for example, SMDs and risk ratios are
        never drawn on one axis.
    left, right
        Text columns left and right of the panels; ``Row.cells`` and ``Row.right`` fill them.
    footer
        Lines of text under the axis (heterogeneity, test for overall effect).
    refline, band
        Optional dashed vertical line and shaded band (leave-one-out plots show the full
        model's estimate and CI this way).
    label_header
        Header of the first (label) column.
    rob_columns
        Headers of the risk-of-bias traffic-light columns drawn right of the text columns
        (RevMan's and robvis' layout: D1–D5 and the overall judgement); ``Row.rob`` fills
        them and ``Row.rob_bar`` draws the weighted summary bar of a pooled row.
    font_size
        Text size in points (the overview's figures use a larger one, so that their text
        stays at least 11 px when the page scales them to its column).
    """
    rows = list(rows)
    if not axes:
        raise ValueError("a forest plot needs at least one axis")
    panels = [_Panel(axis=a) for a in axes]
    for row in rows:
        panels[row.panel].rows.append(row)
    panels[0].refline = refline
    panels[0].band = band

    (pad, panel_w, rob_w, width, height, foot_h, body_bottom, body_top, x_label, x_left,
     x_panels, x_right) = _forest_layout(rows, panels, left, right, footer, label_header,
                                         rob_columns, font_size)
    canvas = Canvas(fig_id, width, height)
    n = len(rows)
    y_of = {id(r): i for i, r in enumerate(rows)}
    drawn = [_PanelDrawing(canvas, p, (x0 / width, body_bottom, panel_w / width,
                                       body_top - body_bottom), n, font_size)
             for p, x0 in zip(panels, x_panels, strict=True)]
    # rows are placed in the first panel's data coordinates (one unit per row)
    text_tr = blended_transform_factory(canvas.dpi_scale, drawn[0].panel.trans_data)
    # Artists of the figure itself, drawn after the panels in matplotlib's z-order: patches
    # (the risk-of-bias bars), then lines, then text.
    patches: list = []
    lines: list = []
    texts: list = []

    head_y = -0.6 - 0.45
    group_y = head_y - 1.0

    def put(xpos, y, s, align="left", bold=False, url=None, italic=False, color=INK):
        texts.append((s, xpos, y, text_tr, _text_font(font_size, bold, italic), align,
                      "center", color, url))

    put(x_label, head_y, label_header, bold=True)
    groups: dict[str, list[float]] = {}
    for j, col in enumerate(left):
        xr = x_left[j + 1] - pad / 2
        put(xr, head_y, col.header, align="right", bold=True)
        if col.group:
            groups.setdefault(col.group, []).extend([x_left[j] + pad / 2, xr])
    for j, col in enumerate(right):
        xr = x_right[j + 1] - pad / 2
        put(xr, head_y, col.header, align="right", bold=True)
        if col.group:
            groups.setdefault(col.group, []).extend([x_right[j] + pad / 2, xr])
    for name, xs in groups.items():
        put((min(xs) + max(xs)) / 2, group_y, name, align="center", bold=True)
        lines.append(([min(xs), max(xs)], [group_y + 0.5] * 2, MUTED, 0.6))
    x_end = x_right[-1] if right else x_panels[-1] + panel_w
    x_rob = x_end + 0.1
    for j, header in enumerate(rob_columns):
        put(x_rob + ROB_COLUMN_WIDTH * (j + 0.5), head_y, header, align="center", bold=True)
    x_end += rob_w
    lines.append(([x_label, x_end], [-0.55, -0.55], INK, 0.8))

    first_summary = None
    for r in rows:
        y = y_of[id(r)]
        if r.kind in ("pooled", "pi") and first_summary is None:
            first_summary = y
        label = r.label + (" *" if r.flagged else "")
        put(x_label, y, label, bold=r.kind in ("heading", "pooled"), url=r.url,
            italic=r.kind == "pi")
        for j, c in enumerate(r.cells):
            put(x_left[j + 1] - pad / 2, y, c, align="right", bold=r.kind == "pooled")
        for j, c in enumerate(r.right):
            put(x_right[j + 1] - pad / 2, y, c, align="right", bold=r.kind == "pooled")
        if rob_columns:
            _rob_marks(x_rob, y, r, len(rob_columns), text_tr, font_size, patches, lines,
                       texts)
    if first_summary is not None:
        lines.append(([x_label, x_end], [first_summary - 0.5] * 2, MUTED, 0.5))

    for d in drawn:
        d.mark(y_of)
    for i, line in enumerate(footer):
        y_in = foot_h - 0.05 - 0.18 * (i + 0.5)
        texts.append((line, x_label / width, y_in / height, canvas.trans_figure,
                      _text_font(font_size, False, False), "left", "center", INK, None))

    # the SVG, in the order matplotlib draws the same figure
    canvas.open("figure")
    canvas.open("patch")
    canvas.path(Path.unit_rectangle(), canvas.trans_figure, "fill: #ffffff", filled=True)
    canvas.close()
    for d in drawn:
        d.write()
    for rect, fill in patches:
        canvas.open("patch")
        canvas.path(rect.get_path(), rect.get_transform(),
                    f"fill: {fill}; stroke: {MUTED}; stroke-width: 0.5; stroke-linejoin: miter",
                    filled=True)
        canvas.close()
    for xs, ys, color, lw in lines:
        canvas.open("line2d")
        if isinstance(xs, tuple):  # a traffic light: (marker, size, fill, edge)
            marker, size, fill, edge = xs
            canvas.markers(marker, size, [ys], text_tr,
                           f"fill: {fill}; stroke: {edge}; stroke-width: 0.8",
                           f"stroke: {edge}; stroke-width: 0.8")
        else:
            canvas.path(Path(np.column_stack([xs, ys])), text_tr,
                        f"fill: none; stroke: {color}; stroke-width: {number(lw)}; "
                        "stroke-linecap: square")
        canvas.close()
    for s, xpos, y, tr, prop, align, va, color, url in texts:
        canvas.text(s, xpos, y, tr, prop=prop, ha=align, va=va, color=color, url=url)
    canvas.close()
    return canvas.fragment(title)


def _rob_marks(x0: float, y: float, row: Row, columns: int, tr, font_size: float,
               patches: list, lines: list, texts: list) -> None:
    """One row's traffic lights, or on a pooled row the weighted summary bar."""
    for j, level in enumerate(row.rob):
        fill, ink, mark = ROB_STYLE.get(level, ROB_STYLE[None])
        xc = x0 + ROB_COLUMN_WIDTH * (j + 0.5)
        lines.append((("o", 11, to_hex(fill), MUTED if level is None else to_hex(fill)),
                       (xc, y), None, None))
        texts.append((mark, xc, y, tr, _text_font(font_size, True, False), "center",
                      "center_baseline", to_hex(ink), None))
    if row.rob_bar is not None:
        width = ROB_COLUMN_WIDTH * columns - 0.04
        x = x0 + 0.02
        for share, level in zip(row.rob_bar, ("low", "some", "high", None), strict=True):
            if not share > 0:
                continue
            w = width * share / 100.0
            patches.append((Rectangle((x, y - 0.3), w, 0.6, transform=tr),
                            to_hex(ROB_STYLE[level][0] if level else ROB_BAR_MISSING)))
            x += w


class _PanelDrawing:
    """One panel of a forest plot: its axis, reference lines and markers, in draw order.

    The elements are those of a matplotlib Axes with a bottom spine and x ticks only, in
    the order its draw sorts them (z-order 0: band, 1: reference lines, 1.5: the axes'
    ticks and label, 2: whiskers and arrows, 2.5: the spine, 3: squares, diamonds and the
    "favours" labels).
    """

    def __init__(self, canvas: Canvas, p: _Panel, rect, n: int, font_size: float) -> None:
        self.canvas = canvas
        self.p = p
        self.font_size = font_size
        axis = p.axis
        core: list[float | None] = []
        whiskers: list[float | None] = []
        for r in p.rows:
            if r.kind in ("study", "pooled", "summary"):
                core.append(r.estimate)
                whiskers += [r.low, r.high, r.pi_low, r.pi_high]
            elif r.kind == "pi":
                whiskers += [r.low, r.high]
        if axis.null is not None:
            core.append(axis.null)
        if p.refline is not None:
            core.append(p.refline)
        if p.band is not None:
            whiskers += list(p.band)
        self.lo, self.hi, self.ticks = axis_limits(core, whiskers, axis.log)
        xlim = (self.hi, self.lo) if axis.reverse else (self.lo, self.hi)
        self.panel = Panel(canvas, rect, xlim, (n - 0.4, -0.6))
        # z-order 2: ("line", xs, ys, color, lw), ("marker", marker, size, x, y, fill, edge,
        # edge width, clipped); z-order 3: ("square", side, x, y), ("diamond", vertices)
        self.z2: list = []
        self.z3: list = []

    def _arrow(self, below: bool) -> str:
        return "<" if below != self.p.axis.reverse else ">"

    def _marker(self, bucket, marker, size, x, y, color, mew=1.0, clip=False):
        bucket.append(("marker", marker, size, x, y, color, color, mew, clip))

    def _whisker(self, y, low, high, color, lw, caps=False) -> None:
        lo, hi = self.lo, self.hi
        if not (fmt.is_number(low) and fmt.is_number(high)):
            return
        a, b = max(low, lo), min(high, hi)
        if a > hi or b < lo:
            self._marker(self.z2, self._arrow(a <= hi), 5, hi if a > hi else lo, y, color)
            return
        self.z2.append(("line", [a, b], [y, y], color, lw))
        if low < lo:
            self._marker(self.z2, self._arrow(True), 5, lo, y, color)
        elif caps:
            self._marker(self.z2, "|", 7, a, y, color, lw / 2, clip=True)
        if high > hi:
            self._marker(self.z2, self._arrow(False), 5, hi, y, color)
        elif caps:
            self._marker(self.z2, "|", 7, b, y, color, lw / 2, clip=True)

    def mark(self, y_of: dict[int, int]) -> None:
        """Collect the rows' whiskers, squares and diamonds (matplotlib's insertion order)."""
        lo, hi = self.lo, self.hi
        weights = [r.weight for r in self.p.rows if r.kind == "study" and fmt.is_number(r.weight)]
        w_max = max(weights, default=0.0)
        for r in self.p.rows:
            y = y_of[id(r)]
            if r.kind == "study" and fmt.is_number(r.estimate):
                self._whisker(y, r.low, r.high, INK, 0.9)
                if lo <= r.estimate <= hi:
                    if fmt.is_number(r.weight) and w_max > 0:
                        side = max(2.5, 11.0 * math.sqrt(max(r.weight, 0.0) / w_max))
                    else:
                        side = 4.0
                    self.z3.append(("square", side, r.estimate, y))
            elif r.kind in ("pooled", "summary") and fmt.is_number(r.estimate):
                if r.kind == "summary":
                    self._whisker(y, r.pi_low, r.pi_high, ACCENT, 1.2)
                lo_d = max(r.low, lo) if fmt.is_number(r.low) else r.estimate
                hi_d = min(r.high, hi) if fmt.is_number(r.high) else r.estimate
                est = min(max(r.estimate, lo), hi)
                half = 0.32
                self.z3.append(("diamond", [(lo_d, y), (est, y - half), (hi_d, y),
                                            (est, y + half)]))
                for edge, bound, below in ((lo, r.low, True), (hi, r.high, False)):
                    if fmt.is_number(bound) and ((below and bound < lo)
                                                 or (not below and bound > hi)):
                        self._marker(self.z2, self._arrow(below), 5, edge, y, INK)
            elif r.kind == "pi" and fmt.is_number(r.low):
                self._whisker(y, r.low, r.high, ACCENT, 2.6, caps=True)

    def write(self) -> None:
        """Write the panel as matplotlib writes the Axes (see the class docstring)."""
        c, panel, axis = self.canvas, self.panel, self.p.axis
        frame = Rectangle((0.0, 0.0), 1.0, 1.0, transform=panel.trans_axes)
        clip_box = TransformedBbox(Bbox.unit(), frame.get_transform())
        clip = c.clip_for(clip_box)
        c.open("axes")
        c.open("patch")
        c.path(frame.get_path(), frame.get_transform(), "fill: none; opacity: 0")
        c.close()
        if self.p.band is not None:
            b0, b1 = self.p.band
            band = Rectangle((b0, 0), b1 - b0, 1, transform=panel.xaxis)
            c.open("patch")
            c.path(band.get_path(), band.get_transform(), "fill: #e8e8e8", filled=True,
                   clip=clip)
            c.close()
        if axis.null is not None and self.lo <= axis.null <= self.hi:
            c.open("line2d")
            c.path(Path(np.array([[axis.null, 0.0], [axis.null, 1.0]])), panel.xaxis,
                   f"fill: none; stroke: {MUTED}; stroke-width: 0.8; stroke-linecap: square",
                   clip=clip)
            c.close()
        if self.p.refline is not None:
            c.open("line2d")
            c.path(Path(np.array([[self.p.refline, 0.0], [self.p.refline, 1.0]])),
                   panel.xaxis, f"fill: none; stroke-dasharray: {number(3 * 0.8)},"
                   f"{number(2 * 0.8)}; stroke-dashoffset: 0; stroke: {MUTED}; "
                   "stroke-width: 0.8", clip=clip)
            c.close()
        self._write_axis()
        for item in self.z2:
            self._write_item(item, clip)
        c.open("patch")
        x0, x1 = panel.view.intervalx
        c.path(Path(np.array([[x0, 0.0], [x1, 0.0]])), panel.xaxis,
               f"fill: none; stroke: {MUTED}; stroke-width: 0.6; stroke-linejoin: miter; "
               "stroke-linecap: square")
        c.close()
        for item in self.z3:
            if item[0] == "square":
                _, side, x, y = item
                c.open("line2d")
                c.markers("s", side, [(x, y)], panel.trans_data,
                          f"fill: {INK}; stroke: {INK}; stroke-width: 0.5; "
                          "stroke-linejoin: miter",
                          f"stroke: {INK}; stroke-width: 0.5; stroke-linejoin: miter")
                c.close()
            elif item[0] == "diamond":
                poly = Polygon(item[1], closed=True, transform=panel.trans_data)
                c.open("patch")
                c.path(poly.get_path(), poly.get_transform(),
                       f"fill: {INK}; stroke: {INK}; stroke-width: 0.6; stroke-linejoin: miter",
                       filled=True, clip=clip)
                c.close()
        size = self.font_size - 0.5
        favours = []
        if axis.favours_left:
            favours.append((0.0, "\u2190 " + axis.favours_left, "left"))
        if axis.favours_right:
            favours.append((1.0, axis.favours_right + " \u2192", "right"))
        if favours:
            tr = (blended_transform_factory(panel.trans_axes, panel.trans_axes)
                  + ScaledTranslation(0, -0.37, c.dpi_scale))
            for x, s, ha in favours:
                c.text(s, x, -0.0, tr, prop=_text_font(size, False, False), ha=ha, va="top",
                       color=INK)
        c.close()

    def _write_item(self, item, clip: str) -> None:
        c, panel = self.canvas, self.panel
        c.open("line2d")
        if item[0] == "line":
            _, xs, ys, color, lw = item
            c.path(Path(np.column_stack([xs, ys])), panel.trans_data,
                   f"fill: none; stroke: {color}; stroke-width: {number(lw)}")
        else:
            _, marker, size, x, y, color, edge, mew, clipped = item
            width = "" if mew == 1.0 else f"; stroke-width: {number(mew)}"
            join = "; stroke-linejoin: miter" if marker in "<>" else ""
            c.markers(marker, size, [(x, y)], panel.trans_data,
                      f"fill: {color}; stroke: {edge}{width}{join}",
                      f"stroke: {edge}{width}{join}", clip=clip if clipped else "")
        c.close()

    def _write_axis(self) -> None:
        """The x axis: tick marks, tick labels and the axis label; then the empty y axis."""
        c, panel, axis = self.canvas, self.panel, self.p.axis
        prop = _text_font(self.font_size, False, False)
        c.open("matplotlib.axis")
        label_tr = panel.xaxis + ScaledTranslation(0, -1 * (3.5 + 3 * 1.0) / 72, c.dpi_scale)
        bottoms = []
        for t in self.ticks:
            c.open("xtick")
            c.open("line2d")
            c.markers(TICKDOWN, 3, [(t, 0)], panel.xaxis,
                      f"fill: {MUTED}; stroke: {MUTED}; stroke-width: 0.6",
                      f"stroke: {MUTED}; stroke-width: 0.6")
            c.close()
            bottom = c.text(_tick_label(t, axis.log), t, 0, label_tr, prop=prop, ha="center",
                            va="top", color=INK)
            if bottom is not None:
                bottoms.append(bottom)
            c.close()
        spine = panel.xaxis.transform(np.array(
            [[panel.view.x0, 0.0], [panel.view.x1, 0.0]]))[:, 1].min()
        # the spine's extent includes the tick marks (3 pt), the label sits 2 pt below both
        bottoms.append(spine - 1 * 3 / 72 * DPI)
        y = min(bottoms) - 2 * DPI / 72
        c.text(axis.label, 0.5, y,
               blended_transform_factory(panel.trans_axes, IdentityTransform()), prop=prop,
               ha="center", va="top", color=INK)
        c.close()
        c.open("matplotlib.axis")
        c.close()


# ----------------------------------------------------------------------------- funnel


def funnel_svg(
    fig_id: str,
    title: str,
    yi: Sequence[float],
    sei: Sequence[float],
    *,
    estimate: float,
    axis: Axis,
    filled_yi: Sequence[float] = (),
    filled_sei: Sequence[float] = (),
    adjusted: float | None = None,
) -> str:
    """Contour-enhanced funnel plot (Peters et al. 2008, J Clin Epidemiol 61:991).

    Effects (x) against their standard error (y, zero at the top, as in metafor's
    ``funnel()``). Shaded regions around the null show where a study's two-sided p-value
    would lie between 0.10 and 0.05, 0.05 and 0.01, and below 0.01 (metafor's
    ``funnel(level = c(90, 95, 99), refline = 0)``). The pooled estimate is a solid line with
    its pseudo 95% confidence region (estimate ± 1.96·SE); studies imputed by trim-and-fill
    are drawn as open circles and the adjusted estimate as a dashed line.
    """
    yi = [float(v) for v in yi]
    sei = [float(v) for v in sei]
    all_se = sei + [float(v) for v in filled_sei]
    se_max = max(all_se) * 1.08 if all_se else 1.0
    null = axis.null if axis.null is not None else 0.0
    z90, z95, z99 = (NormalDist().inv_cdf(1 - a / 2) for a in (0.10, 0.05, 0.01))
    xs = yi + [float(v) for v in filled_yi] + [estimate, null]
    lo, hi, ticks = axis_limits(xs, [estimate - z95 * se_max, estimate + z95 * se_max,
                                     null - z99 * se_max, null + z99 * se_max], axis.log)

    c = Canvas(fig_id, 6.4, 4.3)
    # the y limits as matplotlib's set_ylim keeps them (widened when every SE is 0)
    locator = AutoLocator()
    ylim = tuple(sorted(locator.nonsingular(se_max, 0), reverse=bool(se_max > 0)))
    panel = ScaledPanel(c, (0.1, 0.14, 0.62, 0.8), (lo, hi), ylim)
    frame = Rectangle((0.0, 0.0), 1.0, 1.0, transform=panel.trans_axes)
    clip = c.clip_for(TransformedBbox(Bbox.unit(), frame.get_transform()))
    c.open("figure")
    background(c, c.trans_figure)
    c.open("axes")
    background(c, panel.trans_axes)
    # z-order 0: the contours; 1: the pseudo confidence region and the estimates; 1.5: the
    # axes; 2.5: the spines; 3: the studies
    shades = [(z99, "#c6c6c6", "p < 0.01"), (z95, "#dedede", "0.01 < p < 0.05"),
              (z90, "#f0f0f0", "0.05 < p < 0.10")]
    pts = np.array([[lo, se_max], [lo, 0], [hi, 0], [hi, se_max], [hi, se_max], [lo, se_max]],
                   dtype=float)
    c.open("FillBetweenPolyCollection")
    _svgdirect.shape(c, Path(np.concatenate([pts, pts[:1]]), closed=True), panel.trans_data,
                     f"fill: {shades[0][1]}", clip=clip)
    c.close()
    legend_entries = [(_swatch(shades[0][1]), shades[0][2])]
    for (z, _, _), (_, color, lab) in zip(shades, shades[1:] + [(0, "white", "p > 0.10")],
                                          strict=True):
        tri = Polygon(np.column_stack(([null - z * se_max, null, null + z * se_max],
                                       [se_max, 0, se_max])), closed=True,
                      transform=panel.trans_data)
        c.open("patch")
        c.path(tri.get_path(), tri.get_transform(), f"fill: {to_hex(color)}", filled=True,
               clip=clip)
        c.close()
        legend_entries.append((_swatch(to_hex(color)), lab))
    c.open("line2d")
    c.path(Path(np.array([[estimate - z95 * se_max, se_max], [estimate, 0],
                          [estimate + z95 * se_max, se_max]])), panel.trans_data,
           f"fill: none; stroke-dasharray: {number(3 * 0.8)},{number(2 * 0.8)}; "
           f"stroke-dashoffset: 0; stroke: {MUTED}; stroke-width: 0.8", clip=clip)
    c.close()
    pooled = f"fill: none; stroke: {INK}; stroke-width: 0.9; stroke-linecap: square"
    c.open("line2d")
    c.path(Path(np.array([[estimate, 0.0], [estimate, 1.0]])), panel.xaxis, pooled, clip=clip)
    c.close()
    legend_entries.append((_legend_line(pooled), "pooled estimate"))
    if adjusted is not None and len(filled_yi):
        dashed = (f"fill: none; stroke-dasharray: {number(4 * 0.9)},{number(2 * 0.9)}; "
                  f"stroke-dashoffset: 0; stroke: {ACCENT}; stroke-width: 0.9")
        c.open("line2d")
        c.path(Path(np.array([[adjusted, 0.0], [adjusted, 1.0]])), panel.xaxis, dashed,
               clip=clip)
        c.close()
        legend_entries.append((_legend_line(dashed), "trim-and-fill estimate"))
    locs = locator.tick_values(*ylim)
    formatter = ScalarFormatter()
    formatter.create_dummy_axis()
    formatter.axis.set_view_interval(*ylim)
    labels = formatter.format_ticks(locs)
    yticks = [(float(t), lab) for t, lab in zip(locs, labels, strict=True)
              if _interval_contains_close(sorted(ylim), t)]
    _xy_axes(c, panel, [(t, _tick_label(t, axis.log)) for t in ticks], yticks, axis.label,
             "Standard error", y_offset=formatter.get_offset())
    spine = f"fill: none; stroke: {MUTED}; stroke-width: 0.8; stroke-linejoin: miter; " \
        "stroke-linecap: square"
    c.open("patch")
    c.path(Path(np.array([[0.0, ylim[0]], [0.0, ylim[1]]])), panel.yaxis, spine)
    c.close()
    c.open("patch")
    c.path(Path(np.array([[lo, 0.0], [hi, 0.0]])), panel.xaxis, spine)
    c.close()
    studies = [(yi, sei, INK, "#ffffff", 0.6, "study")]
    if len(filled_yi):
        studies.append((list(filled_yi), list(filled_sei), "#ffffff", ACCENT, 1.2,
                        "imputed (trim-and-fill)"))
    for x, y, fill, edge, mew, lab in studies:
        stroke = f"stroke: {edge}; stroke-width: {number(mew)}"
        c.open("line2d")
        c.markers("o", 5.5, np.column_stack([np.asarray(x, dtype=float),
                                             np.asarray(y, dtype=float)]),
                  panel.trans_data, f"fill: {fill}; {stroke}", stroke, clip=clip)
        c.close()
        legend_entries.append((_legend_marker("o", 5.5, f"fill: {fill}; {stroke}", stroke),
                               lab))
    _svgdirect.anchored_legend(c, legend_entries, prop=_text_font(FONT_SIZE - 0.5, False, False),
                      loc="upper left", handlelength=1.6,
                      anchor=TransformedBbox(Bbox.from_bounds(1.02, 1.0, 0, 0),
                                             BboxTransformTo(panel.bbox)))
    return c.fragment(title)


def _legend_patch(style: str):
    """A legend handle: a filled swatch filling the handle box."""
    def draw(c, trans, xdescent, ydescent, width, height):
        rect = Rectangle((-xdescent, -ydescent), width, height, transform=trans)
        c.open("patch")
        c.path(rect.get_path(), rect.get_transform(), style, filled=True)
        c.close()
    return draw


def _swatch(fill: str):
    """A shade's legend swatch, with a thin outline so that the white one stays visible."""
    return _legend_patch(f"fill: {fill}; stroke: {MUTED}; stroke-width: 0.5; "
                         "stroke-linejoin: miter")


def _legend_line(style: str):
    """A legend handle: a line across the handle box (one legend point, matplotlib's default)."""
    def draw(c, trans, xdescent, ydescent, width, height):
        xs = np.linspace(-xdescent, -xdescent + width, 3)
        c.open("line2d")
        c.path(Path(np.column_stack([xs, np.full_like(xs, (height - ydescent) / 2)])), trans,
               style)
        c.close()
    return draw


def _legend_marker(marker: str, size: float, style: str, stroke: str):
    """A legend handle: one marker in the middle of the handle box."""
    def draw(c, trans, xdescent, ydescent, width, height):
        x = np.linspace(-xdescent, -xdescent + width, 3)[1]
        c.open("line2d")
        c.markers(marker, size, [(x, (height - ydescent) / 2)], trans, style, stroke)
        c.close()
    return draw


# ----------------------------------------------------------------------------- time course

#: Ticks of the time axis (days since the first dose) and their labels.
_DAY_TICKS = ((1 / 24, "1 h"), (4 / 24, "4 h"), (1.0, "1 day"), (3.0, "3 days"),
              (7.0, "1 week"), (14.0, "2 weeks"), (28.0, "4 weeks"), (56.0, "8 weeks"),
              (182.0, "6 months"), (365.0, "1 year"))


@dataclass(frozen=True)
class TimePoint:
    """One time point of a time-course figure (effects on the analysis scale)."""

    day: float
    label: str
    k: int
    estimate: float
    low: float | None
    high: float | None


def timecourse_svg(fig_id: str, title: str, points: Sequence[TimePoint], *, axis: Axis,
                   favours_low: str | None = None, favours_high: str | None = None,
                   model: Sequence[tuple[float, float, float, float]] = ()) -> str:
    """The effect over time: one marker with its CI per time point on a log-day axis.

    A pooled time point (k ≥ 2) is a diamond, a single trial's result a square; the
    number of trials stands above each marker; the dashed line is no effect.
    ``favours_low`` / ``favours_high`` label the halves of the effect axis (below and
    above the null line). ``model`` draws a fitted curve with its confidence band, as
    ``(day, estimate, ci_low, ci_high)`` tuples.
    """
    days = [p.day for p in points] + [m[0] for m in model]
    lo_day, hi_day = min(days) / 1.8, max(days) * 1.8
    ys = [v for p in points for v in (p.estimate, p.low, p.high) if v is not None]
    ys += [v for m in model for v in m[1:]]
    null = axis.null if axis.null is not None else 0.0
    span = (max(ys + [null]) - min(ys + [null])) or 1.0
    # the null line never sits on the frame: both "favours" halves stay visible
    lo, hi, ticks = axis_limits(ys + [null - 0.12 * span, null + 0.12 * span], [], axis.log)

    c = Canvas(fig_id, 9.0, 3.6)
    panel = ScaledPanel(c, (0.09, 0.17, 0.88, 0.7), (lo_day, hi_day), (lo, hi), xlog=True)
    frame = Rectangle((0.0, 0.0), 1.0, 1.0, transform=panel.trans_axes)
    clip = c.clip_for(TransformedBbox(Bbox.unit(), frame.get_transform()))
    small = _text_font(FONT_SIZE - 0.5, False, False)
    c.open("figure")
    background(c, c.trans_figure)
    c.open("axes")
    background(c, panel.trans_axes)
    # z-order 0: the null line; 1: the model's band; 1.5: the axes; 2: the model's curve
    c.open("line2d")
    _svgdirect.path(c, Path(np.array([[0.0, null], [1.0, null]])), panel.yaxis,
                    f"fill: none; stroke-dasharray: {number(4 * 0.9)},{number(3 * 0.9)}; "
                    f"stroke-dashoffset: 0; stroke: {GRID}; stroke-width: 0.9", clip=clip)
    c.close()
    if model:
        md = np.array([m[0] for m in model], dtype=float)
        f1 = np.array([m[2] for m in model], dtype=float)
        f2 = np.array([m[3] for m in model], dtype=float)
        n = len(md)
        pts = np.empty((2 * n + 2, 2))
        pts[0, :] = md[0], f2[0]
        pts[1:n + 1, 0], pts[1:n + 1, 1] = md, f1
        pts[n + 1, :] = md[-1], f2[-1]
        pts[n + 2:, 0], pts[n + 2:, 1] = md[::-1], f2[::-1]
        c.open("FillBetweenPolyCollection")
        _svgdirect.shape(c, Path(np.concatenate([pts, pts[:1]]), closed=True),
                         panel.trans_data, "fill: #e4e4e4", clip=clip)
        c.close()
    _xy_axes(c, panel, [(d, lab) for d, lab in _DAY_TICKS if lo_day <= d <= hi_day],
             [(t, _tick_label(t, axis.log)) for t in ticks],
             "Time since the first dose (log scale)", axis.label)
    if model:
        c.open("line2d")
        _svgdirect.path(c, Path(np.column_stack([md, [m[1] for m in model]])),
                        panel.trans_data, f"fill: none; stroke: {MUTED}; stroke-linecap: square",
                        clip=clip)
        c.close()
    spine = f"fill: none; stroke: {MUTED}; stroke-width: 0.8; stroke-linejoin: miter; " \
        "stroke-linecap: square"
    c.open("patch")
    _svgdirect.path(c, Path(np.array([[0.0, lo], [0.0, hi]])), panel.yaxis, spine)
    c.close()
    c.open("patch")
    _svgdirect.path(c, Path(np.array([[lo_day, 0.0], [hi_day, 0.0]])), panel.xaxis, spine)
    c.close()
    # z-order 3: intervals and the "k = " annotations; 4: markers; 5: "favours" and legend
    for p in points:
        if p.low is not None and p.high is not None:
            c.open("line2d")
            _svgdirect.path(c, Path(np.array([[p.day, max(p.low, lo)],
                                              [p.day, min(p.high, hi)]])), panel.trans_data,
                            f"fill: none; stroke: {INK}; stroke-width: 1.1; "
                            "stroke-linecap: square", clip=clip)
            c.close()
        top = min(p.high if p.high is not None else p.estimate, hi)
        xy = panel.trans_data.transform((p.day, top))
        if panel.contains(xy):
            _svgdirect.text(c, f"k = {p.k}", 0, 4, Affine2D().scale(DPI / 72).translate(*xy),
                            prop=small, ha="center", va="bottom", color=MUTED)
    for p in points:
        single = p.k == 1
        stroke = "stroke: #ffffff; stroke-width: 0.6; stroke-linejoin: miter"
        c.open("line2d")
        c.markers("s" if single else "D", 6 if single else 7, [(p.day, p.estimate)],
                  panel.trans_data, f"fill: {INK if single else ACCENT}; {stroke}", stroke,
                  clip=clip)
        c.close()
    for s, y, va in ((favours_low and f"↓ {favours_low}", 0.02, "bottom"),
                     (favours_high and f"↑ {favours_high}", 0.98, "top")):
        if s:
            _svgdirect.text(c, s, 0.01, y, panel.trans_axes, prop=small, ha="left", va=va,
                            color=MUTED, box="#ffffff", box_pad=1.5)

    stroke = "stroke: #ffffff; stroke-linejoin: miter"
    entries = [(_legend_marker("D", 6, f"fill: {ACCENT}; {stroke}", stroke), "pooled (k ≥ 2)"),
               (_legend_marker("s", 5, f"fill: {INK}; {stroke}", stroke), "single trial")]
    if model:
        entries.append((_legend_patch("fill: #e4e4e4"), "multilevel model, 95% CI"))
    _svgdirect.anchored_legend(c, entries, prop=small, loc="lower right", ncols=3,
                      anchor=TransformedBbox(Bbox.from_bounds(1.0, 1.02, 0, 0),
                                             BboxTransformTo(panel.bbox)))
    return c.fragment(title)


def _xy_axes(c: Canvas, panel: ScaledPanel, xticks: Sequence[tuple[float, str]],
             yticks: Sequence[tuple[float, str]], xlabel: str, ylabel: str,
             y_offset: str = "") -> None:
    """Both axes of a plot with a left and a bottom spine, as matplotlib's Axes draws them.

    Ticks are outward (3.5 pt, x ticks in the muted colour, y ticks black), tick labels in
    the figures' font; the x label sits under the lowest tick label, the y label (rotated)
    left of the widest, 4 pt away; ``y_offset`` is the y axis' offset text (a scale factor
    such as "1e−5" that matplotlib's formatter writes above the axis).
    """
    prop = _text_font(FONT_SIZE, False, False)
    pad = -1 * (3.5 + 3.5 * 1.0) / 72
    c.open("matplotlib.axis")
    label_tr = panel.xaxis + ScaledTranslation(0, pad, c.dpi_scale)
    boxes = []
    for x, lab in xticks:
        c.open("xtick")
        c.open("line2d")
        c.markers(TICKDOWN, 3.5, [(x, 0)], panel.xaxis,
                  f"fill: {MUTED}; stroke: {MUTED}; stroke-width: 0.8",
                  f"stroke: {MUTED}; stroke-width: 0.8")
        c.close()
        boxes.append(_svgdirect.text(c, lab, x, 0, label_tr, prop=prop, ha="center",
                                     va="top", color=INK))
        c.close()
    spine = Path(np.array([[panel.view.intervalx[0], 0.0],
                                    [panel.view.intervalx[1], 0.0]])).get_extents(panel.xaxis).frozen()
    if xticks:
        spine.y0 = spine.y0 - 1 * 3.5 / 72 * DPI
    bottom = Bbox.union([b for b in boxes if b is not None] + [spine]).y0
    _svgdirect.text(c, xlabel, 0.5, bottom - 4.0 * DPI / 72,
                    blended_transform_factory(panel.trans_axes, IdentityTransform()),
                    prop=prop, ha="center", va="top", color=INK)
    c.close()
    c.open("matplotlib.axis")
    label_tr = panel.yaxis + ScaledTranslation(pad, 0, c.dpi_scale)
    boxes = []
    for y, lab in yticks:
        c.open("ytick")
        c.open("line2d")
        c.markers(TICKLEFT, 3.5, [(0, y)], panel.yaxis, "stroke: #000000; stroke-width: 0.8",
                  "stroke: #000000; stroke-width: 0.8")
        c.close()
        boxes.append(_svgdirect.text(c, lab, 0, y, label_tr, prop=prop, ha="right",
                                     va="center_baseline"))
        c.close()
    lo, hi = panel.view.intervaly
    spine = Path(np.array([[0.0, lo], [0.0, hi]])).get_extents(panel.yaxis).frozen()
    if yticks:
        spine.x0 = spine.x0 - 1 * 3.5 / 72 * DPI
    left = Bbox.union([b for b in boxes if b is not None] + [spine]).x0
    _svgdirect.text(c, ylabel, left - 4.0 * DPI / 72, 0.5,
                    blended_transform_factory(IdentityTransform(), panel.trans_axes),
                    prop=prop, ha="center", va="bottom", color=INK, angle=90, anchor=True)
    _svgdirect.text(c, y_offset, 0, panel.bbox.ymax + 3 * DPI / 72,
                    blended_transform_factory(panel.trans_axes, IdentityTransform()),
                    prop=prop, ha="left", va="baseline")
    c.close()
