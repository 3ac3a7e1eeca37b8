"""Which analyses run: configured ones plus one per condition x outcome x time point."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ketameta.analysis import check_inputs, prepare
from ketameta.io import DataError, validate_config
from ketameta.plan import analysis_id, plan_analyses, timepoint_days
from ketameta.profiles import effective_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def shipped():
    cfg = validate_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()), SCHEMA)
    return cfg, check_inputs(cfg, root=ROOT)


def test_ids_and_days():
    assert analysis_id("MDD", "depression_severity", "72h") == "mdd_depression_severity_72h"
    assert analysis_id("PTSD", "x-y", "0.5h") == "ptsd_x_y_0_5h"
    assert timepoint_days("40min") == pytest.approx(40 / 1440)
    assert timepoint_days("24h") == 1.0
    assert timepoint_days("3w") == 21.0
    assert timepoint_days("end") != timepoint_days("end")  # NaN: end has no day of its own


def test_every_row_of_the_shipped_data_reaches_an_analysis(shipped):
    """No row is left out for want of a configuration entry (the 11 rows of 82 that were)."""
    cfg, trials = shipped
    plan = plan_analyses(cfg, trials)
    generated = {k: v for k, v in plan.items() if v.get("generated")}
    assert list(plan)[: len(cfg["analyses"])] == list(cfg["analyses"])  # configured first
    claimed = {(a["condition"], a["outcome"], a["timepoint"]) for a in cfg["analyses"].values()}
    present = set(zip(trials["condition"], trials["outcome"], trials["timepoint"], strict=True))
    assert {(a["condition"], a["outcome"], a["timepoint"]) for a in generated.values()} == (
        present - claimed)
    measures = {k: v["measure"] for k, v in generated.items()}
    assert measures["mdd_depression_severity_72h"] == "SMD"  # continuous arms
    assert measures["mdd_response_72h"] == "RR"  # dichotomous arms
    assert measures["suicidality_suicidal_ideation_4h"] == "MD"  # a reported MD
    full = {**cfg, "analyses": plan}
    taken = set()
    for name in plan:
        prep = prepare(trials, effective_config(name, full))
        for _, row in prep.rows.iterrows():
            taken.update((row["source_file"], int(x)) for x in str(row["source_lines"]).split(";"))
        taken.update((e["source"], e["line"]) for e in prep.excluded)
    every = set(zip(trials["source_file"], trials["source_line"].astype(int), strict=True))
    assert every == taken


def test_configured_analyses_take_precedence(shipped):
    cfg, trials = shipped
    # a configured analysis owns its combination, whatever it excludes
    plan = plan_analyses(cfg, trials)
    assert not any(v.get("generated") and (v["condition"], v["outcome"], v["timepoint"])
                   == ("TRD", "depression_severity", "24h") for v in plan.values())
    # configuring one generated combination replaces the generated entry
    mine = copy.deepcopy(cfg)
    mine["analyses"]["mdd_72h"] = {"condition": "MDD", "outcome": "depression_severity",
                                   "timepoint": "72h", "measure": "MD"}
    plan = plan_analyses(mine, trials)
    assert "mdd_depression_severity_72h" not in plan and plan["mdd_72h"]["measure"] == "MD"
    off = dict(cfg, analyse_every_row=False)
    plan = plan_analyses(off, trials)
    assert {k: {f: x for f, x in v.items() if f != "few_trials"} for k, v in plan.items()} \
        == cfg["analyses"]
    # each analysis carries the top-level few_trials settings, its own on top
    assert all(v["few_trials"] == cfg["few_trials"] for v in plan.values())
    mine = copy.deepcopy(off)
    mine["analyses"]["trd_severity_7d"]["few_trials"] = {"tau_prior_scale": 1.0}
    assert plan_analyses(mine, trials)["trd_severity_7d"]["few_trials"] == {
        **cfg["few_trials"], "tau_prior_scale": 1.0}


def _rows(kinds_and_types):
    rows = []
    for i, (kind, etype) in enumerate(kinds_and_types):
        rows.append({"study": f"S{i}", "condition": "C", "outcome": "o", "timepoint": "24h",
                     "kind": kind, "effect_type": etype, "source_file": "x.csv",
                     "source_line": i + 2})
    return pd.DataFrame(rows)


def test_measure_takes_most_rows_and_the_rest_get_their_own():
    from ketameta.plan import _measures

    def measures(rows):
        return _measures(rows["kind"].to_numpy(dtype=object),
                         rows["effect_type"].astype(object).to_numpy())

    rows = _rows([("continuous", None), ("reported", "MD"), ("reported", "MD"),
                  ("dichotomous", None), ("reported", "HR")])
    got = [(m, list(taken.nonzero()[0])) for m, taken in measures(rows)]
    assert got == [("MD", [0, 1, 2]), ("RR", [3]), ("GEN", [4])]
    rows = _rows([("continuous", None), ("reported", "d"), ("single", None)])
    assert [m for m, _ in measures(rows)] == ["SMD", "PLO"]


def test_generated_id_clash_and_bad_rows_are_reported(shipped):
    cfg, trials = shipped
    mine = copy.deepcopy(cfg)
    mine["analyses"]["mdd_remission_24h"] = dict(mine["analyses"]["mdd_remission_end"])
    plan = plan_analyses(mine, trials)
    assert plan["mdd_remission_24h_auto"]["timepoint"] == "24h"
    # a study twice at one time point without a shared-control group cannot be pooled
    twice = trials[(trials["condition"] == "MDD") & (trials["timepoint"] == "72h")
                   & (trials["outcome"] == "response")]
    broken = pd.concat([trials, twice.assign(source_line=999)], ignore_index=True)
    with pytest.raises(DataError, match="Lii 2023"):
        plan_analyses(cfg, broken)
