"""The time-course figure drawn through matplotlib's Artists: the reference of the direct writer.

:func:`ketameta.report.plots.timecourse_svg` writes its SVG element by element
(:mod:`ketameta.report._svgdirect`). This is the same figure built as a matplotlib figure
(an Axes with a log time axis, a legend, annotations) and saved by matplotlib's SVG
backend, as the reports drew it before; ``test_timecourse_svg.py`` requires the two to be
byte-identical. A change of the figure's layout is made in both places, and this one says
what it must look like.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
from matplotlib.lines import Line2D

from ketameta.report.plots import (
    _DAY_TICKS,
    ACCENT,
    FONT_SIZE,
    GRID,
    INK,
    MUTED,
    Axis,
    TimePoint,
    _new_figure,
    _rc,
    _svg_fragment,
    _tick_label,
    axis_limits,
)


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

    with matplotlib.rc_context(_rc(fig_id)):
        fig = _new_figure(9.0, 3.6)
        ax = fig.add_axes((0.09, 0.17, 0.88, 0.7))
        ax.set_xscale("log")
        ax.axhline(null, color=GRID, lw=0.9, ls=(0, (4, 3)), zorder=0)
        if model:
            md = [m[0] for m in model]
            ax.fill_between(md, [m[2] for m in model], [m[3] for m in model], color="#e4e4e4",
                            lw=0, zorder=1, label="multilevel model, 95% CI")
            ax.plot(md, [m[1] for m in model], color=MUTED, lw=1.0, zorder=2)
        for p in points:
            if p.low is not None and p.high is not None:
                ax.plot([p.day, p.day], [max(p.low, lo), min(p.high, hi)], color=INK, lw=1.1,
                        zorder=3)
            single = p.k == 1
            ax.plot([p.day], [p.estimate], ls="none", marker="s" if single else "D",
                    ms=6 if single else 7, mfc=INK if single else ACCENT, mec="white",
                    mew=0.6, zorder=4)
            top = min(p.high if p.high is not None else p.estimate, hi)
            ax.annotate(f"k = {p.k}", (p.day, top), textcoords="offset points",
                        xytext=(0, 4), ha="center", va="bottom", color=MUTED,
                        fontsize=FONT_SIZE - 0.5)
        xt = [(d, lab) for d, lab in _DAY_TICKS if lo_day <= d <= hi_day]
        ax.set_xlim(lo_day, hi_day)
        ax.set_xticks([d for d, _ in xt], [lab for _, lab in xt])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_ylim(lo, hi)
        ax.set_yticks(ticks, [_tick_label(t, axis.log) for t in ticks])
        ax.set_xlabel("Time since the first dose (log scale)", color=INK)
        ax.set_ylabel(axis.label, color=INK)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        box = {"facecolor": "white", "edgecolor": "none", "pad": 1.5}
        if favours_low:
            ax.text(0.01, 0.02, f"↓ {favours_low}", transform=ax.transAxes, ha="left",
                    va="bottom", color=MUTED, fontsize=FONT_SIZE - 0.5, bbox=box, zorder=5)
        if favours_high:
            ax.text(0.01, 0.98, f"↑ {favours_high}", transform=ax.transAxes, ha="left",
                    va="top", color=MUTED, fontsize=FONT_SIZE - 0.5, bbox=box, zorder=5)
        handles = [Line2D([], [], ls="none", marker="D", ms=6, mfc=ACCENT, mec="white",
                          label="pooled (k ≥ 2)"),
                   Line2D([], [], ls="none", marker="s", ms=5, mfc=INK, mec="white",
                          label="single trial")]
        ax.legend(handles=handles + (ax.get_legend_handles_labels()[0] if model else []),
                  loc="lower right", bbox_to_anchor=(1.0, 1.02), ncol=3, frameon=False,
                  fontsize=FONT_SIZE - 0.5)
        out = _svg_fragment(fig, fig_id, title)
    return out
