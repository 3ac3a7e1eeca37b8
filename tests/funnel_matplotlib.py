"""The funnel plot drawn through matplotlib's Artists: the reference of the direct writer.

:func:`ketameta.report.plots.funnel_svg` writes its SVG element by element
(:mod:`ketameta.report._svgdirect`). This is the same figure built as a matplotlib figure
(an Axes with shaded contours, a legend with proxy swatches) and saved by matplotlib's SVG
backend, as the reports drew it before; ``test_funnel_svg.py`` requires the two to be
byte-identical. A change of the figure's layout is made in both places, and this one says
what it must look like.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import matplotlib
from matplotlib.collections import PolyCollection
from matplotlib.patches import Patch

from ketameta.report.plots import (
    ACCENT,
    FONT_SIZE,
    INK,
    MUTED,
    Axis,
    _new_figure,
    _rc,
    _svg_fragment,
    _tick_label,
    axis_limits,
)


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

    with matplotlib.rc_context(_rc(fig_id)):
        fig = _new_figure(6.4, 4.3)
        ax = fig.add_axes((0.1, 0.14, 0.62, 0.8))
        shades = [(z99, "#c6c6c6", "p < 0.01"), (z95, "#dedede", "0.01 < p < 0.05"),
                  (z90, "#f0f0f0", "0.05 < p < 0.10")]
        ax.fill_between([lo, hi], [0, 0], [se_max, se_max], color=shades[0][1], lw=0,
                        label=shades[0][2], zorder=0)
        for (z, _, _), (_, color, lab) in zip(shades, shades[1:] + [(0, "white", "p > 0.10")],
                                              strict=True):
            ax.fill([null - z * se_max, null, null + z * se_max], [se_max, 0, se_max],
                    color=color, lw=0, zorder=0, label=lab)
        ax.plot([estimate - z95 * se_max, estimate, estimate + z95 * se_max], [se_max, 0, se_max],
                color=MUTED, lw=0.8, ls=(0, (3, 2)), zorder=1)
        ax.axvline(estimate, color=INK, lw=0.9, zorder=1, label="pooled estimate")
        if adjusted is not None and len(filled_yi):
            ax.axvline(adjusted, color=ACCENT, lw=0.9, ls=(0, (4, 2)), zorder=1,
                       label="trim-and-fill estimate")
        ax.plot(yi, sei, ls="none", marker="o", ms=5.5, mfc=INK, mec="white", mew=0.6,
                zorder=3, label="study")
        if len(filled_yi):
            ax.plot(list(filled_yi), list(filled_sei), ls="none", marker="o", ms=5.5, mfc="white",
                    mec=ACCENT, mew=1.2, zorder=3, label="imputed (trim-and-fill)")
        ax.set_xlim(lo, hi)
        ax.set_ylim(se_max, 0)
        ax.set_xticks(ticks, [_tick_label(t, axis.log) for t in ticks])
        ax.set_xlabel(axis.label, color=INK)
        ax.set_ylabel("Standard error", color=INK)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        # shade swatches get a thin outline so that the white "p > 0.10" one is visible
        # (proxies, so that the triangles themselves stay without outline)
        handles, labels = ax.get_legend_handles_labels()
        handles = [Patch(facecolor=h.get_facecolor(), edgecolor=MUTED, linewidth=0.5)
                   if isinstance(h, (Patch, PolyCollection)) else h for h in handles]
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False,
                  fontsize=FONT_SIZE - 0.5, handlelength=1.6)
        out = _svg_fragment(fig, fig_id, title)
    return out
