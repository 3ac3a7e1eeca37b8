"""The GOSH plot drawn through matplotlib's Artists: the reference of the direct writer.

:func:`ketameta.report.robustness.gosh_svg` writes its SVG element by element
(:mod:`ketameta.report._svgdirect`). This is the same figure built as a matplotlib figure
(an Axes with markers or an image, a legend, a colour bar) and saved by matplotlib's SVG
backend, as the reports drew it before; ``test_gosh_svg.py`` requires the two to be
byte-identical. A change of the figure's layout is made in both places, and this one says
what it must look like.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib
import numpy as np

from ketameta.report.plots import ACCENT, FONT_SIZE, INK, MUTED, _new_figure, _rc, _svg_fragment


def gosh_svg(fig_id: str, title: str, gosh: Mapping, axis_label: str) -> str:
    """GOSH plot from the ``gosh`` block of a multiverse summary (estimate against I²)."""
    counts = np.asarray(gosh["density"], dtype=float)
    x_edges = gosh["estimate_edges"]
    y_edges = gosh["I2_edges"]
    with matplotlib.rc_context(_rc(fig_id)):
        fig = _new_figure(6.0, 3.6)
        ax = fig.add_axes((0.11, 0.15, 0.72, 0.78))
        points = gosh.get("points")
        if points:
            xy = np.asarray(points, dtype=float)
            ax.plot(
                xy[:, 0],
                xy[:, 1],
                ls="none",
                marker="o",
                ms=3,
                mfc=MUTED,
                mec="none",
                alpha=0.7,
                label="subset",
            )
            ax.set_xlim(x_edges[0], x_edges[-1])
            ax.set_ylim(y_edges[0] - 3, y_edges[-1] + 3)
        shade = np.where(counts > 0, np.log1p(counts), np.nan).T
        image = None if points else ax.imshow(
            shade, origin="lower", aspect="auto", cmap="Greys", interpolation="nearest",
            extent=(x_edges[0], x_edges[-1], y_edges[0], y_edges[-1]),
            vmin=0.0, vmax=max(float(np.nanmax(shade)) if np.isfinite(shade).any() else 1.0, 1.0),
        )  # fmt: skip
        if gosh.get("full_estimate") is not None and gosh.get("full_I2") is not None:
            ax.plot(
                [gosh["full_estimate"]], [gosh["full_I2"]], marker="D", ms=5, mfc=ACCENT,
                mec="white", ls="none", label="all trials",
            )  # fmt: skip
            ax.legend(loc="upper right", frameon=False, fontsize=FONT_SIZE - 0.5)
        ax.set_xlabel(axis_label, color=INK)
        ax.set_ylabel("I² (%)", color=INK)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if image is not None:
            bar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02)
            top = math.expm1(bar.vmax)
            ticks = [v for v in (1, 10, 100, 1000, 10_000, 100_000, 1_000_000) if v <= top]
            bar.set_ticks([math.log1p(v) for v in ticks], labels=[f"{v:,}" for v in ticks])
            bar.set_label("subsets per cell", color=INK)
        out = _svg_fragment(fig, fig_id, title)
    return out
