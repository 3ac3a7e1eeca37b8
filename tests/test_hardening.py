"""Nothing silently ignored, wrong data refused, every message located: the library side.

Each class of input that an attack on the pipeline found to be silently ignored, accepted
although wrong, or reported without saying where, with the exact message the analyst sees.
The same checks run when the workflow starts (tests/test_workflow.py runs a few of them
through the real ``snakemake``); the atomic publication of outputs is tested here with an
injected write error and in tests/test_workflow.py with a real full disk, a read-only
``reports/`` and a killed run.
"""

from __future__ import annotations

import copy
import errno
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from markupsafe import Markup
from schema_keys import ANALYSIS_KEYS

from ketameta.analysis import check_inputs, prepare, run_condition
from ketameta.io import (
    DataError,
    config_line,
    in_sync,
    load_config,
    publish,
    read_data,
    validate_config,
    write_table,
)
from ketameta.profiles import effective_config, effective_configs
from ketameta.report import page_config, render_condition, render_index
from ketameta.report.formatting import plain
from ketameta.report.render import environment

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
HEADER = (
    "study,year,condition,outcome,timepoint,n_treat,mean_treat,sd_treat,n_ctrl,mean_ctrl,"
    "sd_ctrl,effect_type,yi,ci_low,ci_high\n"
)
ROWS = (
    "Alpha 2001,2001,TRD,severity,24h,10,20,6,10,24,7,,,,\n"
    "Beta 2003,2003,TRD,severity,24h,12,18,5,11,23,6,,,,\n"
    "Gamma 2005,2005,TRD,severity,24h,,,,,,,MD,-3.1,-6.2,-0.1\n"
)
CONFIG = {
    "data_dir": "data/raw",
    "conditions": {"TRD": {"label": "Treatment-resistant depression"}},
    "outcomes": {"severity": {"label": "Severity"}},
    "analyses": {
        "trd_severity": {
            "condition": "TRD",
            "outcome": "severity",
            "timepoint": "24h",
            "measure": "MD",
        }
    },
}


def write_data(root: Path, text: str, name: str = "trd.csv") -> Path:
    folder = root / "data" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def data_message(root: Path, text: str, name: str = "trd.csv") -> str:
    write_data(root, text, name)
    with pytest.raises(DataError) as caught:
        read_data("data/raw", root=root)
    return str(caught.value)


def checked(root: Path, config: dict):
    validate_config(config, SCHEMA, "config/config.yaml")
    return check_inputs(config, "config/config.yaml", root=root)


# ------------------------------------------------------------------ nothing silently ignored


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        (
            "condition",
            "TRd",
            "data/raw/trd.csv, line 3, column condition: condition 'TRd' is not declared "
            "under conditions in config/config.yaml; did you mean TRD? declared: TRD. Correct "
            "the cell or declare the condition",
        ),
        (
            "outcome",
            "sevrity",
            "data/raw/trd.csv, line 3, column outcome: outcome 'sevrity' is not declared "
            "under outcomes in config/config.yaml; did you mean severity? declared: "
            "severity. Correct the cell or declare the outcome",
        ),
        (
            "outcome",
            "-",
            "data/raw/trd.csv, line 3, column outcome: outcome '-' is not declared under "
            "outcomes in config/config.yaml; declared: severity. Correct the cell or declare "
            "the outcome",
        ),
    ],
)
def test_rows_of_undeclared_conditions_or_outcomes_stop_the_run(tmp_path, column, value, expected):
    text = ROWS.replace("Beta 2003,2003,TRD,severity", {
        "condition": f"Beta 2003,2003,{value},severity",
        "outcome": f"Beta 2003,2003,TRD,{value}",
    }[column])
    write_data(tmp_path, HEADER + text)
    with pytest.raises(DataError) as caught:
        checked(tmp_path, copy.deepcopy(CONFIG))
    assert str(caught.value) == expected


def test_data_files_are_found_whatever_the_case_of_their_extension(tmp_path):
    write_data(tmp_path, HEADER + ROWS.splitlines(keepends=True)[0], "trd.csv")
    write_data(tmp_path, HEADER + ROWS.splitlines(keepends=True)[1], "trd_more.CSV")
    write_data(tmp_path, "not data\n", "README.md")
    table = read_data("data/raw", root=tmp_path)
    assert list(table["source_file"]) == ["data/raw/trd.csv", "data/raw/trd_more.CSV"]


def test_a_dangling_link_is_an_error(tmp_path):
    write_data(tmp_path, HEADER + ROWS)
    os.symlink(tmp_path / "elsewhere.csv", tmp_path / "data" / "raw" / "more.csv")
    with pytest.raises(DataError) as caught:
        read_data("data/raw", root=tmp_path)
    assert str(caught.value) == (
        "data/raw/more.csv: a link that cannot be followed (its target does not exist); "
        "point it at a file or remove it"
    )


def test_a_link_loop_is_an_error(tmp_path):
    write_data(tmp_path, HEADER + ROWS)
    os.symlink("loop.csv", tmp_path / "data" / "raw" / "loop.csv")
    with pytest.raises(DataError) as caught:
        read_data("data/raw", root=tmp_path)
    assert str(caught.value) == (
        "data/raw/loop.csv: a link that cannot be followed (a loop of links); point it at a "
        "file or remove it"
    )


def test_a_folder_link_back_into_the_data_folder_is_an_error(tmp_path):
    write_data(tmp_path, HEADER + ROWS)
    os.symlink(".", tmp_path / "data" / "raw" / "again")
    with pytest.raises(DataError) as caught:
        read_data("data/raw", root=tmp_path)
    assert str(caught.value) == (
        "data/raw/again: the folder links back into itself; remove the link"
    )


def test_a_link_to_a_data_file_is_read(tmp_path):
    (tmp_path / "shared.csv").write_text(HEADER + ROWS)
    (tmp_path / "data" / "raw").mkdir(parents=True)
    os.symlink(tmp_path / "shared.csv", tmp_path / "data" / "raw" / "trd.csv")
    assert len(read_data("data/raw", root=tmp_path)) == 3


def test_an_unreadable_file_is_one_message(tmp_path, monkeypatch):
    write_data(tmp_path, HEADER + ROWS)
    original = Path.read_bytes

    def refuse(self):
        if self.name == "trd.csv":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(DataError) as caught:
        read_data("data/raw", root=tmp_path)
    assert str(caught.value) == (
        "data/raw/trd.csv: the file cannot be read (permission denied); check its permissions"
    )


def test_a_huge_cell_names_its_own_column(tmp_path):
    text = HEADER.replace("\n", ",notes\n") + "".join(
        line.rstrip("\n") + ("," + "x" * 1_000_000 if i == 1 else ",") + "\n"
        for i, line in enumerate(ROWS.splitlines(keepends=True))
    )
    assert data_message(tmp_path, text) == (
        "data/raw/trd.csv, line 3, column notes: the cell holds 1,000,000 characters (at "
        "most 10,000); a quote left open earlier in the row, or text pasted into the wrong "
        "cell, makes cells this long"
    )


# ------------------------------------------------------------------ wrong data refused


def test_a_reported_effect_outside_its_own_ci_is_refused(tmp_path):
    text = HEADER + ROWS.replace("MD,-3.1,-6.2,-0.1", "MD,7.6,-11.3,-3.9")
    assert data_message(tmp_path, text) == (
        "data/raw/trd.csv, line 4, column yi: lies outside its own confidence interval -11.3 "
        "to -3.9 (got 7.6); was a sign turned without swapping the bounds?"
    )


def test_one_trial_under_two_spellings_is_refused(tmp_path):
    text = HEADER + ROWS + "popova  2019,2019,TRD,severity,7d,10,20,6,10,24,7,,,,\n"
    text = text.replace("Alpha 2001,2001", "Popova 2019,2019")
    assert data_message(tmp_path, text) == (
        "data/raw/trd.csv, line 5, column study: study 'popova  2019' differs from 'Popova "
        "2019' (line 2) only in case, spacing or punctuation; write one trial's label the "
        "same way everywhere, or make labels of different trials differ in letters or digits"
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "10,20,6,10,24,7",
            "10,1e308,6,10,24,7",
            "data/raw/trd.csv, line 2, column mean_treat: implausibly large (got 1e308; the "
            "limit is 1e+06 in absolute value, set by limits.max_abs_value in "
            "config/config.yaml)",
        ),
        (
            "10,20,6,10,24,7",
            "10,20,1e200,10,24,1e200",
            "data/raw/trd.csv, line 2, column sd_treat: implausible for means of scale 24 (got "
            "1e200; an SD must lie within a factor 1e+06 of max(1, |mean_treat|, "
            "|mean_ctrl|), set by limits.max_sd_ratio in config/config.yaml)",
        ),
        (
            "10,20,6,10,24,7",
            "10,20,1e-9,10,24,7",
            "data/raw/trd.csv, line 2, column sd_treat: implausible for means of scale 24 (got "
            "1e-9; an SD must lie within a factor 1e+06 of max(1, |mean_treat|, "
            "|mean_ctrl|), set by limits.max_sd_ratio in config/config.yaml)",
        ),
        (
            "10,20,6,10,24,7",
            "1e12,20,6,10,24,7",
            "data/raw/trd.csv, line 2, column n_treat: implausibly large (got 1e12; the limit "
            "is 1e+07, set by limits.max_n in config/config.yaml)",
        ),
    ],
)
def test_values_beyond_the_plausible_range_are_refused(tmp_path, old, new, expected):
    text = HEADER + ROWS.replace(old, new, 1)
    assert data_message(tmp_path, text) == expected


def test_the_plausibility_bounds_are_configurable(tmp_path):
    write_data(tmp_path, HEADER + ROWS.replace("10,20,6,10,24,7", "10,2e6,6,10,24,7", 1))
    config = copy.deepcopy(CONFIG)
    with pytest.raises(DataError, match="limits.max_abs_value"):
        checked(tmp_path, config)
    config = copy.deepcopy(CONFIG)
    config["limits"] = {"max_abs_value": 1e7}
    assert len(checked(tmp_path, config)) == 3
    config["limits"] = {"max_abs_vale": 1e7}
    with pytest.raises(DataError, match="unknown key 'max_abs_vale'"):
        validate_config(config, SCHEMA, "config/config.yaml")


def test_values_at_the_plausibility_bounds_go_through_every_stage(tmp_path):
    # The largest means and SDs, the smallest and largest reported variances the bounds
    # allow: the fit, the summaries and both pages must be computed without an error.
    text = (
        "study,year,condition,outcome,timepoint,n_treat,mean_treat,sd_treat,n_ctrl,"
        "mean_ctrl,sd_ctrl,effect_type,yi,vi\n"
        "Big 2001,2001,TRD,severity,24h,10000000,1e6,1e12,10000000,-1e6,1e12,,,\n"
        "Tiny 2002,2002,TRD,severity,24h,2,1e-6,1e-6,2,0,1e-6,,,\n"
        "Sure 2003,2003,TRD,severity,24h,,,,,,,MD,-1e6,1e-10\n"
        "Vague 2004,2004,TRD,severity,24h,,,,,,,MD,1e6,1e10\n"
    )
    write_data(tmp_path, text)
    config = copy.deepcopy(CONFIG)
    trials = checked(tmp_path, config)
    rows = tmp_path / "rows.csv"
    write_table(trials, rows)
    names = list(config["analyses"])
    effects = [tmp_path / f"{a}.effects.csv" for a in names]
    summaries = [tmp_path / f"{a}.summary.json" for a in names]
    run_condition(rows, effective_configs("TRD", config), effects, summaries)
    render_condition("TRD", page_config(["TRD"], config), summaries, effects, tmp_path / "TRD.html")
    render_index(page_config(["TRD"], config), summaries, effects, tmp_path / "index.html")
    assert (tmp_path / "TRD.html").stat().st_size > 0
    assert (tmp_path / "index.html").stat().st_size > 0


# ------------------------------------------------------------------ identity is (study, year)


def test_one_label_with_two_years_is_two_studies(tmp_path):
    # metafor's dat.li2007 has two trials labelled "Shechter", of 1990 and 1991.
    text = HEADER + (
        "Shechter,1990,TRD,severity,24h,50,20,6,50,24,7,,,,\n"
        "Shechter,1991,TRD,severity,24h,60,19,6,58,23,7,,,,\n"
        "Other,1995,TRD,severity,24h,40,20,6,40,22,7,,,,\n"
    )
    write_data(tmp_path, text)
    config = copy.deepcopy(CONFIG)
    trials = checked(tmp_path, config)
    prepared = prepare(trials, effective_config("trd_severity", config))
    assert list(prepared.rows["study"]) == ["Shechter (1990)", "Shechter (1991)", "Other"]


def test_one_label_and_year_twice_is_still_a_duplicate(tmp_path):
    text = HEADER + (
        "Shechter,1990,TRD,severity,24h,50,20,6,50,24,7,,,,\n"
        "Shechter,1990,TRD,severity,24h,60,19,6,58,23,7,,,,\n"
    )
    assert data_message(tmp_path, text).startswith(
        "data/raw/trd.csv, line 3, column study: duplicate of line 2 (same study, year,"
    )


# ------------------------------------------------------------------ new optional columns


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("rob_d3", "moderate", "column rob_d3: must be one of low, some, high (got moderate)"),
        ("day", "0", "column day: must be greater than 0: days from the first dose (got 0)"),
        ("day", "one", "column day: must be a number (got one)"),
        (
            "same_participants_as",
            "Delta 2009",
            "column same_participants_as: names no study of the data (got 'Delta 2009'); "
            "give another row's study label",
        ),
        (
            "same_participants_as",
            "Alpha 2001",
            "column same_participants_as: names the row's own study; name the other study "
            "that shares participants",
        ),
    ],
)
def test_new_descriptive_columns_are_checked(tmp_path, column, value, expected):
    lines = ROWS.splitlines()
    text = HEADER.replace("\n", f",{column}\n") + "\n".join(
        line + ("," + value if i == 0 else ",") for i, line in enumerate(lines)
    ) + "\n"
    assert data_message(tmp_path, text) == f"data/raw/trd.csv, line 2, {expected}"


def test_new_descriptive_columns_are_kept(tmp_path):
    columns = "day,rob,rob_d1,rob_d5,rob_source,population,setting,schedule,same_participants_as"
    values = "1.5,high,low,high,Cochrane review,adults,inpatient,single infusion,Beta 2003"
    lines = ROWS.splitlines()
    text = HEADER.replace("\n", f",{columns}\n") + "\n".join(
        line + ("," + values if i == 0 else "," * (columns.count(",") + 1))
        for i, line in enumerate(lines)
    ) + "\n"
    write_data(tmp_path, text)
    table = read_data("data/raw", root=tmp_path)
    assert table["day"].dtype == np.float64 and table["day"][0] == 1.5
    assert table["same_participants_as"][0] == "Beta 2003"
    assert table["rob_d5"][0] == "high"


# ------------------------------------------------------------------ hostile Unicode


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u200b", "\ufeff", "\u200f"])
def test_invisible_characters_in_a_cell_are_refused(tmp_path, char):
    text = HEADER + ROWS.replace("Beta 2003", f"Beta{char} 2003")
    message = data_message(tmp_path, text)
    assert message.startswith("data/raw/trd.csv, line 3, column study: contains the invisible")
    assert f"U+{ord(char):04X}" in message


def test_the_report_strips_invisible_characters():
    assert plain("Ab\u202edc\u2069 2019\u200b") == "Abdc 2019"
    assert plain(None) is None
    # every value a page prints passes through it, escaped or marked safe
    page = environment().from_string("{{ label }}|{{ svg }}")
    assert page.render(label="<b>\u202eA</b>", svg=Markup("<svg>\u200bB</svg>")) == (
        "&lt;b&gt;A&lt;/b&gt;|<svg>B</svg>"
    )


# ------------------------------------------------------------------ the configuration


def config_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as caught:
        config, lines = load_config(path, "config/config.yaml")
        validate_config(config, SCHEMA, "config/config.yaml", lines)
    return str(caught.value)


GOOD_YAML = """\
conditions:
  TRD: {label: Treatment-resistant depression}
outcomes:
  severity: {label: Severity}
analyses:
  trd_severity:
    condition: TRD
    outcome: severity
    timepoint: 24h
    measure: MD
"""


def test_a_good_configuration_loads_with_the_line_of_every_key(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(GOOD_YAML)
    config, lines = load_config(path)
    assert config["analyses"]["trd_severity"]["measure"] == "MD"
    assert lines["analyses.trd_severity.measure"] == 10
    assert config_line(lines, "analyses.trd_severity.exclude.Alpha 2001") == 6
    assert config_line(lines, "nowhere") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD_YAML + "    measure: OR\n",
            "config/config.yaml, line 11: the key 'measure' is given twice in one mapping "
            "(first on line 10); keep one",
        ),
        (
            GOOD_YAML + "  trd_severity:\n    condition: TRD\n",
            "config/config.yaml, line 11: the key 'trd_severity' is given twice in one "
            "mapping (first on line 6); keep one",
        ),
        (
            GOOD_YAML + '  "trd_other\\n": {condition: TRD}\n',
            "config/config.yaml, line 11: the key 'trd_other\\n' has a line break or spaces "
            "around it; write keys without them",
        ),
        (
            GOOD_YAML.replace("    measure: MD", "\tmeasure: MD"),
            "config/config.yaml, line 10: a tab character; indent with spaces, not tabs",
        ),
        (
            GOOD_YAML + "profile: !!python/object/apply:os.system [echo hacked]\n",
            "config/config.yaml, line 11: the tag !!python/object/apply:os.system is not "
            "allowed; the configuration holds only text, numbers, true/false, lists and keys",
        ),
        (
            GOOD_YAML.replace("measure: MD", "measure: [MD"),
            "config/config.yaml, line 11: not valid YAML: expected ',' or ']', but got '<stream "
            "end>' (column 1)",
        ),
        ("", "config/config.yaml: the file is empty; it needs conditions:, outcomes: and analyses:"),
        (
            "# only a comment\n",
            "config/config.yaml: the file is empty; it needs conditions:, outcomes: and analyses:",
        ),
        (
            "- conditions\n- outcomes\n",
            "config/config.yaml, line 1: the top level is a list; it must be keys such as "
            "conditions:, outcomes: and analyses:, each at the start of a line",
        ),
        (
            GOOD_YAML.replace("Severity}", "Sev\u202eerity}"),
            "config/config.yaml, line 4: contains the invisible character U+202E (right-to-left "
            "override), which can make text display reversed or two labels look alike; delete it",
        ),
        (
            GOOD_YAML.replace("    measure: MD", "    measure: MD\n    methd: DL"),
            "config/config.yaml, line 11, analyses.trd_severity: unknown key 'methd'; allowed "
            f"keys: {ANALYSIS_KEYS}",
        ),
        (
            GOOD_YAML.replace("measure: MD", "measure: MDD"),
            "config/config.yaml, line 10, analyses.trd_severity.measure: must be one of SMD, "
            "MD, RR, OR, RD, PLO, PFT, PR, GEN (got 'MDD')",
        ),
    ],
)
def test_configuration_errors_name_the_line(tmp_path, text, expected):
    assert config_error(tmp_path, text) == expected


def test_an_alias_bomb_is_refused_quickly(tmp_path):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        levels.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    message = config_error(tmp_path, "\n".join(levels) + "\n")
    assert message.startswith("config/config.yaml, line ")
    assert "the YAML aliases (*name) expand to more than 100,000 values" in message


def test_an_oversized_configuration_is_refused(tmp_path):
    message = config_error(tmp_path, "# " + "x" * 1_100_000 + "\n")
    assert message == (
        "config/config.yaml: the file has 1,100,003 bytes; a configuration is at most "
        "1,000,000 bytes"
    )


# ------------------------------------------------------------------ atomic publication


def tree(*folders: Path) -> dict[str, str]:
    """SHA-256 of every file below ``folders``."""
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in folders
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def staged_project(tmp_path, monkeypatch):
    """A project with published outputs and a staging tree where every file changed."""
    monkeypatch.chdir(tmp_path)
    paths = [f"data/processed/a{i}/summary.json" for i in range(4)] + ["reports/TRD.html"]
    for path in paths:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(f"old {path}\n")
        staged = Path(".ketameta/stage") / path
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_text(f"new {path}\n")
    return paths


def test_publication_replaces_all_changed_files(staged_project):
    staged = [f".ketameta/stage/{p}" for p in staged_project]
    assert not in_sync(".ketameta/stage", staged_project)
    assert publish(staged, ".ketameta/stage") == staged_project
    assert all(Path(p).read_text() == f"new {p}\n" for p in staged_project)
    assert in_sync(".ketameta/stage", staged_project)
    mtimes = {p: Path(p).stat().st_mtime_ns for p in staged_project}
    assert publish(staged, ".ketameta/stage") == []
    assert {p: Path(p).stat().st_mtime_ns for p in staged_project} == mtimes


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (errno.ENOSPC, "no space left on the device"),
        (errno.EACCES, "permission denied"),
        (errno.EROFS, "the file system is read-only"),
    ],
)
def test_a_failed_publication_changes_nothing(staged_project, monkeypatch, code, reason):
    # A write error on the third file (a full disk, a read-only folder) after two were
    # written: the outputs of the last good run stay byte-identical and no temporary file
    # is left behind.
    before = tree(Path("data"), Path("reports"))
    copies = []
    real_copy = shutil.copyfile

    def failing_copy(source, target):
        copies.append(target)
        if len(copies) == 3:
            Path(target).write_text("half")
            raise OSError(code, os.strerror(code), str(target))
        return real_copy(source, target)

    monkeypatch.setattr(shutil, "copyfile", failing_copy)
    staged = [f".ketameta/stage/{p}" for p in staged_project]
    with pytest.raises(DataError) as caught:
        publish(staged, ".ketameta/stage")
    assert str(caught.value) == (
        f"data/processed/a2/summary.json: cannot write the new version ({reason}); nothing "
        "was published and the outputs of the last good run are unchanged"
    )
    assert tree(Path("data"), Path("reports")) == before


def test_figures_drop_invisible_characters():
    import matplotlib
    from matplotlib.figure import Figure

    from ketameta.report.plots import _rc, _svg_fragment

    with matplotlib.rc_context(_rc("fig-test")):  # text kept as text, as in every figure
        fig = Figure(figsize=(2, 1))
        fig.text(0.1, 0.5, "Popova\u202e 2019\u200b")
        svg = _svg_fragment(fig, "fig-test", "Forest\u2066 plot")
    assert "Popova 2019" in svg and "Forest plot" in svg
    assert not any(char in svg for char in "\u202e\u200b\u2066")
