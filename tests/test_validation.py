"""Every malformed input of issue 3, item 3, with the exact message the analyst sees.

The data cases go through :func:`ketameta.io.read_data`, the configuration cases through
:func:`ketameta.io.validate_config` (the schema the workflow uses) and
:func:`ketameta.analysis.check_inputs` — the same functions the workflow runs when it starts
(workflow/rules/common.smk). tests/test_workflow.py shows a representative few of them
through the real ``snakemake`` command line.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from ketameta.analysis import check_inputs
from ketameta.io import DataError, read_data, validate_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"

HEADER = (
    "study,year,condition,outcome,timepoint,n_treat,mean_treat,sd_treat,n_ctrl,mean_ctrl,sd_ctrl"
)
GOOD = "A 2001,2001,TRD,severity,24h,10,5,2,10,6,2"

# Columns of every data group, for rows built from a dict.
ALL = (
    "study,year,condition,outcome,timepoint,n_treat,mean_treat,sd_treat,n_ctrl,mean_ctrl,"
    "sd_ctrl,events_treat,events_ctrl,effect_type,yi,vi,sei,ci_low,ci_high,group,arm"
).split(",")


def row(**cells) -> str:
    """A CSV line over ALL, identity columns filled in unless given."""
    base = {
        "study": "A 2001",
        "year": "2001",
        "condition": "TRD",
        "outcome": "severity",
        "timepoint": "24h",
    }
    base.update(cells)
    return ",".join(str(base.get(c, "")) for c in ALL)


def read(tmp_path: Path, content: bytes | str, name: str = "trd.csv"):
    folder = tmp_path / "data" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    (folder / name).write_bytes(data)
    return read_data("data/raw", root=tmp_path)


def message(tmp_path: Path, content, name: str = "trd.csv") -> str:
    with pytest.raises(DataError) as caught:
        read(tmp_path, content, name)
    return str(caught.value)


def lines(*rows: str, header: str = ",".join(ALL)) -> str:
    return "\n".join((header, *rows)) + "\n"


# ---------------------------------------------------------------------------- the example


def test_the_issue_example_message(tmp_path):
    # 10 good rows (lines 2-11), the bad one on line 12, as in the issue's example.
    good = [GOOD.replace("A 2001", f"S{i} 2001") for i in range(10)]
    bad = "S10 2001,2001,TRD,severity,24h,10,5,-4,10,6,2"
    text = "\n".join([HEADER, *good, bad]) + "\n"
    assert message(tmp_path, text) == (
        "data/raw/trd.csv, line 12, column sd_treat: must be greater than 0 (got -4)"
    )


# ---------------------------------------------------------------------------- cells

CELL_CASES = {
    "non-numeric": (
        row(n_treat=10, mean_treat="abc", sd_treat=2, n_ctrl=10, mean_ctrl=6, sd_ctrl=2),
        "line 2, column mean_treat: must be a number (got abc)",
    ),
    "unicode minus": (
        row(n_treat=10, mean_treat="\u22125", sd_treat=2, n_ctrl=10, mean_ctrl=6, sd_ctrl=2),
        "line 2, column mean_treat: must be a number (got \u22125); write the minus sign as "
        "ASCII -",
    ),
    "infinite": (
        row(n_treat=10, mean_treat="inf", sd_treat=2, n_ctrl=10, mean_ctrl=6, sd_ctrl=2),
        "line 2, column mean_treat: must be a finite number (got inf)",
    ),
    "NaN": (
        row(n_treat=10, mean_treat=5, sd_treat=2, n_ctrl=10, mean_ctrl="NaN", sd_ctrl=2),
        "line 2, column mean_ctrl: must be a finite number (got NaN)",
    ),
    "n fractional": (
        row(n_treat=12.5, mean_treat=5, sd_treat=2, n_ctrl=10, mean_ctrl=6, sd_ctrl=2),
        "line 2, column n_treat: must be a positive whole number (got 12.5)",
    ),
    "n zero": (
        row(n_treat=10, mean_treat=5, sd_treat=2, n_ctrl=0, mean_ctrl=6, sd_ctrl=2),
        "line 2, column n_ctrl: must be a positive whole number (got 0)",
    ),
    "sd zero": (
        row(n_treat=10, mean_treat=5, sd_treat=2, n_ctrl=10, mean_ctrl=6, sd_ctrl=0),
        "line 2, column sd_ctrl: must be greater than 0 (got 0)",
    ),
    "variance not positive": (
        row(effect_type="MD", yi=-2, vi=0),
        "line 2, column vi: must be greater than 0 (got 0)",
    ),
    "SE not positive": (
        row(effect_type="MD", yi=-2, sei=-0.5),
        "line 2, column sei: must be greater than 0 (got -0.5)",
    ),
    "events negative": (
        row(events_treat=-1, n_treat=10, events_ctrl=2, n_ctrl=10),
        "line 2, column events_treat: must be a whole number of at least 0 (got -1)",
    ),
    "events above n": (
        row(events_treat=4, n_treat=10, events_ctrl=12, n_ctrl=10),
        "line 2, column events_ctrl: must not exceed n_ctrl = 10 (got 12)",
    ),
    "events fractional": (
        row(events_treat=2.5, n_treat=10, events_ctrl=2, n_ctrl=10),
        "line 2, column events_treat: must be a whole number of at least 0 (got 2.5)",
    ),
    "group incomplete": (
        row(n_treat=10, mean_treat=5, sd_treat=2, n_ctrl=10, mean_ctrl=6),
        "line 2, column sd_ctrl: missing; the continuous arms group needs n_treat, "
        "mean_treat, sd_treat, n_ctrl, mean_ctrl, sd_ctrl",
    ),
    "dichotomous incomplete": (
        row(events_treat=3, n_treat=10, events_ctrl=2),
        "line 2, column n_ctrl: missing; the dichotomous arms group needs events_treat, "
        "n_treat, events_ctrl, n_ctrl",
    ),
    "two groups in one row": (
        row(
            n_treat=10,
            mean_treat=5,
            sd_treat=2,
            n_ctrl=10,
            mean_ctrl=6,
            sd_ctrl=2,
            events_treat=3,
            events_ctrl=2,
        ),
        "line 2, column events_treat: two data groups filled in one row: continuous arms "
        "(mean_treat) and dichotomous arms (events_treat); fill exactly one group per row",
    ),
    "no data": (
        row(n_treat=10, n_ctrl=10),
        "line 2: n_treat, n_ctrl given but no data group complete; fill one data group: "
        "continuous arms (n_treat, mean_treat, sd_treat, n_ctrl, mean_ctrl, sd_ctrl), "
        "dichotomous arms (events_treat, n_treat, events_ctrl, n_ctrl), single arm "
        "(events_treat, n_treat) or reported effect (effect_type, yi and vi, sei or ci_low "
        "and ci_high)",
    ),
    "reported without precision": (
        row(effect_type="SMD", yi=-0.4),
        "line 2, column vi: a reported effect needs its precision: vi, sei, or both ci_low "
        "and ci_high",
    ),
    "reported with half a CI": (
        row(effect_type="SMD", yi=-0.4, ci_low=-0.9),
        "line 2, column ci_high: missing; a confidence interval needs both ci_low and ci_high",
    ),
    "reported without yi": (
        row(effect_type="SMD", vi=0.04),
        "line 2, column yi: missing; a reported effect needs effect_type and yi",
    ),
    "CI reversed": (
        row(effect_type="MD", yi=-2, ci_low=1, ci_high=-5),
        "line 2, column ci_high: must be greater than ci_low = 1 (got -5)",
    ),
    "ratio not positive": (
        row(effect_type="OR", yi=-0.3, sei=0.2),
        "line 2, column yi: must be greater than 0 for a ratio (OR) on its natural scale "
        "(got -0.3); log-scale values take effect_type logOR",
    ),
    "ratio CI not positive": (
        row(effect_type="RR", yi=1.5, ci_low=0, ci_high=2.5),
        "line 2, column ci_low: must be greater than 0 for a ratio (RR) on its natural scale "
        "(got 0); log-scale values take effect_type logRR",
    ),
    "unknown effect_type": (
        row(effect_type="Cohen", yi=0.3, vi=0.04),
        "line 2, column effect_type: must be one of SMD, d, MD, RR, OR, HR, logRR, logOR, "
        "logHR, RD (got Cohen)",
    ),
    "d without group sizes": (
        row(effect_type="d", yi=0.3, vi=0.04),
        "line 2, column n_treat: missing; converting Cohen's d to Hedges' g needs n_treat "
        "and n_ctrl",
    ),
    "timepoint format": (
        row(timepoint="24 hours", effect_type="MD", yi=-2, vi=1),
        "line 2, column timepoint: must be a number and a unit (min, h, d or w), e.g. 40min, "
        "24h, 7d, 4w, or the word end (got 24 hours)",
    ),
    "empty study label": (
        row(study="  ", effect_type="MD", yi=-2, vi=1),
        "line 2, column study: must not be empty (every row names its study)",
    ),
    "empty condition": (
        row(condition="", effect_type="MD", yi=-2, vi=1),
        "line 2, column condition: must not be empty (every row names its condition)",
    ),
    "non-integer year": (
        row(year="2006.5", effect_type="MD", yi=-2, vi=1),
        "line 2, column year: must be a whole number, e.g. 2006 (got 2006.5)",
    ),
    "year not a number": (
        row(year="2006a", effect_type="MD", yi=-2, vi=1),
        "line 2, column year: must be a whole number, e.g. 2006 (got 2006a)",
    ),
}


@pytest.mark.parametrize("case", CELL_CASES)
def test_cell_errors(tmp_path, case):
    content, expected = CELL_CASES[case]
    assert message(tmp_path, lines(content)) == f"data/raw/trd.csv, {expected}"


def test_descriptive_choices(tmp_path):
    text = (
        lines(row(effect_type="MD", yi=-2, vi=1), header=",".join(ALL))
        .replace("study,", "rob,study,", 1)
        .replace("\nA 2001", "\nunclear,A 2001")
    )
    assert message(tmp_path, text) == (
        "data/raw/trd.csv, line 2, column rob: must be one of low, some, high (got unclear)"
    )


def test_duplicate_rows(tmp_path):
    good = row(n_treat=10, mean_treat=5, sd_treat=2, n_ctrl=10, mean_ctrl=6, sd_ctrl=2)
    other = row(study="B 2002", effect_type="MD", yi=-2, vi=1)
    assert message(tmp_path, lines(good, other, good)) == (
        "data/raw/trd.csv, line 4, column study: duplicate of line 2 (same study, condition, "
        "outcome, timepoint and arm); give each comparison once, with distinct arm labels for "
        "the arms of one trial"
    )


def test_duplicate_across_files(tmp_path):
    good = row(n_treat=10, mean_treat=5, sd_treat=2, n_ctrl=10, mean_ctrl=6, sd_ctrl=2)
    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / "data" / "raw" / "a.csv").write_text(lines(good))
    assert message(tmp_path, lines(good), name="b.csv") == (
        "data/raw/b.csv, line 2, column study: duplicate of data/raw/a.csv, line 2 (same "
        "study, condition, outcome, timepoint and arm); give each comparison once, with "
        "distinct arm labels for the arms of one trial"
    )


# ---------------------------------------------------------------------------- file structure


def test_missing_required_column(tmp_path):
    text = "study,condition,outcome,n_treat\nA,TRD,severity,10\n"
    assert message(tmp_path, text) == (
        "data/raw/trd.csv, line 1, column timepoint: required column missing; every file "
        "needs study, condition, outcome, timepoint"
    )


def test_empty_file(tmp_path):
    assert message(tmp_path, b"") == (
        "data/raw/trd.csv: the file is empty; it needs a header row and data rows"
    )


def test_blank_lines_only(tmp_path):
    assert message(tmp_path, "\n\n  \n") == (
        "data/raw/trd.csv: the file is empty; it needs a header row and data rows"
    )


def test_header_only(tmp_path):
    assert message(tmp_path, HEADER + "\n") == (
        "data/raw/trd.csv, line 1: the file has a header but no data rows"
    )


def test_wrong_delimiter(tmp_path):
    text = HEADER.replace(",", ";") + "\n" + GOOD.replace(",", ";") + "\n"
    assert message(tmp_path, text) == (
        "data/raw/trd.csv, line 1: the header has a single column; the file looks "
        "semicolon-separated but must be comma-separated"
    )


def test_tab_delimiter(tmp_path):
    text = HEADER.replace(",", "\t") + "\n" + GOOD.replace(",", "\t") + "\n"
    assert message(tmp_path, text).endswith("looks tab-separated but must be comma-separated")


def test_ragged_row(tmp_path):
    text = f"{HEADER}\n{GOOD}\n{GOOD.replace('A 2001', 'B 2002')},extra\n"
    assert message(tmp_path, text) == (
        "data/raw/trd.csv, line 3: the row has 12 fields but the header has 11; quote "
        "fields that contain commas"
    )


def test_unterminated_quote(tmp_path):
    text = f'{HEADER}\n{GOOD}\n"B 2002,2002,TRD,severity,24h,10,5,2,10,6,2\n{GOOD}\n'
    assert message(tmp_path, text) == (
        'data/raw/trd.csv, line 3, column study: unterminated quote: a field opened with " is '
        "never closed"
    )


def test_stray_quote(tmp_path):
    text = f'{HEADER}\nA 2001,2001,TRD,"sev"erity,24h,10,5,2,10,6,2\n'
    assert message(tmp_path, text) == (
        "data/raw/trd.csv, line 2, column outcome: malformed quoting (',' expected after "
        "'\"'); double a quote inside a quoted field"
    )


def test_not_utf8(tmp_path):
    text = f"{HEADER}\n{GOOD}\n{GOOD.replace('A 2001', 'Müller 2002')}\n".encode("latin-1")
    assert message(tmp_path, text) == (
        "data/raw/trd.csv, line 3: the file is not UTF-8 (byte 0xfc); save it as UTF-8 "
        "(CSV UTF-8 in Excel)"
    )


def test_empty_data_folder(tmp_path):
    (tmp_path / "data" / "raw").mkdir(parents=True)
    with pytest.raises(DataError) as caught:
        read_data("data/raw", root=tmp_path)
    assert str(caught.value) == "data/raw: no *.csv files in the data folder"


def test_reserved_column_name(tmp_path):
    text = lines(GOOD, header=HEADER + ",weight").replace(GOOD, GOOD + ",0.4")
    assert message(tmp_path, text) == (
        "data/raw/trd.csv, line 1, column weight: this column name is reserved for what the "
        "pipeline writes itself (kind, weight, source_file, source_line, source_lines, "
        "source_sha256); rename the column"
    )


def test_header_with_duplicate_column(tmp_path):
    text = HEADER + ",sd_ctrl\n" + GOOD + ",2\n"
    assert message(tmp_path, text) == (
        "data/raw/trd.csv, line 1, column sd_ctrl: the column name appears twice in the header"
    )


def test_line_numbers_count_physical_lines(tmp_path):
    # A quoted note spanning two lines shifts the next record to line 5; blank line skipped.
    text = (
        "study,condition,outcome,timepoint,notes,effect_type,yi,vi\n"
        'A 2001,TRD,severity,24h,"two\nlines",MD,-2,1\n'
        "\n"
        "B 2002,TRD,severity,24h,,MD,-2,-1\n"
    )
    assert message(tmp_path, text) == (
        "data/raw/trd.csv, line 5, column vi: must be greater than 0 (got -1)"
    )


# ---------------------------------------------------------------------------- configuration

CONFIG = {
    "data_dir": "data/raw",
    "conditions": {"TRD": {"label": "Treatment-resistant depression"}},
    "outcomes": {
        "severity": {"label": "Severity"},
        "response": {"label": "Response", "lower_is_better": False},
    },
    "analyses": {
        "trd_severity": {
            "condition": "TRD",
            "outcome": "severity",
            "timepoint": "24h",
            "measure": "SMD",
        },
    },
}
DATA = lines(
    row(n_treat=10, mean_treat=5, sd_treat=2, n_ctrl=10, mean_ctrl=6, sd_ctrl=2),
    row(study="B 2002", n_treat=12, mean_treat=4, sd_treat=2, n_ctrl=11, mean_ctrl=6, sd_ctrl=3),
    row(study="C 2003", outcome="response", events_treat=5, n_treat=12, events_ctrl=2, n_ctrl=11),
)


def config_message(tmp_path: Path, edit) -> str:
    config = copy.deepcopy(CONFIG)
    edit(config)
    folder = tmp_path / "data" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trd.csv").write_text(DATA)
    with pytest.raises(DataError) as caught:
        validate_config(config, SCHEMA, "config/config.yaml")
        check_inputs(config, "config/config.yaml", root=tmp_path)
    return str(caught.value)


def test_good_config_passes_and_gets_defaults(tmp_path):
    config = copy.deepcopy(CONFIG)
    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / "data" / "raw" / "trd.csv").write_text(DATA)
    validate_config(config, SCHEMA, "config/config.yaml")
    assert config["profile"] == "cochrane"
    assert config["analyses"]["trd_severity"]["multiarm"] == "combine"
    assert config["analyses"]["trd_severity"]["escalc"] == {"to": "only0", "drop00": False}
    assert config["outcomes"]["severity"]["lower_is_better"] is True
    assert len(check_inputs(config, root=tmp_path)) == 3


def _set(path, value):
    def edit(config):
        node = config
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


CONFIG_CASES = {
    "unknown top-level key": (
        _set(["profiles"], "cochrane"),
        "config/config.yaml, top level: unknown key 'profiles'; allowed keys: "
        "analyse_every_row, analyses, conditions, data_dir, few_trials, outcomes, profile",
    ),
    "unknown analysis key": (
        _set(["analyses", "trd_severity", "estimator"], "REML"),
        "config/config.yaml, analyses.trd_severity: unknown key 'estimator'; allowed keys: "
        "condition, escalc, exclude, few_trials, label, level, measure, method, multiarm, outcome, "
        "pi, sort_by, subgroups, test, timepoint",
    ),
    "unknown method": (
        _set(["analyses", "trd_severity", "method"], "REM"),
        "config/config.yaml, analyses.trd_severity.method: must be one of EE, FE, DL, HE, HS, "
        "SJ, ML, REML, EB, PM (got 'REM')",
    ),
    "unknown profile": (
        _set(["profile"], "cochrane2"),
        "config/config.yaml, profile: must be one of cochrane, metafor, revman5, iqwig (got "
        "'cochrane2')",
    ),
    "level out of range": (
        _set(["analyses", "trd_severity", "level"], 150),
        "config/config.yaml, analyses.trd_severity.level: must be less than 100 (got 150)",
    ),
    "add out of range": (
        _set(["analyses", "trd_severity", "escalc"], {"add": -1}),
        "config/config.yaml, analyses.trd_severity.escalc.add: must be at least 0 (got -1)",
    ),
    "wrong type": (
        _set(["analyses", "trd_severity", "escalc"], {"drop00": "yes"}),
        "config/config.yaml, analyses.trd_severity.escalc.drop00: must be of type boolean "
        "(got 'yes')",
    ),
    "bad analysis id": (
        _set(
            ["analyses", "TRD-severity"],
            {"condition": "TRD", "outcome": "severity", "timepoint": "24h", "measure": "SMD"},
        ),
        "config/config.yaml, analyses: key 'TRD-severity' is not allowed; keys must match "
        "^[a-z0-9_]+$",
    ),
    "missing measure": (
        lambda c: c["analyses"]["trd_severity"].pop("measure"),
        "config/config.yaml, analyses.trd_severity: required key 'measure' missing",
    ),
    "timepoint format in config": (
        _set(["analyses", "trd_severity", "timepoint"], "24 h"),
        "config/config.yaml, analyses.trd_severity.timepoint: must match "
        "^(?:[0-9]+(?:\\.[0-9]+)?(?:min|h|d|w)|end)$ (got '24 h')",
    ),
    "condition not declared": (
        _set(["analyses", "trd_severity", "condition"], "PTSD"),
        "config/config.yaml, analyses.trd_severity.condition: condition 'PTSD' is not "
        "declared under conditions (declared: TRD)",
    ),
    "outcome not declared": (
        _set(["analyses", "trd_severity", "outcome"], "remission"),
        "config/config.yaml, analyses.trd_severity.outcome: outcome 'remission' is not "
        "declared under outcomes (declared: severity, response)",
    ),
    "no rows selected": (
        _set(["analyses", "trd_severity", "timepoint"], "7d"),
        "config/config.yaml, analyses.trd_severity: no rows in the data have condition "
        "TRD, outcome severity and timepoint 7d; check the analysis or the data",
    ),
    "measure the rows cannot give": (
        _set(["analyses", "trd_severity", "outcome"], "response"),
        "data/raw/trd.csv, line 4, column events_ctrl: analysis trd_severity: measure SMD "
        "cannot use the dichotomous arms row of C 2003 (dichotomous arms give RR, OR or RD)",
    ),
}


CONFIG_CASES["exclude names a study the analysis does not select"] = (
    _set(["analyses", "trd_severity", "exclude"], {"Z 1999": "not a trial of this question"}),
    "config/config.yaml, analyses.trd_severity.exclude: study 'Z 1999' is not among the rows "
    "this analysis selects (its studies: A 2001, B 2002)",
)
CONFIG_CASES["a key YAML reads as a number"] = (
    _set(["outcomes", 123], {"label": "x"}),
    "config/config.yaml, outcomes: key 123 must be text; quote it in the YAML file ('123')",
)
CONFIG_CASES["a condition named index"] = (
    _set(["conditions", "index"], {"label": "x"}),
    "config/config.yaml, conditions: key 'index' is reserved (reports/index.html is the "
    "overview page)",
)
CONFIG_CASES["exclude leaves nothing"] = (
    _set(["analyses", "trd_severity", "exclude"], {"A 2001": "a", "B 2002": "b"}),
    "config/config.yaml, analyses.trd_severity.exclude: every selected study is excluded; "
    "remove the analysis or an exclusion",
)
CONFIG_CASES["exclude without a reason"] = (
    _set(["analyses", "trd_severity", "exclude"], {"A 2001": ""}),
    "config/config.yaml, analyses.trd_severity.exclude.A 2001: must not be empty (got '')",
)


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_config_errors(tmp_path, case):
    edit, expected = CONFIG_CASES[case]
    assert config_message(tmp_path, edit) == expected


def test_revman_vtype_needs_smd(tmp_path):
    def edit(config):
        config["analyses"]["trd_severity"].update(measure="MD", escalc={"vtype": "RevMan"})

    assert config_message(tmp_path, edit) == (
        "config/config.yaml, analyses.trd_severity.escalc.vtype: vtype RevMan applies "
        "to measure SMD only (measure is MD)"
    )
