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
            taken = dict(_measures(rows))[cfg["measure"]]
            rows = rows[taken]
            if not index.needs_checking(cfg, all_usable=True):
                unchanged(rows, cfg, rows)
                passed += 1
            continue
        # the index's rows are the rows prepare() selects from the whole table
        assert outcome(rows, cfg) == outcome(trials, cfg)
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
