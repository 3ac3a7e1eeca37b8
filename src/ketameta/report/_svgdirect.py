"""An SVG writer for figures made of lines, markers, polygons and single-line text.

The forest plots are most of a page's figures and need nothing of matplotlib but lines,
markers, filled polygons and text placed at computed positions. Building a matplotlib
figure for each (an Axes with its ticks, a Text object per cell) and letting the SVG backend
walk it costs far more than writing the few hundred elements directly, which is what
:class:`Canvas` does.

It writes exactly what matplotlib's SVG backend (with ``svg.fonttype = "none"``) writes for
the same artists, after :func:`ketameta.report.plots._svg_fragment` has re-serialised it:
the same element tree and group ids (``figure_1``, ``axes_1``, ``line2d_7``, ...), marker
definitions and clip paths named by the same salted hashes, coordinates computed through
the same matplotlib transforms and formatted by matplotlib's own path writer, and text
laid out from the same font metrics (:mod:`ketameta.report._svg`). A page drawn this way is
byte-identical to the page drawn through matplotlib's Artists, which the tests check
figure by figure against that rendering.

Conventions: coordinates passed in are display points from the bottom left (matplotlib's
display space at 72 dpi) unless a transform is given; every id is prefixed with the
figure's id; text and attribute values are escaped here, and URLs must not be
``javascript:``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from matplotlib import _path
from matplotlib.font_manager import FontProperties, weight_dict
from matplotlib.markers import MarkerStyle
from matplotlib.path import Path
from matplotlib.transforms import (
    Affine2D,
    Bbox,
    BboxTransformFrom,
    BboxTransformTo,
    IdentityTransform,
    TransformedBbox,
    TransformWrapper,
    blended_transform_factory,
)

from . import formatting as fmt
from ._svg import DPI, line_metrics, text_extent

_CODES = [b"M", b"L", b"Q", b"C", b"z"]
_ANCHOR = {"left": "start", "right": "end", "center": "middle"}


def number(x: float) -> str:
    """A coordinate as matplotlib's SVG backend prints it (``%f``, trailing zeros cut)."""
    return f"{x:f}".rstrip("0").rstrip(".")


def _escape_text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attr(s: str) -> str:
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("\r", "&#13;").replace("\n", "&#10;")
            .replace("\t", "&#09;"))


class Panel:
    """The transforms of one axes: ``rect`` in figure fractions, x and y view limits."""

    def __init__(self, canvas: Canvas, rect: tuple[float, float, float, float],
                 xlim: tuple[float, float], ylim: tuple[float, float]) -> None:
        self.bbox = TransformedBbox(Bbox.from_bounds(*rect), canvas.trans_figure)
        self.trans_axes = BboxTransformTo(self.bbox)
        self.view = Bbox([[xlim[0], ylim[0]], [xlim[1], ylim[1]]])
        scale = TransformWrapper(IdentityTransform())
        limits = BboxTransformFrom(TransformedBbox(self.view, scale))
        self.trans_data = scale + (limits + self.trans_axes)
        self.xaxis = blended_transform_factory(self.trans_data, self.trans_axes)


class Canvas:
    """One figure being written: groups, paths, markers and text, then :meth:`fragment`."""

    def __init__(self, fig_id: str, width: float, height: float) -> None:
        self.fig_id = fig_id
        self.salt = f"ketameta-{fig_id}"
        self.size = np.array([width, height])
        self.width, self.height = self.size * DPI
        self.dpi_scale = Affine2D().scale(DPI)
        self.trans_figure = BboxTransformTo(
            TransformedBbox(Bbox.from_bounds(0, 0, width, height), self.dpi_scale))
        self._flip = Affine2D().scale(1.0, -1.0).translate(0.0, self.height)
        self._out: list[str] = []
        self._depth = 1
        self._counts: dict[str, int] = {}
        self._open: list[int] = []
        self._markers: dict[tuple[str, str], str] = {}
        self._clips: dict[tuple, str] = {}

    # ------------------------------------------------------------------ structure

    def _line(self, text: str) -> None:
        self._out.append("\n" + " " * self._depth + text)

    def _id(self, kind: str, content: object) -> str:
        digest = hashlib.sha256(self.salt.encode("utf8"))
        digest.update(str(content).encode("utf8"))
        return f"{kind}{digest.hexdigest()[:10]}"

    def open(self, name: str) -> None:
        """Open a group numbered as the backend numbers them (``line2d_3``)."""
        n = self._counts[name] = self._counts.get(name, 0) + 1
        self._start(f'g id="{self.fig_id}-{name}_{n}"')

    def _start(self, tag: str) -> None:
        self._line(f"<{tag}>")
        self._open.append(len(self._out) - 1)
        self._depth += 1

    def close(self) -> None:
        self._depth -= 1
        start = self._open.pop()
        if start == len(self._out) - 1:  # nothing inside: <g ... />
            self._out[start] = self._out[start][:-1] + " />"
        else:
            tag = self._out[start].lstrip()[1:].split(" ", 1)[0].rstrip(">")
            self._line(f"</{tag}>")

    def clip_for(self, bbox: TransformedBbox) -> str:
        """The clip-path attribute of a clip rectangle (the axes box), defined at the end."""
        x, y, w, h = bbox.bounds
        y = self.height - (y + h)
        key = (x, y, w, h)
        oid = self._clips.get(key)
        if oid is None:
            oid = self._clips[key] = self._id("p", key)
        return f' clip-path="url(#{self.fig_id}-{oid})"'

    # ------------------------------------------------------------------ primitives

    def _convert(self, path: Path, transform, clip: bool) -> str:
        box = (0.0, 0.0, self.width, self.height) if clip else None
        raw = _path.convert_to_string(path, transform + self._flip, box, False, None, 6,
                                      _CODES, False).decode("ascii")
        return raw

    def path(self, path: Path, transform, style: str, *, filled: bool = False,
             clip: str = "") -> None:
        """One ``<path>`` (a line, or a filled shape when ``filled``) in the open group."""
        d = self._convert(path, transform, clip=not filled).replace("\n", " ")
        self._line(f'<path d="{d}"{clip} style="{style}" />')

    def markers(self, marker: str, size: float, xy: Sequence[tuple[float, float]], transform,
                style: str, stroke_style: str, clip: str = "") -> None:
        """Markers at ``xy`` (a defined path and one ``<use>`` per point) in the open group."""
        d = _marker_path(marker, size)
        key = (d, style)
        oid = self._markers.get(key)
        if oid is None:
            oid = self._markers[key] = self._id("m", key)
            self._start("defs")
            self._line(f'<path id="{self.fig_id}-{oid}" d="{d.replace(chr(10), " ")}" '
                       f'style="{stroke_style}" />')
            self.close()
        self._start(f"g{clip}")
        points = (transform + self._flip).transform(np.asarray(xy, dtype=float))
        for x, y in points:
            self._line(f'<use xlink:href="#{self.fig_id}-{oid}" x="{number(x)}" '
                       f'y="{number(y)}" style="{style}" />')
        self.close()

    def text(self, s: str, x: float, y: float, transform, *, prop: FontProperties,
             ha: str = "left", va: str = "baseline", color: str = "#000000",
             url: str | None = None) -> float | None:
        """A single line of text placed as matplotlib's ``Text`` places it (rotation 0).

        Returns the bottom of its box in display points (an axis label goes under the tick
        labels), or None for an empty string, which draws nothing.
        """
        if s == "":
            return None
        posx, posy = transform.transform((x, y))
        bottom, baseline_y = _layout(s, prop, va, posy)
        self.open("text")
        if url is not None:
            if url.strip().lower().startswith("javascript:"):
                raise ValueError("refusing to inline SVG with a javascript: link")
            self._start(f'a xlink:href="{_escape_attr(url)}" target="_blank"')
        # the backend's arithmetic: the anchor's y, moved onto the baseline it was given
        ay = self.height - posy
        ay = ay + ((self.height - baseline_y) - ay)
        xs, ys = number(posx), number(ay)
        style = _font_css(prop) + f"; text-anchor: {_ANCHOR[ha]}"
        if color != "#000000":
            style += f"; fill: {color}"
        self._line(f'<text style="{style}" x="{xs}" y="{ys}" '
                   f'transform="rotate(-0 {xs} {ys})">{_escape_text(fmt.plain(s))}</text>')
        if url is not None:
            self.close()
        self.close()
        return bottom

    # ------------------------------------------------------------------ output

    def fragment(self, title: str) -> str:
        """The finished ``<svg>`` element with its ``<title>``, ids prefixed."""
        w, h = number(self.width), number(self.height)
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" '
                f'xmlns:xlink="http://www.w3.org/1999/xlink" width="{w}pt" height="{h}pt" '
                f'viewBox="0 0 {w} {h}" version="1.1" role="img" class="figure" '
                f'id="{self.fig_id}">\n <title>{_escape_text(fmt.plain(title))}</title><defs>\n'
                '  <style type="text/css">*{stroke-linejoin: round; stroke-linecap: butt}'
                "</style>\n </defs>")
        while self._open:
            self.close()
        tail = []
        if self._clips:
            tail.append("\n <defs>")
            for (x, y, cw, ch), oid in self._clips.items():
                tail.append(f'\n  <clipPath id="{self.fig_id}-{oid}">\n   <rect x="{number(x)}" '
                            f'y="{number(y)}" width="{number(cw)}" height="{number(ch)}" />'
                            "\n  </clipPath>")
            tail.append("\n </defs>")
        return head + "".join(self._out) + "".join(tail) + "\n</svg>"


# ---------------------------------------------------------------------- helpers

_MARKER_PATHS: dict[tuple[str, float], str] = {}
_FLIP_Y = Affine2D().scale(1.0, -1.0)


def _marker_path(marker: str, size: float) -> str:
    """The path data of a marker of ``size`` points, as the backend defines it."""
    key = (marker, size)
    found = _MARKER_PATHS.get(key)
    if found is None:
        style = MarkerStyle(marker)
        trans = style.get_transform().scale(size)
        found = _path.convert_to_string(style.get_path(), trans + _FLIP_Y, None, False, None,
                                        6, _CODES, False).decode("ascii")
        _MARKER_PATHS[key] = found
    return found


def _font_css(prop: FontProperties) -> str:
    parts = []
    if prop.get_style() != "normal":
        parts.append(f"font-style: {prop.get_style()}")
    weight = prop.get_weight()
    weight = weight_dict.get(weight, weight)
    if weight != 400:
        parts.append(f"font-weight: {weight}")
    parts.append(f"font-size: {number(prop.get_size())}px")
    parts.append("font-family: " + ", ".join(repr(f) for f in prop.get_family()))
    return "; ".join(parts)


def _layout(s: str, prop: FontProperties, va: str, posy: float) -> tuple[float, float]:
    """Bottom of the text box and the baseline, in display points (one line, no rotation).

    matplotlib's ``Text._get_layout`` for one line: ascent and descent are at least the
    font's (so that every line has the same height), and ``va`` picks which height of the
    box sits at the anchor; the operations are those of matplotlib, in its order, so that
    the numbers agree to the last bit.
    """
    min_ascent, min_descent, _ = line_metrics(prop)
    _, h, d = text_extent(s, prop)
    a = max(h - d, min_ascent)
    d = max(d, min_descent)
    ymin = -a - d
    if va == "bottom":
        offset = ymin
    elif va == "top":
        offset = 0
    elif va == "center":
        offset = (ymin + 0) / 2
    elif va == "baseline":
        offset = ymin + d
    else:  # center_baseline
        offset = ymin + (0 - ymin) - a / 2
    return (ymin - offset) + posy, (-a - offset) + posy


# ---------------------------------------------------------------------- axes furniture
#
# Ticks chosen, limits scaled, text rotated, images resampled, meshes rasterised and legends
# packed as a matplotlib Axes does it, for the figures that need more than the forest plot's
# hand-placed marks (the specification curve and the GOSH plot). Each function names the
# matplotlib code it follows; the operations are matplotlib's, in its order, so that the
# numbers agree to the last bit. They assume matplotlib's default rc for what the figures'
# rc does not set (tick sizes and pads, label pad, margins, legend spacing).

_TICK_SIZE = 3.5  # points: rcParams "xtick.major.size" and "ytick.major.size"
_TICK_PAD = 3.5  # points between a tick and its label
_TICK_WIDTH = 0.8
_LABEL_PAD = 4.0  # points between the tick labels and the axis label


def svg_style(face: str | None, edge: str | None = None, lw: float = 0.0, *,
              face_alpha: float = 1.0, join: str = "round", cap: str = "butt") -> str:
    """The ``style`` of a path as the backend writes it (``RendererSVG._get_style_dict``).

    A black face is left out (SVG's default), no face is ``fill: none``; the stroke is
    written only for a non-zero line width, its width only when it is not 1.
    """
    parts = []
    if face is None:
        parts.append("fill: none")
    else:
        if face != "#000000":
            parts.append(f"fill: {face}")
        if face_alpha != 1.0:
            parts.append(f"fill-opacity: {number(face_alpha)}")
    if lw:
        parts.append(f"stroke: {edge}")
        if lw != 1.0:
            parts.append(f"stroke-width: {number(lw)}")
        if join != "round":
            parts.append(f"stroke-linejoin: {join}")
        if cap != "butt":
            parts.append(f"stroke-linecap: {cap}")
    return "; ".join(parts)


def _stroke_only(style: str) -> str:
    return "; ".join(p for p in style.split("; ") if p.startswith("stroke"))


def autoscale(values, margin: float = 0.05) -> tuple[float, float]:
    """View limits of a linear axis autoscaled to ``values`` (``Axes.autoscale_view``).

    The data interval of the finite values, made non-singular, widened by ``margin`` of
    its length on each side (``axes.ymargin``), made non-singular again by the locator
    (``axes.autolimit_mode = "data"``).
    """
    from matplotlib import ticker

    locator = ticker.AutoLocator()
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    x0, x1 = (float(v.min()), float(v.max())) if v.size else (-np.inf, np.inf)
    x0, x1 = locator.nonsingular(x0, x1)
    x0t, x1t = IdentityTransform().transform([x0, x1])
    delta = (x1t - x0t) * margin
    if not np.isfinite(delta):
        delta = 0
    x0, x1 = IdentityTransform().transform([x0t - delta, x1t + delta])
    return locator.view_limits(x0, x1)


def auto_ticks(panel: Panel, canvas: Canvas, axis: str, font_size: float
               ) -> tuple[list[float], list[str], str]:
    """Ticks in view and their labels on a linear axis: ``AutoLocator`` and ``ScalarFormatter``.

    The number of bins follows the axis' length as matplotlib's ``get_tick_space`` counts
    it (tick labels ``font_size`` points high, spaced two heights apart on a y axis and
    three widths on an x axis). Labels are formatted over every located tick (in view or
    not), as the axis does, so that they share their number of decimals. Also returns the
    offset or power of ten the formatter puts beside the axis ("" for none;
    :func:`offset_text` draws it).
    """
    from matplotlib import ticker

    ends = Bbox.unit().transformed(panel.trans_axes - canvas.dpi_scale)
    if axis == "x":
        lo, hi = panel.view.intervalx
        length, size = ends.width * 72, font_size * 3
    else:
        lo, hi = panel.view.intervaly
        length, size = ends.height * 72, font_size * 2
    space = int(np.floor(length / size))

    class _Axis(ticker._DummyAxis):
        def get_tick_space(self) -> int:
            return space

    dummy = _Axis()
    dummy.set_view_interval(lo, hi)
    dummy.set_data_interval(lo, hi)
    locator = ticker.AutoLocator()
    locator.set_axis(dummy)
    formatter = ticker.ScalarFormatter()
    formatter.set_axis(dummy)
    locs = list(locator())
    labels = formatter.format_ticks(locs)
    a, b = sorted((lo, hi))
    tol = 1e-10 * (b - a)
    kept = [(t, s) for t, s in zip(locs, labels, strict=True) if a - tol <= t <= b + tol]
    return [t for t, _ in kept], [s for _, s in kept], formatter.get_offset()


def text_layout(s: str, prop: FontProperties, ha: str, va: str, angle: float = 0.0,
                anchor: bool = False) -> tuple[tuple[float, float, float, float],
                                              tuple[float, float]]:
    """The box and line position of one line of text around its anchor (``Text._get_layout``).

    Returns the rotated, axis-aligned box ``(xmin, ymin, width, height)`` and the
    position of the line's start, both relative to the anchor in display points;
    ``anchor`` is ``rotation_mode="anchor"`` (align first, then rotate).
    """
    import math

    min_ascent, min_descent, _ = line_metrics(prop)
    w, h, d = text_extent(s, prop) if s else (0, 0, 0)
    # one line: no line gap; ascent and descent at least the font's
    a = max(h - d, min_ascent)
    d = max(d, min_descent)
    baseline = a
    ys0 = -a  # the line's baseline below the top of the box
    descent = d
    width = w
    xmin, xmax, ymax = 0, width, 0
    ymin = ys0 - descent
    corners_horiz = [(xmin, ymin), (xmin, ymax), (xmax, ymax), (xmax, ymin)]

    def rotate(x, y):
        if angle == 0:
            return (x, y)
        rad = math.radians(angle)
        cos, sin = math.cos(rad), math.sin(rad)
        return (cos * x - sin * y, sin * x + cos * y)

    xs, ys = zip(*[rotate(x, y) for x, y in corners_horiz], strict=True)
    xmin, xmax = min(xs), max(xs)
    ymin, ymax = min(ys), max(ys)
    width_rot = xmax - xmin
    height_rot = ymax - ymin
    if not anchor:
        offsetx = (xmin if ha == "left" else xmax if ha == "right" else (xmin + xmax) / 2)
        offsety = (ymin if va == "bottom" else ymax if va == "top" else
                   (ymin + ymax) / 2 if va == "center" else
                   ymin + descent if va == "baseline" else
                   ymin + height_rot - baseline / 2)
    else:
        xmin1, ymin1 = corners_horiz[0]
        xmax1, ymax1 = corners_horiz[2]
        offsetx = (xmin1 if ha == "left" else xmax1 if ha == "right" else
                   (xmin1 + xmax1) / 2)
        offsety = (ymin1 if va == "bottom" else ymax1 if va == "top" else
                   (ymin1 + ymax1) / 2 if va == "center" else
                   ymax1 - baseline if va == "baseline" else
                   ymax1 - baseline / 2)
        offsetx, offsety = rotate(offsetx, offsety)
    xmin -= offsetx
    ymin -= offsety
    lx, ly = rotate(0.0, ys0)
    return (xmin, ymin, width_rot, height_rot), (lx - offsetx, ly - offsety)


def draw_text(canvas: Canvas, s: str, posx: float, posy: float, prop: FontProperties, *,
              ha: str = "left", va: str = "baseline", color: str = "#000000",
              angle: float = 0.0, anchor: bool = False) -> Bbox | None:
    """One line of text anchored at display point ``(posx, posy)``, in its own group.

    Placed as ``Text.draw`` and the backend's ``_draw_text_as_text`` place it (the anchor
    moved along the text's vertical direction onto the baseline, then rotated about it).
    Returns the text's box in display points (``Text.get_window_extent``), or None for an
    empty string, which draws nothing.
    """
    if s == "":
        return None
    (bx, by, bw, bh), (lx, ly) = text_layout(s, prop, ha, va, angle, anchor)
    canvas.open("text")
    x = lx + posx
    y = canvas.height - (ly + posy)
    ax, ay = posx, canvas.height - posy
    rad = np.deg2rad(angle)
    dir_vert = np.array([np.sin(rad), np.cos(rad)])
    v_offset = np.dot(dir_vert, [(x - ax), (y - ay)])
    ax = ax + v_offset * dir_vert[0]
    ay = ay + v_offset * dir_vert[1]
    xs, ys = number(ax), number(ay)
    style = _font_css(prop) + f"; text-anchor: {_ANCHOR[ha]}"
    if color != "#000000":
        style += f"; fill: {color}"
    canvas._line(f'<text style="{style}" x="{xs}" y="{ys}" '
                 f'transform="rotate({number(-angle)} {xs} {ys})">'
                 f"{_escape_text(fmt.plain(s))}</text>")
    canvas.close()
    return Bbox.from_bounds(bx + posx, by + posy, bw, bh)


def axis_ticks(canvas: Canvas, panel: Panel, axis: str, ticks: Sequence[float],
               labels: Sequence[str], prop: FontProperties, tick_color: str,
               label_color: str, right: bool = False) -> list[Bbox]:
    """The ticks of the bottom (``axis="x"``) or left axis with their labels (``Tick.draw``).

    Each tick is a group holding its mark (a marker pointing out of the axes) and its
    label; returns the labels' boxes, from which the axis label keeps its distance.
    ``right`` puts a y axis' ticks and labels on the right (a colour bar's).
    """
    from matplotlib.markers import TICKDOWN, TICKLEFT, TICKRIGHT

    pad = (_TICK_PAD + _TICK_SIZE) / 72
    if axis == "x":
        trans = panel.xaxis
        label_tr = trans + _scaled(0, -pad, canvas)
        marker, ha, va, kind = TICKDOWN, "center", "top", "xtick"
    elif right:
        trans = blended_transform_factory(panel.trans_axes, panel.trans_data)
        label_tr = trans + _scaled(pad, 0, canvas)
        marker, ha, va, kind = TICKRIGHT, "left", "center_baseline", "ytick"
    else:
        trans = blended_transform_factory(panel.trans_axes, panel.trans_data)
        label_tr = trans + _scaled(-pad, 0, canvas)
        marker, ha, va, kind = TICKLEFT, "right", "center_baseline", "ytick"
    style = svg_style(tick_color, tick_color, _TICK_WIDTH)
    boxes = []
    for t, s in zip(ticks, labels, strict=True):
        xy = (t, 0.0) if axis == "x" else (1.0 if right else 0.0, t)
        canvas.open(kind)
        canvas.open("line2d")
        canvas.markers(marker, _TICK_SIZE, [xy], trans, style, _stroke_only(style))
        canvas.close()
        posx, posy = label_tr.transform(xy)
        box = draw_text(canvas, s, posx, posy, prop, ha=ha, va=va, color=label_color)
        if box is not None:
            boxes.append(box)
        canvas.close()
    return boxes


def _scaled(x: float, y: float, canvas: Canvas):
    from matplotlib.transforms import ScaledTranslation

    return ScaledTranslation(x, y, canvas.dpi_scale)


def axis_label(canvas: Canvas, panel: Panel, axis: str, s: str, prop: FontProperties,
               color: str, boxes: Sequence[Bbox], ticked: bool, right: bool = False) -> None:
    """The label of the bottom or left axis (``XAxis/YAxis._update_label_position``).

    It keeps ``axes.labelpad`` (4 pt) from the union of the tick labels' boxes and the
    spine, which reaches out by the tick length when the axis has ticks. ``right``: the
    label of a y axis on the right, reading upwards like the left one.
    """
    if right:
        out = 1 * _TICK_SIZE / 72 * DPI if ticked else 0.0
        trans = blended_transform_factory(panel.trans_axes, panel.trans_data)
        spine = trans.transform(np.array([[1.0, panel.view.y0], [1.0, panel.view.y1]]))
        x1 = max([spine[:, 0].max() + out] + [b.x1 for b in boxes])
        y = panel.trans_axes.transform((0.0, 0.5))[1]
        draw_text(canvas, s, x1 + _LABEL_PAD * DPI / 72, y, prop, ha="center", va="top",
                  color=color, angle=90.0, anchor=True)
        return
    out = 1 * _TICK_SIZE / 72 * DPI if ticked else 0.0
    if axis == "x":
        spine = panel.xaxis.transform(np.array([[panel.view.x0, 0.0],
                                                [panel.view.x1, 0.0]]))
        y0 = min([spine[:, 1].min() - out] + [b.y0 for b in boxes])
        x = panel.trans_axes.transform((0.5, 0.0))[0]
        draw_text(canvas, s, x, y0 - _LABEL_PAD * DPI / 72, prop, ha="center", va="top",
                  color=color)
    else:
        trans = blended_transform_factory(panel.trans_axes, panel.trans_data)
        spine = trans.transform(np.array([[0.0, panel.view.y0], [0.0, panel.view.y1]]))
        x0 = min([spine[:, 0].min() - out] + [b.x0 for b in boxes])
        y = panel.trans_axes.transform((0.0, 0.5))[1]
        draw_text(canvas, s, x0 - _LABEL_PAD * DPI / 72, y, prop, ha="center",
                  va="bottom", color=color, angle=90.0, anchor=True)


def image(canvas: Canvas, panel: Panel, data, extent: tuple[float, float, float, float], *,
          cmap: str, vmin: float, vmax: float, origin: str = "upper") -> None:
    """A colour-mapped array shown as ``imshow(interpolation="nearest")`` shows it.

    ``AxesImage.make_image`` and ``_ImageBase._make_image``: the array is resampled to the
    whole display points it covers inside the axes (nearest neighbour, through the same
    Agg resampler), mapped to colours before resampling when a cell is less than 3 points
    wide or high (``interpolation_stage="auto"``) and after otherwise, and written as an
    embedded PNG (``RendererSVG.draw_image``) clipped to the axes. NaN cells are
    transparent.
    """
    from matplotlib import _image, colormaps
    from matplotlib.colors import Normalize

    A = np.ma.masked_invalid(np.array(data, dtype=float), copy=False)
    x1, x2, y1, y2 = extent
    in_bbox = Bbox(np.array([[x1, y1], [x2, y2]]))
    clip_box = panel.bbox
    out_bbox = TransformedBbox(in_bbox, panel.trans_data)
    clipped = Bbox.intersection(out_bbox, clip_box)
    if clipped is None:
        return
    ext = clipped.extents * 1.0  # magnification: the SVG's images are at 72 dpi
    mx0 = np.floor(ext[0] + 0.5)
    my0 = np.ceil(ext[1] - 0.5 - 1e-8)
    mx1 = np.floor(ext[2] + 0.5 + 1e-8)
    my1 = np.ceil(ext[3] - 0.5)
    magnified = Bbox.from_extents([mx0, my0, mx1, my1])
    if magnified.width == 0 or magnified.height == 0:
        return
    if origin == "upper":
        t0 = Affine2D().translate(0, -A.shape[0]).scale(1, -1)
    else:
        t0 = IdentityTransform()
    t0 += (Affine2D().scale(in_bbox.width / A.shape[1], in_bbox.height / A.shape[0])
           .translate(in_bbox.x0, in_bbox.y0) + panel.trans_data)
    t = t0 + Affine2D().scale(1.0).translate(-magnified.x0, -magnified.y0)
    out_shape = (int(magnified.height), int(magnified.width))
    pos = np.array([[0, 0], [A.shape[1], A.shape[0]]])
    disp = t.transform(pos)
    dispx = np.abs(np.diff(disp[:, 0])) / A.shape[1]
    dispy = np.abs(np.diff(disp[:, 1])) / A.shape[0]
    norm = Normalize(vmin=vmin, vmax=vmax)
    colours = colormaps[cmap]

    def resample(values, trans, *, nearest_resample=True):
        out = np.zeros(out_shape + values.shape[2:], values.dtype)
        trans = Affine2D().translate(-values.shape[1], 0).scale(-1, 1) + trans
        values = np.flip(values, axis=1)
        if origin == "upper":
            trans = Affine2D().translate(0, -values.shape[0]).scale(1, -1) + trans
            values = np.flip(values, axis=0)
        _image.resample(values, out, trans, _image.NEAREST, nearest_resample, 1.0,
                        True, 4.0)
        return out

    if (dispx < 3) or (dispy < 3):  # colours first, then resampled
        rgba = colours(norm(A))
        alpha_in = rgba[..., 3]
        if (alpha_in != 1).any():
            rgba = rgba * alpha_in[..., None]
            rgba[..., 3] = alpha_in
        res = resample(rgba, t)
        alpha_out = res[..., 3].copy()
        res /= np.where(alpha_out != 0, alpha_out, 1)[..., None]
        res[..., 3] = alpha_out
        res[np.any(np.isnan(res), axis=2), :] = 0
        output = (res * 255).astype(np.uint8)
    else:  # values resampled, then coloured
        resampled = resample(A.astype("f8"), t)
        mask = (np.where(A.mask, np.float32(np.nan), np.float32(1))
                if A.mask.shape == A.shape else np.ones_like(A, np.float32))
        out_alpha = resample(mask, t)
        out_mask = np.isnan(out_alpha)
        out_alpha[out_mask] = 1
        output = colours(norm(np.ma.masked_array(resampled, out_mask)), bytes=True)
        alpha_channel = output[:, :, 3]
        alpha_channel[:] = alpha_channel.astype(np.float32) * out_alpha * 1.0
    png_image(canvas, output, magnified.x0, magnified.y0, canvas.clip_for(panel.bbox))


def offset_text(canvas: Canvas, panel: Panel, axis: str, s: str, prop: FontProperties,
                color: str, boxes: Sequence[Bbox]) -> None:
    """The offset or power of ten of an axis' tick labels (``Axis.offsetText``).

    A y axis writes it above the axes' top left corner, an x axis under its tick labels at
    the right end, 3 pt away (``OFFSETTEXTPAD``); an empty string draws nothing.
    """
    pad = 3 * DPI / 72
    if axis == "x":
        bottom = Bbox.union(list(boxes)).y0 if len(boxes) else panel.bbox.ymin
        x = panel.trans_axes.transform((1.0, 0.0))[0]
        draw_text(canvas, s, x, bottom - pad, prop, ha="right", va="top", color=color)
    else:
        y = panel.bbox.ymax + pad
        x = panel.trans_axes.transform((0.0, 0.5))[0]
        draw_text(canvas, s, x, y, prop, ha="left", va="baseline", color=color)



def png_image(canvas: Canvas, rgba, x: float, y: float, clip: str = "") -> None:
    """An RGBA array (top row first) as an embedded PNG with its lower left at display ``(x, y)``.

    ``RendererSVG.draw_image`` without a transform: the id is the salted hash of the PNG,
    and a clip path, if any, goes on a group around the image.
    """
    import base64
    import io

    from PIL import Image

    h, w = rgba.shape[:2]
    if w == 0 or h == 0:
        return
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="png")
    png = buf.getvalue()
    oid = canvas._id("image", png)
    w_pt, h_pt = 72.0 * w / DPI, 72.0 * h / DPI
    if clip:
        canvas._start(f"g{clip}")
    canvas._line(f'<image xlink:href="data:image/png;base64, '
                 f'{base64.b64encode(png).decode("ascii")}" id="{canvas.fig_id}-{oid}" '
                 f'transform="scale(1 -1) translate(0 -{number(h_pt)})" x="{number(x)}" '
                 f'y="{number(-(canvas.height - y - h_pt))}" width="{number(w_pt)}" '
                 f'height="{number(h_pt)}" />')
    if clip:
        canvas.close()


def panel_at(canvas: Canvas, position: Bbox, xlim: tuple[float, float],
             ylim: tuple[float, float]) -> Panel:
    """A :class:`Panel` whose Axes position (figure fractions) is the given box itself.

    Axes moved by a colour bar or shrunk to an aspect have positions that are computed
    boxes, not the rectangle they were created with; their transforms must start from the
    same numbers.
    """
    panel = Panel.__new__(Panel)
    panel.bbox = TransformedBbox(position, canvas.trans_figure)
    panel.trans_axes = BboxTransformTo(panel.bbox)
    panel.view = Bbox([[xlim[0], ylim[0]], [xlim[1], ylim[1]]])
    scale = TransformWrapper(IdentityTransform())
    limits = BboxTransformFrom(TransformedBbox(panel.view, scale))
    panel.trans_data = scale + (limits + panel.trans_axes)
    panel.xaxis = blended_transform_factory(panel.trans_data, panel.trans_axes)
    return panel


def rasterized_mesh(canvas: Canvas, panel: Panel, x, y, values, *, cmap: str,
                    vmin: float, vmax: float) -> None:
    """A ``pcolormesh`` (flat shading, no edges, snapped) drawn rasterised, as colour bars are.

    The mesh with corners ``x`` × ``y`` (data coordinates) and cell ``values`` is rendered
    by Agg at the figure's resolution, clipped to the axes, cropped to its non-transparent
    pixels and embedded as a PNG (``MixedModeRenderer.start_rasterizing`` and
    ``stop_rasterizing``).
    """
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.collections import QuadMesh
    from matplotlib.colors import Normalize

    X, Y = np.meshgrid(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    mesh = QuadMesh(np.stack([X, Y], axis=-1), antialiased=False, shading="flat",
                    array=np.asarray(values, dtype=float), cmap=cmap,
                    norm=Normalize(vmin=vmin, vmax=vmax), edgecolors="none", snap=True)
    mesh.set_transform(panel.trans_data)
    mesh.set_clip_box(panel.bbox)
    width, height = canvas.size * DPI
    agg = RendererAgg(width, height, DPI)
    mesh.draw(agg)
    img = np.asarray(agg.buffer_rgba())
    x_nz, = img[..., 3].any(axis=0).nonzero()
    y_nz, = img[..., 3].any(axis=1).nonzero()
    if not (len(x_nz) and len(y_nz)):
        return
    (left, right), (bottom, top) = x_nz[[0, -1]], y_nz[[0, -1]]
    cropped = img[bottom:top + 1, left:right + 1]
    png_image(canvas, cropped[::-1], float(left), float(height - (top + 1)))

def _aligned(spans, align: str):
    """``offsetbox._get_aligned_offsets`` with no given height."""
    height = max(b - a for a, b in spans)
    if align == "baseline":
        return (min(a for a, _ in spans), max(b for _, b in spans)), [0] * len(spans)
    return (0, height), [(height - (b - a)) * .5 - a for a, b in spans]  # center


def _packed(widths, sep: float):
    """``offsetbox._get_packed_offsets`` in mode "fixed" with no given total."""
    offsets_ = np.cumsum([0] + [w + sep for w in widths])
    return offsets_[-1] - sep, offsets_[:-1]


def _hpack(bboxes, sep: float, pad: float = 0.0):
    """``HPacker._get_bbox_and_child_offsets`` (baseline alignment)."""
    (y0, y1), yoffsets = _aligned([b.intervaly for b in bboxes], "baseline")
    width, xoffsets = _packed([b.width for b in bboxes], sep)
    x0 = bboxes[0].x0
    xoffsets -= ([b.x0 for b in bboxes] - x0)
    return (Bbox.from_bounds(x0, y0, width, y1 - y0).padded(pad),
            [*zip(xoffsets, yoffsets, strict=True)])


def _vpack(bboxes, sep: float, align: str, pad: float = 0.0):
    """``VPacker._get_bbox_and_child_offsets``."""
    (x0, x1), xoffsets = _aligned([b.intervalx for b in bboxes], align)
    height, yoffsets = _packed([b.height for b in bboxes], sep)
    yoffsets = height - (yoffsets + [b.y1 for b in bboxes])
    ydescent = yoffsets[0]
    yoffsets = yoffsets - ydescent
    return (Bbox.from_bounds(x0, -ydescent, x1 - x0, height).padded(pad),
            [*zip(xoffsets, yoffsets, strict=True)])


def legend(canvas: Canvas, panel: Panel, entries: Sequence[tuple], font_size: float) -> None:
    """A frameless one-column legend in the upper right corner of the axes.

    ``Axes.legend(loc="upper right", frameon=False, fontsize=font_size)`` with matplotlib's
    default spacing (in font sizes: border pad 0.4, label spacing 0.5, handle length 2,
    handle height 0.7, handle-text pad 0.8, border-axes pad 0.5) and one marker per
    handle (``legend.numpoints = 1``). ``entries`` are ``(marker, size, style,
    stroke_style, label)`` of markers, packed as ``Legend._init_legend_box`` packs them.
    """
    prop = FontProperties(family=["DejaVu Sans"], size=font_size)
    descent = 0.35 * font_size * (0.7 - 0.7)
    height = font_size * 0.7 - descent
    width = 2.0 * font_size
    _, h_, d_ = text_extent("lp", prop)
    _, min_descent, _ = line_metrics(prop)
    items, item_boxes = [], []
    for entry in entries:
        label = entry[4]
        handle = Bbox.from_bounds(-0. * 1.0, -descent * 1.0, width * 1.0, height * 1.0)
        (_, _, w, h), _ = text_layout(label, prop, "left", "baseline")
        last_descent = max(text_extent(label, prop)[2] if label else 0, min_descent)
        h_d = max(h_ - d_, h - last_descent)
        text = Bbox.from_bounds(0, -last_descent, w, h_d + last_descent)
        box, offsets = _hpack([handle, text], 0.8 * font_size)
        items.append(offsets)
        item_boxes.append(box)
    column, column_offsets = _vpack(item_boxes, 0.5 * font_size, "baseline")
    columns, columns_offsets = _hpack([column], 2.0 * font_size)
    whole, whole_offsets = _vpack([columns], 0.5 * font_size, "center", 0.4 * font_size)
    pad = 0.5 * font_size
    x, y = Bbox.from_bounds(0, 0, whole.width, whole.height).anchored(
        "NE", container=panel.bbox.padded(-pad, -pad)).p0
    px, py = x + -whole.x0, y + -whole.y0
    canvas.open("legend")
    ox, oy = whole_offsets[0]
    px, py = px + ox, py + oy
    ox, oy = columns_offsets[0]
    px, py = px + ox, py + oy
    for entry, (ox, oy), offsets in zip(entries, column_offsets, items, strict=True):
        marker, size, style, stroke_style, label = entry
        ix, iy = px + ox, py + oy
        (hx, hy), (tx, ty) = offsets
        trans = Affine2D().scale(1.0) + Affine2D().translate(ix + hx, iy + hy)
        y_mid = (height - descent) / 2
        canvas.open("line2d")
        canvas.markers(marker, size, [(np.linspace(-0., -0. + width, 3)[1], y_mid)], trans,
                       style, stroke_style)
        canvas.close()
        posx, posy = Affine2D().translate(ix + tx, iy + ty).transform((0, 0))
        draw_text(canvas, label, posx, posy, prop, ha="left", va="baseline")
    canvas.close()


# ---------------------------------------------------------------------- axes with a log scale,
# rotated and boxed text, filled shapes drawn once, legends


class ScaledPanel(Panel):
    """The transforms of one axes whose x axis is logarithmic when ``xlog`` (base 10).

    The same composition as matplotlib's Axes: a scale transform (``LogTransform`` on x, the
    identity on y), then the view limits, then the axes box. A log scale is not affine, so
    paths go through :func:`path` here, which applies the non-affine part first, as a
    ``Line2D`` or a ``Patch`` does before the backend applies the rest.
    """

    def __init__(self, canvas: Canvas, rect: tuple[float, float, float, float],
                 xlim: tuple[float, float], ylim: tuple[float, float], *,
                 xlog: bool = False) -> None:
        from matplotlib.scale import LogTransform

        self.bbox = TransformedBbox(Bbox.from_bounds(*rect), canvas.trans_figure)
        self.trans_axes = BboxTransformTo(self.bbox)
        self.view = Bbox([[xlim[0], ylim[0]], [xlim[1], ylim[1]]])
        scale = TransformWrapper(IdentityTransform())
        if xlog:
            scale.set(blended_transform_factory(LogTransform(10), IdentityTransform()))
        limits = BboxTransformFrom(TransformedBbox(self.view, scale))
        self.trans_data = scale + (limits + self.trans_axes)
        self.xaxis = blended_transform_factory(self.trans_data, self.trans_axes)
        self.yaxis = blended_transform_factory(self.trans_axes, self.trans_data)

    def contains(self, xy: tuple[float, float]) -> bool:
        """Whether display point ``xy`` is in the axes (``Axes.contains_point``: 1 px slack)."""
        return Path.unit_rectangle().contains_point(xy, self.trans_axes, 1.0)


def path(canvas: Canvas, p: Path, transform, style: str, *, filled: bool = False,
         clip: str = "") -> None:
    """:meth:`Canvas.path` for any transform: its non-affine part first, as artists do."""
    canvas.path(transform.transform_path_non_affine(p), transform.get_affine(), style,
                filled=filled, clip=clip)


def shape(canvas: Canvas, p: Path, transform, style: str, clip: str = "") -> None:
    """A filled shape as a collection of one path draws it: a definition and one ``<use>``.

    matplotlib draws a ``PolyCollection`` of one polygon (``fill_between``) as a marker at
    the offset (0, 0); the definition carries only stroke properties (none here).
    """
    d = _path.convert_to_string(transform.transform_path_non_affine(p),
                                transform.get_affine() + _FLIP_Y, None, False, None, 6,
                                _CODES, False).decode("ascii")
    key = (d, style)
    oid = canvas._markers.get(key)
    if oid is None:
        oid = canvas._markers[key] = canvas._id("m", key)
        canvas._start("defs")
        canvas._line(f'<path id="{canvas.fig_id}-{oid}" d="{d.replace(chr(10), " ")}" />')
        canvas.close()
    canvas._start(f"g{clip}")
    canvas._line(f'<use xlink:href="#{canvas.fig_id}-{oid}" x="0" '
                 f'y="{number(canvas.height)}" style="{style}" />')
    canvas.close()


class TextLayout(NamedTuple):
    """A text laid out as ``Text._get_layout`` does it (display points, anchor at 0, 0).

    ``box`` is the rotated, axis-aligned bounds (x0, y0, width, height); ``lines`` each
    line with the position of its start on its baseline; ``corner`` and ``size`` the lower
    left corner and the size of the unrotated box (where a bbox patch is drawn);
    ``descent`` the last line's.
    """

    box: tuple[float, float, float, float]
    lines: list[tuple[str, tuple[float, float]]]
    corner: tuple[float, float]
    size: tuple[float, float]
    descent: float


def _rotate(angle: float, x: float, y: float) -> tuple[float, float]:
    if angle == 0:
        return (x, y)
    rad = math.radians(angle)
    cos, sin = math.cos(rad), math.sin(rad)
    return (cos * x - sin * y, sin * x + cos * y)


def layout(s: str, prop: FontProperties, ha: str, va: str, angle: float = 0.0,
           anchor: bool = False) -> TextLayout:
    """The layout of a text (lines split at ``\\n``, rotation ``angle``, ``anchor``: whether
    the rotation mode is "anchor"; the lines aligned as ``ha``, matplotlib's default).

    matplotlib's expressions as written there, in its order (a one-line text has no line
    gap, the first line starts at 0.0), so that every intermediate rounds the same way.
    """
    lines = s.split("\n")
    min_ascent, min_descent, line_gap = line_metrics(prop)
    if len(lines) == 1:
        line_gap = 0
    thisy = 0.0
    wads, ys = [], []
    for line in lines:
        w, h, d = text_extent(line, prop) if line else (0, 0, 0)
        a = max(h - d, min_ascent) + line_gap / 2
        d = max(d, min_descent) + line_gap / 2
        baseline = a - thisy
        thisy -= a
        wads.append((w, a, d))
        ys.append(thisy)
        thisy -= d
    descent = d
    width = max(w for w, _, _ in wads)
    ymin0 = ys[-1] - descent
    if ha == "left":
        placed = [(0.0, y) for y in ys]
    elif ha == "center":
        placed = [(0.0 + width / 2 - w / 2, y) for y, (w, _, _) in zip(ys, wads, strict=True)]
    else:
        placed = [(0.0 + width - w, y) for y, (w, _, _) in zip(ys, wads, strict=True)]
    size = (width - 0, 0 - ymin0)
    corners = [(0, ymin0), (0, 0), (width, 0), (width, ymin0)]
    rotated = [_rotate(angle, x, y) for x, y in corners]
    xs, ys = zip(*rotated, strict=True)
    xmin, xmax, ymin, ymax = min(xs), max(xs), min(ys), max(ys)
    width_rot, height_rot = xmax - xmin, ymax - ymin
    if not anchor:
        offsetx = xmin if ha == "left" else xmax if ha == "right" else (xmin + xmax) / 2
        offsety = (ymin if va == "bottom" else ymax if va == "top" else
                   (ymin + ymax) / 2 if va == "center" else
                   ymin + descent if va == "baseline" else ymin + height_rot - baseline / 2)
    else:
        (xmin1, ymin1), (xmax1, ymax1) = corners[0], corners[2]
        offsetx = xmin1 if ha == "left" else xmax1 if ha == "right" else (xmin1 + xmax1) / 2
        offsety = (ymin1 if va == "bottom" else ymax1 if va == "top" else
                   (ymin1 + ymax1) / 2 if va == "center" else
                   ymax1 - baseline if va == "baseline" else ymax1 - baseline / 2)
        offsetx, offsety = _rotate(angle, offsetx, offsety)
    starts = [_rotate(angle, x, y) for x, y in placed]
    cx, cy = rotated[0]
    return TextLayout((xmin - offsetx, ymin - offsety, width_rot, height_rot),
                      [(line, (x - offsetx, y - offsety))
                       for line, (x, y) in zip(lines, starts, strict=True)],
                      (cx - offsetx, cy - offsety), size, descent)


def text(canvas: Canvas, s: str, x: float, y: float, transform, *, prop: FontProperties,
         ha: str = "left", va: str = "baseline", color: str = "#000000", angle: float = 0.0,
         anchor: bool = False, box: str | None = None, box_pad: float = 0.0) -> Bbox | None:
    """A text as matplotlib's ``Text`` draws it, at any rotation, on one line or several.

    ``box`` is the fill of a square bbox patch drawn behind the text (``Text.set_bbox``:
    ``box_pad`` points, which matplotlib turns into a fraction of the font size rounded to
    two decimals). One line is written with its anchor and ``text-anchor``, several each
    at its own translated start, as the backend writes them. Returns the text's window
    extent in display points (None when empty, which draws nothing).
    """
    if s == "":
        return None
    lay = layout(s, prop, ha, va, angle, anchor)
    posx, posy = transform.transform((x, y))
    canvas.open("text")
    if box is not None:
        cx, cy = lay.corner
        w, h = lay.size
        size = prop.get_size_in_points()
        pad = size * float(f"{box_pad / size:0.2f}")
        x0, y0 = 0.0 - pad, 0.0 - pad
        x1, y1 = x0 + (w + 2 * pad), y0 + (h + 2 * pad)
        # ``BoxStyle.Square`` around the unrotated box, then ``FancyBboxPatch``'s (unit)
        # mutation aspect
        patch = Path(np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]) * [1, 1],
                     closed=True)
        placed = Affine2D().rotate_deg(angle).translate(posx + cx, posy + cy)
        canvas.open("patch")
        path(canvas, patch, IdentityTransform() + placed, f"fill: {box}", filled=True)
        canvas.close()
    style = _font_css(prop)
    fill = f"; fill: {color}" if color != "#000000" else ""
    for line, (lx, ly) in lay.lines:
        tx, ty = lx + posx, canvas.height - (ly + posy)
        if len(lay.lines) > 1:
            rotate = "" if -angle == 0 else f" rotate({number(-angle)})"
            canvas._line(_text_element(f'style="{style}{fill}" transform="translate('
                                       f'{number(tx)} {number(ty)}){rotate}"', line))
            continue
        ax, ay = posx, canvas.height - posy
        rad = np.deg2rad(angle)
        direction = np.array([np.sin(rad), np.cos(rad)])
        v_offset = np.dot(direction, [(tx - ax), (ty - ay)])
        ax = ax + v_offset * direction[0]
        ay = ay + v_offset * direction[1]
        xs, ys = number(ax), number(ay)
        canvas._line(_text_element(f'style="{style}; text-anchor: {_ANCHOR[ha]}{fill}" '
                                   f'x="{xs}" y="{ys}" transform="rotate({number(-angle)} '
                                   f'{xs} {ys})"', line))
    canvas.close()
    return Bbox.from_bounds(*lay.box).translated(posx, posy)


def _text_element(attributes: str, s: str) -> str:
    """A ``<text>`` element as the page's serialiser writes it (empty: ``<text ... />``)."""
    s = _escape_text(fmt.plain(s))
    return f"<text {attributes}>{s}</text>" if s else f"<text {attributes} />"


#: Draws one legend handle: (canvas, transform of the handle box, xdescent, ydescent,
#: width, height), sizes in points as a legend handler receives them.
Handle = Callable[[Canvas, object, float, float, float, float], None]

_LOC = {"upper right": "NE", "upper left": "NW", "lower left": "SW", "lower right": "SE"}


def anchored_legend(canvas: Canvas, entries: Sequence[tuple[Handle, str]], *,
                    prop: FontProperties, loc: str, anchor: TransformedBbox, ncols: int = 1,
                    handlelength: float = 2.0, handleheight: float = 0.7,
                    handletextpad: float = 0.8, labelspacing: float = 0.5,
                    columnspacing: float = 2.0, borderpad: float = 0.4,
                    borderaxespad: float = 0.5) -> None:
    """A frameless legend as matplotlib's ``Legend`` packs and draws it (no title), anywhere.

    The general form of :func:`legend`: any handles, any corner of any anchor box, several
    columns. Each entry is a handle box (``handlelength`` × ``handleheight`` font sizes) and its
    label, packed into ``ncols`` columns (``np.array_split`` of the entries), the columns
    side by side, the whole placed at ``loc`` of ``anchor`` (a ``bbox_to_anchor`` in
    display points) inside a margin of ``borderaxespad`` font sizes. Sizes are matplotlib's
    rc defaults unless given; display points equal pixels (72 dpi). Labels are single
    lines (matplotlib centres a multi-line label on its handle, which is not done here).
    """
    f = prop.get_size_in_points()
    descent = 0.35 * f * (handleheight - 0.7)
    height = f * handleheight - descent
    lp_h, lp_d = text_extent("lp", prop)[1:]
    items = []
    for _, label in entries:
        hbox = Bbox.from_bounds(-0.0, -descent * 1.0, handlelength * f * 1.0, height * 1.0)
        lay = layout(label, prop, "left", "baseline")
        w, h = Bbox.from_bounds(*lay.box).size
        h = max(lp_h - lp_d, h - lay.descent) + lay.descent
        tbox = Bbox.from_bounds(0, -lay.descent, w, h)
        items.append(_hpack([hbox, tbox], handletextpad * f * 1.0))
    groups = [list(g) for g in np.array_split(np.arange(len(entries)), ncols) if len(g)]
    columns = [_vpack([items[i][0] for i in g], labelspacing * f * 1.0, "baseline")
               for g in groups]
    row_box, column_offsets = _hpack([c[0] for c in columns], columnspacing * f * 1.0)
    box, (row_offset,) = _vpack([row_box], labelspacing * f * 1.0, "center",
                                borderpad * f * 1.0)
    pad = borderaxespad * f
    x, y = Bbox.from_bounds(0, 0, box.width, box.height).anchored(
        _LOC[loc], container=anchor.padded(-pad, -pad)).p0
    px, py = x + -box.x0, y + -box.y0
    canvas.open("legend")
    rx, ry = px + row_offset[0], py + row_offset[1]
    for g, (_, item_offsets), (cox, coy) in zip(groups, columns, column_offsets, strict=True):
        cx, cy = rx + cox, ry + coy
        for i, (iox, ioy) in zip(g, item_offsets, strict=True):
            ix, iy = cx + iox, cy + ioy
            (hox, hoy), (tox, toy) = items[i][1]
            draw, label = entries[i]
            trans = Affine2D().scale(1.0) + Affine2D().translate(ix + hox, iy + hoy)
            draw(canvas, trans, 0.0, descent, handlelength * f, height)
            text(canvas, label, ix + tox, iy + toy, IdentityTransform(), prop=prop)
    canvas.close()


def background(canvas: Canvas, trans) -> None:
    """A white rectangle filling ``trans``'s unit square (the figure's or an Axes' patch)."""
    canvas.open("patch")
    canvas.path(Path.unit_rectangle(), trans, "fill: #ffffff", filled=True)
    canvas.close()
