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
from collections.abc import Sequence

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
