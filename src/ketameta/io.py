"""Reading and validating the trial-level input files and the configuration.

This module is the data contract of CONTRACT.md §1 in code. :func:`read_data` reads every
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
* Every row fills exactly one data group (CONTRACT §1): continuous arms, dichotomous arms,
  single arm, or reported effect. ``n_treat`` and ``n_ctrl`` may accompany a reported effect
  (they count participants and convert Cohen's d to Hedges' g); they do not by themselves
  make a group.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from ketameta.effects import (
    CONTINUOUS,
    DICHOTOMOUS,
    EFFECT_TYPES,
    NATURAL_RATIOS,
    SINGLE_ARM,
)

__all__ = [
    "DataError",
    "IDENTITY_COLUMNS",
    "DESCRIPTIVE_COLUMNS",
    "NUMERIC_COLUMNS",
    "RATIO_EFFECT_TYPES",
    "KINDS",
    "KIND_LABELS",
    "read_data",
    "read_files",
    "read_file",
    "extract_condition",
    "write_text",
    "write_table",
    "read_table",
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
    "doi", "pmid", "source", "evidence", "notes",
)  # fmt: skip
NUMERIC_COLUMNS = (
    "n_treat", "mean_treat", "sd_treat", "n_ctrl", "mean_ctrl", "sd_ctrl",
    "events_treat", "events_ctrl", "yi", "vi", "sei", "ci_low", "ci_high", "ci_level",
)  # fmt: skip

RATIO_EFFECT_TYPES = NATURAL_RATIOS

#: The data groups of CONTRACT §1, keyed by the name used in the ``kind`` column.
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
_CHOICES = {
    "design": ("parallel", "crossover"),
    "rob": ("low", "some", "high"),
    **{f"rob_d{i}": ("low", "some", "high") for i in range(1, 6)},
}
_YEAR_RANGE = (1900, 2100)


class DataError(Exception):
    """A malformed input file or configuration, located for the analyst.

    Parameters
    ----------
    path : str
        The file, as the analyst names it (e.g. ``data/raw/trd.csv``).
    message : str
        What is wrong and what would be right, e.g. ``must be greater than 0 (got -4)``.
    line : int, optional
        Physical line in the file, the header being line 1.
    column : str, optional
        Column name (CSV files).
    key : str, optional
        Dotted key (configuration), e.g. ``analyses.trd_24h.method``.

    Notes
    -----
    ``str(error)`` is the one-line message of CONTRACT §1:
    ``"{path}, line {line}, column {column}: {message}"`` or ``"{path}, {key}: {message}"``,
    leaving out the parts not given.
    """

    def __init__(
        self,
        path: str,
        message: str,
        *,
        line: int | None = None,
        column: str | None = None,
        key: str | None = None,
    ):
        self.path = str(path)
        self.message = message
        self.line = line
        self.column = column
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [self.path]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column}")
        if self.key is not None:
            where.append(self.key)
        return f"{', '.join(where)}: {self.message}"

    def __reduce__(self):
        return (_rebuild_error, (self.path, self.message, self.line, self.column, self.key))


def _rebuild_error(path, message, line, column, key):
    return DataError(path, message, line=line, column=column, key=key)


# ----------------------------------------------------------------------------- reading


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_data(data_dir: str, root: str | Path = ".") -> pd.DataFrame:
    """Read and validate every ``*.csv`` below ``data_dir``.

    Parameters
    ----------
    data_dir : str
        The folder as configured (relative to ``root`` unless absolute); it also prefixes the
        file names in messages and in the ``source_file`` column.
    root : path-like
        Directory that relative ``data_dir`` is resolved against (the workflow directory).

    Returns
    -------
    pandas.DataFrame
        All rows of all files, in file-name then line order, with the columns of
        :func:`read_file`. Rows that repeat an earlier comparison raise :class:`DataError`.
    """
    folder = Path(root) / data_dir
    if not folder.is_dir():
        raise DataError(data_dir, "data folder not found; set data_dir in config/config.yaml")
    files = sorted(p for p in folder.rglob("*.csv") if p.is_file())
    if not files:
        raise DataError(data_dir, "no *.csv files in the data folder")
    names = [str(PurePosixPath(data_dir) / p.relative_to(folder).as_posix()) for p in files]
    return read_files(names, root)


def read_files(paths: Iterable[str], root: str | Path = ".") -> pd.DataFrame:
    """Read and validate several trial files as one table (see :func:`read_data`).

    Parameters
    ----------
    paths : iterable of str
        File names relative to ``root`` (or absolute); they name the files in messages and
        in ``source_file``.
    root : path-like
        Directory the names are relative to.
    """
    tables = [read_file(Path(root) / name, name) for name in paths]
    table = pd.concat(tables, ignore_index=True, sort=False)
    _check_duplicates(table)
    return table


def extract_condition(paths: Iterable[str], condition: str, out: str | Path) -> None:
    """Validate trial files and write the rows of one condition (the workflow's ingest step).

    Parameters
    ----------
    paths : iterable of str
        The files holding rows of ``condition``, relative to the working directory.
    condition : str
        Condition key.
    out : path-like
        CSV to write (:func:`write_table`), read back by :func:`read_table`.
    """
    table = read_files(paths)
    write_table(table[table["condition"] == condition], out)


def read_file(path: str | Path, name: str | None = None) -> pd.DataFrame:
    """Read and validate one trial CSV file.

    Parameters
    ----------
    path : path-like
        File to read.
    name : str, optional
        How messages name the file (default: ``path`` as given).

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
    raw = Path(path).read_bytes()
    text = _decode(raw, name)
    if not text.strip():
        raise DataError(name, "the file is empty; it needs a header row and data rows")
    header, records = _parse_csv(text, name)
    _check_header(header, text, name)
    if not records:
        raise DataError(name, "the file has a header but no data rows", line=1)
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
        parsed, kind = _parse_row(row, name, line)
        for c in header:
            columns[c].append(parsed[c])
        kinds.append(kind)
        lines.append(line)
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


def _column_values(column: str, values: list):
    if column in NUMERIC_COLUMNS:
        return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    if column == "year":
        return pd.array(values, dtype="Int64")
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
        if not any(f.strip() for f in fields):
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


def _parse_row(row: Mapping[str, str], name: str, line: int) -> tuple[dict, str]:
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
    if effect_type == "d":
        for column in _COUNTS:
            if out.get(column) is None:
                fail(column, "missing; converting Cohen's d to Hedges' g needs n_treat and n_ctrl")


def _check_duplicates(table: pd.DataFrame) -> None:
    """Reject a comparison given twice (same study, condition, outcome, timepoint, arm, kind)."""
    key = ["study", "condition", "outcome", "timepoint", "arm", "kind"]
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
                f"duplicate of {other} (same study, condition, outcome, timepoint and arm); "
                "give each comparison once, with distinct arm labels for the arms of one trial",
                line=int(line),
                column="study",
            )
        seen[values] = (source, int(line))


# ----------------------------------------------------------------------------- tables


def write_text(text: str, path: str | Path) -> None:
    """Write a text file atomically: a temporary file beside it, then a rename.

    A run that fails while writing leaves the previous file (the last good output) intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table as CSV (floats in full precision), atomically (:func:`write_text`)."""
    write_text(frame.to_csv(index=False, lineterminator="\n"), path)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table written by :func:`write_table` back with the dtypes of :func:`read_file`."""
    header = pd.read_csv(path, nrows=0).columns
    dtypes = {c: ("float64" if c in NUMERIC_COLUMNS else "str") for c in header}
    dtypes["year"] = "Int64"
    dtypes["source_line"] = "int64"
    return pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""])


# ----------------------------------------------------------------------------- configuration


def validate_config(config: dict, schema: str | Path | Mapping, path: str = "config") -> dict:
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

    Raises
    ------
    DataError
        The first schema violation, as :func:`schema_error` words it.
    """
    import jsonschema
    import yaml

    if not isinstance(schema, Mapping):
        schema = yaml.safe_load(Path(schema).read_text(encoding="utf-8"))
    base = jsonschema.Draft202012Validator
    check_properties = base.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from check_properties(validator, properties, instance, subschema)

    validator = jsonschema.validators.extend(base, {"properties": set_defaults})(schema)
    for error in validator.iter_errors(config):
        raise schema_error(error, path) from None
    return config


def schema_error(error, path: str) -> DataError:
    """A ``jsonschema.ValidationError`` as a :class:`DataError` naming the key.

    Parameters
    ----------
    error : jsonschema.ValidationError
        As raised by ``jsonschema`` or carried by ``snakemake.utils.validate``'s error.
    path : str
        How the message names the configuration file.
    """
    keys = [str(k) for k in error.absolute_path]
    return DataError(path, _schema_message(error), key=".".join(keys) if keys else "top level")


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
