"""The robustness section of a condition page: specification curve and GOSH plot.

Both figures are drawn from the multiverse outputs of the condition's primary analysis
(``data/processed/multiverse/{condition}.csv`` and ``.json``, :mod:`ketameta.multiverse`):

* **Specification curve** (Simonsohn, Simmons & Nelson 2020, *Nat Hum Behav* 4:1208): the
  fitted specifications of the primary measure sorted by their estimate, each with its CI,
  and below them a panel with one row per level of each factor that shows which choice the
  specifications made. With more specifications than :data:`MAX_COLUMNS`, consecutive
  specifications (in sorted order) share a column: the column shows their median estimate
  and median CI bounds, and each panel cell is shaded by the share of them that made that
  choice.
* **GOSH plot** (Olkin, Dahabreh & Trikalinos 2012, *Res Synth Methods* 3:214): the pooled
  estimate of every subset of the trials against its I², as metafor's ``plot.gosh.rma()``;
  one point per subset while they are few (the summary then carries ``points``), else a
  density (counts per cell, grey scale, log scaled) so that a million subsets stay one
  small figure.

Both are written directly as SVG (:class:`ketameta.report._svgdirect.Canvas`), element for
element the SVG matplotlib's backend writes for the same figure built from Artists (two
Axes with ``vlines``, ``plot`` and ``imshow``; an Axes with markers or an image, a legend
and a colour bar), which ``tests/speccurve_matplotlib.py`` and ``tests/gosh_matplotlib.py``
keep as the reference the tests compare with byte for byte; drawing them needs no
matplotlib figure. Output is deterministic (ids salted by the figure id); shading cells are
a small embedded raster, so the SVG size does not grow with the number of specifications.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.font_manager import FontProperties
from matplotlib.path import Path as MplPath
from matplotlib.transforms import Bbox, BboxTransform, blended_transform_factory

from ketameta.multiverse import read_specifications

from . import _svgdirect as svgd
from . import formatting as fmt
from ._svgdirect import Canvas, Panel
from .plots import ACCENT, FONT_SIZE, GRID, INK, MUTED

__all__ = ["MAX_COLUMNS", "gosh_svg", "robustness_context", "specification_curve_svg"]

#: Most columns the specification curve draws; beyond, specifications share columns.
MAX_COLUMNS = 160

#: How the factors of a multiverse are named on the page.
FACTOR_LABELS = {
    "design": "Design",
    "comparator": "Comparator",
    "rob": "Risk of bias",
    "route": "Route",
    "drug": "Drug",
    "omit": "Trial left out",
    "measure": "Measure",
    "method": "τ² estimator",
    "test": "Test",
    "few_trial": "Few-trial method",
    "dose": "Dose",
    "scale": "Scale",
    "population": "Population",
    "setting": "Setting",
    "schedule": "Schedule",
}
_LEVEL_LABELS = {"any": "all trials", "none": "none", "reml_knha": "REML + HKSJ if few"}


def _label(factor: str) -> str:
    return FACTOR_LABELS.get(factor, factor)


def specification_curve_svg(
    fig_id: str, title: str, frame: pd.DataFrame, factors: Mapping[str, list], axis_label: str
) -> str:
    """Specification curve of fitted specifications of one measure (see the module notes).

    Parameters
    ----------
    fig_id, title : str
        Id prefix and accessible title of the SVG.
    frame : pandas.DataFrame
        Fitted specifications: ``estimate, ci_low, ci_high`` and one column per factor.
    factors : mapping
        Factor -> levels in crossing order; factors with one level are left out of the panel.
    axis_label : str
        Label of the estimate axis (the analysis scale).
    """
    frame = frame.sort_values(["estimate", "spec"], kind="stable").reset_index(drop=True)
    n = len(frame)
    columns = min(n, MAX_COLUMNS)
    group = (np.arange(n) * columns) // n
    grouped = frame.groupby(group, sort=True)
    est = grouped["estimate"].median().to_numpy()
    low = grouped["ci_low"].median().to_numpy()
    high = grouped["ci_high"].median().to_numpy()
    shown = [f for f, levels in factors.items() if len(levels) > 1]
    rows: list[tuple[str, str]] = []
    shares: list[np.ndarray] = []
    sizes = np.bincount(group)
    for factor in shown:
        values = frame[factor].astype(str).to_numpy()
        for level in factors[factor]:
            rows.append((factor, str(level)))
            hit = (values == str(level)).astype(float)
            shares.append(np.bincount(group, weights=hit, minlength=columns) / sizes)
    panel = np.array(shares) if shares else np.zeros((0, columns))

    row_h, top_h, bottom, gap, head = 0.14, 1.9, 0.4, 0.12, 0.1
    panel_h = row_h * len(rows)
    height = head + top_h + gap + panel_h + bottom
    left, width = 0.27, 0.7
    x = np.arange(columns)
    excludes = (low > 0) | (high < 0)
    # The figure as matplotlib draws two Axes: the curve (a grey zero line, the y axis,
    # then the CIs and estimates of the specifications whose CI includes the null and of
    # those whose CI excludes it, then the left spine) and the choice panel (the shares as
    # an image, the level names as tick labels, lines between factors, four spines).
    canvas = Canvas(fig_id, 9.0, height)
    canvas.open("figure")
    svgd.background(canvas, canvas.trans_figure)
    # vlines masks a whole segment when a bound is missing: it neither scales the axis nor
    # draws (an empty path)
    whole = np.isfinite(low) & np.isfinite(high)
    ylim = svgd.autoscale(np.concatenate([low[whole], high[whole], est, [0.0]]))
    top = Panel(canvas, (left, (bottom + panel_h + gap) / height, width, top_h / height),
                (-0.5, columns - 0.5), ylim)
    clip = canvas.clip_for(top.bbox)
    canvas.open("axes")
    svgd.background(canvas, top.trans_axes)
    yline = blended_transform_factory(top.trans_axes, top.trans_data)
    _line(canvas, [0.0, 1.0], [0.0, 0.0], yline, GRID, 0.8, clip)
    canvas.open("matplotlib.axis")
    canvas.close()
    canvas.open("matplotlib.axis")
    prop = _font(FONT_SIZE)
    ticks, labels, offset = svgd.auto_ticks(top, canvas, "y", FONT_SIZE)
    boxes = svgd.axis_ticks(canvas, top, "y", ticks, labels, prop, "#000000", "#000000")
    svgd.axis_label(canvas, top, "y", axis_label, prop, INK, boxes, bool(ticks))
    svgd.offset_text(canvas, top, "y", offset, prop, "#000000", boxes)
    canvas.close()
    data = top.trans_data.frozen()  # one matrix for every segment, as the backend uses
    for mask, color in ((~excludes, MUTED), (excludes, ACCENT)):
        canvas.open("LineCollection")
        style = svgd.svg_style(None, color, 0.7)
        for xi, lo_i, hi_i, ok in zip(x[mask], low[mask], high[mask], whole[mask],
                                      strict=True):
            if ok:
                canvas.path(MplPath(np.array([[xi, lo_i], [xi, hi_i]], dtype=float)), data,
                            style, clip=clip)
            else:
                canvas._line(f'<path{clip} style="{style}" />')
        canvas.close()
        canvas.open("line2d")
        if mask.any():
            style = svgd.svg_style(color, color, 1.0)
            canvas.markers("o", 2.2, np.column_stack([x[mask], est[mask]]), top.trans_data,
                           style, "stroke: " + color, clip=clip)
        canvas.close()
    _spine(canvas, top, "left")
    canvas.close()
    if len(rows):
        pax = Panel(canvas, (left, bottom / height, width, panel_h / height),
                    (-0.5, columns - 0.5), (len(rows) - 0.5, -0.5))
        pclip = canvas.clip_for(pax.bbox)
        canvas.open("axes")
        svgd.background(canvas, pax.trans_axes)
        svgd.image(canvas, pax, panel, (-0.5, columns - 0.5, len(rows) - 0.5, -0.5),
                   cmap="Greys", vmin=0.0, vmax=1.0)
        canvas.open("matplotlib.axis")
        svgd.axis_label(
            canvas, pax, "x",
            f"{n:,} specifications sorted by estimate"
            + (f" ({columns} columns of about {n / columns:.0f})" if columns < n else ""),
            prop, INK, [], False,
        )
        canvas.close()
        labels = [
            f"{_label(f)}: {_LEVEL_LABELS.get(lv, lv)}"
            if i == 0 or rows[i - 1][0] != f
            else _LEVEL_LABELS.get(lv, lv)
            for i, (f, lv) in enumerate(rows)
        ]
        canvas.open("matplotlib.axis")
        svgd.axis_ticks(canvas, pax, "y", [float(i) for i in range(len(rows))], labels,
                        _font(FONT_SIZE - 1.5), "#000000", "#000000")
        canvas.close()
        yline = blended_transform_factory(pax.trans_axes, pax.trans_data)
        for i in range(1, len(rows)):
            if rows[i][0] != rows[i - 1][0]:
                _line(canvas, [0.0, 1.0], [i - 0.5, i - 0.5], yline, MUTED, 0.6, pclip)
        for side in ("left", "right", "bottom", "top"):
            _spine(canvas, pax, side)
        canvas.close()
    canvas.close()
    return canvas.fragment(title)


_FONTS: dict[float, FontProperties] = {}


def _font(size: float) -> FontProperties:
    """The figures' font at ``size`` points, as matplotlib's rc makes it (shared)."""
    prop = _FONTS.get(size)
    if prop is None:
        prop = _FONTS[size] = FontProperties(family=["DejaVu Sans"], size=size)
    return prop


def _line(canvas: Canvas, xs, ys, trans, color: str, lw: float, clip: str) -> None:
    """A solid line (``Line2D``: projecting caps), clipped to its Axes."""
    canvas.open("line2d")
    canvas.path(MplPath(np.column_stack([xs, ys]).astype(float)), trans,
                svgd.svg_style(None, color, lw, cap="square"), clip=clip)
    canvas.close()


def _spine(canvas: Canvas, panel: Panel, side: str) -> None:
    """One spine of an Axes (``Spine``: a line along the side, over the view limits)."""
    if side in ("left", "right"):
        at = 0.0 if side == "left" else 1.0
        y0, y1 = panel.view.intervaly
        xy, trans = [[at, y0], [at, y1]], blended_transform_factory(panel.trans_axes,
                                                                    panel.trans_data)
    else:
        at = 0.0 if side == "bottom" else 1.0
        x0, x1 = panel.view.intervalx
        xy, trans = [[x0, at], [x1, at]], panel.xaxis
    canvas.open("patch")
    canvas.path(MplPath(np.array(xy, dtype=float)), trans,
                svgd.svg_style(None, MUTED, 0.8, join="miter", cap="square"))
    canvas.close()


def gosh_svg(fig_id: str, title: str, gosh: Mapping, axis_label: str) -> str:
    """GOSH plot from the ``gosh`` block of a multiverse summary (estimate against I²)."""
    counts = np.asarray(gosh["density"], dtype=float)
    x_edges = gosh["estimate_edges"]
    y_edges = gosh["I2_edges"]
    points = gosh.get("points")
    canvas = Canvas(fig_id, 6.0, 3.6)
    canvas.open("figure")
    svgd.background(canvas, canvas.trans_figure)
    # The Axes as matplotlib draws it: the density image (without points), the axes (x then
    # y), the subsets, the full model's diamond, the left and bottom spines, the legend;
    # then the colour bar of the density, which took its room from the right of the Axes.
    rect = (0.11, 0.15, 0.72, 0.78)
    if points:
        ax = Panel(canvas, rect, (x_edges[0], x_edges[-1]), (y_edges[0] - 3, y_edges[-1] + 3))
    else:
        shade = np.where(counts > 0, np.log1p(counts), np.nan).T
        vmax = max(float(np.nanmax(shade)) if np.isfinite(shade).any() else 1.0, 1.0)
        # matplotlib's colorbar.make_axes(fraction=0.05, pad=0.02) and the bar's aspect 20
        parent = Bbox.from_bounds(*rect)
        shrunk, _, bar_box = parent.splitx(1 - 0.05 - 0.02, 1 - 0.05)
        bar_box = bar_box.shrunk(1.0, 1.0).anchored((0.0, 0.5), bar_box)
        ax = svgd.panel_at(canvas, Bbox(BboxTransform(parent, shrunk).transform(parent)),
                           (x_edges[0], x_edges[-1]), (y_edges[0], y_edges[-1]))
    clip = canvas.clip_for(ax.bbox)
    canvas.open("axes")
    svgd.background(canvas, ax.trans_axes)
    if not points:
        svgd.image(canvas, ax, shade, (x_edges[0], x_edges[-1], y_edges[0], y_edges[-1]),
                   cmap="Greys", vmin=0.0, vmax=vmax, origin="lower")
    prop = _font(FONT_SIZE)
    canvas.open("matplotlib.axis")
    ticks, labels, offset = svgd.auto_ticks(ax, canvas, "x", FONT_SIZE)
    boxes = svgd.axis_ticks(canvas, ax, "x", ticks, labels, prop, MUTED, INK)
    svgd.axis_label(canvas, ax, "x", axis_label, prop, INK, boxes, bool(ticks))
    svgd.offset_text(canvas, ax, "x", offset, prop, INK, boxes)
    canvas.close()
    canvas.open("matplotlib.axis")
    ticks, labels, offset = svgd.auto_ticks(ax, canvas, "y", FONT_SIZE)
    boxes = svgd.axis_ticks(canvas, ax, "y", ticks, labels, prop, "#000000", "#000000")
    svgd.axis_label(canvas, ax, "y", "I² (%)", prop, INK, boxes, bool(ticks))
    svgd.offset_text(canvas, ax, "y", offset, prop, "#000000", boxes)
    canvas.close()
    entries = []
    if points:
        subset = (f"fill: {MUTED}; fill-opacity: 0.7; stroke: #000000; stroke-opacity: 0",
                  "stroke: #000000; stroke-opacity: 0")
        canvas.open("line2d")
        canvas.markers("o", 3, np.asarray(points, dtype=float)[:, :2], ax.trans_data, *subset,
                       clip=clip)
        canvas.close()
        entries.append(("o", 3, *subset, "subset"))
    has_full = gosh.get("full_estimate") is not None and gosh.get("full_I2") is not None
    if has_full:
        full = (f"fill: {ACCENT}; stroke: #ffffff; stroke-linejoin: miter",
                "stroke: #ffffff; stroke-linejoin: miter")
        canvas.open("line2d")
        canvas.markers("D", 5, [(gosh["full_estimate"], gosh["full_I2"])], ax.trans_data,
                       *full, clip=clip)
        canvas.close()
        entries.append(("D", 5, *full, "all trials"))
    _spine(canvas, ax, "left")
    _spine(canvas, ax, "bottom")
    if has_full:
        svgd.legend(canvas, ax, entries, FONT_SIZE - 0.5)
    canvas.close()
    if not points:
        _colour_bar(canvas, bar_box, vmax, prop)
    canvas.close()
    return canvas.fragment(title)


def _colour_bar(canvas: Canvas, box: Bbox, vmax: float, prop: FontProperties) -> None:
    """The density's colour bar: 256 grey steps from 0 to ``vmax`` (log1p of counts).

    As ``Figure.colorbar`` draws it: an Axes of aspect 20 at the left of ``box``, the steps
    as a rasterised mesh, ticks at 1, 10, 100, ... subsets on the right, the label, the
    (empty) dividers and the outline.
    """
    from matplotlib.colors import Normalize

    unit = Bbox.unit().transformed(canvas.trans_figure)
    position = box.shrunk_to_aspect(20.0, box, unit.height / unit.width).anchored(
        (0.0, 0.5), box)
    norm = Normalize(vmin=0.0, vmax=vmax)
    bounds = np.asarray(norm.inverse(np.linspace(0, 1, 257)), dtype=float)
    values = 0.5 * (bounds[:-1] + bounds[1:])
    low, high = bounds[[0, -1]]
    y = np.ma.filled(norm(bounds.copy()), np.nan)
    y = np.ma.filled(Normalize(y[0], y[-1])(y), np.nan)
    norm.vmin, norm.vmax = low, high
    y = norm.inverse(y)
    bar = svgd.panel_at(canvas, position, (0.0, 1.0), (low, high))
    canvas.open("axes")
    svgd.background(canvas, bar.trans_axes)
    svgd.rasterized_mesh(canvas, bar, [0.0, 1.0], y, values[:, np.newaxis], cmap="Greys",
                         vmin=0.0, vmax=vmax)
    canvas.open("matplotlib.axis")
    canvas.close()
    canvas.open("matplotlib.axis")
    top = math.expm1(high)
    shown = [v for v in (1, 10, 100, 1000, 10_000, 100_000, 1_000_000) if v <= top]
    ticks = [math.log1p(v) for v in shown]
    a, b = sorted((low, high))
    tol = 1e-10 * (b - a)
    kept = [(t, f"{v:,}") for t, v in zip(ticks, shown, strict=True) if a - tol <= t <= b + tol]
    boxes = svgd.axis_ticks(canvas, bar, "y", [t for t, _ in kept], [s for _, s in kept], prop,
                            "#000000", "#000000", right=True)
    svgd.axis_label(canvas, bar, "y", "subsets per cell", prop, INK, boxes, bool(kept),
                    right=True)
    canvas.close()
    canvas.open("LineCollection")
    canvas.close()
    outline = np.array([[0, 0], [0.5, 0], [1, 0], [1, 1], [0.5, 1], [0, 1], [0, 0]])
    canvas.open("patch")
    canvas.path(MplPath(outline, closed=True), bar.trans_axes,
                svgd.svg_style(None, MUTED, 0.8, join="miter", cap="square"))
    canvas.close()
    canvas.close()


def robustness_context(summary_path, table_path, measure_names: Mapping) -> dict:
    """Context of ``_robustness.html`` for one condition.

    Parameters
    ----------
    summary_path, table_path : path-like
        ``data/processed/multiverse/{condition}.json`` and ``.csv``.
    measure_names : mapping
        Measure -> display dict with ``short`` and ``log`` (``render.MEASURES``).

    Returns
    -------
    dict
        ``analysis, title, measure, n_specifications, n_fitted, n_too_few, median, low,
        high, share_excluding_null, share_positive, share_negative`` (shares in percent),
        ``most_influential,
        spread, sentence, curve_svg, gosh_svg, gosh`` (SVGs as ``Markup`` or None).
    """
    summary = json.loads(Path(summary_path).read_text(encoding="utf-8"))
    frame = read_specifications(table_path)
    mv = summary["multiverse"]
    measure = mv["primary_measure"]
    block = mv["by_measure"].get(measure) or {}
    names = measure_names.get(measure, {"short": measure, "log": False})
    axis_label = f"{'log ' if names.get('log') else ''}{names['short']}"
    aid = summary["analysis"]
    fitted = frame[frame["fitted"].astype(bool) & (frame["measure"].astype(str) == measure)]
    factors = {f: [str(v) for v in levels] for f, levels in summary["factors"].items()}
    factors.pop("measure", None)
    curve = None
    if len(fitted):
        curve = Markup(
            specification_curve_svg(
                f"spec-{aid}", f"Specification curve of {summary['label']}", fitted, factors,
                axis_label,
            )
        )  # fmt: skip
    gosh = summary.get("gosh")
    gosh_fig = None
    if gosh is not None:
        gosh_fig = Markup(
            gosh_svg(f"gosh-{aid}", f"GOSH plot of {summary['label']}", gosh, axis_label)
        )
    influential = block.get("most_influential")
    return {
        "analysis": aid,
        "title": summary["label"],
        "measure": names["short"],
        "n_specifications": mv["n_specifications"],
        "n_fitted": mv["n_fitted"],
        "n_too_few": mv["n_too_few"],
        "n_measure": block.get("n_fitted", 0),
        "median": block.get("median"),
        "low": block.get("min"),
        "high": block.get("max"),
        "share_excluding_null": _pct(block.get("share_excluding_null")),
        "share_positive": _pct(block.get("share_positive")),
        "share_negative": _pct(block.get("share_negative")),
        "most_influential": _label(influential) if influential else None,
        "spread": block.get("spread", {}).get(influential) if influential else None,
        "sentence": _sentence(block, names["short"], axis_label),
        "curve_svg": curve,
        "gosh_svg": gosh_fig,
        "gosh": gosh,
    }


def _pct(share):
    return None if share is None else 100.0 * share


def _sentence(block: Mapping, short: str, axis_label: str) -> str:
    """Which choice moves the answer most, in words."""
    spread = {f: v for f, v in (block.get("spread") or {}).items() if v is not None}
    if not spread:
        return "No specification had two or more trials, so no choice could be compared."
    ranked = sorted(spread, key=lambda f: (-spread[f], f))
    first = ranked[0]
    if spread[first] == 0:
        return f"No choice moves the median {short}: every factor gives the same median."
    text = (
        f"The choice that moves the estimate most is {_label(first).lower()}: the median "
        f"{short} differs by {fmt.num(spread[first], 2)} ({axis_label} units) between its "
        "levels"
    )
    if len(ranked) > 1 and spread[ranked[1]] > 0:
        text += f", followed by {_label(ranked[1]).lower()} ({fmt.num(spread[ranked[1]], 2)})"
    return text + "."
