"""The parse-time check of every analysis: one grouping pass, prepare() only where it can refuse.

:class:`ketameta.analysis.RowIndex` lets :func:`ketameta.analysis.check_inputs` and
:func:`ketameta.plan.plan_analyses` skip :func:`ketameta.analysis.prepare` for analyses that
it cannot refuse. These tests hold the shortcut to the full check: on every shipped and
fixture analysis and on constructed bad cases the decisions and messages are those of
running ``prepare()`` on the whole table for every analysis, and the number of
``prepare()`` calls does not grow with the number of analyses that pass.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest

import ketameta.analysis as analysis
import ketameta.plan as plan
from ketameta.analysis import RowIndex, check_inputs, prepare
from ketameta.io import DataError, load_config, read_data, validate_config
from ketameta.plan import _measures, plan_analyses
from ketameta.profiles import effective_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
PROJECTS = {"shipped": ROOT, "fixture": ROOT / "tests" / "fixtures" / "workflow"}

COLUMNS = (
    "study,year,condition,outcome,timepoint,n_treat,mean_treat,sd_treat,n_ctrl,mean_ctrl,"
    "sd_ctrl,events_treat,events_ctrl,effect_type,yi,vi,group,arm"
).split(",")


def continuous(study, timepoint="24h", year="2001", **cells):
    base = dict(study=study, year=year, condition="TRD", outcome="severity",
                timepoint=timepoint, n_treat=10, mean_treat=5, sd_treat=2, n_ctrl=10,
                mean_ctrl=6, sd_ctrl=2)  # fmt: skip
    return {**base, **cells}


def dichotomous(study, timepoint="24h", **cells):
    base = dict(study=study, year="2001", condition="TRD", outcome="severity",
                timepoint=timepoint, events_treat=4, n_treat=10, events_ctrl=2, n_ctrl=10)  # fmt: skip
    return {**base, **cells}


def reported(study, effect_type, yi, timepoint="24h", **cells):
    base = dict(study=study, year="2001", condition="TRD", outcome="severity",
                timepoint=timepoint, effect_type=effect_type, yi=yi, vi=0.1)  # fmt: skip
    return {**base, **cells}


def write(tmp_path: Path, rows) -> None:
    folder = tmp_path / "data" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    text = [",".join(COLUMNS)] + [",".join(str(r.get(c, "")) for c in COLUMNS) for r in rows]
    (folder / "trd.csv").write_text("\n".join(text) + "\n")


def configure(analyses: dict) -> dict:
    config = {
        "data_dir": "data/raw",
        "conditions": {"TRD": {"label": "Treatment-resistant depression"}},
        "outcomes": {"severity": {"label": "Severity"}},
        "analyses": {
            name: {"condition": "TRD", "outcome": "severity", **entry}
            for name, entry in analyses.items()
        },
    }
    return validate_config(config, SCHEMA, "config/config.yaml")


def outcome(trials, cfg):
    """What prepare() makes of one analysis: its rows and notes, or its message."""
    try:
        prep = prepare(trials, cfg, "config/config.yaml")
    except DataError as error:
        return str(error)
    rows = prep.rows[["study", "source_file", "source_lines", "kind"]]
    return rows.to_dict("records"), prep.multiarm, prep.warnings, prep.excluded


def full_check(config, trials) -> str | None:
    """The check as prepare() words it: every analysis on the whole table, in config order."""
    for name in config["analyses"]:
        result = outcome(trials, effective_config(name, config))
        if isinstance(result, str):
            return result
    return None


def unchanged(trials, cfg, rows) -> None:
    """prepare() accepts ``cfg`` and leaves ``rows`` as they are (no resolution, nothing out)."""
    prep = prepare(trials, cfg, "config/config.yaml")
    assert list(prep.rows["source_line"]) == list(rows["source_line"])
    assert list(prep.rows["study"]) == list(rows["study"])
    assert prep.multiarm == [] and prep.warnings == [] and prep.excluded == []


# ------------------------------------------------------------------ shipped and fixture data


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_the_index_agrees_with_prepare_on_every_analysis(project):
    root = PROJECTS[project]
    config, lines = load_config(root / "config" / "config.yaml", "config/config.yaml")
    validate_config(config, SCHEMA, "config/config.yaml", lines)
    trials = check_inputs(config, "config/config.yaml", root=root)
    full = {**config, "analyses": plan_analyses(config, trials)}
    index = RowIndex(trials)
    passed = 0
    for name, entry in full["analyses"].items():
        cfg = effective_config(name, full)
        rows = index.rows(cfg)
        if entry.get("generated"):
            # plan_analyses hands each measure of a combination only the rows it takes
            taken = dict(_measures(rows["kind"].to_numpy(dtype=object),
                                   rows["effect_type"].astype(object).to_numpy()))[cfg["measure"]]
            rows = rows[taken]
            if not index.needs_checking(cfg, all_usable=True):
                unchanged(rows, cfg, rows)
                passed += 1
            continue
        # the index's rows are the rows prepare() selects from the whole table
        assert outcome(rows, cfg) == outcome(trials, cfg)
        if not isinstance(outcome(trials, cfg), str):  # as run_condition uses them
            pd.testing.assert_frame_equal(prepare(rows, cfg).rows, prepare(trials, cfg).rows)
        if not index.needs_checking(cfg):
            unchanged(trials, cfg, rows)
            passed += 1
    assert passed > 0  # the shortcut is taken, not only the full check


# ------------------------------------------------------------------ constructed cases

GOOD = [continuous("A 2001"), continuous("B 2002", year="2002")]

CASES = {
    # name: (rows besides GOOD at 24h, analysis entry for 72h, refused by prepare())
    "no rows at the time point": ([], {"measure": "SMD"}, True),
    "a dichotomous row in an SMD analysis": (
        [continuous("C", "72h"), dichotomous("D", "72h")],
        {"measure": "SMD"},
        True,
    ),
    "a reported RR in an SMD analysis": (
        [continuous("C", "72h"), reported("D", "RR", 1.5, "72h")],
        {"measure": "SMD"},
        True,
    ),
    "exclude names a study not selected": (
        [continuous("C", "72h")],
        {"measure": "SMD", "exclude": {"Z": "not a trial"}},
        True,
    ),
    "exclude leaves nothing": (
        [continuous("C", "72h")],
        {"measure": "SMD", "exclude": {"C": "a reason"}},
        True,
    ),
    "exclude leaves one study": (
        [continuous("C", "72h"), continuous("D", "72h")],
        {"measure": "SMD", "exclude": {"C": "a reason"}},
        False,
    ),
    "arms sharing a control arm disagree on it": (
        [
            continuous("C", "72h", group="g", arm="low"),
            continuous("C", "72h", group="g", arm="high", n_ctrl=12),
        ],
        {"measure": "SMD"},
        True,
    ),
    "arms sharing a control arm": (
        [
            continuous("C", "72h", group="g", arm="low"),
            continuous("C", "72h", group="g", arm="high"),
        ],
        {"measure": "SMD"},
        False,
    ),
    "a group label on a single row": (
        [continuous("C", "72h", group="g")],
        {"measure": "SMD"},
        False,
    ),
    "one study twice without a group": (
        [continuous("C", "72h", arm="low"), continuous("C", "72h", arm="high")],
        {"measure": "SMD"},
        True,
    ),
    "one label, two years": (
        [continuous("C", "72h", year="2001"), continuous("C", "72h", year="2003")],
        {"measure": "SMD"},
        False,
    ),
    "GEN over two scales": (
        [reported("C", "MD", 1.0, "72h"), reported("D", "logRR", 0.4, "72h")],
        {"measure": "GEN"},
        True,
    ),
    "GEN over one scale": (
        [reported("C", "RR", 1.2, "72h"), reported("D", "logRR", 0.4, "72h")],
        {"measure": "GEN"},
        False,
    ),
    "dichotomous and reported log risk ratios": (
        [dichotomous("C", "72h"), reported("D", "logRR", 0.4, "72h")],
        {"measure": "RR"},
        False,
    ),
    "continuous and reported Cohen's d": (
        [continuous("C", "72h"), reported("D", "d", 0.4, "72h", n_treat=10, n_ctrl=10)],
        {"measure": "SMD"},
        False,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_constructed_cases_are_decided_as_prepare_decides(tmp_path, case):
    rows, entry, refused = CASES[case]
    write(tmp_path, GOOD + rows)
    config = configure(
        {
            "first": {"timepoint": "24h", "measure": "SMD"},
            "second": {"timepoint": "72h", **entry},
            "third": {"timepoint": "24h", "measure": "MD"},
        }
    )
    trials = read_data("data/raw", tmp_path)
    expected = full_check(config, trials)
    assert (expected is not None) == refused
    if refused:
        with pytest.raises(DataError) as caught:
            check_inputs(config, "config/config.yaml", root=tmp_path)
        assert str(caught.value) == expected
    else:
        assert check_inputs(config, "config/config.yaml", root=tmp_path) is not None
    index = RowIndex(trials)
    cfg = effective_config("second", config)
    # only the plain cases may skip prepare(): these all need it
    plain = case in (
        "dichotomous and reported log risk ratios",
        "continuous and reported Cohen's d",
    )
    assert index.needs_checking(cfg) is not plain
    assert not index.needs_checking(effective_config("first", config))
    assert outcome(index.rows(cfg), cfg) == outcome(trials, cfg)


def test_the_first_refused_analysis_in_config_order_is_reported(tmp_path):
    write(
        tmp_path,
        GOOD
        + [
            continuous("C", "72h"),
            dichotomous("D", "72h"),
            continuous("E", "7d", arm="x"),
            continuous("E", "7d", arm="y"),
        ],
    )
    config = configure(
        {
            "ok": {"timepoint": "24h", "measure": "SMD"},
            "twice": {"timepoint": "7d", "measure": "SMD"},
            "mixed": {"timepoint": "72h", "measure": "SMD"},
        }
    )
    trials = read_data("data/raw", tmp_path)
    with pytest.raises(DataError) as caught:
        check_inputs(config, "config/config.yaml", root=tmp_path)
    assert str(caught.value) == full_check(config, trials)
    assert "study 'E' enters analysis twice" in str(caught.value)


# ------------------------------------------------------------------ scaling


def counting(monkeypatch, module):
    calls = []
    real = module.prepare

    def wrapper(trials, cfg, config_path="config/config.yaml"):
        calls.append(len(trials))
        return real(trials, cfg, config_path)

    monkeypatch.setattr(module, "prepare", wrapper)
    return calls


@pytest.mark.parametrize("count", [10, 200])
def test_prepare_runs_only_where_it_can_refuse(tmp_path, monkeypatch, count):
    """prepare() calls do not grow with the analyses that pass, and each sees its own rows."""
    rows = [
        continuous(f"S{s} {a}", f"{a + 1}d", year=str(2000 + s))
        for a in range(count)
        for s in range(5)
    ]
    rows += [continuous("X", "999d"), continuous("Y", "999d")]
    write(tmp_path, rows)
    entries = {f"a{a}": {"timepoint": f"{a + 1}d", "measure": "SMD"} for a in range(count)}
    entries["last"] = {"timepoint": "999d", "measure": "SMD", "exclude": {"X": "a reason"}}
    config = configure(entries)
    calls = counting(monkeypatch, analysis)
    trials = check_inputs(config, "config/config.yaml", root=tmp_path)
    assert calls == [2]  # only the analysis with an exclusion, given its two rows
    # generated analyses: the same, through plan_analyses
    calls = counting(monkeypatch, plan)
    bare = copy.deepcopy(config)
    bare["analyses"] = {"last": config["analyses"]["last"]}
    planned = plan_analyses(bare, trials)
    assert len(planned) == count + 1 and calls == []
    broken = trials.copy()
    broken.loc[len(broken) - 1, "study"] = "X"  # the 999d rows: X twice, not a group
    bare["analyses"] = {}
    with pytest.raises(DataError, match="study 'X' enters analysis trd_severity_999d twice"):
        plan_analyses(bare, broken)
    assert calls == [2]


# ------------------------------------------------------------------ reading, column by column

READ_COLUMNS = (
    "study,year,condition,outcome,timepoint,design,day,n_treat,mean_treat,sd_treat,n_ctrl,"
    "mean_ctrl,sd_ctrl,events_treat,events_ctrl,effect_type,yi,vi,sei,ci_low,ci_high,ci_level,"
    "rob,rob_d1,rob_d2,rob_d3,rob_d4,rob_d5,group,arm,notes"
).split(",")
IDENTITY = {"study": "A", "condition": "TRD", "outcome": "severity", "timepoint": "24h"}
GOOD_ROWS = [
    dict(n_treat=10, mean_treat=5, sd_treat=2, n_ctrl=10, mean_ctrl=6, sd_ctrl=2),
    dict(events_treat=4, n_treat=10, events_ctrl=2, n_ctrl=10),
    dict(events_treat=4, n_treat=10),
    dict(effect_type="SMD", yi=-0.4, vi=0.05),
    dict(effect_type="RR", yi=1.4, ci_low=0.9, ci_high=2.1),
    dict(effect_type="d", yi=0.3, sei=0.2, n_treat=20, n_ctrl=21),
    dict(effect_type="logOR", yi=0.2, ci_low=-0.1, ci_high=0.5, ci_level=90),
    dict(effect_type="HR", yi=0.8, vi=0.02, year=2004, day=14, design="crossover"),
    dict(n_treat=8, mean_treat=50, sd_treat=9, n_ctrl=8, mean_ctrl=55, sd_ctrl=10, rob="some",
         rob_d1="low", rob_d2="some", rob_d3="low", rob_d4="low", rob_d5="low"),
    dict(events_treat=0, n_treat=5, events_ctrl=5, n_ctrl=5, rob_d1="low", rob_d2="high"),
]  # fmt: skip
# Rows one cell away from passing or from being refused.
NEAR_ROWS = [
    dict(effect_type="d", yi=0.3, vi=0.04),
    dict(effect_type="d", yi=0.3, vi=0.04, n_treat=12),
    dict(effect_type="OR", yi=1.5, ci_low=1.7, ci_high=2.5),
    dict(effect_type="MD", yi=1.5, ci_low=2.5, ci_high=1.7),
    dict(effect_type="logRR", yi=0.1, sei=1e-6),
    dict(events_treat=11, n_treat=10, events_ctrl=2, n_ctrl=10),
    dict(n_treat=10, mean_treat=5, sd_treat=2e6, n_ctrl=10, mean_ctrl=6, sd_ctrl=2),
    dict(n_treat=10, mean_treat=5, sd_treat=2, mean_ctrl=6, sd_ctrl=2),
    dict(events_treat=4, n_treat=10, rob="low", rob_d1="high"),
]
# Cell values that pass in some columns and are refused in others.
PALETTE = (
    "", "0", "1", "-1", "2.5", "10", "11", "99", "100", "1e-12", "1e-6", "1e6", "1000001",
    "1e12", "1e400", "nan", "inf", "-inf", "1_0", "\u22121", "1,5", "x", "3.0", "0.0001",
    "2001", "1899", "2001.5", "2101", "high", "some", "low", "HIGH", "crossover", "parallel",
    "24h", "end", "1.5w", "24", "d", "SMD", "RR", "logRR", "HR", "OR", "MD", "RD", "logHR",
    "logOR", "g", "a\u200bb", " 7 ",
)  # fmt: skip


def both(rows: list[dict], limits=None):
    """What the column pass and the row-by-row pass make of one file."""
    from ketameta.io import LIMITS, _parse_columns, _parse_csv, _parse_rows

    limits = {**LIMITS, **(limits or {})}
    lines = [",".join(READ_COLUMNS)]
    lines += [",".join(str({**IDENTITY, **r}.get(c, "")) for c in READ_COLUMNS) for r in rows]
    text = "\n".join(lines) + "\n"
    header, records = _parse_csv(text, "x.csv")
    fast = _parse_columns(header, records, text, limits)
    try:
        columns, kinds, _ = _parse_rows(header, records, "x.csv", limits)
        slow = (columns, kinds)
    except DataError as error:
        slow = str(error)
    return fast, slow


def test_columns_agree_with_rows_on_shipped_and_fixture_files():
    from ketameta.io import LIMITS, _decode, _parse_columns, _parse_csv, _parse_rows

    files = sorted((ROOT / "data" / "raw").glob("*.csv"))
    files += sorted((PROJECTS["fixture"] / "data" / "raw").glob("*.csv"))
    for path in files:
        text = _decode(path.read_bytes(), path.name)
        header, records = _parse_csv(text, path.name)
        fast = _parse_columns(header, records, text, LIMITS)
        columns, kinds, _ = _parse_rows(header, records, path.name, LIMITS)
        assert fast == (columns, kinds), path.name


def test_columns_never_pass_what_rows_refuse():
    """Good rows with random cells changed: the column pass agrees or leaves it to the rows."""
    import random

    rng = random.Random(11)
    taken = refused = 0
    limits = [None, {"max_n": 1000, "max_sd_ratio": 4, "max_abs_value": 1e3},
              {"min_variance": 0.01, "max_variance": 1}]  # fmt: skip
    for _ in range(4000):
        rows = [dict(rng.choice(GOOD_ROWS + NEAR_ROWS)) for _ in range(rng.randint(1, 3))]
        for _ in range(rng.randint(0, 3)):
            rng.choice(rows)[rng.choice(READ_COLUMNS)] = rng.choice(PALETTE)
        fast, slow = both(rows, rng.choice(limits))
        assert fast is None or fast == slow, (rows, slow)
        taken += fast is not None
        refused += isinstance(slow, str)
    assert taken > 300 and refused > 300  # both kinds of file were met often


def test_every_good_row_takes_the_column_pass():
    fast, slow = both(GOOD_ROWS)
    assert fast is not None and fast == slow
    # risk of bias derived from the domains, as the row pass derives it
    assert fast[0]["rob"][-1] == "high"


# ------------------------------------------------------------------ the configuration's YAML

YAML_CASES = [
    "a: 1\n", "a:\t1\n", "a: 1\t\n", "a:\n\t- 1\n", "a: [1,\t2]\n", "a: {b:1}\n", "a: [1,]\n",
    "%YAML 1.2\n---\na: 1\n", "%YAML 1.3\n---\na: 1\n", 'a: "\\/"\n', 'a: "\\e\\a\\v\\0\\N\\_"\n',
    'a: "\\x41\\u0042\\U00000043"\n', 'a: "\\q"\n', "a: 'it''s'\n", "a: |\n  x\n  y\n",
    "a: >2\n   x\n", "a: |+\n  x\n\n", "a: b: c\n", "? a\n: 1\n", "a: &x {b: 1}\nc: *x\n",
    "a: &x\n  b: 1\nc:\n  <<: *x\n  d: 2\n", "a: 1\r\nb: 2\r\n", "a: 1\rb: 2\r", "a: 1\x85b: 2\n",
    "a: 1\u2028b: 2\n", "a: x#c\n", "a:\n- 1\n- 2\n", "a:\n  - 1\n - 2\n", "a: 1\na: 2\n",
    "a: {b: 1, b: 2}\n", " a: 1\nb: 2\n", "a: - 1\n", "[a, b]: 1\n", "---\na: 1\n---\nb: 2\n",
    "a: 'x\n", 'a: "x\n', "a: [x\n", "a: !!python/object:os.system x\n", "a: !foo 1\n",
    "a: @x\n", "a: |\n  \tx\n", 'a: "\\uD800"\n', "a\u00a0: 1\n", "- a\n- b\n", "just text\n",
    "a: *b\n", "x" * 1100 + ": 1\n", "a: x\x0bz\n", "a: \U0001f600\n", "'a ': 1\n",
    "a:\n  b:\n    c: [1, {d: e}]\n  f: 2\n",
]  # fmt: skip


@pytest.mark.parametrize("number", range(len(YAML_CASES)))
def test_libyaml_and_pure_python_give_one_result(tmp_path, monkeypatch, number):
    import ketameta.io as io

    path = tmp_path / "config.yaml"
    path.write_text(YAML_CASES[number], encoding="utf-8", newline="")

    def load():
        try:
            return load_config(path, "config/config.yaml")
        except DataError as error:
            return str(error)

    fast = load()
    monkeypatch.setattr(io, "_FastConfigLoader", None)
    assert fast == load()


def test_the_shipped_configurations_take_libyaml(monkeypatch):
    import ketameta.io as io

    if io._FastConfigLoader is None:
        pytest.skip("PyYAML without libyaml")
    expected = {p: load_config(root / "config" / "config.yaml") for p, root in PROJECTS.items()}

    def refuse(*args):
        raise AssertionError("the pure-Python loader was used")

    monkeypatch.setattr(io, "_load_python", refuse)
    for project, root in PROJECTS.items():
        assert load_config(root / "config" / "config.yaml") == expected[project]


def test_a_control_character_in_the_configuration_is_named_with_its_line(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("data_dir: data/raw\nlabel: a\x0bb\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_config(path, "config/config.yaml")
    assert str(caught.value) == (
        "config/config.yaml, line 2: the control character U+000B is not allowed in YAML; delete it"
    )


# ------------------------------------------------------------------ the schema


def reference_validate(config, path="config/config.yaml", lines=None):
    """The schema check without the scalar memo: jsonschema's own ``properties`` keyword."""
    import jsonschema
    import yaml

    from ketameta.io import schema_error

    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
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
        raise schema_error(error, path, lines)
    return config


def many_analyses(count=60):
    return {
        "data_dir": "data/raw",
        "conditions": {"TRD": {"label": "TRD"}, "MDD": {"label": "MDD"}},
        "outcomes": {"severity": {"label": "Severity"}},
        "analyses": {
            f"a{i}": {
                "condition": ("TRD", "MDD")[i % 2],
                "outcome": "severity",
                "timepoint": f"{i % 7 + 1}d",
                "measure": ("SMD", "MD")[i % 3 == 0],
                "method": "REML",
                "level": 95,
            }
            for i in range(count)
        },
    }


SCHEMA_EDITS = {
    "valid": lambda c: None,
    "a value valid before, refused later": lambda c: c["analyses"]["a41"].update(level=101),
    "a valid method's name where a measure goes": lambda c: c["analyses"]["a50"].update(
        measure="REML"
    ),
    "true where a number goes": lambda c: c["analyses"]["a33"].update(level=True),
    "95.0 beside 95": lambda c: c["analyses"]["a12"].update(level=95.0),
    "a bad time point late": lambda c: c["analyses"]["a59"].update(timepoint="1 d"),
    "an unknown key": lambda c: c["analyses"]["a20"].update(methd="DL"),
    "true where 1 was valid": lambda c: c.update(
        grade={
            "overrides": {
                "a1": {"imprecision": {"downgrade": 1, "reason": "wide CI"}},
                "a2": {"imprecision": {"downgrade": True, "reason": "wide CI"}},
            }
        }
    ),
}


@pytest.mark.parametrize("edit", sorted(SCHEMA_EDITS))
def test_the_schema_check_equals_jsonschema_without_the_memo(edit):
    def run(check):
        config = many_analyses()
        SCHEMA_EDITS[edit](config)
        try:
            return check(config)
        except DataError as error:
            return str(error)

    mine = run(lambda config: validate_config(config, SCHEMA, "config/config.yaml"))
    assert mine == run(reference_validate)
    assert isinstance(mine, dict) == (edit in ("valid", "95.0 beside 95"))


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_the_shipped_configurations_get_the_same_defaults(project):
    path = PROJECTS[project] / "config" / "config.yaml"
    config, lines = load_config(path, "config/config.yaml")
    expected = reference_validate(copy.deepcopy(config))
    assert validate_config(config, SCHEMA, "config/config.yaml", lines) == expected
