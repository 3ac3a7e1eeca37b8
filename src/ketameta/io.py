"""Reading and validating the trial-level input files and the configuration.

This module is section 1 of the contract (``docs/contract.md``) in code. :func:`read_data` reads every
``*.csv`` below the data folder, checks each cell, and returns one typed table; anything
malformed raises :class:`DataError`, whose text is the single message the workflow shows:

    data/raw/trd.csv, line 12, column sd_treat: must be greater than 0 (got -4)

Conventions
-----------
* Line numbers are physical lines of the file, the header being line 1. A quoted field that
  spans lines makes its record start on the line where the record starts.
* Paths in messages are the configured data folder joined with the file's path below it,
  exactly as the analyst wrote ``data_dir`` in ``config/config.yaml``.
* Cells are stripped of surrounding white space; an empty cell is a missing value.
* Numbers are written with a dot as decimal separator and the ASCII minus sign; ``nan`` and
  ``inf`` are rejected.
* Every row fills exactly one data group (``docs/contract.md``, section 1): continuous arms, dichotomous arms,
  single arm, or reported effect. ``n_treat`` and ``n_ctrl`` may accompany a reported effect
  (they count participants and convert Cohen's d to Hedges' g); they do not by themselves
  make a group.
* A study is identified by its label together with its year where a year is given: one label
  with two years is two studies. Labels that differ only in case, spacing or punctuation are
  refused as the likely same trial written twice.
* Values beyond any plausible range for their column (:data:`LIMITS`, configurable under
  ``limits:`` in ``config/config.yaml``) are errors, so that every value that passes can be
  computed with and drawn by every later stage.
* Text cells must not hold invisible direction or zero-width characters (U+202A-U+202E,
  U+2066-U+2069, U+200B-U+200F, U+2060, U+FEFF, U+061C), which can make a label display
  reversed or two labels look alike.
"""

from __future__ import annotations

import copy
import csv
import difflib
import hashlib
import io
import math
import os
import re
import sys
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import yaml

from ketameta.effects import (
    CONTINUOUS,
    DICHOTOMOUS,
    EFFECT_TYPES,
    NATURAL_RATIOS,
    SINGLE_ARM,
)
from ketameta.errors import DataError, _reason, _rebuild_error  # noqa: F401
from ketameta.publication import _same, in_sync, publish, write_text  # noqa: F401

__all__ = [
    "DataError",
    "IDENTITY_COLUMNS",
    "DESCRIPTIVE_COLUMNS",
    "NUMERIC_COLUMNS",
    "RATIO_EFFECT_TYPES",
    "LIMITS",
    "INVISIBLE",
    "KINDS",
    "KIND_LABELS",
    "read_data",
    "read_files",
    "read_file",
    "extract_condition",
    "check_declared",
    "write_text",
    "publish",
    "in_sync",
    "write_table",
    "read_table",
    "csv_text",
    "load_config",
    "parse_yaml",
    "config_line",
    "validate_config",
    "schema_error",
    "sha256_file",
]

IDENTITY_COLUMNS = ("study", "condition", "outcome", "timepoint")
#: Names the pipeline writes itself (row provenance, data group, effects.csv weight): an
#: input column of that name would be overwritten, so it is refused.
RESERVED_COLUMNS = (
    "kind", "weight", "source_file", "source_line", "source_lines", "source_sha256",
)  # fmt: skip
DESCRIPTIVE_COLUMNS = (
    "year", "design", "drug", "route", "dose", "comparator", "scale", "rob", "arm", "group",
    "doi", "pmid", "source", "evidence", "notes", "day", "rob_d1", "rob_d2", "rob_d3",
    "rob_d4", "rob_d5", "rob_source", "population", "setting", "schedule",
    "same_participants_as",
)  # fmt: skip
NUMERIC_COLUMNS = (
    "n_treat", "mean_treat", "sd_treat", "n_ctrl", "mean_ctrl", "sd_ctrl",
    "events_treat", "events_ctrl", "yi", "vi", "sei", "ci_low", "ci_high", "ci_level",
)  # fmt: skip

RATIO_EFFECT_TYPES = NATURAL_RATIOS

#: The data groups of section 1 of docs/contract.md, keyed by the name used in the ``kind`` column.
KINDS = {
    "continuous": CONTINUOUS,
    "dichotomous": DICHOTOMOUS,
    "single": SINGLE_ARM,
    "reported": ("effect_type", "yi"),
}
#: How messages name the data groups.
KIND_LABELS = {
    "continuous": "continuous arms",
    "dichotomous": "dichotomous arms",
    "single": "single arm",
    "reported": "reported effect",
}
# Columns whose presence marks a group (n_treat / n_ctrl are shared and mark none).
_MARKERS = {
    "continuous": ("mean_treat", "sd_treat", "mean_ctrl", "sd_ctrl"),
    "dichotomous": ("events_treat", "events_ctrl"),
    "reported": ("effect_type", "yi", "vi", "sei", "ci_low", "ci_high", "ci_level"),
}
_GROUPS_HELP = (
    "fill one data group: continuous arms (n_treat, mean_treat, sd_treat, n_ctrl, mean_ctrl, "
    "sd_ctrl), dichotomous arms (events_treat, n_treat, events_ctrl, n_ctrl), single arm "
    "(events_treat, n_treat) or reported effect (effect_type, yi and vi, sei or ci_low and "
    "ci_high)"
)
_POSITIVE = ("sd_treat", "sd_ctrl", "vi", "sei")
_COUNTS = ("n_treat", "n_ctrl")
_TIMEPOINT = re.compile(r"^(?:\d+(?:\.\d+)?(?:min|h|d|w)|end)$")
_ROB = ("low", "some", "high")
_CHOICES = {
    "design": ("parallel", "crossover"),
    "rob": _ROB,
    **{f"rob_d{i}": _ROB for i in range(1, 6)},
}
_YEAR_RANGE = (1900, 2100)
#: Longest cell accepted (characters); a longer one is almost always a broken quote.
MAX_CELL = 10_000
#: Characters that change the direction or hide the boundaries of text (bidi embeddings,
#: overrides and isolates, marks, zero-width space, joiners, word joiner, byte-order mark).
INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
#: Plausibility bounds (defaults of ``limits:`` in the configuration). A value beyond them is
#: an error naming its cell. ``max_abs_value`` bounds means, ``yi`` and CI limits on the
#: scale the file gives them; ``max_sd_ratio`` bounds an SD to within that factor of the
#: row's scale, max(1, |mean_treat|, |mean_ctrl|), both ways; ``max_n`` bounds group
#: sizes; ``min_variance``/``max_variance`` bound ``vi`` and the square of ``sei``.
LIMITS = {
    "max_abs_value": 1e6,
    "max_sd_ratio": 1e6,
    "max_n": 1e7,
    "min_variance": 1e-10,
    "max_variance": 1e10,
}


# ----------------------------------------------------------------------------- reading


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_data(
    data_dir: str, root: str | Path = ".", limits: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """Read and validate every ``*.csv`` below ``data_dir`` (the extension in any case).

    Parameters
    ----------
    data_dir : str
        The folder as configured (relative to ``root`` unless absolute); it also prefixes the
        file names in messages and in the ``source_file`` column.
    root : path-like
        Directory that relative ``data_dir`` is resolved against (the workflow directory).
    limits : mapping, optional
        Plausibility bounds overriding :data:`LIMITS` (the configuration's ``limits:``).

    Returns
    -------
    pandas.DataFrame
        All rows of all files, in file-name then line order, with the columns of
        :func:`read_file`. Rows that repeat an earlier comparison raise :class:`DataError`.

    Notes
    -----
    Links are followed. A link that points nowhere or into a loop is an error, whatever its
    name: it may stand for a data file the analyst meant to be read.
    """
    folder = Path(root) / data_dir
    if not folder.is_dir():
        raise DataError(data_dir, "data folder not found; set data_dir in config/config.yaml")
    names = [
        str(PurePosixPath(data_dir) / p.relative_to(folder).as_posix())
        for p in _data_files(folder, data_dir)
    ]
    if not names:
        raise DataError(data_dir, "no *.csv files in the data folder")
    return read_files(names, root, limits)


def _data_files(folder: Path, data_dir: str) -> list[Path]:
    """Every file below ``folder`` whose name ends in .csv in any case, links followed."""
    found: list[Path] = []
    visited: set[str] = set()

    def name(path: Path) -> str:
        return str(PurePosixPath(data_dir) / path.relative_to(folder).as_posix())

    def walk(directory: Path) -> None:
        real = os.path.realpath(directory)
        if real in visited:
            raise DataError(name(directory), "the folder links back into itself; remove the link")
        visited.add(real)
        try:
            entries = sorted(directory.iterdir())
        except OSError as error:
            raise DataError(name(directory), f"the folder cannot be read ({_reason(error)})") from None
        for entry in entries:
            if entry.is_symlink():
                try:
                    entry.resolve(strict=True)
                except (OSError, RuntimeError) as error:
                    raise DataError(
                        name(entry),
                        f"a link that cannot be followed ({_reason(error)}); point it at a "
                        "file or remove it",
                    ) from None
            if entry.is_dir():
                walk(entry)
            elif entry.name.lower().endswith(".csv"):
                found.append(entry)

    walk(folder)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def read_files(
    paths: Iterable[str],
    root: str | Path = ".",
    limits: Mapping[str, float] | None = None,
    complete: bool = True,
) -> pd.DataFrame:
    """Read and validate several trial files as one table (see :func:`read_data`).

    Parameters
    ----------
    paths : iterable of str
        File names relative to ``root`` (or absolute); they name the files in messages and
        in ``source_file``.
    root : path-like
        Directory the names are relative to.
    limits : mapping, optional
        Plausibility bounds overriding :data:`LIMITS`.
    complete : bool
        True when ``paths`` are all the data: ``same_participants_as`` must then name a
        study among them. A subset (one condition's files) may name a study of another file,
        which the check of the whole data has already found.
    """
    tables = [read_file(Path(root) / name, name, limits) for name in paths]
    table = pd.concat(tables, ignore_index=True, sort=False)
    _check_duplicates(table)
    _check_labels(table)
    if complete:
        _check_same_participants(table)
    return table


def extract_condition(
    paths: Iterable[str],
    condition: str,
    out: str | Path,
    limits: Mapping[str, float] | None = None,
) -> None:
    """Validate trial files and write the rows of one condition (the workflow's ingest step).

    Parameters
    ----------
    paths : iterable of str
        The files holding rows of ``condition``, relative to the working directory.
    condition : str
        Condition key.
    out : path-like
        CSV to write (:func:`write_table`), read back by :func:`read_table`.
    limits : mapping, optional
        Plausibility bounds overriding :data:`LIMITS`.
    """
    # Only this condition's files: the whole data was checked when the workflow was read.
    table = read_files(paths, limits=limits, complete=False)
    write_table(table[table["condition"] == condition], out)


def read_file(
    path: str | Path, name: str | None = None, limits: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """Read and validate one trial CSV file.

    Parameters
    ----------
    path : path-like
        File to read.
    name : str, optional
        How messages name the file (default: ``path`` as given).
    limits : mapping, optional
        Plausibility bounds overriding :data:`LIMITS`.

    Returns
    -------
    pandas.DataFrame
        One row per data row: the identity and descriptive columns as strings (``year`` as
        nullable ``Int64``), the numeric data columns as float64 (NaN where empty),
        ``effect_type`` as string, unknown columns as strings, then ``kind`` (continuous,
        dichotomous, single or reported), ``source_file`` (= ``name``), ``source_line`` and
        ``source_sha256``.

    Raises
    ------
    DataError
        For the first problem met, located by line and column.
    """
    name = str(path) if name is None else name
    limits = {**LIMITS, **(limits or {})}
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise DataError(
            name, f"the file cannot be read ({_reason(error)}); check its permissions"
        ) from None
    text = _decode(raw, name)
    if not text.strip():
        raise DataError(name, "the file is empty; it needs a header row and data rows")
    header, records = _parse_csv(text, name)
    _check_header(header, text, name)
    if not records:
        raise DataError(name, "the file has a header but no data rows", line=1)
    fast = _parse_columns(header, records, text, limits)
    if fast is not None:
        columns, kinds = fast
        lines = [line for line, _ in records]
    else:  # row by row, to find and word the first problem
        columns, kinds, lines = _parse_rows(header, records, name, limits)
    frame = pd.DataFrame(
        {c: _column_values(c, v) for c, v in columns.items()}, index=pd.RangeIndex(len(kinds))
    )
    for c in NUMERIC_COLUMNS:
        if c not in frame:
            frame[c] = np.nan
    for c in ("effect_type", "group", "arm", "year"):
        if c not in frame:
            frame[c] = _column_values(c, [None] * len(kinds))
    frame["kind"] = kinds
    frame["source_file"] = name
    frame["source_line"] = np.asarray(lines, dtype=np.int64)
    frame["source_sha256"] = hashlib.sha256(raw).hexdigest()
    return frame


def _parse_rows(header: list[str], records, name: str, limits: Mapping[str, float]):
    """Check and parse the records one by one (:func:`_parse_row`); raise at the first problem."""
    columns: dict[str, list] = {c: [] for c in header}
    kinds, lines = [], []
    for line, fields in records:
        if len(fields) != len(header):
            raise DataError(
                name,
                f"the row has {len(fields)} fields but the header has {len(header)}; "
                "quote fields that contain commas",
                line=line,
            )
        row = dict(zip(header, (f.strip() for f in fields), strict=True))
        _check_text(row, name, line)
        parsed, kind = _parse_row(row, name, line, limits)
        for c in header:
            columns[c].append(parsed[c])
        kinds.append(kind)
        lines.append(line)
    return columns, kinds, lines


class _Refused(Exception):
    """A cell that :func:`_parse_row` would refuse (raised by :func:`_refuse`)."""


def _refuse(column, message):
    raise _Refused


def _exact(value) -> bool:
    """Whether a limit compares the same as a float64 (numpy) and as itself (Python)."""
    if type(value) is float:
        return True
    return type(value) is int and abs(value) <= 2**53


def _parse_columns(header: list[str], records, text: str, limits: Mapping[str, float]):
    """Every record's parsed cells and data group, column by column, if all surely pass.

    The same checks as :func:`_check_text` and :func:`_parse_row` for all rows at once, on
    whole columns: cell-level rules through the same functions once per distinct value,
    rules across cells (data group, values, plausibility) as array comparisons in the same
    floating-point operations. Returns ``(columns, kinds)`` as :func:`_parse_rows` would, or
    None as soon as any row might fail a check; the row-by-row pass then finds and words
    the problem, so the messages do not depend on this shortcut.
    """
    width, count = len(header), len(records)
    if any(len(fields) != width for _, fields in records) or INVISIBLE.search(text):
        return None
    if not all(_exact(v) for v in limits.values()):
        return None
    columns = zip(*(fields for _, fields in records), strict=True)
    cells = {c: [f.strip() for f in col] for c, col in zip(header, columns, strict=True)}
    if max(max(map(len, col)) for col in cells.values()) > MAX_CELL:
        return None
    if not all(all(cells[c]) for c in IDENTITY_COLUMNS):
        return None
    if not all(_TIMEPOINT.match(v) for v in set(cells["timepoint"])):
        return None
    for column, choices in _CHOICES.items():
        if column in cells and not set(cells[column]) <= {"", *choices}:
            return None
    out = {c: [v or None for v in col] for c, col in cells.items()}
    try:
        for column, parse in (("year", _parse_year), ("day", None)):
            if column not in cells:
                continue
            values = {}
            for v in set(cells[column]) - {""}:
                if parse is not None:
                    values[v] = parse(v, _refuse)
                elif _parse_number(column, v, _refuse) > 0:
                    values[v] = _parse_number(column, v, _refuse)
                else:
                    return None
            out[column] = [values[v] if v else None for v in cells[column]]
        for column in NUMERIC_COLUMNS:
            if column in cells:
                out[column] = [float(v) if v else None for v in cells[column]]
    except (_Refused, ValueError):
        return None
    with np.errstate(all="ignore"):  # IEEE results as Python's floats give them, no warnings
        return _check_columns(header, cells, out, count, limits)


def _check_columns(header, cells: dict, out: dict, count: int, limits: Mapping[str, float]):
    """The checks across cells of :func:`_parse_columns`, on arrays (None if any may fail)."""
    nothing = np.zeros(count, dtype=bool)
    given = {c: np.fromiter(map(bool, col), dtype=bool, count=count) for c, col in cells.items()}

    def has(column):
        return given.get(column, nothing)

    def number(column):
        if column not in cells:
            return np.full(count, np.nan)
        return np.array([np.nan if v is None else v for v in out[column]], dtype=np.float64)

    nums = {c: number(c) for c in NUMERIC_COLUMNS}
    present = {c: has(c) for c in NUMERIC_COLUMNS}
    if any(not np.isfinite(nums[c][present[c]]).all() for c in NUMERIC_COLUMNS):
        return None
    # The data group (_kind_of): exactly one group marked, and every column it needs given.
    marked = {k: np.logical_or.reduce([has(c) for c in cols]) for k, cols in _MARKERS.items()}
    if (sum(m.astype(np.int8) for m in marked.values()) != 1).any():
        return None
    kinds = np.where(marked["continuous"], "continuous", "reported").astype(object)
    dichotomous = marked["dichotomous"]
    kinds[dichotomous] = "dichotomous"
    kinds[dichotomous & ~has("events_ctrl") & ~has("n_ctrl")] = "single"
    reported = marked["reported"]
    precise = has("vi") | has("sei")
    if not (
        (has("effect_type") & has("yi"))[reported].all()
        and (precise | (has("ci_low") & has("ci_high")))[reported].all()
    ):
        return None
    for kind in ("continuous", "dichotomous", "single"):
        rows = kinds == kind
        if not np.logical_and.reduce([has(c) for c in KINDS[kind]])[rows].all():
            return None
    # The values (_check_values); a missing value compares False and is masked out.
    bad = nothing.copy()
    whole = {c: nums[c] == np.floor(nums[c]) for c in (*_COUNTS, "events_treat", "events_ctrl")}
    for column in _COUNTS:
        bad |= present[column] & ~((nums[column] > 0) & whole[column])
    for column in _POSITIVE:
        bad |= present[column] & ~(nums[column] > 0)
    for arm in ("treat", "ctrl"):
        events, n = nums[f"events_{arm}"], nums[f"n_{arm}"]
        bad |= present[f"events_{arm}"] & ~((events >= 0) & whole[f"events_{arm}"])
        bad |= present[f"events_{arm}"] & present[f"n_{arm}"] & (events > n)
    level = nums["ci_level"]
    bad |= present["ci_level"] & ~((1 < level) & (level < 100))
    etypes = np.array(out.get("effect_type", [None] * count), dtype=object)
    if not set(etypes[reported]) <= set(EFFECT_TYPES):
        return None
    ratio = reported & np.isin(etypes, RATIO_EFFECT_TYPES)
    for column in ("yi", "ci_low", "ci_high"):
        bad |= ratio & present[column] & ~(nums[column] > 0)
    low, high, yi = nums["ci_low"], nums["ci_high"], nums["yi"]
    interval = reported & present["ci_low"] & present["ci_high"]
    bad |= interval & ~((low < high) & (low <= yi) & (yi <= high))
    bad |= reported & (etypes == "d") & ~(present["n_treat"] & present["n_ctrl"])
    # Plausibility (_check_plausible), with the limits as given.
    big = limits["max_abs_value"]
    for column in ("mean_treat", "mean_ctrl", "yi", "ci_low", "ci_high"):
        bad |= present[column] & ~(np.abs(nums[column]) <= big)
    for column in _COUNTS:
        bad |= present[column] & ~(nums[column] <= limits["max_n"])
    scale = np.ones(count)
    for column in ("mean_treat", "mean_ctrl"):
        scale = np.where(present[column], np.maximum(scale, np.abs(nums[column])), scale)
    ratio_sd = limits["max_sd_ratio"]
    for column in ("sd_treat", "sd_ctrl"):
        sd = nums[column]
        bad |= present[column] & ~((scale / ratio_sd <= sd) & (sd <= scale * ratio_sd))
    vmin, vmax = limits["min_variance"], limits["max_variance"]
    bad |= present["vi"] & ~((vmin <= nums["vi"]) & (nums["vi"] <= vmax))
    if bad.any():
        return None
    if present["sei"].any():  # squared as _check_plausible squares it (Python's float power)
        squares = [v**2 for v in nums["sei"][present["sei"]].tolist()]
        if not all(vmin <= v <= vmax for v in squares):
            return None
    # Risk of bias (_check_rob), once per distinct combination of judgements.
    from ketameta import rob as rob2

    names = ("rob", *rob2.DOMAINS)
    if any(c in cells for c in names):
        judged = {}
        combos = list(zip(*(out.get(c, [None] * count) for c in names), strict=True))
        try:
            for combo in set(combos):
                given_rob = dict(zip(names, combo, strict=True))
                _check_rob(given_rob, _refuse)
                judged[combo] = given_rob.get("rob")
        except _Refused:
            return None
        if "rob" in cells:
            out["rob"] = [judged[combo] for combo in combos]
    return {c: out[c] for c in header}, kinds.tolist()


def _column_values(column: str, values: list):
    if column in NUMERIC_COLUMNS:
        return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    if column == "year":
        return pd.array(values, dtype="Int64")
    if column == "day":
        return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    return pd.array(values, dtype="str")


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        byte = raw[error.start : error.start + 1].hex()
        raise DataError(
            name,
            f"the file is not UTF-8 (byte 0x{byte}); save it as UTF-8 (CSV UTF-8 in Excel)",
            line=line,
        ) from None


def _parse_csv(text: str, name: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Split ``text`` into header and ``(start line, fields)`` records, blank rows skipped."""
    lines = text.splitlines(keepends=True)
    # The csv module's own limit (131,072 characters) would be reported as a quoting error
    # in the wrong column; long cells are refused by _check_text, naming their column.
    csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 2**31 - 1)))
    reader = csv.reader(lines, strict=True)
    header: list[str] | None = None
    records: list[tuple[int, list[str]]] = []
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            _raise_quote_error(error, lines, start, header, name)
        if not "".join(fields).strip():  # only white space in every field: a blank row
            continue
        if header is None:
            header = [f.strip() for f in fields]
        else:
            records.append((start, fields))
    assert header is not None  # the caller checked that the text is not blank
    return header, records


def _raise_quote_error(error, lines, start, header, name):
    """Turn a :mod:`csv` error into a located message naming the column of the bad quote."""
    record = "".join(lines[start - 1 :])
    in_quotes, field, opened = False, 0, 0
    for char in record:
        if char == '"':
            in_quotes = not in_quotes
            if in_quotes:
                opened = field
        elif char == "," and not in_quotes:
            field += 1
        elif char in "\r\n" and not in_quotes:
            break
    column = header[opened] if header and opened < len(header) else None
    if in_quotes:
        message = 'unterminated quote: a field opened with " is never closed'
    else:
        message = f"malformed quoting ({error}); double a quote inside a quoted field"
    raise DataError(name, message, line=start, column=column) from None


def _check_header(header: list[str], text: str, name: str) -> None:
    first = text.splitlines()[0] if text else ""
    if len(header) == 1:
        for delimiter, label in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
            if delimiter in first:
                raise DataError(
                    name,
                    f"the header has a single column; the file looks {label}-separated but "
                    "must be comma-separated",
                    line=1,
                )
    seen = set()
    for column in header:
        if INVISIBLE.search(column):
            raise DataError(name, _invisible_message(column), line=1, column=repr(column))
        if not column:
            raise DataError(name, "the header has an empty column name", line=1)
        if column in seen:
            raise DataError(
                name, "the column name appears twice in the header", line=1, column=column
            )
        if column in RESERVED_COLUMNS:
            raise DataError(
                name,
                "this column name is reserved for what the pipeline writes itself ("
                + ", ".join(RESERVED_COLUMNS)
                + "); rename the column",
                line=1,
                column=column,
            )
        seen.add(column)
    for column in IDENTITY_COLUMNS:
        if column not in seen:
            raise DataError(
                name,
                "required column missing; every file needs study, condition, outcome, timepoint",
                line=1,
                column=column,
            )


# ----------------------------------------------------------------------------- cells


def _invisible_message(text: str) -> str:
    char = INVISIBLE.search(text).group()
    label = unicodedata.name(char, "invisible character").lower()
    return (
        f"contains the invisible character U+{ord(char):04X} ({label}), which can make text "
        "display reversed or two labels look alike; delete it"
    )


def _check_text(row: Mapping[str, str], name: str, line: int) -> None:
    """Refuse overlong cells and invisible direction or zero-width characters."""
    for column, text in row.items():
        if len(text) > MAX_CELL:
            raise DataError(
                name,
                f"the cell holds {len(text):,} characters (at most {MAX_CELL:,}); a quote "
                "left open earlier in the row, or text pasted into the wrong cell, makes "
                "cells this long",
                line=line,
                column=column,
            )
        if INVISIBLE.search(text):
            raise DataError(name, _invisible_message(text), line=line, column=column)


def _parse_row(
    row: Mapping[str, str], name: str, line: int, limits: Mapping[str, float] = LIMITS
) -> tuple[dict, str]:
    """Check one row's cells; return parsed values (None for empty) and the data group."""

    def fail(column, message):
        raise DataError(name, message, line=line, column=column)

    out: dict = {}
    for column, text in row.items():
        out[column] = text if text else None
    for column in IDENTITY_COLUMNS:
        if not row[column]:
            fail(column, f"must not be empty (every row names its {column})")
    if not _TIMEPOINT.match(row["timepoint"]):
        fail(
            "timepoint",
            "must be a number and a unit (min, h, d or w), e.g. 40min, 24h, 7d, 4w, or the word "
            f"end (got {row['timepoint']})",
        )
    if row.get("year"):
        out["year"] = _parse_year(row["year"], fail)
    if row.get("day"):
        out["day"] = _parse_number("day", row["day"], fail)
        if not out["day"] > 0:
            fail("day", f"must be greater than 0: days from the first dose (got {row['day']})")
    for column, choices in _CHOICES.items():
        value = row.get(column)
        if value and value not in choices:
            fail(column, f"must be one of {', '.join(choices)} (got {value})")
    for column in NUMERIC_COLUMNS:
        text = row.get(column)
        if text:
            out[column] = _parse_number(column, text, fail)
    kind = _kind_of(row, fail)
    _check_values(out, row, kind, fail)
    _check_plausible(out, row, kind, fail, limits)
    _check_rob(out, fail)
    return out, kind


def _check_rob(out: dict, fail) -> None:
    """Derive ``rob`` from the RoB 2 domains when only they are given; refuse a disagreement."""
    from ketameta import rob as rob2

    domains = [out.get(d) for d in rob2.DOMAINS]
    if out.get("rob") is None:
        derived = rob2.overall(domains)
        if derived is not None:
            out["rob"] = derived
        return
    problem = rob2.check_overall(domains, out["rob"])
    if problem:
        fail("rob", problem)


def _parse_year(text: str, fail) -> int:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value.is_integer()):
        fail("year", f"must be a whole number, e.g. 2006 (got {text})")
    if not _YEAR_RANGE[0] <= value <= _YEAR_RANGE[1]:
        fail("year", f"must be between {_YEAR_RANGE[0]} and {_YEAR_RANGE[1]} (got {text})")
    return int(value)


def _parse_number(column: str, text: str, fail) -> float:
    try:
        value = float(text)
    except ValueError:
        hint = ""
        if "\u2212" in text or "\u2013" in text:
            hint = "; write the minus sign as ASCII -"
        elif "," in text:
            hint = "; write decimals with a dot"
        fail(column, f"must be a number (got {text}){hint}")
    if not math.isfinite(value):
        fail(column, f"must be a finite number (got {text})")
    return value


def _kind_of(row: Mapping[str, str], fail) -> str:
    marked = [k for k, cols in _MARKERS.items() if any(row.get(c) for c in cols)]
    if len(marked) > 1:
        second = next(c for c in _MARKERS[marked[1]] if row.get(c))
        first = next(c for c in _MARKERS[marked[0]] if row.get(c))
        fail(
            second,
            f"two data groups filled in one row: {KIND_LABELS[marked[0]]} ({first}) and "
            f"{KIND_LABELS[marked[1]]} ({second}); fill exactly one group per row",
        )
    if not marked:
        given = [c for c in ("n_treat", "n_ctrl") if row.get(c)]
        prefix = (
            f"{', '.join(given)} given but no data group complete; " if given else ("no data; ")
        )
        fail(None, prefix + _GROUPS_HELP)
    kind = marked[0]
    if kind == "dichotomous" and not row.get("events_ctrl") and not row.get("n_ctrl"):
        kind = "single"
    if kind == "reported":
        for column in ("effect_type", "yi"):
            if not row.get(column):
                fail(column, "missing; a reported effect needs effect_type and yi")
        if not (row.get("vi") or row.get("sei") or row.get("ci_low") or row.get("ci_high")):
            fail(
                "vi",
                "a reported effect needs its precision: vi, sei, or both ci_low and ci_high",
            )
        if not (row.get("vi") or row.get("sei")):
            for column in ("ci_low", "ci_high"):
                if not row.get(column):
                    fail(column, "missing; a confidence interval needs both ci_low and ci_high")
        return kind
    for column in KINDS[kind]:
        if not row.get(column):
            fail(
                column,
                f"missing; the {KIND_LABELS[kind]} group needs {', '.join(KINDS[kind])}",
            )
    return kind


def _check_values(out: dict, row: Mapping[str, str], kind: str, fail) -> None:
    for column in _COUNTS:
        value = out.get(column)
        if value is not None and not (value > 0 and float(value).is_integer()):
            fail(column, f"must be a positive whole number (got {row[column]})")
    for column in _POSITIVE:
        value = out.get(column)
        if value is not None and not value > 0:
            fail(column, f"must be greater than 0 (got {row[column]})")
    for arm in ("treat", "ctrl"):
        column = f"events_{arm}"
        value = out.get(column)
        if value is None:
            continue
        n = out.get(f"n_{arm}")
        if not (value >= 0 and float(value).is_integer()):
            fail(column, f"must be a whole number of at least 0 (got {row[column]})")
        if n is not None and value > n:
            fail(column, f"must not exceed n_{arm} = {row[f'n_{arm}']} (got {row[column]})")
    level = out.get("ci_level")
    if level is not None and not 1 < level < 100:
        fail("ci_level", f"must be a percentage between 1 and 100, e.g. 95 (got {row['ci_level']})")
    if kind != "reported":
        return
    effect_type = row["effect_type"]
    if effect_type not in EFFECT_TYPES:
        fail("effect_type", f"must be one of {', '.join(EFFECT_TYPES)} (got {effect_type})")
    if effect_type in RATIO_EFFECT_TYPES:
        for column in ("yi", "ci_low", "ci_high"):
            value = out.get(column)
            if value is not None and not value > 0:
                fail(
                    column,
                    f"must be greater than 0 for a ratio ({effect_type}) on its natural scale "
                    f"(got {row[column]}); log-scale values take effect_type log{effect_type}",
                )
    low, high = out.get("ci_low"), out.get("ci_high")
    if low is not None and high is not None and not low < high:
        fail("ci_high", f"must be greater than ci_low = {row['ci_low']} (got {row['ci_high']})")
    if low is not None and high is not None and not low <= out["yi"] <= high:
        fail(
            "yi",
            f"lies outside its own confidence interval {row['ci_low']} to {row['ci_high']} "
            f"(got {row['yi']}); was a sign turned without swapping the bounds?",
        )
    if effect_type == "d":
        for column in _COUNTS:
            if out.get(column) is None:
                fail(column, "missing; converting Cohen's d to Hedges' g needs n_treat and n_ctrl")


def _check_plausible(out: dict, row: Mapping[str, str], kind: str, fail, limits) -> None:
    """Refuse values beyond the plausibility bounds (:data:`LIMITS`)."""
    big = limits["max_abs_value"]
    for column in ("mean_treat", "mean_ctrl", "yi", "ci_low", "ci_high"):
        value = out.get(column)
        if value is not None and not abs(value) <= big:
            fail(
                column,
                f"implausibly large (got {row[column]}; the limit is {big:g} in absolute "
                "value, set by limits.max_abs_value in config/config.yaml)",
            )
    for column in _COUNTS:
        value = out.get(column)
        if value is not None and not value <= limits["max_n"]:
            fail(
                column,
                f"implausibly large (got {row[column]}; the limit is {limits['max_n']:g}, "
                "set by limits.max_n in config/config.yaml)",
            )
    ratio = limits["max_sd_ratio"]
    scale = max([1.0] + [abs(out[c]) for c in ("mean_treat", "mean_ctrl") if out.get(c) is not None])
    for column in ("sd_treat", "sd_ctrl"):
        value = out.get(column)
        if value is not None and not scale / ratio <= value <= scale * ratio:
            fail(
                column,
                f"implausible for means of scale {scale:g} (got {row[column]}; an SD must lie "
                f"within a factor {ratio:g} of max(1, |mean_treat|, |mean_ctrl|), set by "
                "limits.max_sd_ratio in config/config.yaml)",
            )
    low, high = limits["min_variance"], limits["max_variance"]
    for column, power in (("vi", 1), ("sei", 2)):
        value = out.get(column)
        if value is not None and not low <= value**power <= high:
            what = "variance" if power == 1 else "squared standard error"
            fail(
                column,
                f"implausible {what} (got {row[column]}; it must lie between {low:g} and "
                f"{high:g}, set by limits.min_variance and limits.max_variance in "
                "config/config.yaml)",
            )


def _study_key(label: str) -> str:
    """A study label without case, spacing and punctuation: how two spellings are compared."""
    if label.isascii():  # the same key: NFKC keeps ASCII, casefold is lower, isalnum [0-9a-z]
        return _NOT_ASCII_ALNUM.sub("", label.lower())
    return "".join(ch for ch in unicodedata.normalize("NFKC", label).casefold() if ch.isalnum())


_NOT_ASCII_ALNUM = re.compile("[^0-9a-z]+")


def _check_labels(table: pd.DataFrame) -> None:
    """Reject one trial written under labels that differ only in case, spacing or punctuation."""
    labels = pd.unique(table["study"].to_numpy(dtype=object))
    if len({_study_key(label) for label in labels}) == len(labels):
        return  # every key has one label: the search below would find nothing
    first: dict[str, tuple[str, str, int]] = {}
    for study, source, line in zip(
        table["study"], table["source_file"], table["source_line"], strict=True
    ):
        key = _study_key(study)
        if key not in first:
            first[key] = (study, source, int(line))
            continue
        label, other, other_line = first[key]
        if label != study:
            where = f"line {other_line}" if other == source else f"{other}, line {other_line}"
            raise DataError(
                source,
                f"study {study!r} differs from {label!r} ({where}) only in case, spacing or "
                "punctuation; write one trial's label the same way everywhere, or make "
                "labels of different trials differ in letters or digits",
                line=int(line),
                column="study",
            )


def _check_same_participants(table: pd.DataFrame) -> None:
    """``same_participants_as`` must name a study label present in the data."""
    if "same_participants_as" not in table:
        return
    labels = set(table["study"])
    for value, study, source, line in zip(
        table["same_participants_as"],
        table["study"],
        table["source_file"],
        table["source_line"],
        strict=True,
    ):
        if pd.isna(value):
            continue
        if value == study:
            message = "names the row's own study; name the other study that shares participants"
        elif value not in labels:
            message = f"names no study of the data (got {value!r}); give another row's study label"
        else:
            continue
        raise DataError(source, message, line=int(line), column="same_participants_as")


def _check_duplicates(table: pd.DataFrame) -> None:
    """Reject a comparison given twice (same study and year, condition, outcome, timepoint,
    arm and data group); one label with two different years is two studies."""
    key = ["study", "year", "condition", "outcome", "timepoint", "arm", "kind"]
    if not table.duplicated(key).any():
        return  # no repeated key (missing values equal, as None equals None below)
    seen: dict[tuple, tuple[str, int]] = {}
    for values, source, line in zip(
        table[key].astype(object).where(table[key].notna(), None).itertuples(index=False),
        table["source_file"],
        table["source_line"],
        strict=True,
    ):
        values = tuple(values)
        if values in seen:
            where = seen[values]
            other = f"line {where[1]}" if where[0] == source else f"{where[0]}, line {where[1]}"
            raise DataError(
                source,
                f"duplicate of {other} (same study, year, condition, outcome, timepoint and "
                "arm); "
                "give each comparison once, with distinct arm labels for the arms of one trial",
                line=int(line),
                column="study",
            )
        seen[values] = (source, int(line))


def check_declared(
    table: pd.DataFrame, config: Mapping, config_path: str = "config/config.yaml"
) -> None:
    """Refuse rows whose condition or outcome the configuration does not declare.

    Such a row would enter no analysis; it is far more often a typo (``PTSd``,
    ``ptsd_sevrity``) or a missing-value marker (``-``) than a row meant to be ignored.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows as :func:`read_data` returns them.
    config : mapping
        The configuration, with ``conditions`` and ``outcomes``.
    config_path : str
        How the message names the configuration file.

    Raises
    ------
    DataError
        Naming the file, line and column of the first such row and the closest declared key.
    """
    for column, section in (("condition", "conditions"), ("outcome", "outcomes")):
        declared = [str(k) for k in config[section]]
        unknown = ~table[column].isin(declared)
        if not unknown.any():
            continue
        row = table[unknown].iloc[0]
        value = str(row[column])
        folded = {k.casefold(): k for k in declared}
        close = difflib.get_close_matches(value.casefold(), list(folded), n=1, cutoff=0.6)
        hint = f"did you mean {folded[close[0]]}? " if close else ""
        raise DataError(
            row["source_file"],
            f"{column} {value!r} is not declared under {section} in {config_path}; {hint}"
            f"declared: {', '.join(declared)}. Correct the cell or declare the {column}",
            line=int(row["source_line"]),
            column=column,
        )


# ----------------------------------------------------------------------------- tables


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table as CSV (floats in full precision), atomically (:func:`write_text`).

    The text is pandas' ``to_csv``, made by :func:`csv_text`: about a third less time on
    the few rows of an effects table (a condition's job writes dozens of them).
    """
    write_text(csv_text(frame), path)


#: Characters that make the csv module quote a field (delimiter, quote character, line ends).
_QUOTED = frozenset(',"\r\n')


def csv_text(frame: pd.DataFrame, header: bool = True) -> str:
    """``frame.to_csv(index=False, header=header, lineterminator="\\n")``, faster on long tables.

    pandas turns every cell into text and hands the rows to the csv module: a float64 as
    NumPy's ``str`` of it, the shortest text that reads back as the same double, which is
    Python's ``repr`` of the float; integers and booleans as ``str``; text as it is; other
    Python objects as ``str``; a missing cell as the empty string. This function makes the
    same cells a column at a time for those kinds of column (NumPy float64, integer and
    boolean, nullable integers, text, Python objects) and joins them with commas, or, when
    a cell needs quotes (a comma, a quote or a line break in it), hands them to the csv
    module with pandas' settings. Tables with other columns are left to pandas.
    ``tests/test_tables.py`` checks the text against pandas on awkward values.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; its index is not written.
    header : bool
        Whether to write the column names as the first line.

    Returns
    -------
    str
        The CSV text, lines ending in ``\\n``.
    """
    names = list(frame.columns)
    cells = [_csv_cells(series) for _, series in frame.items()]
    if not frame.columns.is_unique or any(c is None for c in cells) or not all(
        isinstance(name, str) for name in names
    ):
        return frame.to_csv(index=False, header=header, lineterminator="\n")
    quoted = len(names) < 2 or any(_QUOTED.intersection(name) for name in names)
    quoted = quoted or any(_QUOTED.intersection(v) for column in cells for v in set(column))
    if quoted:  # the csv module, as pandas calls it, quotes what needs quotes
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        if header:
            writer.writerow(names)
        writer.writerows(zip(*cells, strict=True))
        return out.getvalue()
    lines = [",".join(names) + "\n"] if header else []
    lines.extend(",".join(row) + "\n" for row in zip(*cells, strict=True))
    return "".join(lines)


def _csv_cells(series: pd.Series) -> list[str] | None:
    """The cells of one column as pandas' ``to_csv`` writes them before quoting, or None
    to leave the table to pandas (a dtype not handled here)."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        values = series.to_numpy()
        if dtype.kind != "f":
            return [str(v) for v in values.tolist()]
        if dtype.itemsize != 8:
            return None
        if len(values) >= 256:  # long columns repeat values: the text of each distinct one once
            bits, which = np.unique(values.view(np.int64), return_inverse=True)
            if 4 * len(bits) <= len(values):
                texts = [repr(v) for v in bits.view(np.float64).tolist()]
                out = [texts[i] for i in which.tolist()]
            else:
                out = [repr(v) for v in values.tolist()]
        else:
            out = [repr(v) for v in values.tolist()]
        for i in np.flatnonzero(np.isnan(values)).tolist():
            out[i] = ""
        return out
    if isinstance(dtype, pd.StringDtype):  # text, or the dtype's missing value
        return [v if type(v) is str else "" for v in series.tolist()]
    if dtype == np.dtype(object):
        values = series.to_numpy()
    elif isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "iu":
        values = series.to_numpy(dtype=object)
    else:
        return None
    missing = pd.isna(values).tolist()
    return [
        "" if gone else (v if type(v) is str else str(v))
        for v, gone in zip(values.tolist(), missing, strict=True)
    ]


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table written by :func:`write_table` back with the dtypes of :func:`read_file`.

    One process often reads one table several times (a condition's job fits its analyses,
    its multiverse and its page from the same rows): the text is parsed once and later
    reads of the same bytes get a copy of that frame (:class:`ParsedTables`).
    """
    return _TABLES.parse(Path(path).read_bytes(), _parse_table)


def _parse_table(data: bytes) -> pd.DataFrame:
    header = pd.read_csv(io.BytesIO(data), nrows=0).columns
    dtypes = {c: ("float64" if c in NUMERIC_COLUMNS else "str") for c in header}
    dtypes["year"] = "Int64"
    if "day" in dtypes:
        dtypes["day"] = "float64"
    dtypes["source_line"] = "int64"
    return pd.read_csv(io.BytesIO(data), dtype=dtypes, keep_default_na=False, na_values=[""])


class ParsedTables:
    """The last few tables a process parsed, found again by the SHA-256 of their bytes.

    :meth:`parse` returns a copy of the frame ``parse_bytes(data)`` gave for the same
    bytes before, else parses them and remembers the result. The key is the content, never
    a file name or a time stamp, so a changed file is always parsed anew; at most ``size``
    frames are kept, so the memory held does not grow with the number of files read.

    Parameters
    ----------
    size : int
        How many parsed tables to keep (the least recently used goes first).
    """

    def __init__(self, size: int = 4):
        self.size = size
        self._frames: OrderedDict[tuple, pd.DataFrame] = OrderedDict()

    def parse(self, data: bytes, parse_bytes) -> pd.DataFrame:
        """A copy of ``parse_bytes(data)``, parsed once per distinct ``data`` and parser."""
        key = (parse_bytes, hashlib.sha256(data).digest())
        frame = self._frames.get(key)
        if frame is None:
            frame = parse_bytes(data)
            self._frames[key] = frame
            while len(self._frames) > self.size:
                self._frames.popitem(last=False)
        else:
            self._frames.move_to_end(key)
        return frame.copy()


#: Tables parsed by :func:`read_table` and :func:`ketameta.multiverse.read_specifications`.
_TABLES = ParsedTables()


# ----------------------------------------------------------------------------- configuration

#: Largest configuration file read (bytes), and most values it may expand to through YAML
#: aliases: a configuration is a few kilobytes; the limits stop an alias "bomb" early.
MAX_CONFIG_BYTES = 1_000_000
MAX_CONFIG_NODES = 100_000


def load_config(path: str | Path, name: str | None = None) -> tuple[dict, dict[str, int]]:
    """Read the YAML configuration safely, remembering the line of every key.

    Only plain YAML is accepted: text, numbers, booleans, null, lists and mappings (PyYAML's
    safe loader; tags such as ``!!python/object`` are refused, never executed). A key given
    twice in one mapping, a key with a line break or surrounding spaces, a file above
    :data:`MAX_CONFIG_BYTES` or expanding through aliases to more than
    :data:`MAX_CONFIG_NODES` values, a top level that is not a mapping and invisible
    direction or zero-width characters are errors naming the line.

    Parameters
    ----------
    path : path-like
        The file to read.
    name : str, optional
        How messages name the file (default: ``path`` as given).

    Returns
    -------
    config : dict
        The parsed configuration.
    lines : dict
        Line (1-based) of each key, by dotted path (``analyses.trd_24h.method``), for
        :func:`config_line`.

    Raises
    ------
    DataError
        ``"{name}, line {n}: {what is wrong}"``.
    """
    name = str(path) if name is None else name
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(name, "the configuration file does not exist") from None
    except OSError as error:
        raise DataError(name, f"the file cannot be read ({_reason(error)})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise DataError(
            name,
            f"the file has {len(raw):,} bytes; a configuration is at most "
            f"{MAX_CONFIG_BYTES:,} bytes",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(name, "the file is not UTF-8; save it as UTF-8", line=line) from None
    for number, content in enumerate(text.splitlines(), start=1):
        if INVISIBLE.search(content):
            raise DataError(name, _invisible_message(content), line=number)
    if not text.strip() or all(
        not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()
    ):
        raise DataError(name, "the file is empty; it needs conditions:, outcomes: and analyses:")
    config, node = parse_yaml(
        text, name, "the file is empty; it needs conditions:, outcomes: and analyses:")
    if not isinstance(config, dict):
        kind = {list: "a list", str: "a single text"}.get(type(config), "a single value")
        raise DataError(
            name,
            f"the top level is {kind}; it must be keys such as conditions:, outcomes: and "
            "analyses:, each at the start of a line",
            line=node.start_mark.line + 1,
        )
    lines: dict[str, int] = {}
    _key_lines(node, (), lines, set())
    return config, lines


def parse_yaml(text: str, name: str, empty: str):
    """A YAML text read the strict way :func:`load_config` reads it: its value and root node.

    Tags are refused, a key given twice in one mapping or written with line breaks or
    spaces around is an error, and aliases may not expand beyond :data:`MAX_CONFIG_NODES`
    values. libyaml composes the nodes where PyYAML was built with it (the same nodes and
    lines, some twenty times faster); on anything unusual (an error of any kind) the
    pure-Python loader reads the text again and words the message.

    Parameters
    ----------
    text : str
        The decoded file.
    name : str
        How messages name the file.
    empty : str
        The message for a file without a document.

    Returns
    -------
    value : object
        The document (a mapping for every file this package reads).
    node : yaml.Node
        Its root node, whose marks give the lines of keys.

    Raises
    ------
    DataError
        ``"{name}, line {n}: {what is wrong}"``.
    """
    if _FastConfigLoader is not None and not _PYTHON_ONLY.search(text):
        loader = _FastConfigLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _check_expansion(node, name)
                value = loader.construct_document(node)
                if isinstance(value, dict):
                    return value, node
        except Exception:
            pass
        finally:
            loader.dispose()
    return _load_python(text, name, empty)


def _load_python(text: str, name: str, empty: str):
    """A YAML text and its node through PyYAML's pure-Python safe loader."""
    try:
        loader = _ConfigLoader(text)  # refuses control characters before anything is read
    except yaml.reader.ReaderError as error:
        raise DataError(
            name,
            f"the control character U+{error.character:04X} is not allowed in YAML; delete it",
            line=text.count("\n", 0, error.position) + 1,
        ) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise DataError(name, empty)
        _check_expansion(node, name)
        config = loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        raise _yaml_error(error, name) from None
    except yaml.YAMLError as error:
        raise DataError(name, f"not valid YAML ({error})") from None
    finally:
        loader.dispose()
    return config, node


class _StrictKeys:
    """Refuse a key given twice in one mapping or written with line breaks or spaces around."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, str) and (key != key.strip() or "\n" in key):
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"the key {key!r} has a line break or spaces around it; write keys "
                    "without them",
                    key_node.start_mark,
                )
            try:
                first = seen.get(key)
            except TypeError:
                first = None  # unhashable keys: the safe loader's own message follows
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"the key {key!r} is given twice in one mapping (first on line "
                    f"{first}); keep one",
                    key_node.start_mark,
                )
            try:
                seen[key] = line
            except TypeError:
                pass
        return super().construct_mapping(node, deep)


class _ConfigLoader(_StrictKeys, yaml.SafeLoader):
    """PyYAML's safe loader that refuses a key given twice or written with line breaks."""


#: The same on libyaml's parser, where PyYAML was built with it. Tabs and the line breaks
#: NEL, LS and PS are where libyaml and the pure-Python scanner disagree (libyaml accepts
#: ``a:<tab>1``, which PyYAML refuses); texts holding them, or a directive, take the
#: pure-Python loader.
if getattr(yaml, "__with_libyaml__", False):

    class _FastConfigLoader(_StrictKeys, yaml.CSafeLoader):
        """:class:`_ConfigLoader` on libyaml's parser."""

else:
    _FastConfigLoader = None
_PYTHON_ONLY = re.compile("[\t\x85\u2028\u2029]|^%", re.MULTILINE)


def _check_expansion(node, name: str) -> None:
    """Refuse a document whose aliases expand it beyond :data:`MAX_CONFIG_NODES` values."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(item) -> int:
        key = id(item)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise DataError(
                name,
                "an alias refers to the value that contains it; YAML aliases may not form loops",
                line=item.start_mark.line + 1,
            )
        active.add(key)
        total = 1
        if isinstance(item, yaml.SequenceNode):
            total += sum(size(child) for child in item.value)
        elif isinstance(item, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in item.value)
        active.discard(key)
        sizes[key] = total
        if total > MAX_CONFIG_NODES:
            raise DataError(
                name,
                f"the YAML aliases (*name) expand to more than {MAX_CONFIG_NODES:,} values; "
                "write the configuration out without nested aliases",
                line=item.start_mark.line + 1,
            )
        return total

    size(node)


def _key_lines(node, path: tuple, lines: dict[str, int], seen: set[int]) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                here = (*path, key.value)
                lines.setdefault(".".join(here), key.start_mark.line + 1)
                _key_lines(value, here, lines, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            _key_lines(value, (*path, str(index)), lines, seen)


def _yaml_error(error, name: str) -> DataError:
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = str(error.problem or error.context or error)
    if "\\t" in problem and "token" in problem:
        message = "a tab character; indent with spaces, not tabs"
    elif "could not determine a constructor for the tag" in problem:
        found = re.search(r"tag '([^']*)'", problem)
        tag = found.group(1) if found else "given"
        tag = tag.replace("tag:yaml.org,2002:", "!!")
        message = (
            f"the tag {tag} is not allowed; the configuration holds only text, numbers, "
            "true/false, lists and keys"
        )
    elif problem.startswith("the key "):
        message = problem
    else:
        message = f"not valid YAML: {problem}"
        if mark is not None:
            message += f" (column {mark.column + 1})"
    return DataError(name, message, line=line)


def config_line(lines: Mapping[str, int], key: str | None) -> int | None:
    """Line of the deepest key of ``lines`` that ``key`` (dotted) starts with, or None."""
    if not key:
        return None
    best, depth = None, -1
    for path, line in lines.items():
        if (key == path or key.startswith(path + ".")) and len(path) > depth:
            best, depth = line, len(path)
    return best


def validate_config(
    config: dict,
    schema: str | Path | Mapping,
    path: str = "config",
    lines: Mapping[str, int] | None = None,
) -> dict:
    """Validate ``config`` against the JSON schema, filling in the schema's defaults.

    Same semantics as ``snakemake.utils.validate`` (Draft 2020-12, ``default`` values set
    wherever a ``properties`` keyword is validated), so tests and library users see the
    config the workflow sees.

    Parameters
    ----------
    config : dict
        Parsed YAML; modified in place (defaults added).
    schema : path-like or mapping
        The schema (``workflow/schemas/config.schema.yaml``) or its parsed content.
    path : str
        How messages name the configuration file.
    lines : mapping, optional
        Line of each key (:func:`load_config`), to name the line in messages.

    Raises
    ------
    DataError
        The first schema violation, as :func:`schema_error` words it.
    """
    import jsonschema

    if not isinstance(schema, Mapping):  # our own file: libyaml reads it where available
        loader = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader
        schema = yaml.load(Path(schema).read_text(encoding="utf-8"), Loader=loader)
    base = jsonschema.Draft202012Validator
    valid: set[tuple] = set()  # (subschema, type, value) of scalars found valid

    def set_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        # jsonschema's own ``properties`` keyword, except that a scalar found valid against
        # one subschema is not validated against it again: the schema has no references, so
        # a scalar's validity does not depend on where it stands (1,000 analyses repeat
        # their measure, method and defaults).
        if not validator.is_type(instance, "object"):
            return
        for key, sub in properties.items():
            if key not in instance:
                continue
            value = instance[key]
            scalar = isinstance(value, (str, int, float, bool, type(None)))
            seen = (id(sub), type(value), value) if scalar else None
            if seen is not None and seen in valid:
                continue
            errors = validator.descend(value, sub, path=key, schema_path=key)
            if seen is None:
                yield from errors
                continue
            errors = list(errors)
            if not errors:
                valid.add(seen)
            yield from errors

    validator = jsonschema.validators.extend(base, {"properties": set_defaults})(schema)
    if not isinstance(config, Mapping):
        raise DataError(path, "the top level must be keys (conditions:, outcomes:, analyses:)")
    for error in validator.iter_errors(config):
        raise schema_error(error, path, lines) from None
    return config


def schema_error(error, path: str, lines: Mapping[str, int] | None = None) -> DataError:
    """A ``jsonschema.ValidationError`` as a :class:`DataError` naming the key.

    Parameters
    ----------
    error : jsonschema.ValidationError
        As raised by ``jsonschema`` or carried by ``snakemake.utils.validate``'s error.
    path : str
        How the message names the configuration file.
    lines : mapping, optional
        Line of each key (:func:`load_config`); the message then names the line.
    """
    keys = [str(k) for k in error.absolute_path]
    key = ".".join(keys)
    line = None
    if lines:
        target = key
        if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
            allowed = error.schema.get("properties", {})
            extra = sorted(k for k in error.instance if k not in allowed)
            if extra:
                target = ".".join([*keys, str(extra[0])])
        elif "propertyNames" in error.absolute_schema_path:
            target = ".".join([*keys, str(error.instance)])
        line = config_line(lines, target) or config_line(lines, key)
    return DataError(path, _schema_message(error), key=key or "top level", line=line)


def _schema_message(error) -> str:
    validator, expected, value = error.validator, error.validator_value, error.instance
    if validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed))
        return f"unknown key {extra[0]!r}; allowed keys: {', '.join(allowed)}"
    if "propertyNames" in error.absolute_schema_path:
        if validator == "type":
            return f"key {value!r} must be text; quote it in the YAML file ('{value}')"
        if validator == "not":
            return f"key {value!r} is reserved (reports/{value}.html is the overview page)"
        if validator == "minLength":
            return "keys must not be empty"
        return f"key {value!r} is not allowed; keys must match {expected}"
    if validator == "enum":
        return f"must be one of {', '.join(map(str, expected))} (got {value!r})"
    if validator == "required":
        missing = [k for k in expected if k not in value]
        return f"required key {missing[0]!r} missing"
    if validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {
            "minimum": "at least",
            "exclusiveMinimum": "greater than",
            "maximum": "at most",
            "exclusiveMaximum": "less than",
        }
        return f"must be {words[validator]} {expected} (got {value!r})"
    if validator == "type":
        return f"must be of type {expected} (got {value!r})"
    if validator == "pattern":
        return f"must match {expected} (got {value!r})"
    if validator == "minProperties":
        return f"must have at least {expected} entr{'y' if expected == 1 else 'ies'}"
    if validator == "minLength":
        return f"must not be empty (got {value!r})"
    return error.message
