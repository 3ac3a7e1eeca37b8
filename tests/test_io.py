"""Reading the trial CSV files (docs/contract.md, section 1) into one typed table, and back from disk."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from ketameta.io import DataError, read_data, read_table, write_table

CSV = (
    "study,year,condition,outcome,timepoint,registry,n_treat,mean_treat,sd_treat,n_ctrl,"
    "mean_ctrl,sd_ctrl,events_treat,events_ctrl,effect_type,yi,ci_low,ci_high\n"
    "A 2001,2001,TRD,severity,24h,NCT1,10,5.5,2,11,6,2.5,,,,,,\n"
    "B 2002,,TRD,response,24h,,10,,,11,,,3,1,,,,\n"
    "C 2003,2003,TRD,response,4w,,25,,,,,,7,,,,,\n"
    '"D 2004, extension",2004,PTSD,severity,end,NA,12,,,12,,,,,RR,1.5,1.1,2.2\n'
)


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "data" / "raw").mkdir(parents=True)
    return tmp_path


def test_types_kinds_and_sources(folder):
    path = folder / "data" / "raw" / "trials.csv"
    path.write_text(CSV)
    table = read_data("data/raw", root=folder)
    assert list(table["kind"]) == ["continuous", "dichotomous", "single", "reported"]
    assert list(table["source_line"]) == [2, 3, 4, 5]
    assert set(table["source_file"]) == {"data/raw/trials.csv"}
    assert set(table["source_sha256"]) == {hashlib.sha256(path.read_bytes()).hexdigest()}
    assert table["n_treat"].dtype == np.float64
    assert table["year"].dtype == "Int64" and pd.isna(table["year"][1])
    assert table["mean_treat"][0] == 5.5 and np.isnan(table["mean_treat"][1])
    # unknown columns pass through as text, "NA" is text, not a missing value
    assert list(table["registry"].fillna("")) == ["NCT1", "", "", "NA"]
    assert table["study"][3] == "D 2004, extension"
    # a reported effect may carry the arm sizes; they do not make it an arm-data row
    assert table["n_treat"][3] == 12 and table["kind"][3] == "reported"


def test_bom_crlf_and_subfolders(folder):
    sub = folder / "data" / "raw" / "2024"
    sub.mkdir()
    (sub / "b.csv").write_bytes(("\ufeff" + CSV).replace("\n", "\r\n").encode("utf-8"))
    table = read_data("data/raw", root=folder)
    assert list(table.columns[:2]) == ["study", "year"]  # BOM stripped from the first name
    assert list(table["source_line"]) == [2, 3, 4, 5]
    assert set(table["source_file"]) == {"data/raw/2024/b.csv"}


def test_files_are_read_in_name_order(folder):
    lines = CSV.splitlines()
    (folder / "data" / "raw" / "b.csv").write_text("\n".join(lines[:1] + lines[3:]) + "\n")
    (folder / "data" / "raw" / "a.csv").write_text("\n".join(lines[:3]) + "\n")
    table = read_data("data/raw", root=folder)
    assert list(table["source_file"]) == ["data/raw/a.csv"] * 2 + ["data/raw/b.csv"] * 2
    assert list(table["study"]) == ["A 2001", "B 2002", "C 2003", "D 2004, extension"]


def test_table_round_trip(folder, tmp_path):
    (folder / "data" / "raw" / "trials.csv").write_text(CSV)
    table = read_data("data/raw", root=folder)
    write_table(table, tmp_path / "out" / "rows.csv")
    back = read_table(tmp_path / "out" / "rows.csv")
    pdt.assert_frame_equal(back, table, check_dtype=False)
    assert back["n_treat"].dtype == np.float64 and back["year"].dtype == "Int64"
    assert back["registry"][3] == "NA"


def test_missing_data_folder(tmp_path):
    with pytest.raises(DataError) as caught:
        read_data("data/raw", root=tmp_path)
    assert str(caught.value) == (
        "data/raw: data folder not found; set data_dir in config/config.yaml"
    )
