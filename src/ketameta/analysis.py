"""Configured analyses: select rows, resolve multi-arm trials, compute, write the outputs.

This module is what the workflow calls. It has two halves:

* **Checking** (:func:`check_inputs`, :func:`prepare`): everything that can be wrong with
  the data or the configuration of an analysis is found here, before any statistic is
  computed, and raised as :class:`~ketameta.io.DataError` naming the file, line and column
  (or the configuration key). The workflow runs it once when it starts, so a bad input
  never produces a result.
* **Computing** (:func:`run_condition`): all analyses of one condition in one process. The
  main random-effects fits of analyses that share method, test, level and prediction
  interval are one 2-D batch of :func:`ketameta.models.rma`; each analysis then gets its
  small-study tests and sensitivity analyses, and its ``effects.csv`` and ``summary.json``
  (docs/contract.md section 3, plus the extras of docs/architecture.md) are written atomically.
  The analyses' rows pass through one at a time, except their effect sizes, which the
  batches need all at once (:func:`run_condition` says what the job keeps).

Selecting rows
--------------
An analysis takes the rows whose ``condition``, ``outcome`` and ``timepoint`` equal its own
and whose data can give its ``measure``: continuous arms give SMD and MD; dichotomous arms
RR, OR and RD; a single arm PLO, PFT and PR; a reported effect the measure its
``effect_type`` is on the scale of (SMD: SMD, d; MD: MD; RR: RR, logRR; OR: OR, logOR;
RD: RD), and any type for GEN (one scale per analysis); docs/architecture.md has the table.
A matching row that cannot give the measure is an error naming the row. After multi-arm
resolution each study label may enter an analysis once. Rows whose effect size is undefined
(``drop00``, or a zero cell with ``to: none``) are left out of the fit and listed under
``excluded`` in ``summary.json``, with a warning. Studies named in the analysis's
``exclude`` setting are left out before any check of their rows and listed under
``excluded`` with the configured reason.
"""

from __future__ import annotations

import json
import platform
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

# The model fitting is imported by the functions that fit: the workflow calls check_inputs
# while it parses, and that needs only the data layer.
from ketameta._results import finite
from ketameta.absolute import absolute_effects, family_of
from ketameta.effects import EFFECT_SCALE, REPORTED_FOR, escalc
from ketameta.io import (
    DESCRIPTIVE_COLUMNS,
    KIND_LABELS,
    DataError,
    check_declared,
    read_data,
    read_table,
    write_table,
    write_text,
)
from ketameta.multiarm import check_unique_studies, label_years, resolve_multiarm
from ketameta.profiles import effective_config

__all__ = [
    "MEASURE_KIND",
    "Prepared",
    "RowIndex",
    "check_inputs",
    "participants",
    "prepare",
    "run_condition",
    "summarise",
    "write_json",
]

#: The arm-level data kind each measure is computed from (GEN: reported effects only).
MEASURE_KIND = {
    "SMD": "continuous",
    "MD": "continuous",
    "RR": "dichotomous",
    "OR": "dichotomous",
    "RD": "dichotomous",
    "PLO": "single",
    "PFT": "single",
    "PR": "single",
    "GEN": None,
}
_KIND_GIVES = {
    "continuous": "continuous arms give SMD or MD",
    "dichotomous": "dichotomous arms give RR, OR or RD",
    "single": "a single arm gives PLO, PFT or PR",
}
_EFFECT_COLUMNS = ("study", "year", "yi", "vi", "sei", "ci_low", "ci_high", "weight")
_DATA_COLUMNS = (
    "n_treat", "mean_treat", "sd_treat", "n_ctrl", "mean_ctrl", "sd_ctrl",
    "events_treat", "events_ctrl", "effect_type",
)  # fmt: skip
_INTERNAL = (
    "kind", "source_file", "source_line", "source_lines", "source_sha256",
    "sei", "ci_low", "ci_high", "ci_level",
)  # fmt: skip
#: The columns of an analysis's rows that :func:`ketameta.timecourse.add_time_courses` reads.
_COURSE_COLUMNS = ("study", "yi", "vi", "day", "comparator")
#: How many analyses of a condition keep their whole effects table for the time courses;
#: the others keep only its :data:`_COURSE_COLUMNS`, a fifth of its memory, which takes
#: about a fiftieth of the analysis's CPU time to select.
WHOLE_TABLES = 32


@dataclass
class Prepared:
    """One analysis ready to compute: its effective configuration and its rows.

    Attributes
    ----------
    config : dict
        Effective configuration (:func:`ketameta.profiles.effective_config`).
    rows : pandas.DataFrame
        One row per comparison after multi-arm resolution, in input order.
    multiarm : list of dict
        What :func:`ketameta.multiarm.resolve_multiarm` did with each shared-control group.
    warnings : list of str
        Messages for ``summary.json`` (reported arms dropped from a shared-control group).
    excluded : list of dict
        Rows left out by the analysis's ``exclude`` setting: study, source, line, reason.
    """

    config: dict
    rows: pd.DataFrame
    multiarm: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    excluded: list = field(default_factory=list)


# ----------------------------------------------------------------------------- checking


def check_inputs(
    config: Mapping, config_path: str = "config/config.yaml", root="."
) -> pd.DataFrame:
    """Read and check all data against a schema-validated configuration.

    Parameters
    ----------
    config : mapping
        Configuration after JSON-schema validation (defaults filled in).
    config_path : str
        How messages name the configuration file.
    root : path-like
        Workflow directory that ``data_dir`` is relative to.

    Returns
    -------
    pandas.DataFrame
        All rows of all input files (:func:`ketameta.io.read_data`).

    Raises
    ------
    DataError
        The first problem: a malformed file or row, an analysis whose condition or outcome
        is not declared, an analysis that selects no rows or none that can give its
        measure, a multi-arm group that does not share its control arm, a study that enters
        an analysis twice.

    Notes
    -----
    The rows are grouped by condition, outcome and time point once (:class:`RowIndex`), and
    :func:`prepare` runs, on the analysis's own rows, only for the analyses it could refuse,
    in configuration order; so the cost grows with rows plus analyses, and the first
    problem and its message are those of running :func:`prepare` for every analysis.
    """
    for name, entry in config["analyses"].items():
        for key, declared in (("condition", "conditions"), ("outcome", "outcomes")):
            if entry[key] not in config[declared]:
                raise DataError(
                    config_path,
                    f"{key} {entry[key]!r} is not declared under {declared} (declared: "
                    f"{', '.join(config[declared])})",
                    key=f"analyses.{name}.{key}",
                )
        vtype = entry.get("escalc", {}).get("vtype")
        if vtype == "RevMan" and entry["measure"] != "SMD":
            raise DataError(
                config_path,
                f"vtype RevMan applies to measure SMD only (measure is {entry['measure']})",
                key=f"analyses.{name}.escalc.vtype",
            )
    trials = read_data(config["data_dir"], root, config.get("limits"))
    check_declared(trials, config, config_path)
    index = RowIndex(trials)
    for name in config["analyses"]:
        cfg = effective_config(name, config)
        if index.needs_checking(cfg):
            prepare(index.rows(cfg), cfg, config_path)
    return trials


def prepare(
    trials: pd.DataFrame, cfg: Mapping, config_path: str = "config/config.yaml"
) -> Prepared:
    """Select, check and resolve the rows of one analysis.

    Parameters
    ----------
    trials : pandas.DataFrame
        Rows as :func:`ketameta.io.read_data` or :func:`ketameta.io.read_table` return them.
    cfg : mapping
        Effective configuration of the analysis.
    config_path : str
        How messages name the configuration file.

    Returns
    -------
    Prepared

    Raises
    ------
    DataError
        See :func:`check_inputs`.
    """
    name, measure = cfg["analysis"], cfg["measure"]
    match = np.ones(len(trials), dtype=bool)
    for key in ("condition", "outcome", "timepoint"):  # missing cells equal nothing
        match &= trials[key].to_numpy(dtype=object) == cfg[key]
    if not match.any():
        raise DataError(
            config_path,
            f"no rows in the data have condition {cfg['condition']}, outcome "
            f"{cfg['outcome']} and timepoint {cfg['timepoint']}; check the analysis or the "
            "data",
            key=f"analyses.{name}",
        )
    # RowIndex.rows hands over exactly the analysis's rows: no copy is needed then.
    selected = trials if match.all() else trials[match]
    rows, excluded = _apply_exclusions(selected, cfg, config_path)
    usable = _usable(
        measure, rows["kind"].to_numpy(dtype=object), rows["effect_type"].astype(object).to_numpy()
    )
    if not usable.all():
        row = rows.iloc[int(np.flatnonzero(~usable)[0])]
        kind = row["kind"]
        if kind == "reported":
            other = _measure_of(row["effect_type"])
            gives = f"a reported {row['effect_type']} gives GEN" + (f" or {other}" if other else "")
        else:
            gives = _KIND_GIVES[kind]
        raise DataError(
            row["source_file"],
            f"analysis {name}: measure {measure} cannot use the {KIND_LABELS[kind]} row of "
            f"{row['study']} ({gives})",
            line=int(row["source_line"]),
            column="effect_type" if kind == "reported" else _marker(kind),
        )
    if measure == "GEN":
        _check_one_scale(rows, name)
    resolved, notes = resolve_multiarm(rows, cfg["multiarm"])
    resolved = label_years(resolved)
    check_unique_studies(resolved, name)
    messages = [n["warning"] for n in notes if n["warning"]]
    return Prepared(dict(cfg), resolved, notes, messages, excluded)


def _usable(measure: str, kinds: np.ndarray, etypes: np.ndarray) -> np.ndarray:
    """Which rows (data kinds, reported effect types) can give ``measure``."""
    return (kinds == MEASURE_KIND[measure]) | (
        (kinds == "reported") & np.isin(etypes, REPORTED_FOR[measure])
    )


class RowIndex:
    """The rows of every condition x outcome x time point, found in one pass over the table.

    :func:`prepare` selects an analysis's rows with a scan of the whole table and then checks
    them with several small table operations; run for every analysis when the workflow
    starts, that costs analyses x rows. This index groups the table once, hands each analysis
    its own rows (:meth:`rows`), and tells the analyses that :func:`prepare` cannot refuse
    from those it must check (:meth:`needs_checking`), so that the parse-time check is
    linear in rows plus analyses and :func:`prepare` alone words every error.

    An analysis passes without :func:`prepare` when all of these hold, each of which rules
    out one of its refusals: its condition, outcome and time point (text) select rows; its
    measure is not GEN (one scale per analysis) and every selected row can give it; it
    excludes no study; its ``multiarm`` mode is ``combine`` or ``split``; and among the
    rows of its combination no row carries a ``group`` label (multi-arm resolution then
    leaves the rows as they are) and no study label repeats (so no label stands for two
    years and none enters twice). Anything else goes through :func:`prepare`.

    Parameters
    ----------
    trials : pandas.DataFrame
        Rows as :func:`ketameta.io.read_data` returns them.
    """

    _KEY = ("condition", "outcome", "timepoint")

    def __init__(self, trials: pd.DataFrame):
        self.trials = trials
        self._positions = trials.groupby(list(self._KEY), sort=False).indices
        self._code = {key: i for i, key in enumerate(self._positions)}
        codes = np.full(len(trials), len(self._code), dtype=np.intp)  # last bin: no key
        for i, positions in enumerate(self._positions.values()):
            codes[positions] = i
        self._codes = codes
        special = trials.duplicated([*self._KEY, "study"], keep=False).to_numpy(dtype=bool)
        if "group" in trials:
            special = special | trials["group"].notna().to_numpy(dtype=bool)
        self._special = self._per_key(special) > 0
        self._kinds = trials["kind"].to_numpy(dtype=object)
        self._etypes = trials["effect_type"].astype(object).to_numpy()
        self._unusable: dict[str, np.ndarray] = {}

    def _per_key(self, flags: np.ndarray) -> np.ndarray:
        counts = np.bincount(self._codes, weights=flags, minlength=len(self._code) + 1)
        return counts[:-1]

    def _key(self, cfg: Mapping):
        key = tuple(cfg.get(k) for k in self._KEY)
        if all(isinstance(v, str) for v in key) and key in self._code:
            return key
        return None

    def rows(self, cfg: Mapping) -> pd.DataFrame:
        """The rows :func:`prepare` selects for ``cfg`` (the whole table if none match)."""
        key = self._key(cfg)
        if key is None:  # prepare() finds no row and says so
            return self.trials
        return self.trials.iloc[self._positions[key]]

    def needs_checking(self, cfg: Mapping, all_usable: bool = False) -> bool:
        """False if :func:`prepare` surely accepts the analysis ``cfg`` (see the class).

        ``all_usable=True`` takes on trust that every row the analysis will be given can
        give its measure (:mod:`ketameta.plan` hands each measure only the rows it takes).
        """
        key = self._key(cfg)
        measure = cfg.get("measure")
        if (
            key is None
            or measure not in MEASURE_KIND
            or measure == "GEN"
            or cfg.get("exclude")
            or cfg.get("multiarm") not in ("combine", "split")
            or self._special[self._code[key]]
        ):
            return True
        if all_usable:
            return False
        if measure not in self._unusable:
            unusable = ~_usable(measure, self._kinds, self._etypes)
            self._unusable[measure] = self._per_key(unusable)
        return bool(self._unusable[measure][self._code[key]])


def _apply_exclusions(rows: pd.DataFrame, cfg: Mapping, config_path: str):
    """Drop the studies the analysis's ``exclude`` names; each must be among ``rows``."""
    name, exclude = cfg["analysis"], cfg.get("exclude") or {}
    if not exclude:
        return rows, []
    studies = rows["study"].astype(str)
    for study in exclude:
        if not (studies == study).any():
            raise DataError(
                config_path,
                f"study {study!r} is not among the rows this analysis selects (its studies: "
                f"{', '.join(dict.fromkeys(studies))})",
                key=f"analyses.{name}.exclude",
            )
    dropped = studies.isin(list(exclude)).to_numpy(dtype=bool)
    excluded = [
        {
            "study": str(row["study"]),
            "source": str(row["source_file"]),
            "line": int(row["source_line"]),
            "reason": f"excluded by the configuration: {exclude[str(row['study'])]}",
        }
        for _, row in rows[dropped].iterrows()
    ]
    kept = rows[~dropped]
    if kept.empty:
        raise DataError(
            config_path,
            "every selected study is excluded; remove the analysis or an exclusion",
            key=f"analyses.{name}.exclude",
        )
    return kept, excluded


def _measure_of(effect_type: str) -> str | None:
    for measure in ("SMD", "MD", "RR", "OR", "RD"):
        if effect_type in REPORTED_FOR[measure]:
            return measure
    return None


def _marker(kind: str) -> str:
    return {"continuous": "mean_treat", "dichotomous": "events_ctrl", "single": "events_treat"}[
        kind
    ]


def _check_one_scale(rows: pd.DataFrame, name: str) -> None:
    first = rows.iloc[0]
    scale = EFFECT_SCALE[first["effect_type"]]
    for _, row in rows.iloc[1:].iterrows():
        if EFFECT_SCALE[row["effect_type"]] != scale:
            raise DataError(
                row["source_file"],
                f"analysis {name} (measure GEN) pools one scale, but this row is on the "
                f"{EFFECT_SCALE[row['effect_type']]} scale and line {first['source_line']} of "
                f"{first['source_file']} on the {scale} scale",
                line=int(row["source_line"]),
                column="effect_type",
            )


# ----------------------------------------------------------------------------- computing


def run_condition(
    table: str | Path,
    analyses: Mapping[str, Mapping],
    effects: Sequence[str | Path],
    summaries: Sequence[str | Path],
    grade: Mapping | None = None,
) -> None:
    """Compute every analysis of one condition and write its outputs.

    Parameters
    ----------
    table : path-like
        The condition's validated rows (``data/interim/{condition}.csv``).
    analyses : mapping
        Analysis id to effective configuration, in config order.
    effects, summaries : sequence of path-like
        Output paths, one per analysis in the order of ``analyses``.
    grade : mapping, optional
        :func:`ketameta.grade.job_settings` of these analyses; given, each summary gains its
        GRADE certainty as ``grade`` (:func:`ketameta.grade.grade_block`).

    Notes
    -----
    The job's memory grows little with the number of analyses. Each analysis is prepared
    and sized in turn, and keeps only its effect sizes until the batch fits
    (:func:`_summarise`); then, one analysis at a time, its summary is composed, its
    ``effects.csv`` written and its GRADE block judged, and its rows are let go. Until the
    end each keeps its ``summary.json`` dict, its effects table for the time courses
    (:func:`ketameta.timecourse.add_time_courses` lines up all analyses of an outcome),
    past the first :data:`WHOLE_TABLES` only the columns they read, and its GRADE block,
    which comes after the time course in ``summary.json``.
    The batch fits themselves are not split into chunks: a batch's width (its largest
    analysis) and its trim-and-fill refit depend on every analysis in it, and splitting a
    batch changes the last bits of results.
    """
    from ketameta.grade import grade_block
    from ketameta.timecourse import add_time_courses

    trials = read_table(table)
    inputs = dict(sorted(zip(trials["source_file"], trials["source_sha256"], strict=True)))
    index = RowIndex(trials)  # each analysis's rows without a scan of the table per analysis
    prepared = (prepare(index.rows(cfg), cfg) for cfg in analyses.values())
    kept = []  # (summary, the rows the time courses read, GRADE block) of each analysis
    for (summary, frame, records), effects_path in zip(
        _summarise(prepared, inputs), effects, strict=True
    ):
        write_table(frame, effects_path)
        certainty = None if grade is None else grade_block(summary, records, grade)
        if len(kept) >= WHOLE_TABLES:
            frame = frame[[c for c in _COURSE_COLUMNS if c in frame]]
        kept.append((summary, frame, certainty))
    add_time_courses([(summary, rows) for summary, rows, _ in kept])  # ketameta.timecourse
    for (summary, _, certainty), summary_path in zip(kept, summaries, strict=True):
        if grade is not None:
            summary["grade"] = certainty
        write_json(summary, summary_path)


def summarise(prepared: Sequence[Prepared], inputs: Mapping[str, str]):
    """Fit prepared analyses; return ``(summary dict, effects frame)`` for each.

    The random-effects and equal-effects fits of analyses that share (method, test, level,
    pi, control) run as one 2-D batch of :func:`ketameta.models.rma` each; the
    composition of ``summary.json`` is :mod:`ketameta.summary`'s.
    """
    return [(summary, frame) for summary, frame, _ in _summarise(prepared, inputs)]


def _summarise(prepared: Iterable[Prepared], inputs: Mapping[str, str]):
    """:func:`summarise` as a generator, each analysis with the records of its effects table.

    Each analysis is sized as ``prepared`` yields it, and only its effect sizes are kept
    (:class:`_Sized`), not its prepared rows; the batch fits need the sizes of all. Each
    analysis's summary is then composed when the caller asks for the next one, and its
    sizes are let go.
    """
    items: list[_Sized | None] = [_sized(prep) for prep in prepared]
    fitted = _fit(items)
    for i, fit in enumerate(fitted):
        item, items[i] = items[i], None
        yield _summary(item, fit, inputs)


def _fit(items: Sequence[_Sized]) -> list[FittedAnalysis | None]:
    """The batch fits of sized analyses (None for an analysis without effect sizes)."""
    from ketameta.models import rma
    from ketameta.summary import fit_summary, small_study_tests, trimfill_details

    fitted: list = [None] * len(items)
    groups: dict[tuple, list[int]] = {}
    for i, item in enumerate(items):
        if len(item.frame):
            cfg = item.config
            key = (cfg["method"], cfg["test"], cfg["level"], cfg["pi"], _control(cfg))
            groups.setdefault(key, []).append(i)
    for (method, test, level, pi, control), members in groups.items():
        width = max(len(items[i].frame) for i in members)
        y = np.full((len(members), width), np.nan)
        v = np.full((len(members), width), np.nan)
        for row, i in enumerate(members):
            frame = items[i].frame
            y[row, : len(frame)] = frame["yi"].to_numpy(dtype=float)
            v[row, : len(frame)] = frame["vi"].to_numpy(dtype=float)
        res = rma(y, v, method=method, test=test, level=level, pi=pi, control=control)
        ee = rma(y, v, method="EE", test="z", level=level, control=control)
        tests = small_study_tests(res)
        stats = fit_summary(res, [list(items[i].frame["study"]) for i in members], tests)
        for row, i in enumerate(members):
            k = len(items[i].frame)
            equal = {
                f: finite(getattr(ee, f)[row])
                for f in ("estimate", "se", "ci_low", "ci_high", "p_value")
            }
            fitted[i] = FittedAnalysis(
                stats={key: values[row] for key, values in stats.items()},
                weights=np.asarray(res.weights[row, :k], dtype=float),
                df=finite(res.df[row]),
                equal=equal,
                trimfill=trimfill_details(tests.trimfill, row),
            )
    return fitted


@dataclass
class _Sized:
    """One analysis ready to fit (:func:`_sized`), without its prepared rows.

    Attributes
    ----------
    config : dict
        Effective configuration (:attr:`Prepared.config`).
    multiarm : list of dict
        :attr:`Prepared.multiarm`.
    frame : pandas.DataFrame
        The rows with a defined effect size, with ``yi`` and ``vi``, in fitting order.
    excluded : list of dict
        Rows left out, by the configuration or for an undefined effect size.
    notes : list of str
        Messages for ``summary.json``.
    """

    config: dict
    multiarm: list
    frame: pd.DataFrame
    excluded: list
    notes: list


@dataclass
class FittedAnalysis:
    """The batch results of one analysis that :func:`_summary` writes out.

    Attributes
    ----------
    stats : dict
        Contract keys from :func:`ketameta.summary.fit_summary` (one row of the batch).
    weights : ndarray
        Random-effects weights in percent, in fitting order.
    df : float or None
        Degrees of freedom of the test.
    equal : dict
        The equal-effects model's estimate, se, CI and p-value.
    trimfill : dict
        :func:`ketameta.summary.trimfill_details` of the analysis.
    """

    stats: dict
    weights: np.ndarray
    df: float | None
    equal: dict
    trimfill: dict


def _control(cfg: Mapping) -> str:
    """The configured stopping rules (``exact`` unless an analysis or profile says
    ``metafor``)."""
    return cfg.get("control", "exact")


def _sized(prep: Prepared) -> _Sized:
    """Effect sizes of one analysis in fitting order; rows without one are left out.

    escalc's messages name rows by index label, so the rows are labelled
    ``"study (file, line n)"`` for the call.
    """
    cfg = prep.config
    rows = prep.rows.set_axis(
        [
            f"{study} ({source}, line {line})"
            for study, source, line in zip(
                prep.rows["study"],
                prep.rows["source_file"],
                prep.rows["source_lines"],
                strict=True,
            )
        ]
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = escalc(cfg["measure"], rows, **cfg["escalc"])
    yi = frame["yi"].to_numpy(dtype=float)
    vi = frame["vi"].to_numpy(dtype=float)
    missing = np.isnan(yi) | np.isnan(vi)
    dropped = missing & _double_zero(frame) & cfg["escalc"]["drop00"]
    zero_variance = ~missing & (vi <= 0)
    undefined = missing | zero_variance
    reasons = np.where(
        dropped,
        "no events in both arms, or only events in both arms (drop00)",
        np.where(
            zero_variance,
            "sampling variance 0 (e.g. a proportion of 0 or 1 with to: none); it cannot be "
            "weighted",
            "effect size undefined (see the escalc warning)",
        ),
    )
    excluded = list(prep.excluded) + [
        {
            "study": row["study"],
            "source": row["source_file"],
            "line": int(row["source_line"]),
            "reason": str(reason),
        }
        for (_, row), reason in zip(
            frame[undefined].iterrows() if undefined.any() else (),
            reasons[undefined],
            strict=True,
        )
    ]
    notes = list(prep.warnings)
    notes += [
        f"{e['study']} ({e['source']}, line {e['line']}) left out: {e['reason']}"
        for e, told in zip(
            excluded[len(prep.excluded) :], (dropped | zero_variance)[undefined], strict=True
        )
        if told
    ]
    notes += [str(w.message) for w in caught]
    frame = _by_year(frame[~undefined] if undefined.any() else frame)
    return _Sized(prep.config, prep.multiarm, frame, excluded, notes)


def _by_year(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by year (unknown years last), then study label; ties keep their order.

    The order of ``frame.sort_values(["year", "study"], na_position="last",
    kind="stable")``, found by Python's stable sort for the usual columns (integer years,
    text labels), by pandas otherwise.
    """
    years, studies = frame["year"], frame["study"]
    if not (
        isinstance(studies.dtype, pd.StringDtype)
        and (years.dtype.kind in "iu" or (years.dtype.kind == "f" and years.dtype == float))
        and not studies.isna().any()
    ):
        return frame.sort_values(
            ["year", "study"], na_position="last", kind="stable"
        ).reset_index(drop=True)
    unknown = years.isna().to_numpy(dtype=bool).tolist()
    year = years.to_numpy(dtype=float, na_value=np.nan).tolist()
    study = studies.tolist()
    order = sorted(
        range(len(frame)), key=lambda i: (unknown[i], 0.0 if unknown[i] else year[i], study[i])
    )
    return frame.take(order).reset_index(drop=True)


def _double_zero(frame: pd.DataFrame) -> np.ndarray:
    """2x2 tables with no events in both arms, or only events in both arms."""
    a, b, c, d = (
        frame[col].to_numpy(dtype=float, na_value=np.nan)
        for col in ("events_treat", "events_ctrl", "n_treat", "n_ctrl")
    )
    return ((a == 0) & (b == 0)) | ((a == c) & (b == d))


def _records(frame: pd.DataFrame) -> list[dict]:
    """``frame.to_dict("records")``, built a column at a time (the same values and types).

    As pandas does, values of object and extension columns become Python scalars (NumPy
    numbers to ``float``, ``int``, ``bool``; ``pd.NA`` to ``None``); NumPy columns give
    Python scalars by ``tolist``. A frame with date or time columns is left to pandas.
    """
    columns = frame.columns.tolist()
    if not frame.columns.is_unique:
        return frame.to_dict("records")
    values = []
    for _, series in frame.items():
        dtype = series.dtype
        if dtype.kind in "mM":
            return frame.to_dict("records")
        if isinstance(dtype, pd.StringDtype):  # text, or the dtype's missing value
            values.append([v if type(v) is str else _native(v) for v in series])
        elif dtype == np.dtype(object) or isinstance(dtype, pd.api.extensions.ExtensionDtype):
            values.append([_native(v) for v in series])
        else:
            values.append(series.to_numpy().tolist())
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def _given(value) -> bool:
    """Whether a record's value is present (pandas' ``notna``: not None, NaN or NaT)."""
    return not (value is None or value is pd.NaT or (isinstance(value, float) and value != value))


def _native(value):
    """A Python scalar for ``value`` as ``to_dict`` gives it (pandas' ``maybe_box_native``)."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if value is pd.NA:
        return None
    if isinstance(value, np.datetime64 | np.timedelta64):
        return pd.Series([value]).tolist()[0]
    return value


def _summary(item: _Sized, fit: FittedAnalysis | None, inputs: Mapping[str, str]):
    """``(summary dict, effects table, its records)`` of one fitted analysis."""
    from ketameta.fewtrials import few_trials_block
    from ketameta.mixing import mixture
    from ketameta.proportions import arm_proportions
    from ketameta.subgrouping import subgroup_blocks
    from ketameta.summary import CONTRACT_KEYS, empty_extras, empty_stats, extras

    cfg, frame = item.config, item.frame
    yi = frame["yi"].to_numpy(dtype=float)
    vi = frame["vi"].to_numpy(dtype=float)
    studies = [str(s) for s in frame["study"]]
    if fit is None:
        stats, weights, df, equal = empty_stats(cfg), np.zeros(0), None, None
        more = empty_extras()
    else:
        stats, weights, df, equal = fit.stats, fit.weights, fit.df, fit.equal
        more = extras(
            yi, vi, studies, cfg["method"], cfg["test"], cfg["level"], _control(cfg),
            fit.trimfill,
        )  # fmt: skip
    z = _normal_quantile(cfg["level"])
    sei = np.sqrt(vi)
    frame = frame.assign(sei=sei, ci_low=yi - z * sei, ci_high=yi + z * sei, weight=weights)
    frame = _final_order(frame, cfg["sort_by"])
    order = [str(s) for s in frame["study"]]
    position = {s: i for i, s in enumerate(order)}
    if stats.get("leave1out"):
        stats["leave1out"] = sorted(stats["leave1out"], key=lambda r: position[r["study"]])
    more["influence"] = sorted(more["influence"], key=lambda r: position[r["study"]])
    stats["warnings"] = list(stats.get("warnings") or []) + item.notes
    summary = {"analysis": cfg["analysis"], "k": len(frame), "measure": cfg["measure"]}
    records = _records(frame)
    absolute = absolute_effects(
        stats.get("estimate"), stats.get("ci_low"), stats.get("ci_high"),
        family_of(cfg["measure"], [r.get("effect_type") for r in records]), records,
        stats.get("pi_low"), stats.get("pi_high"),
    )  # fmt: skip
    for key in CONTRACT_KEYS:
        summary.setdefault(key, stats.get(key))
    summary.update(
        {
            "label": cfg["label"],
            "condition": cfg["condition"],
            "outcome": cfg["outcome"],
            "timepoint": cfg["timepoint"],
            "profile": cfg["profile"],
            "pi_method": cfg["pi"],
            "df": df,
            "n_participants": _participants(frame),
            "studies": order,
            "equal_effects": equal,
            "absolute": absolute,
            **more,
            "excluded": item.excluded,
            "multiarm": item.multiarm,
            "provenance": _provenance(cfg, inputs),
        }
    )
    summary.update(mixture(frame, cfg))  # what the trials differ in (ketameta.mixing)
    summary["proportions"] = arm_proportions(frame, cfg)  # ketameta.proportions
    summary.update(subgroup_blocks(frame, cfg))  # ketameta.subgrouping
    summary["few_trials"] = few_trials_block(frame, cfg)  # ketameta.fewtrials
    table = _effects_table(frame, records)
    columns = list(table.columns)
    return summary, table, [{c: record[c] for c in columns} for record in records]


def _normal_quantile(level: float) -> float:
    from ketameta._dist import norm_ppf

    return float(norm_ppf(0.5 + level / 200))


def _final_order(frame: pd.DataFrame, sort_by: str) -> pd.DataFrame:
    if sort_by == "year":
        return frame
    keys = {"study": ["study"], "yi": ["yi", "study"], "weight": ["weight", "study"]}[sort_by]
    ascending = [sort_by != "weight"] + [True] * (len(keys) - 1)
    return frame.sort_values(keys, ascending=ascending, kind="stable").reset_index(drop=True)


def participants(n_treat, n_ctrl, design=None, single=None) -> np.ndarray:
    """Participants of each comparison.

    A parallel comparison counts both arms; a single arm counts its arm (``single``: a
    boolean per row; by default a row without ``n_ctrl`` is taken for a single arm). A
    comparison whose ``n_ctrl`` is unknown is NaN (unknown), never half counted.
    In a crossover trial every patient receives both treatments, so arms of equal size are
    the same people and are counted once. Crossover arms of different sizes cannot be the
    same people (first-period data, e.g. Rodriguez 2013: 8 vs 7) and count as two arms.
    NaN where ``n_treat`` is unknown.
    """
    nt = np.asarray(n_treat, dtype=float)
    nc = np.asarray(n_ctrl, dtype=float)
    crossover = np.asarray(design if design is not None else "", dtype=object) == "crossover"
    both = np.where(crossover & (nt == nc), nt, nt + nc)
    single = np.isnan(nc) if single is None else np.asarray(single, dtype=bool)
    return np.where(single, nt, both)


def _participants(frame: pd.DataFrame) -> float | int | None:
    """Participants of the pooled comparisons, control arms counted once; None if unknown."""
    if frame.empty:
        return None
    design = frame["design"] if "design" in frame else None
    n = participants(frame["n_treat"], frame["n_ctrl"], design, frame["kind"] == "single")
    if np.isnan(n).any():
        return None
    total = float(n.sum())
    return int(round(total)) if abs(total - round(total)) < 1e-9 else total


def _provenance(cfg: Mapping, inputs: Mapping[str, str]) -> dict:
    import scipy

    from ketameta import __version__

    return {
        "inputs": dict(inputs),
        "config": dict(cfg),
        "versions": {
            "python": platform.python_version(),
            "ketameta": __version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "pandas": pd.__version__,
        },
    }


def _effects_table(frame: pd.DataFrame, records: Sequence[Mapping] | None = None) -> pd.DataFrame:
    """The columns of ``effects.csv``; ``records`` (:func:`_records` of ``frame``) saves a
    pass over the frame."""
    if records is None:
        filled = frame.notna().any().to_dict()  # column -> whether any row gives a value
    else:
        filled = {c: any(_given(r[c]) for r in records) for c in frame.columns}
    data = [c for c in _DATA_COLUMNS if c in filled and filled[c]]
    descriptive = [c for c in DESCRIPTIVE_COLUMNS if c in filled and c != "year"]
    known = set(_EFFECT_COLUMNS) | set(data) | set(_DATA_COLUMNS) | set(descriptive)
    known |= set(_INTERNAL) | {"condition", "outcome", "timepoint", "vi", "yi"}
    unknown = [c for c in frame.columns if c not in known and filled[c]]
    columns = [*_EFFECT_COLUMNS, *data, *descriptive, "source_file", "source_lines", *unknown]
    return frame[columns]


# ----------------------------------------------------------------------------- writing


def write_json(obj, path: str | Path) -> None:
    """Write JSON deterministically (key order as given, no NaN) and atomically."""
    write_text(json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n", path)
