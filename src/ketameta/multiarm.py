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
    rows = rows.copy()
    rows["source_lines"] = rows["source_line"].astype(str)
    if "group" not in rows or rows["group"].isna().all():
        return rows.reset_index(drop=True), []
    out: list[pd.DataFrame] = []
    notes: list[dict] = []
    grouped = rows["group"].notna()
    years = rows["year"].astype(object).where(rows["year"].notna(), None)
    keys = list(zip(rows["study"], years, rows["group"], strict=True))
    seen: dict[tuple, list[int]] = {}
    order: list[tuple] = []
    for position, (key, is_grouped) in enumerate(zip(keys, grouped, strict=True)):
        if not is_grouped:
            order.append(("row", position))
            continue
        if key not in seen:
            seen[key] = []
            order.append(("group", key))
        seen[key].append(position)
    if all(len(positions) == 1 for positions in seen.values()):
        return rows.reset_index(drop=True), []  # no arms share a control arm here
    # Rows that stay as they are are taken in runs, one slice per run, not one per row.
    run: list[int] = []
    for what, key in order:
        positions = [key] if what == "row" else seen[key]
        if len(positions) == 1:
            run.extend(positions)
            continue
        if run:
            out.append(rows.iloc[run])
            run = []
        members = rows.iloc[positions]
        _check_group(members)
        resolved, note = _resolve(members, mode)
        out.append(resolved)
        notes.append(note)
    if run:
        out.append(rows.iloc[run])
    return pd.concat(out, ignore_index=True), notes


def _where(row) -> dict:
    return {"path": row["source_file"], "line": int(row["source_line"])}


def _check_group(members: pd.DataFrame) -> None:
    first = members.iloc[0]
    label = f"group {first['group']!r} of study {first['study']!r}"
    if first["kind"] == "single":
        raise DataError(
            **_where(members.iloc[1]),
            column="group",
            message=f"{label} marks arms that share a control arm, but single-arm rows have "
            "no control arm; leave group empty and give each arm its own study label",
        )
    for _, row in members.iloc[1:].iterrows():
        if row["source_file"] != first["source_file"]:
            raise DataError(
                **_where(row),
                column="group",
                message=f"the rows of {label} share one control arm and must stand in one "
                f"file, but line {first['source_line']} is in {first['source_file']}",
            )
        if row["kind"] != first["kind"]:
            raise DataError(
                **_where(row),
                column="group",
                message=f"the rows of {label} share one control arm, but this row holds "
                f"{row['kind']} data and line {first['source_line']} {first['kind']} data",
            )
        for column in _CONTROL.get(first["kind"], ()):
            if row[column] != first[column]:
                raise DataError(
                    **_where(row),
                    column=column,
                    message=f"the rows of {label} share one control arm, but {column} differs "
                    f"from line {first['source_line']} ({_num(row[column])} here, "
                    f"{_num(first[column])} there)",
                )


def _num(value: float) -> str:
    return f"{value:g}"


def _resolve(members: pd.DataFrame, mode: str) -> tuple[pd.DataFrame, dict]:
    first = members.iloc[0]
    arms = [a if isinstance(a, str) else None for a in members["arm"]]
    lines = [int(x) for x in members["source_line"]]
    note = {
        "study": first["study"],
        "group": first["group"],
        "arms": arms,
        "lines": lines,
        "source": first["source_file"],
        "warning": None,
    }
    kind = first["kind"]
    if kind not in _CONTROL:
        dropped = ", ".join(str(line) for line in lines[1:])
        note["action"] = "kept first"
        note["warning"] = (
            f"{first['study']}: {len(members)} reported effects share one control arm "
            f"(group {first['group']}); kept the first listed ({first['source_file']}, line "
            f"{lines[0]}) and left out line{'s' if len(lines) > 2 else ''} {dropped}, because "
            "reported effects cannot be combined"
        )
        return members.iloc[[0]], note
    if mode == "split":
        note["action"] = "split"
        share = len(members)
        split = members.copy()
        split["n_ctrl"] = split["n_ctrl"] / share
        if kind == "dichotomous":
            split["events_ctrl"] = split["events_ctrl"] / share
        labels = [a if a else f"arm {i}" for i, a in enumerate(arms, start=1)]
        split["study"] = [f"{s} ({a})" for s, a in zip(split["study"], labels, strict=True)]
        return split, note
    note["action"] = "combined"
    combined = members.iloc[[0]].copy()
    if kind == "continuous":
        n, mean, sd = combine_continuous(
            members["n_treat"], members["mean_treat"], members["sd_treat"]
        )
        combined["n_treat"], combined["mean_treat"], combined["sd_treat"] = n, mean, sd
    else:
        combined["events_treat"] = float(members["events_treat"].sum())
        combined["n_treat"] = float(members["n_treat"].sum())
    for column in members.columns:
        values = members[column]
        if column in _JOIN_PLUS or (
            values.dtype == "str"
            and column not in ("study", "group", "kind", "source_lines")
            and not column.startswith("source_")
        ):
            joiner = " + " if column in _JOIN_PLUS else "; "
            unique = list(dict.fromkeys(v for v in values if isinstance(v, str) and v))
            if values.dtype == "str" and unique == [first[column]]:
                continue  # the first row's text already, in a text column: nothing to set
            combined[column] = joiner.join(unique) if unique else None
    combined["source_lines"] = ";".join(str(line) for line in lines)
    return combined, note


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
    rows = rows.copy()
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
