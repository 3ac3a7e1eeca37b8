"""Tests of ketameta.multiverse: specifications, fits, summary, chunking, configuration.

The fits are checked against ketameta.rma on each specification's own data (rma itself is
pinned to metafor in tests/test_rma.py). The workflow tests run the real ``snakemake`` on
the fixture data (tests/fixtures/workflow): chunked and unchunked runs give the same bytes,
and the multiverse reruns only when its condition's data or its configuration change.
"""

from __future__ import annotations

import copy
import filecmp
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_workflow import scheduled, snakemake

from ketameta import multiverse as mvmod
from ketameta.analysis import MEASURE_KIND, prepare
from ketameta.effects import REPORTED_FOR, escalc
from ketameta.gosh import gosh
from ketameta.io import DataError, read_data, validate_config, write_table
from ketameta.models import rma
from ketameta.profiles import effective_config
from ketameta.report import render_condition
from ketameta.report.render import MEASURES
from ketameta.report.robustness import gosh_svg, robustness_context

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
FIXTURE = ROOT / "tests" / "fixtures" / "workflow"
STAGE = ".ketameta/stage"


def _config() -> dict:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    return validate_config(config, SCHEMA)


@pytest.fixture(scope="module")
def trd(tmp_path_factory):
    """The shipped TRD rows as the condition's job writes them, and the TRD multiverse."""
    config = _config()
    trials = read_data(config["data_dir"], ROOT)
    path = tmp_path_factory.mktemp("mv") / "TRD.csv"
    write_table(trials[trials["condition"] == "TRD"], path)
    cfg = effective_config(mvmod.primary_analyses(config)["TRD"], config)
    settings = mvmod.settings_for(config)
    mv = mvmod.build(mvmod.read_table(path), cfg, settings)
    return {"path": path, "cfg": cfg, "settings": settings, "mv": mv, "config": config}


def test_specifications_cross_every_level(trd):
    mv = trd["mv"]
    sizes = {f: len(levels) for f, levels in mv.factors.items()}
    assert list(sizes) == [
        "design", "comparator", "rob", "route", "drug", "omit", "measure", "method", "test",
        "few_trial",
    ]  # fmt: skip
    assert mv.n_specifications == int(np.prod(list(sizes.values())))
    assert mv.n_specifications >= 10_000
    assert mvmod.n_specifications(mvmod.read_table(trd["path"]), trd["cfg"], trd["settings"]) == (
        mv.n_specifications
    )
    choices = mv.choices()
    assert len(choices.drop(columns="spec").drop_duplicates()) == mv.n_specifications
    # the last factor varies fastest
    assert list(choices["few_trial"][:2]) == ["none", "reml_knha"]
    assert mv.factors["omit"] == ["none", *mv.studies]
    assert mv.factors["measure"] == ["SMD", "MD"]  # the continuous family


def _own_data(path, mv, spec_row):
    """The effect sizes one specification selects, built independently of the module."""
    rows = prepare(mvmod.read_table(path), mv.config).rows.reset_index(drop=True)
    keep = np.ones(len(rows), dtype=bool)
    for column in mv.settings["trials"]:
        level = spec_row[column]
        values = rows[column].fillna("").astype(str).to_numpy()
        if level == "any":
            continue
        groups = mv.settings["groups"].get(column, {})
        keep &= np.isin(values, groups[level]) if level in groups else values == level
    if spec_row["omit"] != "none":
        keep &= rows["study"].to_numpy() != spec_row["omit"]
    measure = spec_row["measure"]
    sub = rows[keep]
    usable = (sub["kind"] == MEASURE_KIND[measure]).to_numpy() | (
        (sub["kind"] == "reported").to_numpy()
        & sub["effect_type"].isin(REPORTED_FOR[measure]).to_numpy()
    )
    return escalc(measure, sub[usable].reset_index(drop=True))


def test_each_fit_equals_rma_on_its_own_data(trd):
    mv = trd["mv"]
    frame = mvmod.run_specifications(mv)
    fitted = frame[frame["fitted"]]
    picks = fitted.sample(25, random_state=3)
    for _, spec in picks.iterrows():
        es = _own_data(trd["path"], mv, spec)
        assert len(es) == spec["k"]
        res = rma(
            es["yi"].to_numpy(), es["vi"].to_numpy(), method=spec["method_used"],
            test=spec["test_used"], level=mv.config["level"],
        )  # fmt: skip
        for name in ("estimate", "se", "ci_low", "ci_high", "p_value", "tau2", "I2"):
            assert spec[name] == pytest.approx(getattr(res, name), rel=1e-12, abs=1e-15), name


def test_too_few_trials_are_counted_not_fitted(trd):
    frame = mvmod.run_specifications(trd["mv"])
    few = frame[frame["k"] < 2]
    assert len(few) > 0 and not few["fitted"].any()
    assert few["estimate"].isna().all() and (few["method_used"] == "").all()
    # no trial has a risk-of-bias rating in the shipped data: "low" keeps none
    assert (frame.loc[frame["rob"] == "low", "k"] == 0).all()
    summary = mvmod.summarise(frame, list(trd["mv"].factors), "SMD")
    assert summary["n_too_few"] == len(few)
    assert summary["n_fitted"] + summary["n_too_few"] == summary["n_specifications"]


def test_few_trial_rule_switches_to_reml_knha(trd):
    frame = mvmod.run_specifications(trd["mv"])
    small = frame["fitted"] & (frame["k"] < trd["settings"]["few_trial_k"])
    switched = small & (frame["few_trial"] == "reml_knha")
    assert switched.any()
    assert (frame.loc[switched, "method_used"] == "REML").all()
    assert (frame.loc[switched, "test_used"] == "knha").all()
    kept = frame["fitted"] & ~switched
    assert (frame.loc[kept, "method_used"] == frame.loc[kept, "method"]).all()
    assert (frame.loc[kept, "test_used"] == frame.loc[kept, "test"]).all()


def test_summary_follows_its_definitions(trd):
    mv = trd["mv"]
    frame = mvmod.run_specifications(mv)
    summary = mvmod.summarise(frame, list(mv.factors), "SMD")
    smd = frame[frame["fitted"] & (frame["measure"] == "SMD")]
    block = summary["by_measure"]["SMD"]
    assert list(summary["by_measure"]) == ["SMD", "MD"]
    assert block["median"] == pytest.approx(smd["estimate"].median(), rel=1e-15)
    assert block["min"] == smd["estimate"].min() and block["max"] == smd["estimate"].max()
    assert block["share_negative"] == pytest.approx((smd["ci_high"] < 0).mean())
    assert block["share_positive"] == pytest.approx((smd["ci_low"] > 0).mean())
    for factor, spread in block["spread"].items():
        medians = smd.groupby(factor)["estimate"].median()
        assert spread == pytest.approx(medians.max() - medians.min(), abs=1e-15), factor
    assert block["most_influential"] == max(block["spread"], key=block["spread"].get)
    json.dumps(summary, allow_nan=False)


def test_chunks_give_the_same_bytes(trd, tmp_path):
    mv, args = trd["mv"], (trd["path"], trd["cfg"], trd["settings"])
    mvmod.write_condition(*args, tmp_path / "whole.csv", tmp_path / "whole.json")
    parts = []
    for start, stop in mvmod.specification_chunks(mv.n_specifications, 3001):
        parts.append(tmp_path / f"{start}-{stop}.csv")
        mvmod.write_chunk(*args, start, stop, parts[-1])
    assert len(parts) > 2
    mvmod.write_condition(*args, tmp_path / "split.csv", tmp_path / "split.json", parts)
    assert filecmp.cmp(tmp_path / "whole.csv", tmp_path / "split.csv", shallow=False)
    assert filecmp.cmp(tmp_path / "whole.json", tmp_path / "split.json", shallow=False)
    summary = json.loads((tmp_path / "whole.json").read_text())
    assert summary["analysis"] == trd["cfg"]["analysis"]
    assert summary["gosh"]["n_subsets"] == 2 ** len(mv.studies) - 1
    assert sum(map(sum, summary["gosh"]["density"])) == summary["gosh"]["n_subsets"]


def test_specification_chunks_cover_every_specification():
    assert mvmod.specification_chunks(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert mvmod.specification_chunks(4, 4) == [(0, 4)]


def test_primary_is_first_analysis_unless_named():
    config = _config()
    primary = mvmod.primary_analyses(config)
    assert primary["TRD"] == "trd_severity_end"  # named in config/config.yaml
    assert primary["bipolar"] == "bipolar_severity_40min"  # first of its condition
    assert list(primary) == [c for c in config["conditions"] if c in primary]


@pytest.mark.parametrize(
    ("change", "message", "key"),
    [
        ({"primary": {"XYZ": "trd_severity_end"}}, "condition 'XYZ' is not declared", "XYZ"),
        ({"primary": {"TRD": "nope"}}, "analysis 'nope' is not configured", "TRD"),
        ({"primary": {"TRD": "mdd_severity_24h"}}, "belongs to condition MDD", "TRD"),
    ],
)
def test_bad_primary_says_what_is_wrong(change, message, key):
    config = _config()
    config["multiverse"].update(change)
    with pytest.raises(DataError, match=message) as caught:
        mvmod.check_settings(config, "config/config.yaml")
    assert f"multiverse.primary.{key}" in str(caught.value)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"methods": ["REML", "XX"]}, "must be one of"),
        ({"trials": {"colour": ["any"]}}, "colour"),
        ({"few_trial": ["bayes"]}, "must be one of"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"gosh": {"bins": 2}}, "bins"),
    ],
)
def test_schema_rejects_bad_settings(section, message):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["multiverse"].update(section)
    with pytest.raises(DataError, match=message):
        validate_config(config, SCHEMA, "config/config.yaml")


def test_defaults_match_the_schema():
    config = validate_config(
        {k: v for k, v in _config().items() if k != "multiverse"} | {"multiverse": {}}, SCHEMA
    )
    section = copy.deepcopy(config["multiverse"])
    assert mvmod.multiverse_config(config) == {**mvmod.DEFAULTS, **section}
    assert section == mvmod.DEFAULTS


# ----------------------------------------------------------------------------- report


@pytest.fixture(scope="module")
def written(trd, tmp_path_factory):
    out = tmp_path_factory.mktemp("mvout")
    paths = (out / "TRD.json", out / "TRD.csv")
    mvmod.write_condition(trd["path"], trd["cfg"], trd["settings"], paths[1], paths[0])
    return paths


def test_robustness_section_on_the_condition_page(written, tmp_path):
    config = yaml.safe_load((ROOT / "tests" / "fixtures" / "report" / "config.yaml").read_text())
    ids = [a for a, e in config["analyses"].items() if e["condition"] == "TRD"]
    processed = ROOT / "tests" / "fixtures" / "report" / "processed"
    files = (
        [processed / a / "summary.json" for a in ids],
        [processed / a / "effects.csv" for a in ids],
    )
    pages = []
    for name in ("a.html", "b.html"):
        render_condition("TRD", config, *files, tmp_path / name, multiverse=written)
        pages.append((tmp_path / name).read_text())
    assert pages[0] == pages[1]  # deterministic
    html = pages[0]
    assert 'id="robustness"' in html and 'id="fig-spec-trd_severity_end"' in html
    assert 'id="fig-gosh-trd_severity_end"' in html  # k = 5: every one of 31 subsets
    summary = json.loads(written[0].read_text())
    block = summary["multiverse"]["by_measure"]["SMD"]
    assert f"{summary['multiverse']['n_specifications']:,}".replace(",", "") in html.replace(
        ",", ""
    )
    assert "The choice that moves the estimate most is" in html
    ctx = robustness_context(*written, MEASURES)
    assert ctx["share_excluding_null"] == pytest.approx(100 * block["share_excluding_null"])
    assert "<script" not in str(ctx["curve_svg"])
    # without multiverse outputs the page has no robustness section
    render_condition("TRD", config, *files, tmp_path / "c.html")
    assert 'id="robustness"' not in (tmp_path / "c.html").read_text()


def test_gosh_density_figure_for_many_subsets():
    rng = np.random.default_rng(5)
    res = gosh(rng.normal(0.3, 0.3, 12), rng.uniform(0.01, 0.1, 12), method="DL")
    counts, xe, ye = res.density(bins=30)
    block = {**res.summary(), "k": 12, "density": counts.tolist(), "estimate_edges": list(xe),
             "I2_edges": list(ye), "points": None}  # fmt: skip
    svg = gosh_svg("g", "GOSH", block, "SMD")
    assert svg == gosh_svg("g", "GOSH", block, "SMD") and "subsets per cell" in svg


# ----------------------------------------------------------------------------- workflow


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    work = tmp_path_factory.mktemp("mvflow") / "project"
    shutil.copytree(FIXTURE, work)
    # jobs write into the staging tree; publication copies to data/processed when all succeed
    targets = [
        f"{STAGE}/data/processed/multiverse/{c}.{e}"
        for c in ("TRD", "PTSD")
        for e in ("csv", "json")
    ]
    first = snakemake(work, *targets)
    return {"work": work, "targets": targets, "first": first}


def _dry(flow, work):
    result = snakemake(work, "--dry-run", *flow["targets"])
    assert result.returncode == 0, result.stderr
    # the multiverse outputs among the jobs' (each condition's job writes its multiverse)
    return [o for outs in scheduled(result).values() for o in outs if "/multiverse/" in o]


@pytest.mark.workflow
def test_workflow_writes_the_multiverse(flow):
    assert flow["first"].returncode == 0, flow["first"].stderr
    for condition in ("TRD", "PTSD"):
        summary = json.loads(
            (flow["work"] / f"{STAGE}/data/processed/multiverse/{condition}.json").read_text()
        )
        table = pd.read_csv(flow["work"] / f"{STAGE}/data/processed/multiverse/{condition}.csv")
        assert summary["multiverse"]["n_specifications"] == len(table)


@pytest.mark.workflow
def test_workflow_reruns_only_what_changed(flow, tmp_path):
    work = tmp_path / "project"
    shutil.copytree(flow["work"], work, symlinks=True)
    assert _dry(flow, work) == []
    # the PTSD data change: only the PTSD multiverse reruns
    ptsd = work / "data/raw/ptsd.csv"
    ptsd.write_text(ptsd.read_text().replace(",31.0,", ",32.0,", 1))
    assert _dry(flow, work) == [
        f"{STAGE}/data/processed/multiverse/PTSD.csv",
        f"{STAGE}/data/processed/multiverse/PTSD.json",
    ]
    shutil.copy(flow["work"] / "data/raw/ptsd.csv", ptsd)
    # the TRD primary analysis's method changes: only TRD reruns
    config_path = work / "config/config.yaml"
    original = config_path.read_text()
    config = yaml.safe_load(original)
    config["analyses"]["trd_severity_24h"]["method"] = "DL"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    assert sorted(_dry(flow, work)) == [
        f"{STAGE}/data/processed/multiverse/TRD.csv",
        f"{STAGE}/data/processed/multiverse/TRD.json",
    ]
    # a multiverse setting changes: both rerun
    config = yaml.safe_load(original)
    config["multiverse"] = {"tests": ["z"]}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    assert len(_dry(flow, work)) == 4


@pytest.mark.workflow
def test_workflow_chunks_give_identical_outputs(flow, tmp_path):
    work = tmp_path / "project"
    shutil.copytree(FIXTURE, work)
    config_path = work / "config/config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["multiverse"] = {"chunk_size": 4000}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    dry = snakemake(work, "--dry-run", *flow["targets"])
    assert "multiverse_chunk" in dry.stdout, dry.stdout
    result = snakemake(work, *flow["targets"])
    assert result.returncode == 0, result.stderr
    for target in flow["targets"]:
        assert filecmp.cmp(work / target, flow["work"] / target, shallow=False), target
    # the chunk files are temporary
    assert not list((work / STAGE / "data/interim/multiverse").rglob("*.csv"))
