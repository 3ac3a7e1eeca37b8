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


def _packed(widths: list[float], sep: float) -> tuple[float, np.ndarray]:
    offsets = np.cumsum([0] + [w + sep for w in widths])
    return offsets[-1] - sep, offsets[:-1]


def _hpack(bboxes: list[Bbox], sep: float, pad: float = 0.0) -> tuple[Bbox, list]:
    """``HPacker(align="baseline", mode="fixed")``: the box and its children's offsets."""
    y0, y1 = min(b.y0 for b in bboxes), max(b.y1 for b in bboxes)
    width, xoffsets = _packed([b.width for b in bboxes], sep)
    x0 = bboxes[0].x0
    xoffsets -= ([b.x0 for b in bboxes] - x0)
    return (Bbox.from_bounds(x0, y0, width, y1 - y0).padded(pad),
            [*zip(xoffsets, [0] * len(bboxes), strict=True)])


def _vpack(bboxes: list[Bbox], sep: float, align: str, pad: float = 0.0
           ) -> tuple[Bbox, list]:
    """``VPacker(mode="fixed")`` aligned on the baseline or the centre."""
    spans = [b.intervalx for b in bboxes]
    if align == "baseline":
        x0, x1 = min(s[0] for s in spans), max(s[1] for s in spans)
        xoffsets = [0] * len(spans)
    else:
        span = max(s[1] - s[0] for s in spans)
        x0, x1 = 0, span
        xoffsets = [(span - (s1 - s0)) * .5 - s0 for s0, s1 in spans]
    height, yoffsets = _packed([b.height for b in bboxes], sep)
    yoffsets = height - (yoffsets + [b.y1 for b in bboxes])
    ydescent = yoffsets[0]
    yoffsets = yoffsets - ydescent
    return (Bbox.from_bounds(x0, -ydescent, x1 - x0, height).padded(pad),
            [*zip(xoffsets, yoffsets, strict=True)])


def legend(canvas: Canvas, entries: Sequence[tuple[Handle, str]], *, prop: FontProperties,
           loc: str, anchor: TransformedBbox, ncols: int = 1, handlelength: float = 2.0,
           handleheight: float = 0.7, handletextpad: float = 0.8, labelspacing: float = 0.5,
           columnspacing: float = 2.0, borderpad: float = 0.4,
           borderaxespad: float = 0.5) -> None:
    """A frameless legend as matplotlib's ``Legend`` packs and draws it (no title).

    Each entry is a handle box (``handlelength`` × ``handleheight`` font sizes) and its
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
