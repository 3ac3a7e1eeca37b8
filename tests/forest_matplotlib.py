"""The forest plot drawn through matplotlib's Artists: the reference of the direct writer.

:func:`ketameta.report.plots.forest_svg` writes its SVG element by element
(:mod:`ketameta.report._svgdirect`). This is the same figure built as a matplotlib figure
(an Axes per panel with its ticks, a Text per cell) and saved by matplotlib's SVG backend,
as the reports drew it before; ``test_forest_svg.py`` requires the two to be byte-identical.
A change of the forest plot's layout is made in both places, and this one says what it
must look like.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon, Rectangle
from matplotlib.transforms import ScaledTranslation, blended_transform_factory

from ketameta.report import formatting as fmt
from ketameta.report.plots import (
    ACCENT,
    FONT_SIZE,
    INK,
    MUTED,
    ROB_BAR_MISSING,
    ROB_COLUMN_WIDTH,
    ROB_STYLE,
    Axis,
    Column,
    Row,
    _forest_layout,
    _new_figure,
    _Panel,
    _rc,
    _svg_fragment,
    _tick_label,
    axis_limits,
)


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
    panels = [_Panel(axis=a) for a in axes]
    for row in rows:
        panels[row.panel].rows.append(row)
    if panels:
        panels[0].refline = refline
        panels[0].band = band

    (pad, panel_w, rob_w, width, height, foot_h, body_bottom, body_top, x_label,
     x_left, x_panels, x_right) = _forest_layout(rows, panels, left, right, footer,
                                                 label_header, rob_columns, font_size)

    rc = {**_rc(fig_id), "font.size": font_size, "xtick.labelsize": font_size,
          "ytick.labelsize": font_size}
    with matplotlib.rc_context(rc):
        fig = _new_figure(width, height)
        inch = fig.dpi_scale_trans

        n = len(rows)
        axes_objs = []
        for x0 in x_panels:
            ax = fig.add_axes((x0 / width, body_bottom, panel_w / width, body_top - body_bottom))
            ax.set_ylim(n - 0.4, -0.6)
            axes_objs.append(ax)
        ref_ax = axes_objs[0] if axes_objs else fig.add_axes((0, body_bottom, 1, body_top - body_bottom))
        if not axes_objs:
            ref_ax.set_ylim(n - 0.4, -0.6)
            ref_ax.set_axis_off()
        text_tr = blended_transform_factory(inch, ref_ax.transData)
        y_of = {id(r): i for i, r in enumerate(rows)}

        # header
        head_y = -0.6 - 0.45
        group_y = head_y - 1.0

        def put(xpos, y, s, align="left", bold=False, url=None, italic=False, color=INK):
            t = fig.text(xpos, y, s, transform=text_tr, ha=align, va="center",
                         fontweight="bold" if bold else "normal",
                         fontstyle="italic" if italic else "normal", color=color, clip_on=False)
            if url:
                t.set_url(url)
            return t

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
            fig.add_artist(Line2D([min(xs), max(xs)], [group_y + 0.5] * 2, transform=text_tr,
                                  color=MUTED, lw=0.6))
        x_end = x_right[-1] if right else x_panels[-1] + panel_w
        x_rob = x_end + 0.1
        for j, header in enumerate(rob_columns):
            put(x_rob + ROB_COLUMN_WIDTH * (j + 0.5), head_y, header, align="center", bold=True)
        x_end += rob_w
        fig.add_artist(Line2D([x_label, x_end], [-0.55, -0.55], transform=text_tr, color=INK, lw=0.8))

        # rows: text
        first_summary = None
        for r in rows:
            y = y_of[id(r)]
            if r.kind in ("pooled", "pi") and first_summary is None:
                first_summary = y
            indent = 0.0 if r.kind in ("heading", "pooled", "pi", "summary", "note") else 0.0
            label = r.label + (" *" if r.flagged else "")
            put(x_label + indent, y, label, bold=r.kind in ("heading", "pooled"), url=r.url,
                italic=r.kind == "pi")
            for j, c in enumerate(r.cells):
                put(x_left[j + 1] - pad / 2, y, c, align="right", bold=r.kind == "pooled")
            for j, c in enumerate(r.right):
                put(x_right[j + 1] - pad / 2, y, c, align="right", bold=r.kind == "pooled")
            if rob_columns:
                _draw_rob(fig, text_tr, x_rob, y, r, len(rob_columns))
        if first_summary is not None:
            fig.add_artist(Line2D([x_label, x_end], [first_summary - 0.5] * 2, transform=text_tr,
                                  color=MUTED, lw=0.5))

        # panels: markers
        for p, ax in zip(panels, axes_objs, strict=True):
            _draw_panel(ax, p, y_of, n)

        # footer
        for i, line in enumerate(footer):
            y_in = foot_h - 0.05 - 0.18 * (i + 0.5)
            fig.text(x_label / width, y_in / height, line, ha="left", va="center", color=INK)
        fig_out = _svg_fragment(fig, fig_id, title)
    return fig_out


def _draw_rob(fig, tr, x0: float, y: float, row: Row, columns: int) -> None:
    """One row's traffic lights, or on a pooled row the weighted summary bar."""
    for j, level in enumerate(row.rob):
        fill, ink, mark = ROB_STYLE.get(level, ROB_STYLE[None])
        xc = x0 + ROB_COLUMN_WIDTH * (j + 0.5)
        fig.add_artist(Line2D([xc], [y], transform=tr, marker="o", ms=11, mfc=fill,
                              mec=MUTED if level is None else fill, mew=0.8, ls="none"))
        fig.text(xc, y, mark, transform=tr, ha="center", va="center_baseline", color=ink,
                 fontweight="bold", fontsize=matplotlib.rcParams["font.size"])
    if row.rob_bar is not None:
        total = ROB_COLUMN_WIDTH * columns - 0.04
        x = x0 + 0.02
        for share, level in zip(row.rob_bar, ("low", "some", "high", None), strict=True):
            if not share > 0:
                continue
            w = total * share / 100.0
            fig.add_artist(Rectangle((x, y - 0.3), w, 0.6, transform=tr,
                                     fc=ROB_STYLE[level][0] if level else ROB_BAR_MISSING,
                                     ec=MUTED, lw=0.5))
            x += w


def _draw_panel(ax, p: _Panel, y_of: dict[int, int], n: int) -> None:
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
    lo, hi, ticks = axis_limits(core, whiskers, axis.log)
    ax.set_xlim((hi, lo) if axis.reverse else (lo, hi))
    ax.set_xticks(ticks, [_tick_label(t, axis.log) for t in ticks])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_yticks([])
    ax.patch.set_alpha(0.0)
    ax.tick_params(axis="x", length=3, width=0.6)
    ax.spines["bottom"].set_linewidth(0.6)
    ax.set_xlabel(axis.label, color=INK, labelpad=2)
    if p.band is not None:
        ax.axvspan(p.band[0], p.band[1], color="#e8e8e8", lw=0, zorder=0)
    if axis.null is not None and lo <= axis.null <= hi:
        ax.axvline(axis.null, color=MUTED, lw=0.8, zorder=1)
    if p.refline is not None:
        ax.axvline(p.refline, color=MUTED, lw=0.8, ls=(0, (3, 2)), zorder=1)

    weights = [r.weight for r in p.rows if r.kind == "study" and fmt.is_number(r.weight)]
    w_max = max(weights, default=0.0)
    for r in p.rows:
        y = y_of[id(r)]
        if r.kind == "study" and fmt.is_number(r.estimate):
            _whisker(ax, y, r.low, r.high, lo, hi, INK, 0.9)
            if lo <= r.estimate <= hi:
                if fmt.is_number(r.weight) and w_max > 0:
                    side = max(2.5, 11.0 * math.sqrt(max(r.weight, 0.0) / w_max))
                else:
                    side = 4.0
                ax.plot([r.estimate], [y], marker="s", ms=side, mfc=INK, mec=INK, mew=0.5,
                        ls="none", zorder=3, clip_on=False)
        elif r.kind in ("pooled", "summary") and fmt.is_number(r.estimate):
            if r.kind == "summary":
                _whisker(ax, y, r.pi_low, r.pi_high, lo, hi, ACCENT, 1.2)
            lo_d = max(r.low, lo) if fmt.is_number(r.low) else r.estimate
            hi_d = min(r.high, hi) if fmt.is_number(r.high) else r.estimate
            est = min(max(r.estimate, lo), hi)
            half = 0.32
            ax.add_patch(Polygon([(lo_d, y), (est, y - half), (hi_d, y), (est, y + half)],
                                 closed=True, fc=INK, ec=INK, lw=0.6, zorder=3))
            for edge, bound, below in ((lo, r.low, True), (hi, r.high, False)):
                if fmt.is_number(bound) and ((below and bound < lo) or (not below and bound > hi)):
                    ax.plot([edge], [y], marker=_arrow(ax, below), ms=5, color=INK, ls="none",
                            clip_on=False)
        elif r.kind == "pi" and fmt.is_number(r.low):
            _whisker(ax, y, r.low, r.high, lo, hi, ACCENT, 2.6, caps=True)

    if axis.favours_left or axis.favours_right:
        tr = blended_transform_factory(ax.transAxes, ax.transAxes)
        if axis.favours_left:
            ax.text(0.0, -0.0, "\u2190 " + axis.favours_left, transform=tr, ha="left", va="top",
                    color=INK, clip_on=False, fontsize=matplotlib.rcParams["font.size"] - 0.5)
        if axis.favours_right:
            ax.text(1.0, -0.0, axis.favours_right + " \u2192", transform=tr, ha="right",
                    va="top", color=INK, clip_on=False,
                    fontsize=matplotlib.rcParams["font.size"] - 0.5)
        # place the favours labels under the x label
        _shift_favours(ax)


def _shift_favours(ax) -> None:
    """Move the two favours labels below the tick labels and the axis label."""
    offset = ScaledTranslation(0, -0.37, ax.figure.dpi_scale_trans)
    for t in ax.texts[-2:]:
        if t.get_text().startswith("\u2190") or t.get_text().endswith("\u2192"):
            t.set_transform(t.get_transform() + offset)


def _arrow(ax, below: bool) -> str:
    """The marker of an interval leaving the axis below (True) or above its range."""
    left = below != ax.xaxis_inverted()
    return "<" if left else ">"


def _whisker(ax, y, low, high, lo, hi, color, lw, caps=False) -> None:
    """Horizontal interval from ``low`` to ``high`` clipped to [lo, hi], with arrows at clips."""
    if not (fmt.is_number(low) and fmt.is_number(high)):
        return
    a, b = max(low, lo), min(high, hi)
    if a > hi or b < lo:
        edge = hi if a > hi else lo
        ax.plot([edge], [y], marker=_arrow(ax, a <= hi), ms=5, color=color, ls="none",
                clip_on=False, zorder=2)
        return
    ax.plot([a, b], [y, y], color=color, lw=lw, solid_capstyle="butt", zorder=2, clip_on=False)
    if low < lo:
        ax.plot([lo], [y], marker=_arrow(ax, True), ms=5, color=color, ls="none",
                clip_on=False, zorder=2)
    elif caps:
        ax.plot([a], [y], marker="|", ms=7, color=color, mew=lw / 2, ls="none", zorder=2)
    if high > hi:
        ax.plot([hi], [y], marker=_arrow(ax, False), ms=5, color=color, ls="none",
                clip_on=False, zorder=2)
    elif caps:
        ax.plot([b], [y], marker="|", ms=7, color=color, mew=lw / 2, ls="none", zorder=2)


