"""Multi-arm trials: treatment arms that share one control arm.

In the input (docs/contract.md, section 1) each row compares one treatment arm with a control arm. When a
trial has several treatment arms (e.g. three doses) against one placebo arm, its rows carry
the same ``group`` label, and entering them as independent comparisons would count the
control participants more than once (Cochrane Handbook v6, section 23.3.4, "unit-of-analysis
error"). This module resolves such groups before effect sizes are computed, so that every
control participant is counted once.

Modes
-----
``combine`` (default)
    The treatment arms become one arm: for continuous data the Cochrane Handbook's formulae
    (section 6.5.2.10, Table 6.5.a) for the combined mean and SD, for events and
    group sizes their sums. The comparison is then one row per trial.
``split``
    Each comparison keeps its treatment arm and gets an equal share of the control arm:
    ``n_ctrl / m`` (and ``events_ctrl / m``) for ``m`` comparisons (Handbook section
    23.3.4, option "split the shared group"). Means and SDs of the control arm stay as
    they are. Study labels become ``"{study} ({arm})"``. Shares may be fractional.

Reported effects (``effect_type`` rows) that share a control arm cannot be combined or
split: their covariance is unknown and no arm data are there to recompute them. In both
modes the first row of such a group (in file order) is kept and the others are dropped
with a warning; list the arm to analyse first (e.g. the licensed dose).

Single-arm rows (proportions) have no control arm and may not carry a group label.

A group is identified by ``(study, group)`` within the rows of one analysis (which already
share condition, outcome and time point). The rows of a group must stand in one file,
agree on the control arm (``n_ctrl``, ``mean_ctrl``, ``sd_ctrl``, ``events_ctrl``) and be
of one data kind; otherwise :class:`~ketameta.io.DataError` names the row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ketameta.io import DataError

__all__ = ["combine_continuous", "resolve_multiarm", "label_years", "check_unique_studies"]

_CONTROL = {
    "continuous": ("n_ctrl", "mean_ctrl", "sd_ctrl"),
    "dichotomous": ("n_ctrl", "events_ctrl"),
}
_JOIN_PLUS = ("arm", "dose")


def combine_continuous(n: Sequence[float], mean: Sequence[float], sd: Sequence[float]):
    """Sample size, mean and SD of the union of several groups.

    For two groups this is the Cochrane Handbook's formula (v6.4, section 6.5.2.10, Table
    6.5.a)::

        N  = N1 + N2
        M  = (N1 M1 + N2 M2) / N
        SD = sqrt(((N1-1) SD1² + (N2-1) SD2² + N1 N2 / N (M1² + M2² - 2 M1 M2)) / (N - 1))

    For more groups the Handbook applies it repeatedly; the closed form used here,
    ``SD² = (Σ (n_i - 1) SD_i² + Σ n_i (M_i - M)²) / (N - 1)``, is algebraically the same
    (it is the SD, with divisor N - 1, of all observations pooled).

    Parameters
    ----------
    n, mean, sd : sequence of float
        Group sizes, means and SDs (SD with divisor n - 1, as reported).

    Returns
    -------
    tuple of float
        ``(N, M, SD)`` of the combined group.
    """
    n = np.asarray(n, dtype=float)
    mean = np.asarray(mean, dtype=float)
    sd = np.asarray(sd, dtype=float)
    total = n.sum()
    pooled_mean = float((n * mean).sum() / total)
    ss = ((n - 1) * sd**2).sum() + (n * (mean - pooled_mean) ** 2).sum()
    return float(total), pooled_mean, math.sqrt(ss / (total - 1))


def resolve_multiarm(rows: pd.DataFrame, mode: str = "combine") -> tuple[pd.DataFrame, list]:
    """Resolve the groups of rows that share a control arm.

    Parameters
    ----------
    rows : pandas.DataFrame
        The rows of one analysis, as :func:`ketameta.io.read_data` returns them (columns
        ``study, group, arm, kind, source_file, source_line`` and the data columns).
    mode : {"combine", "split"}
        See the module docstring.

    Returns
    -------
    resolved : pandas.DataFrame
        One row per comparison, in the order of the first row of each group. A combined row
        carries the first row's identity and source, ``arm`` and ``dose`` joined with
        `` + ``, other differing text joined with ``; ``, and ``source_lines`` listing all
        lines it came from.
    notes : list of dict
        One entry per group of two or more rows: ``study, group, action`` (combined, split,
        kept first), ``arms`` and ``lines``, and ``warning`` (str or None).

    Raises
    ------
    DataError
        If a group mixes data kinds or its rows disagree about the control arm.
    """
    if mode not in ("combine", "split"):
        raise ValueError(f"multiarm mode must be combine or split, not {mode!r}")
    rows = rows.copy(deep=False)  # pandas copies on write: the caller's rows never change
    rows["source_lines"] = rows["source_line"].astype(str)
    if "group" not in rows or rows["group"].isna().all():
        return rows.reset_index(drop=True), []
    grouped = rows["group"].notna()
    years = rows["year"].astype(object).where(rows["year"].notna(), None)
    keys = list(zip(rows["study"], years, rows["group"], strict=True))
    seen: dict[tuple, list[int]] = {}
    order: list[list[int]] = []
    for position, (key, is_grouped) in enumerate(zip(keys, grouped, strict=True)):
        if not is_grouped:
            order.append([position])
        elif key not in seen:
            seen[key] = [position]
            order.append(seen[key])
        else:
            seen[key].append(position)
    if all(len(positions) == 1 for positions in seen.values()):
        return rows.reset_index(drop=True), []  # no arms share a control arm here
    # The output is taken from the rows at once (one row per position in ``take``), then the
    # cells a resolved group changes are set column by column.
    table = _Columns(rows)
    take: list[int] = []
    notes: list[dict] = []
    for positions in order:
        if len(positions) == 1:
            take.extend(positions)
            continue
        _check_group(table, positions)
        notes.append(_resolve(table, positions, mode, take))
    return table.build(take), notes


class _Columns:
    """The rows of one analysis as lists of cells, and the cells resolved groups change.

    A column's cells are listed when a group first needs them. In the output of
    :meth:`build` a column keeps its dtype where the cells set in it are of that dtype
    (floats in a float64 column, text in a text column) and becomes ``object`` otherwise
    (a missing value set where there was text, as ``pandas.concat`` of the rows would give).
    """

    def __init__(self, rows: pd.DataFrame):
        self.rows = rows
        self.dtypes = rows.dtypes.to_dict()
        self._cells: dict[str, list] = {}
        self.changes: dict[str, dict[int, object]] = {}
        #: Text columns whose differing values a combined row joins (besides ``_JOIN_PLUS``).
        self.joined = [column for column in rows.columns
                       if column in _JOIN_PLUS or (
                           self.dtypes[column] == "str"
                           and column not in ("study", "group", "kind", "source_lines")
                           and not column.startswith("source_"))]

    def __getitem__(self, column: str) -> list:
        if column not in self._cells:
            self._cells[column] = self.rows[column].tolist()
        return self._cells[column]

    def at(self, column: str, positions: Sequence[int]) -> list:
        cells = self[column]
        return [cells[p] for p in positions]

    def where(self, position: int) -> dict:
        return {"path": self["source_file"][position], "line": int(self["source_line"][position])}

    def set(self, column: str, out: int, value) -> None:
        """Give row ``out`` of the output ``value`` in ``column``."""
        self.changes.setdefault(column, {})[out] = value

    def build(self, take: Sequence[int]) -> pd.DataFrame:
        out = self.rows.take(take).reset_index(drop=True)
        for column, changes in self.changes.items():
            dtype = self.dtypes[column]
            held = float if dtype == np.float64 else str if dtype == "str" else None
            kept = held is not None and all(isinstance(v, held) for v in changes.values())
            cells = out[column].to_numpy(dtype=None if kept else object, copy=True)
            for position, value in changes.items():
                cells[position] = value
            out[column] = pd.Series(cells, dtype=dtype if kept else object)
        return out


def _check_group(table: _Columns, positions: Sequence[int]) -> None:
    first = positions[0]
    study, group = table["study"][first], table["group"][first]
    kind, path, line = table["kind"][first], table["source_file"][first], table["source_line"][first]
    label = f"group {group!r} of study {study!r}"
    if kind == "single":
        raise DataError(
            **table.where(positions[1]),
            column="group",
            message=f"{label} marks arms that share a control arm, but single-arm rows have "
            "no control arm; leave group empty and give each arm its own study label",
        )
    for position in positions[1:]:
        if table["source_file"][position] != path:
            raise DataError(
                **table.where(position),
                column="group",
                message=f"the rows of {label} share one control arm and must stand in one "
                f"file, but line {line} is in {path}",
            )
        if table["kind"][position] != kind:
            raise DataError(
                **table.where(position),
                column="group",
                message=f"the rows of {label} share one control arm, but this row holds "
                f"{table['kind'][position]} data and line {line} {kind} data",
            )
        for column in _CONTROL.get(kind, ()):
            value, expected = table[column][position], table[column][first]
            if value != expected:
                raise DataError(
                    **table.where(position),
                    column=column,
                    message=f"the rows of {label} share one control arm, but {column} differs "
                    f"from line {line} ({_num(value)} here, {_num(expected)} there)",
                )


def _num(value: float) -> str:
    return f"{value:g}"


def _where(row) -> dict:
    return {"path": row["source_file"], "line": int(row["source_line"])}


def _resolve(table: _Columns, positions: Sequence[int], mode: str, take: list[int]) -> dict:
    """Resolve one group: append its output rows to ``take``, record their changed cells
    in ``table`` and return the group's note."""
    first = positions[0]
    study, path = table["study"][first], table["source_file"][first]
    arms = [a if isinstance(a, str) else None for a in table.at("arm", positions)]
    lines = [int(x) for x in table.at("source_line", positions)]
    note = {
        "study": study,
        "group": table["group"][first],
        "arms": arms,
        "lines": lines,
        "source": path,
        "warning": None,
    }
    kind = table["kind"][first]
    if kind not in _CONTROL:
        dropped = ", ".join(str(line) for line in lines[1:])
        note["action"] = "kept first"
        note["warning"] = (
            f"{study}: {len(positions)} reported effects share one control arm "
            f"(group {note['group']}); kept the first listed ({path}, line "
            f"{lines[0]}) and left out line{'s' if len(lines) > 2 else ''} {dropped}, because "
            "reported effects cannot be combined"
        )
        take.append(first)
        return note
    if mode == "split":
        note["action"] = "split"
        share = len(positions)
        labels = [a if a else f"arm {i}" for i, a in enumerate(arms, start=1)]
        shared = ("n_ctrl", "events_ctrl") if kind == "dichotomous" else ("n_ctrl",)
        for position, arm in zip(positions, labels, strict=True):
            out = len(take)
            take.append(position)
            for column in shared:
                table.set(column, out, table[column][position] / share)
            table.set("study", out, f"{table['study'][position]} ({arm})")
        return note
    note["action"] = "combined"
    out = len(take)
    take.append(first)
    if kind == "continuous":
        combined = combine_continuous(*(table.at(c, positions)
                                        for c in ("n_treat", "mean_treat", "sd_treat")))
        for column, value in zip(("n_treat", "mean_treat", "sd_treat"), combined, strict=True):
            table.set(column, out, value)
    else:
        for column in ("events_treat", "n_treat"):
            table.set(column, out, float(np.nansum(table.at(column, positions))))
    for column in table.joined:
        values = table.at(column, positions)
        joiner = " + " if column in _JOIN_PLUS else "; "
        unique = list(dict.fromkeys(v for v in values if isinstance(v, str) and v))
        if table.dtypes[column] == "str" and (unique == [values[0]] or not (
                unique or isinstance(values[0], str))):
            continue  # the first row's text, or missing as it is, in a text column
        table.set(column, out, joiner.join(unique) if unique else None)
    table.set("source_lines", out, ";".join(str(line) for line in lines))
    return note


def label_years(rows: pd.DataFrame) -> pd.DataFrame:
    """Show the year beside a study label that stands for studies of different years.

    A study is identified by its label and, where given, its year: metafor's ``dat.li2007``
    has two trials labelled "Shechter", of 1990 and 1991. Where one label carries more than
    one year among ``rows``, each of its rows is relabelled ``"{study} ({year})"`` so that
    plots, tables and ``effects.csv`` tell them apart; other labels are left as they are.

    Parameters
    ----------
    rows : pandas.DataFrame
        Rows of one analysis (``study`` and ``year`` columns).

    Returns
    -------
    pandas.DataFrame
        A copy with the relabelled ``study`` column.
    """
    rows = rows.copy(deep=False)  # copied on write
    if "year" not in rows:
        return rows
    seen: dict = {}
    for study, year in zip(rows["study"], rows["year"], strict=True):
        if not (pd.isna(study) or pd.isna(year)):
            seen.setdefault(study, set()).add(year)
    shared = {study for study, years in seen.items() if len(years) > 1}
    if shared:
        rows["study"] = [
            f"{study} ({year})" if study in shared and not pd.isna(year) else study
            for study, year in zip(rows["study"], rows["year"], strict=True)
        ]
    return rows


def check_unique_studies(rows: pd.DataFrame, analysis: str) -> None:
    """Raise :class:`DataError` if a study label enters one analysis twice.

    After :func:`resolve_multiarm` every comparison of an analysis must have its own study
    label: two rows with one label are either arms sharing a control arm that lack a common
    ``group`` label, or the same comparison given twice.
    """
    seen: dict[str, int] = {}
    for position, study in enumerate(rows["study"]):
        if study in seen:
            row, other = rows.iloc[position], rows.iloc[seen[study]]
            there = (
                f"line {other['source_line']}"
                if other["source_file"] == row["source_file"]
                else f"{other['source_file']}, line {other['source_line']}"
            )
            raise DataError(
                **_where(row),
                column="study",
                message=f"study {study!r} enters analysis {analysis} twice (also {there}); "
                "arms that share a control arm need one group label, separate comparisons "
                "need distinct study labels",
            )
        seen[study] = position
