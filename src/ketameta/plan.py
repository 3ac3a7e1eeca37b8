"""Which analyses run: the configured ones plus one for every question the data hold.

By default every condition × outcome × time point present in the data is analysed, so that
no row sits unused because nobody wrote an ``analyses:`` entry for it. The configuration's
own ``analyses:`` entries take precedence: a combination of condition, outcome and time
point that any configured analysis selects is left to the configuration (which may split
it by measure, or leave studies out with a reason), and only the other combinations get a
generated analysis. ``analyse_every_row: false`` turns the generation off.

Measure of a generated analysis
-------------------------------
Each row's data group says which measures it can give (docs/architecture.md, "Which rows
an analysis's measure accepts"). A combination gets the measure that accepts most of its
rows, ties broken in the order SMD, MD, RR, OR, RD, PLO (continuous data are pooled as
Hedges' g, dichotomous as risk ratios, single arms as logits, as the Cochrane Handbook
suggests for outcomes measured on different scales); rows that measure cannot take go to a
second analysis with the measure that takes most of them, and so on. Reported hazard ratios
(no other measure takes them) are pooled with ``GEN``.

Identifiers
-----------
``{condition}_{outcome}_{timepoint}``, lower case, every character outside ``[a-z0-9]``
replaced by ``_`` (``MDD``, ``depression_severity``, ``72h`` → ``mdd_depression_severity_72h``).
A second measure of the same combination appends it (``…_72h_md``); an id that a configured
analysis already uses appends ``_auto``.

Everything here runs when the workflow is parsed; it is linear in the number of rows (one
grouping pass; each generated analysis is checked on its own rows only).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ketameta.analysis import MEASURE_KIND, prepare
from ketameta.effects import REPORTED_FOR
from ketameta.profiles import effective_config
from ketameta.timecourse import timepoint_days

__all__ = ["GENERATED_ORDER", "analysis_id", "plan_analyses", "timepoint_days"]

#: Measures a generated analysis may use, in order of preference on ties.
GENERATED_ORDER = ("SMD", "MD", "RR", "OR", "RD", "PLO")

_KEY = ("condition", "outcome", "timepoint")


def analysis_id(condition: str, outcome: str, timepoint: str) -> str:
    """The id of the generated analysis of one condition × outcome × time point."""
    return re.sub(r"[^a-z0-9]+", "_", f"{condition}_{outcome}_{timepoint}".lower()).strip("_")


def _accepts(measure: str, kinds: np.ndarray, etypes: np.ndarray) -> np.ndarray:
    """Which rows ``measure`` can use (the rule of :func:`ketameta.analysis.prepare`)."""
    if measure == "GEN":
        return (kinds == "reported") & np.isin(etypes, ("HR", "logHR"))
    return (kinds == MEASURE_KIND[measure]) | (
        (kinds == "reported") & np.isin(etypes, REPORTED_FOR[measure])
    )


def _measures(kinds: np.ndarray, etypes: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The measures that together take every row (their data kinds and reported effect
    types as object arrays), with the rows each takes."""
    left = np.ones(len(kinds), dtype=bool)
    out: list[tuple[str, np.ndarray]] = []
    while left.any():
        best, best_rows = None, None
        for measure in (*GENERATED_ORDER, "GEN"):
            taken = _accepts(measure, kinds, etypes) & left
            if taken.any() and (best_rows is None or taken.sum() > best_rows.sum()):
                best, best_rows = measure, taken
        if best is None:  # a row no measure takes; read_data never lets one through
            break
        out.append((best, best_rows))
        left &= ~best_rows
    return out


def _timepoint_text(timepoint: str) -> str:
    match = re.fullmatch(r"([0-9.]+)(min|h|d|w)", timepoint)
    if not match:
        return "end of treatment" if timepoint == "end" else timepoint
    number, unit = match.groups()
    words = {"min": "min", "h": "h", "d": "days", "w": "weeks"}
    if number == "1":
        words.update(d="day", w="week")
    return f"{number} {words[unit]}"


def plan_analyses(
    config: Mapping, trials: pd.DataFrame, config_path: str = "config/config.yaml"
) -> dict[str, dict]:
    """The analyses to run: the configured ones, then one per unconfigured combination.

    Parameters
    ----------
    config : mapping
        The validated configuration (``analyse_every_row`` defaults to true).
    trials : pandas.DataFrame
        All rows (:func:`ketameta.io.read_data`).
    config_path : str
        How messages name the configuration file.

    Returns
    -------
    dict
        Analysis id → configuration entry, the configured analyses first in their order,
        each with the top-level ``few_trials`` settings merged under its own,
        then the generated ones by condition (config order), outcome (config order) and
        time point (chronological, ``end`` last). Generated entries carry
        ``generated: true``, a ``label`` and the ``measure`` chosen as the module says.
        Rows whose condition or outcome is not declared get no analysis (the report lists
        them as unused, with that reason).

    Raises
    ------
    DataError
        A generated analysis whose rows cannot be pooled (e.g. one study twice without a
        shared-control group), with the file and line of the row.
    """
    few = dict(config.get("few_trials") or {})

    def with_few(entry: Mapping) -> dict:  # the top-level few_trials, the entry's own on top
        out = dict(entry)
        if few or "few_trials" in out:
            out["few_trials"] = {**few, **(out.get("few_trials") or {})}
        return out

    analyses = {name: with_few(entry) for name, entry in config["analyses"].items()}
    if not config.get("analyse_every_row", True) or trials.empty:
        return analyses
    claimed = {tuple(entry[k] for k in _KEY) for entry in analyses.values()}
    conditions = list(config["conditions"])
    outcomes = list(config["outcomes"])
    declared = trials["condition"].isin(conditions) & trials["outcome"].isin(outcomes)
    rows = trials[declared.to_numpy(dtype=bool)]
    if rows.empty:
        return analyses
    order = rows.assign(
        _c=rows["condition"].map(conditions.index),
        _o=rows["outcome"].map(outcomes.index),
        _t=rows["timepoint"].map(timepoint_days).fillna(np.inf),
    )
    from ketameta.analysis import RowIndex

    index = RowIndex(trials)  # checks each generated analysis only if prepare() could refuse it
    generated: dict[str, dict] = {}
    # One grouping pass; a combination's rows become a table of their own only where
    # prepare() checks them, the measures being chosen from two columns.
    groups = order.groupby(["_c", "_o", "_t", "timepoint"], sort=True).indices
    kinds = order["kind"].to_numpy(dtype=object)
    etypes = order["effect_type"].astype(object).to_numpy()
    for key in sorted(groups):
        condition, outcome, timepoint = conditions[key[0]], outcomes[key[1]], key[3]
        if (condition, outcome, timepoint) in claimed:
            continue
        positions = groups[key]
        base = analysis_id(condition, outcome, timepoint)
        if base in analyses:
            base += "_auto"
        outcome_label = config["outcomes"][outcome].get("label", outcome)
        for i, (measure, taken) in enumerate(_measures(kinds[positions], etypes[positions])):
            name = base if i == 0 else f"{base}_{measure.lower()}"
            entry = {
                "condition": condition,
                "outcome": outcome,
                "timepoint": timepoint,
                "measure": measure,
                "label": f"{outcome_label}, {_timepoint_text(timepoint)} ({measure})",
                "generated": True,
            }
            cfg = effective_config(name, {**config, "analyses": {name: entry}})
            if index.needs_checking(cfg, all_usable=True):
                prepare(order.iloc[positions[taken]], cfg, config_path)
            generated[name] = with_few(entry)
    analyses.update(generated)
    return analyses

