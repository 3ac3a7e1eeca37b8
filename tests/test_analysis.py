"""One configured analysis end to end, without Snakemake: selection, profiles, outputs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ketameta.analysis import (
    check_inputs,
    participants,
    prepare,
    run_condition,
    summarise,
    write_json,
)
from ketameta.effects import escalc
from ketameta.io import DataError, read_data, validate_config, write_table
from ketameta.models import rma
from ketameta.multiarm import combine_continuous
from ketameta.profiles import PROFILES, effective_config, effective_configs

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "workflow"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def config():
    cfg = yaml.safe_load((FIXTURE / "config" / "config.yaml").read_text())
    return validate_config(cfg, SCHEMA)


@pytest.fixture(scope="module")
def trials(config):
    return check_inputs(config, root=FIXTURE)


def summaries_of(config, trials, names, inputs=None):
    prepared = [prepare(trials, effective_config(n, config)) for n in names]
    return summarise(prepared, inputs or {})


# ---------------------------------------------------------------------------- profiles


def test_profile_and_overrides(config):
    cfg = effective_config("ptsd_severity_end", config)  # method: DL in the analysis
    assert (cfg["method"], cfg["test"], cfg["pi"]) == ("DL", "knha", "default")
    assert cfg["escalc"] == {"add": 0.5, "drop00": False, "to": "only0", "vtype": "LS"}
    assert cfg["label"] == "PTSD symptom severity, end"
    revman = dict(config, profile="revman5")
    smd = effective_config("trd_severity_24h", revman)
    assert (smd["method"], smd["test"], smd["pi"], smd["escalc"]["vtype"]) == (
        "DL",
        "z",
        "default",  # pi_low/pi_high are predict()'s interval in every profile (docs/contract.md section 3)
        "RevMan",
    )
    assert effective_config("ptsd_severity_end", revman)["escalc"]["vtype"] == "LS"
    pft = copy.deepcopy(config)
    pft["analyses"]["trd_response_24h"]["measure"] = "PFT"
    assert effective_config("trd_response_24h", pft)["escalc"]["add"] == 0.0  # metafor's default
    assert set(PROFILES) == {"cochrane", "metafor", "revman5", "iqwig"}
    assert (PROFILES["iqwig"]["method"], PROFILES["iqwig"]["test"]) == ("PM", "adhoc")
    assert list(effective_configs("PTSD", config)) == ["ptsd_severity_end", "ptsd_response_end"]


def test_control_defaults_to_exact_and_can_be_set(config, trials):
    assert effective_config("trd_severity_24h", config)["control"] == "exact"
    top = dict(config, control="metafor")
    assert effective_config("trd_severity_24h", top)["control"] == "metafor"
    one = copy.deepcopy(top)
    one["analyses"]["trd_severity_24h"]["control"] = "exact"
    assert effective_config("trd_severity_24h", one)["control"] == "exact"
    assert effective_config("trd_response_24h", one)["control"] == "metafor"
    (exact, _), (early, _) = (
        summaries_of(c, trials, ["trd_severity_24h"])[0] for c in (config, top)
    )
    assert exact["provenance"]["config"]["control"] == "exact"
    assert early["provenance"]["config"]["control"] == "metafor"
    # REML's tau2 and its Q-profile CI stop earlier with metafor's rules
    assert exact["tau2_ci_high"] != early["tau2_ci_high"]
    assert exact["tau2_ci_high"] == pytest.approx(early["tau2_ci_high"], rel=1e-3)


def test_absolute_block_is_written(config, trials):
    ((smd, _),) = summaries_of(config, trials, ["trd_severity_24h"])
    assert smd["absolute"]["kind"] == "continuous"
    ((binary, _),) = summaries_of(config, trials, ["trd_response_24h"])
    block = binary["absolute"]
    assert block["kind"] == "dichotomous" and block["available"]
    assert block["rd"] == pytest.approx(block["treated_risk"] - block["control_risk"])
    json.dumps(block, allow_nan=False)


# ---------------------------------------------------------------------------- values


def test_summary_equals_the_package(config, trials):
    """The SMD analysis: Gamma 2016's two arms combined, then escalc and rma directly."""
    ((summary, effects),) = summaries_of(config, trials, ["trd_severity_24h"])
    rows = trials[(trials["outcome"] == "depression_severity")].copy()
    gamma = rows["study"] == "Gamma 2016"
    n, mean, sd = combine_continuous(
        rows.loc[gamma, "n_treat"], rows.loc[gamma, "mean_treat"], rows.loc[gamma, "sd_treat"]
    )
    first = rows.index[gamma][0]
    rows.loc[first, ["n_treat", "mean_treat", "sd_treat"]] = [n, mean, sd]
    rows = rows.drop(index=rows.index[gamma][1:]).sort_values(["year", "study"])
    es = escalc("SMD", rows.reset_index(drop=True))
    res = rma(es["yi"].to_numpy(), es["vi"].to_numpy(), method="REML", test="knha")
    assert summary["k"] == 5 == res.k
    for key in (
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "p_value",
        "tau2",
        "I2",
        "Q",
        "pi_low",
        "pi_high",
        "tau2_ci_high",
    ):
        assert summary[key] == pytest.approx(float(getattr(res, key)), rel=1e-12, abs=1e-15)
    assert list(effects["study"]) == [
        "Alpha 2010",
        "Beta 2012",
        "Gamma 2016",
        "Delta 2018",
        "Epsilon 2019",
    ]
    np.testing.assert_allclose(effects["yi"], es["yi"], rtol=1e-14)
    np.testing.assert_allclose(effects["weight"], res.weights, rtol=1e-12)
    assert effects["weight"].sum() == pytest.approx(100)
    assert summary["multiarm"][0]["action"] == "combined"
    ee = rma(es["yi"].to_numpy(), es["vi"].to_numpy(), method="EE")
    assert summary["equal_effects"]["estimate"] == pytest.approx(float(ee.estimate), rel=1e-12)
    assert [r["study"] for r in summary["leave1out"]] == list(effects["study"])
    assert [r["study"] for r in summary["influence"]] == list(effects["study"])
    assert summary["trimfill_side"] in ("left", "right")
    # the reported g of Epsilon has no arm sizes, so participants are unknown
    assert summary["n_participants"] is None


def test_batch_equals_one_at_a_time(config, trials):
    both = summaries_of(config, trials, ["trd_severity_24h", "trd_response_24h"])
    alone = summaries_of(config, trials, ["trd_response_24h"])
    assert both[1][0] == alone[0][0]


def test_contract_keys_and_determinism(config, trials):
    ((summary, _),) = summaries_of(config, trials, ["trd_response_24h"], {"data/raw/trd.csv": "x"})
    contract = (
        "analysis, k, measure, method, test, level, estimate, se, ci_low, ci_high, statistic, "
        "p_value, tau2, tau, I2, H2, Q, Q_df, Q_p, pi_low, pi_high, tau2_ci_low, tau2_ci_high, "
        "I2_ci_low, I2_ci_high, egger_statistic, egger_p, trimfill_k0, trimfill_estimate, "
        "leave1out, converged, warnings, provenance"
    ).split(", ")
    assert set(contract) <= set(summary)
    assert list(summary)[: len(contract) - 1] == contract[:-1]
    # control arms once; Delta 2018 is a crossover of 18 patients who had both treatments
    assert summary["n_participants"] == 20 + 20 + 35 + 34 + 22 + 33 + 18
    provenance = summary["provenance"]
    assert provenance["inputs"] == {"data/raw/trd.csv": "x"}
    assert provenance["config"] == effective_config("trd_response_24h", config)
    assert set(provenance["versions"]) == {"python", "ketameta", "numpy", "scipy", "pandas"}
    again = summaries_of(config, trials, ["trd_response_24h"], {"data/raw/trd.csv": "x"})
    assert json.dumps(summary) == json.dumps(again[0][0])
    json.dumps(summary, allow_nan=False)  # no NaN anywhere


def test_single_study(config, trials):
    ((summary, effects),) = summaries_of(config, trials, ["ptsd_response_end"])
    assert summary["k"] == 1
    # Iota 2020: OR 2.4 with vi 0.21 on the log scale (tests/fixtures/workflow/data/raw/ptsd.csv)
    assert summary["estimate"] == pytest.approx(np.log(2.4), rel=1e-14)
    assert summary["se"] == pytest.approx(np.sqrt(0.21), rel=1e-14)
    for key in ("tau2", "I2", "pi_low", "Q", "egger_p", "trimfill_k0", "leave1out", "begg_p"):
        assert summary[key] is None
    assert summary["influence"] == [] and summary["trimfill_filled"] == []
    assert list(effects["weight"]) == [100.0]


RESPONSE = "study,year,condition,outcome,timepoint,events_treat,n_treat,events_ctrl,n_ctrl\n"


def one_analysis(config, tmp_path, csv: str, name: str, **changes):
    """Data in tmp_path/data/raw/x.csv and a configuration with one analysis, changed.

    Returns the configuration and, from :func:`check_inputs`, the table of trials.
    """
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    raw.joinpath("x.csv").write_text(csv)
    cfg = copy.deepcopy(config)
    cfg["analyses"] = {name: dict(config["analyses"][name], **changes)}
    validate_config(cfg, SCHEMA)
    return cfg, check_inputs(cfg, root=tmp_path)


def test_exclude_leaves_out_a_study_with_its_reason(config, tmp_path):
    csv = RESPONSE + "A,2001,TRD,response,24h,5,20,2,20\nB,2002,TRD,response,24h,4,15,1,15\n"
    csv += "C,2003,TRD,response,24h,7,30,3,31\n"
    reason = "reports a different responder definition"
    cfg, trials = one_analysis(
        config, tmp_path, csv, "trd_response_24h", exclude={"B": reason}
    )
    ((summary, effects),) = summaries_of(cfg, trials, ["trd_response_24h"])
    assert summary["k"] == 2 and list(effects["study"]) == ["A", "C"]
    assert summary["excluded"] == [
        {"study": "B", "source": "data/raw/x.csv", "line": 3,
         "reason": f"excluded by the configuration: {reason}"}
    ]
    assert summary["provenance"]["config"]["exclude"] == {"B": reason}
    expected = rma(effects["yi"], effects["vi"], method="REML", test="knha")
    assert summary["estimate"] == pytest.approx(expected.estimate, rel=1e-12)


def test_participants_count_crossover_patients_once():
    got = participants(
        [18, 8, 40, 12, np.nan],
        [18, 7, 42, np.nan, np.nan],
        ["crossover", "crossover", "parallel", "", ""],
    )
    # crossover: the same 18 patients in both periods; first-period crossover data 8 + 7;
    # parallel: 40 + 42; single arm: 12
    np.testing.assert_array_equal(got[:4], [18, 15, 82, 12])
    assert np.isnan(got[4])
    # a reported effect with only n_treat is an unknown count, not a single arm
    assert np.isnan(participants([30], [np.nan], single=[False])[0])


def test_drop00_leaves_out_double_zero_tables(config, tmp_path):
    csv = RESPONSE + "A,2001,TRD,response,24h,5,20,2,20\nB,2002,TRD,response,24h,0,15,0,15\n"
    csv += "C,2003,TRD,response,24h,7,30,3,31\n"
    cfg, trials = one_analysis(config, tmp_path, csv, "trd_response_24h", escalc={"drop00": True})
    ((summary, effects),) = summaries_of(cfg, trials, ["trd_response_24h"])
    assert summary["k"] == 2 and list(effects["study"]) == ["A", "C"]
    assert summary["excluded"] == [
        {
            "study": "B",
            "source": "data/raw/x.csv",
            "line": 3,
            "reason": "no events in both arms, or only events in both arms (drop00)",
        }
    ]
    assert summary["warnings"][-1] == (
        "B (data/raw/x.csv, line 3) left out: no events in both arms, or only events in both "
        "arms (drop00)"
    )


def test_undefined_effect_sizes_are_named_by_file_and_line(config, tmp_path):
    csv = RESPONSE + "A,2001,TRD,response,24h,5,20,2,20\nB,2002,TRD,response,24h,3,15,0,15\n"
    csv += "C,2003,TRD,response,24h,7,30,3,31\n"
    cfg, trials = one_analysis(config, tmp_path, csv, "trd_response_24h", escalc={"to": "none"})
    ((summary, effects),) = summaries_of(cfg, trials, ["trd_response_24h"])
    assert list(effects["study"]) == ["A", "C"]
    assert summary["excluded"][0]["reason"] == "effect size undefined (see the escalc warning)"
    # the message itself is escalc's (tests/test_escalc.py); here: it names file and line
    assert "row 'B (data/raw/x.csv, line 3)'" in summary["warnings"][-1]


def test_zero_variance_is_left_out(config, tmp_path):
    csv = RESPONSE + "A,2001,TRD,response,24h,5,20,,\nB,2002,TRD,response,24h,0,15,,\n"
    csv += "C,2003,TRD,response,24h,7,30,,\n"
    cfg, trials = one_analysis(
        config, tmp_path, csv, "trd_response_24h", measure="PR", escalc={"to": "none"}
    )
    ((summary, effects),) = summaries_of(cfg, trials, ["trd_response_24h"])
    # B: p = 0/15 gives vi = p (1 - p) / n = 0 (metafor escalc("PR", to="none") likewise)
    assert list(effects["study"]) == ["A", "C"] and summary["k"] == 2
    assert summary["warnings"][-1] == (
        "B (data/raw/x.csv, line 3) left out: sampling variance 0 (e.g. a proportion of 0 "
        "or 1 with to: none); it cannot be weighted"
    )


def test_sort_by_weight(config, trials):
    cfg = copy.deepcopy(config)
    cfg["analyses"]["trd_response_24h"]["sort_by"] = "weight"
    ((summary, effects),) = summaries_of(cfg, trials, ["trd_response_24h"])
    assert list(effects["weight"]) == sorted(effects["weight"], reverse=True)
    assert summary["studies"] == list(effects["study"])
    assert [r["study"] for r in summary["leave1out"]] == list(effects["study"])


def test_effects_columns(config, trials):
    ((_, effects),) = summaries_of(config, trials, ["trd_severity_24h"])
    columns = list(effects.columns)
    assert columns[:8] == ["study", "year", "yi", "vi", "sei", "ci_low", "ci_high", "weight"]
    assert columns[8:15] == [
        "n_treat",
        "mean_treat",
        "sd_treat",
        "n_ctrl",
        "mean_ctrl",
        "sd_ctrl",
        "effect_type",
    ]
    assert columns[-2:] == ["source_file", "source_lines"]
    assert "events_treat" not in columns  # data columns that this analysis does not use
    z = 1.959963984540054  # qnorm(0.975)
    np.testing.assert_allclose(effects["ci_low"], effects["yi"] - z * effects["sei"], rtol=1e-14)


# ---------------------------------------------------------------------------- selection errors


def test_gen_pools_one_scale(config, tmp_path):
    csv = "study,condition,outcome,timepoint,effect_type,yi,sei\n"
    csv += "A,PTSD,response,end,OR,2.0,0.4\nB,PTSD,response,end,logRR,0.3,0.2\n"
    with pytest.raises(DataError) as caught:
        one_analysis(config, tmp_path, csv, "ptsd_response_end")
    assert str(caught.value) == (
        "data/raw/x.csv, line 3, column effect_type: analysis ptsd_response_end (measure "
        "GEN) pools one scale, but this row is on the logRR scale and line 2 of "
        "data/raw/x.csv on the logOR scale"
    )


def test_reported_effect_of_another_measure(config, tmp_path):
    csv = (
        "study,condition,outcome,timepoint,n_treat,mean_treat,sd_treat,n_ctrl,mean_ctrl,"
        "sd_ctrl,effect_type,yi,sei\n"
        "A,PTSD,ptsd_severity,end,10,20,5,10,25,6,,,\n"
        "B,PTSD,ptsd_severity,end,,,,,,,SMD,-0.4,0.3\n"
    )
    with pytest.raises(DataError) as caught:
        one_analysis(config, tmp_path, csv, "ptsd_severity_end")
    assert str(caught.value) == (
        "data/raw/x.csv, line 3, column effect_type: analysis ptsd_severity_end: measure MD "
        "cannot use the reported effect row of B (a reported SMD gives GEN or SMD)"
    )


# ---------------------------------------------------------------------------- files


def test_run_condition_writes_outputs(config, trials, tmp_path):
    table = tmp_path / "interim" / "PTSD.csv"
    write_table(read_data("data/raw", root=FIXTURE).query("condition == 'PTSD'"), table)
    analyses = effective_configs("PTSD", config)
    effects = [tmp_path / a / "effects.csv" for a in analyses]
    summaries = [tmp_path / a / "summary.json" for a in analyses]
    run_condition(table, analyses, effects, summaries)
    first = [p.read_bytes() for p in summaries]
    run_condition(table, analyses, effects, summaries)
    assert [p.read_bytes() for p in summaries] == first  # byte-identical rerun
    summary = json.loads(summaries[0].read_text())
    sha = read_data("data/raw", root=FIXTURE).query("condition == 'PTSD'")["source_sha256"]
    assert summary["provenance"]["inputs"] == {"data/raw/ptsd.csv": sha.iloc[0]}
    assert pd.read_csv(effects[0])["study"].tolist() == summary["studies"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_failed_write_keeps_the_last_good_file(tmp_path):
    path = tmp_path / "summary.json"
    write_json({"estimate": 1.0}, path)
    with pytest.raises(ValueError):
        write_json({"estimate": float("nan")}, path)
    assert json.loads(path.read_text()) == {"estimate": 1.0}
