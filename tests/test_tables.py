"""Fast table helpers of the statistics path against the pandas calls they replace.

``ketameta.io.csv_text`` must give the bytes of ``DataFrame.to_csv(index=False,
lineterminator="\\n")``, ``ketameta.analysis._records`` the values and types of
``DataFrame.to_dict("records")``, and ``ketameta.io.read_table`` (which parses a text once
per process) a fresh frame equal to a new parse.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from ketameta.analysis import _records
from ketameta.io import csv_text, read_table, write_table
from ketameta.multiverse import read_specifications, to_csv


def _pandas_csv(frame, header=True):
    return frame.to_csv(index=False, header=header, lineterminator="\n")


AWKWARD_FLOATS = [
    0.0, -0.0, 1.0, -1.5, 0.1, 1 / 3, 2 / 3, 1e-300, -1e-300, 5e-324, 2.2250738585072014e-308,
    1e-5, 1e-4, 0.0001234, 123456789.0, 1e15, 1e16, 1.2345678901234567e16, 1e22, 1e300,
    1.7976931348623157e308, math.inf, -math.inf, math.nan, 3.0, 2006.0, 100.0, 9007199254740993.0,
    0.30000000000000004, 1.5e-7, 12.0000001,
]  # fmt: skip


def _awkward_frame(n):
    floats = (AWKWARD_FLOATS * (n // len(AWKWARD_FLOATS) + 1))[:n]
    text = ["plain", "", "unicode: Zarate é ö 中文 ≥", "space at end ", "  lead", "naïve"]
    return pd.DataFrame(
        {
            "study": pd.array([text[i % len(text)] for i in range(n)], dtype="str"),
            "year": pd.array([None if i % 5 == 0 else 2000 + i for i in range(n)], dtype="Int64"),
            "yi": np.array(floats, dtype=float),
            "n": np.arange(n, dtype=np.int64) * 7 - 3,
            "fitted": np.arange(n) % 3 == 0,
            "obj": np.array([None if i % 4 == 0 else (1.5 if i % 4 == 1 else "t")
                             for i in range(n)], dtype=object),
            "missing": pd.array([None] * n, dtype="str"),
        }
    )  # fmt: skip


@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("n", [61, 3100])  # a long column writes each distinct value once
def test_csv_text_equals_pandas_on_awkward_values(header, n, monkeypatch):
    frame = _awkward_frame(n)
    want = _pandas_csv(frame, header=header)

    def refuse(*args, **kwargs):
        raise AssertionError("csv_text left a plain table to pandas")

    monkeypatch.setattr(pd.DataFrame, "to_csv", refuse)  # the fast writer itself is tested
    assert csv_text(frame, header=header) == want


def test_csv_text_random_doubles_equal_pandas():
    # pandas writes NumPy's str of a float64; csv_text writes Python's repr. Both are the
    # shortest text that reads back as the same double: compare on doubles of every
    # exponent, from random bit patterns.
    bits = np.random.default_rng(11).integers(0, 2**64, size=20_000, dtype=np.uint64)
    values = bits.view(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        frame = pd.DataFrame({"a": values, "b": values[::-1] * 1e-3})
    assert csv_text(frame) == _pandas_csv(frame)
    repeated = pd.DataFrame({"a": np.tile(values[:500], 8), "b": np.repeat(values[-40:], 100)})
    assert csv_text(repeated) == _pandas_csv(repeated)


@pytest.mark.parametrize(
    "text",
    ["with, comma", 'with "quote"', "line\nbreak", "carriage\rreturn"],
)
def test_csv_text_quotes_fields_as_pandas(text):
    frame = pd.DataFrame({"study": pd.array([text, "ok"], dtype="str"), "yi": [1.0, np.nan]})
    assert csv_text(frame) == _pandas_csv(frame)
    odd_header = pd.DataFrame({"a,b": [1.0], "c": ["x"]})
    assert csv_text(odd_header) == _pandas_csv(odd_header)


def test_csv_text_other_shapes_equal_pandas():
    one_column = pd.DataFrame({"study": pd.array(["", "A"], dtype="str")})
    empty = pd.DataFrame({"a": pd.Series([], dtype=float), "b": pd.Series([], dtype="str")})
    float32 = pd.DataFrame({"a": np.array([0.1, 1e-8], dtype=np.float32), "b": [1, 2]})
    nullable = pd.DataFrame({"a": pd.array([0.1, None], dtype="Float64"), "b": [1, 2]})
    for frame in (one_column, empty, float32, nullable):
        assert csv_text(frame) == _pandas_csv(frame)


def test_write_table_and_specification_csv_use_the_same_bytes(tmp_path):
    frame = _awkward_frame(20)
    write_table(frame, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text(encoding="utf-8") == _pandas_csv(frame)
    assert to_csv(frame, header=False) == _pandas_csv(frame, header=False)


def _same_records(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert list(a) == list(b)
        for key in a:
            assert type(a[key]) is type(b[key]), key
            same = a[key] == b[key] or (a[key] != a[key] and b[key] != b[key])
            assert same or a[key] is b[key], key


def test_records_equal_to_dict():
    frame = _awkward_frame(13)
    frame["flag"] = pd.array([True, None] * 6 + [False], dtype="boolean")
    frame["f32"] = np.arange(13, dtype=np.float32) / 3
    _same_records(_records(frame), frame.to_dict("records"))
    _same_records(_records(frame.iloc[:0]), frame.iloc[:0].to_dict("records"))


def test_read_table_gives_a_fresh_frame_per_read(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("study,year,n_treat,source_line\nA,2001,10,2\nB,,12,3\n", encoding="utf-8")
    first = read_table(path)
    first.loc[0, "n_treat"] = 99.0  # a caller's change does not reach the next read
    second = read_table(path)
    assert second.loc[0, "n_treat"] == 10.0
    path.write_text("study,year,n_treat,source_line\nA,2001,11,2\nB,,12,3\n", encoding="utf-8")
    third = read_table(path)  # same size and name, new content: parsed anew
    assert third.loc[0, "n_treat"] == 11.0
    pdt.assert_frame_equal(second.drop(columns="n_treat"), third.drop(columns="n_treat"))


def test_read_specifications_text_and_file_agree(tmp_path):
    frame = pd.DataFrame({"spec": [0, 1], "omit": ["none", "A 2001"], "estimate": [0.5, np.nan],
                          "method_used": ["REML", ""], "test_used": ["knha", ""]})  # fmt: skip
    text = to_csv(frame)
    (tmp_path / "t.csv").write_text(text, encoding="utf-8")
    pdt.assert_frame_equal(read_specifications(text), read_specifications(tmp_path / "t.csv"))


def test_group_medians_equal_pandas_groupby_median():
    from ketameta.multiverse import _group_medians

    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 40, 401):
        values = rng.normal(size=n).round(rng.integers(1, 4))  # ties too
        values[rng.random(n) < 0.1] = np.nan
        keys = pd.Series(rng.choice(["any", "none", "A 2001", "B"], size=n)).astype("str")
        keys[rng.random(n) < 0.05] = None
        got = _group_medians(keys, values).to_numpy()
        want = pd.Series(values).groupby(keys, sort=False).median().to_numpy()
        np.testing.assert_array_equal(got, want)  # bit for bit, NaN where a group has none


def test_by_year_orders_as_sort_values():
    from ketameta.analysis import _by_year

    rng = np.random.default_rng(5)
    for n in (0, 1, 5, 30, 200):
        years = [None if rng.random() < 0.2 else int(y) for y in rng.integers(1990, 1995, n)]
        labels = [str(rng.choice(["B", "a", "A", "Zé", "Z", "b 1", "b"])) for _ in range(n)]
        frame = pd.DataFrame({"year": pd.array(years, dtype="Int64"),
                              "study": pd.array(labels, dtype="str"), "row": np.arange(n)})  # fmt: skip
        want = frame.sort_values(["year", "study"], na_position="last", kind="stable")
        pdt.assert_frame_equal(_by_year(frame), want.reset_index(drop=True))
