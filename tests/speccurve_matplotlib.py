"""The specification curve drawn through matplotlib's Artists: the reference of the direct writer.

:func:`ketameta.report.robustness.specification_curve_svg` writes its SVG element by
element (:mod:`ketameta.report._svgdirect`). This is the same figure built as a matplotlib
figure (two Axes, ``vlines``, ``plot``, ``imshow``, tick labels) and saved by matplotlib's
SVG backend, as the reports drew it before; ``test_speccurve_svg.py`` requires the two to be
byte-identical. A change of the figure's layout is made in both places, and this one says
what it must look like.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib
import numpy as np
import pandas as pd

from ketameta.report.plots import (
    ACCENT,
    FONT_SIZE,
    GRID,
    INK,
    MUTED,
    _new_figure,
    _rc,
    _svg_fragment,
)
from ketameta.report.robustness import _LEVEL_LABELS, MAX_COLUMNS, _label


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
    for factor in shown:
        for level in factors[factor]:
            rows.append((factor, str(level)))
            hit = (frame[factor].astype(str) == str(level)).to_numpy(dtype=float)
            shares.append(np.bincount(group, weights=hit, minlength=columns) / np.bincount(group))
    panel = np.array(shares) if shares else np.zeros((0, columns))

    row_h, top_h, bottom, gap, head = 0.14, 1.9, 0.4, 0.12, 0.1
    panel_h = row_h * len(rows)
    height = head + top_h + gap + panel_h + bottom
    with matplotlib.rc_context(_rc(fig_id)):
        fig = _new_figure(9.0, height)
        left, width = 0.27, 0.7
        ax = fig.add_axes((left, (bottom + panel_h + gap) / height, width, top_h / height))
        x = np.arange(columns)
        excludes = (low > 0) | (high < 0)
        for mask, color in ((~excludes, MUTED), (excludes, ACCENT)):
            ax.vlines(x[mask], low[mask], high[mask], color=color, lw=0.7)
            ax.plot(x[mask], est[mask], ls="none", marker="o", ms=2.2, color=color)
        ax.axhline(0.0, color=GRID, lw=0.8, zorder=0)
        ax.set_xlim(-0.5, columns - 0.5)
        ax.set_xticks([])
        ax.set_ylabel(axis_label, color=INK)
        for side in ("top", "right", "bottom"):
            ax.spines[side].set_visible(False)
        if len(rows):
            pax = fig.add_axes((left, bottom / height, width, panel_h / height))
            pax.imshow(
                panel, aspect="auto", cmap="Greys", vmin=0.0, vmax=1.0,
                interpolation="nearest", extent=(-0.5, columns - 0.5, len(rows) - 0.5, -0.5),
            )  # fmt: skip
            labels = [
                f"{_label(f)}: {_LEVEL_LABELS.get(lv, lv)}"
                if i == 0 or rows[i - 1][0] != f
                else _LEVEL_LABELS.get(lv, lv)
                for i, (f, lv) in enumerate(rows)
            ]
            pax.set_yticks(range(len(rows)), labels, fontsize=FONT_SIZE - 1.5)
            pax.set_xticks([])
            for i in range(1, len(rows)):
                if rows[i][0] != rows[i - 1][0]:
                    pax.axhline(i - 0.5, color=MUTED, lw=0.6)
            pax.set_xlabel(
                f"{n:,} specifications sorted by estimate"
                + (f" ({columns} columns of about {n / columns:.0f})" if columns < n else ""),
                color=INK,
            )
        out = _svg_fragment(fig, fig_id, title)
    return out
