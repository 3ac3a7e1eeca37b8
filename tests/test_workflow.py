"""The real ``snakemake`` on the fixture data (tests/fixtures/workflow), in a temporary folder.

One full run is shared by the tests of this module: dry run, full run, the values in
``summary.json`` against the package, the no-op rerun, the one-condition rerun (issue 3,
item 5) and bad inputs stopped with their one-line message (item 3). The remaining bad-input
cases go through the same checking functions in tests/test_validation.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ketameta.effects import escalc
from ketameta.io import read_data
from ketameta.models import rma

pytestmark = pytest.mark.workflow

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "workflow"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
ANALYSES = {
    "TRD": ["trd_severity_24h", "trd_response_24h"],
    "PTSD": ["ptsd_severity_end", "ptsd_response_end"],
}


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SNAKEMAKE), "-s", str(ROOT / "Snakefile"), "--cores", "1", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )


def scheduled(result: subprocess.CompletedProcess) -> dict[str, list[str]]:
    """Rule name -> outputs of the jobs a dry run lists."""
    jobs: dict[str, list[str]] = {}
    rule = None
    for line in (result.stdout + result.stderr).splitlines():
        if match := re.match(r"^(?:local)?rule (\S+):$", line):
            rule = match.group(1)
            jobs.setdefault(rule, [])
        elif rule and (match := re.match(r"^\s+output: (.+)$", line)):
            jobs[rule] += match.group(1).split(", ")
    return jobs


def outputs_of(workdir: Path) -> dict[str, tuple[str, int]]:
    """SHA-256 and mtime of every file the workflow writes."""
    files = {}
    for folder in ("data/interim", "data/processed", "reports"):
        for path in sorted((workdir / folder).rglob("*")):
            if path.is_file():
                files[str(path.relative_to(workdir))] = (
                    hashlib.sha256(path.read_bytes()).hexdigest(),
                    path.stat().st_mtime_ns,
                )
    return files


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("workflow") / "project"
    shutil.copytree(FIXTURE, work)
    dry = snakemake(work, "--dry-run")
    written_by_dry_run = (work / "data" / "processed").exists()
    full = snakemake(work)
    return {"work": work, "dry": dry, "full": full, "dry_wrote": written_by_dry_run}


def copy_of(run, tmp_path) -> Path:
    """A copy of the finished run (outputs, mtimes and Snakemake's records kept)."""
    target = tmp_path / "project"
    shutil.copytree(run["work"], target, symlinks=True)
    return target


def test_dry_run(run):
    assert run["dry"].returncode == 0, run["dry"].stderr
    assert not run["dry_wrote"]
    jobs = scheduled(run["dry"])
    assert sorted(jobs["ingest"]) == ["data/interim/PTSD.csv", "data/interim/TRD.csv"]
    for condition, analyses in ANALYSES.items():
        assert sorted(jobs[f"meta_{condition}"]) == sorted(
            f"data/processed/{a}/{f}" for a in analyses for f in ("effects.csv", "summary.json")
        )
    assert "all" in jobs


def test_full_run(run):
    assert run["full"].returncode == 0, run["full"].stderr
    work = run["work"]
    for condition, analyses in ANALYSES.items():
        assert (work / "reports" / f"{condition}.html").is_file()
        assert (work / "logs" / "meta" / f"{condition}.log").is_file()
        assert (work / "benchmarks" / "results" / "meta" / f"{condition}.tsv").is_file()
        for analysis in analyses:
            summary = json.loads((work / "data/processed" / analysis / "summary.json").read_text())
            assert summary["analysis"] == analysis and summary["condition"] == condition
    assert (work / "reports" / "index.html").is_file()


def test_summary_values_equal_the_package(run):
    work = run["work"]
    trials = read_data("data/raw", root=work)
    # ptsd_severity_end: MD of three parallel trials, DL (the analysis' override) with HKSJ
    # (the cochrane profile).
    rows = trials[trials["outcome"] == "ptsd_severity"].sort_values(["year", "study"])
    es = escalc("MD", rows.reset_index(drop=True))
    res = rma(es["yi"].to_numpy(), es["vi"].to_numpy(), method="DL", test="knha")
    summary = json.loads((work / "data/processed/ptsd_severity_end/summary.json").read_text())
    for key in (
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "p_value",
        "tau2",
        "I2",
        "H2",
        "Q",
        "pi_low",
        "pi_high",
        "tau2_ci_low",
        "tau2_ci_high",
    ):
        assert summary[key] == pytest.approx(float(getattr(res, key)), rel=1e-12, abs=1e-15)
    assert (summary["method"], summary["test"], summary["k"]) == ("DL", "knha", 3)
    # trd_response_24h: RR with Gamma 2016's two dose arms summed against its one control
    rows = trials.query("condition == 'TRD' and outcome == 'response'")
    rows = rows.sort_values(["year", "study"])
    gamma = rows[rows["study"] == "Gamma 2016"]
    rows = rows.drop(index=gamma.index[1:])
    rows.loc[gamma.index[0], ["events_treat", "n_treat"]] = [
        gamma["events_treat"].sum(),
        gamma["n_treat"].sum(),
    ]
    es = escalc("RR", rows.reset_index(drop=True))
    res = rma(es["yi"].to_numpy(), es["vi"].to_numpy(), method="REML", test="knha")
    summary = json.loads((work / "data/processed/trd_response_24h/summary.json").read_text())
    assert summary["estimate"] == pytest.approx(float(res.estimate), rel=1e-12)
    assert summary["tau2"] == pytest.approx(float(res.tau2), rel=1e-10, abs=1e-15)
    # the shared control arm once; Delta 2018, a crossover, has 18 patients in both periods
    assert summary["n_participants"] == 20 + 20 + 35 + 34 + 22 + 33 + 18
    effects = np.genfromtxt(
        work / "data/processed/trd_response_24h/effects.csv",
        delimiter=",",
        names=True,
        usecols=("yi",),
    )
    np.testing.assert_allclose(effects["yi"], es["yi"], rtol=1e-14)
    # provenance: the SHA-256 of the file read, the effective configuration, versions
    sha = hashlib.sha256((work / "data/raw/trd.csv").read_bytes()).hexdigest()
    assert summary["provenance"]["inputs"] == {"data/raw/trd.csv": sha}
    assert summary["provenance"]["config"]["method"] == "REML"
    assert summary["provenance"]["versions"]["ketameta"]


def test_noop_rerun_schedules_nothing(run):
    result = snakemake(run["work"], "--dry-run")
    assert result.returncode == 0, result.stderr
    assert scheduled(result) == {}
    assert "Nothing to be done" in result.stdout + result.stderr


def test_a_deleted_result_is_recomputed(run, tmp_path):
    # data/processed/ is a contract output in its own right (CONTRACT §3), not an
    # intermediate: deleting one analysis's results reruns its condition's fit only.
    work = copy_of(run, tmp_path)
    analysis = ANALYSES["PTSD"][0]
    shutil.rmtree(work / "data" / "processed" / analysis)
    jobs = scheduled(snakemake(work, "--dry-run"))
    assert f"data/processed/{analysis}/summary.json" in jobs["meta_PTSD"]
    assert "meta_TRD" not in jobs and "ingest" not in jobs


def test_editing_one_condition_reruns_only_it(run, tmp_path):
    work = copy_of(run, tmp_path)
    before = outputs_of(work)
    path = work / "data/raw/ptsd.csv"
    path.write_text(
        path.read_text().replace(
            "Eta 2021,2021,PTSD,ptsd_severity,end,ketamine,midazolam,CAPS-5,low,15,11.9",
            "Eta 2021,2021,PTSD,ptsd_severity,end,ketamine,midazolam,CAPS-5,low,15,12.9",
        )
    )
    dry = snakemake(work, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    jobs = scheduled(dry)
    outputs = [o for outs in jobs.values() for o in outs]
    assert jobs["ingest"] == ["data/interim/PTSD.csv"]
    assert "meta_TRD" not in jobs and "meta_PTSD" in jobs
    assert "reports/PTSD.html" in outputs and "reports/index.html" in outputs
    assert not [o for o in outputs if "TRD" in o or "/trd_" in o]
    result = snakemake(work)
    assert result.returncode == 0, result.stderr
    after = outputs_of(work)
    rerun = {
        name
        for name in before
        if name.startswith(("data/processed/ptsd_", "data/interim/PTSD"))
        or name in ("reports/PTSD.html", "reports/index.html")
    }
    assert {name for name in before if before[name] != after[name]} == rerun
    assert (
        before["data/processed/ptsd_severity_end/summary.json"][0]
        != after["data/processed/ptsd_severity_end/summary.json"][0]
    )


def test_changing_an_analysis_reruns_its_condition(run, tmp_path):
    work = copy_of(run, tmp_path)
    _replace(work / "config/config.yaml", "measure: MD, method: DL", "measure: MD, method: PM")
    jobs = scheduled(snakemake(work, "--dry-run"))
    assert "meta_PTSD" in jobs and "meta_TRD" not in jobs and "ingest" not in jobs


BAD = {
    "the issue's example": (
        lambda w: _replace(
            w / "data/raw/trd.csv", "HAMD,high,,,18,12.5,6.2,", "HAMD,high,,,18,12.5,-4,"
        ),
        "data/raw/trd.csv, line 12, column sd_treat: must be greater than 0 (got -4)",
    ),
    "unknown config key": (
        lambda w: _replace(
            w / "config/config.yaml", "measure: MD, method: DL", "measure: MD, methd: DL"
        ),
        "config/config.yaml, analyses.ptsd_severity_end: unknown key 'methd'; allowed keys: "
        "condition, escalc, exclude, few_trials, label, level, measure, method, multiarm, outcome, "
        "pi, sort_by, subgroups, test, timepoint",
    ),
    "outcome not declared": (
        lambda w: _replace(
            w / "config/config.yaml",
            "outcome: ptsd_severity, timepoint: end",
            "outcome: ptsd_sev, timepoint: end",
        ),
        "config/config.yaml, analyses.ptsd_severity_end.outcome: outcome 'ptsd_sev' is not "
        "declared under outcomes (declared: depression_severity, response, ptsd_severity)",
    ),
    "a file that is not UTF-8": (
        lambda w: (w / "data/raw/ptsd.csv").write_bytes(
            (w / "data/raw/ptsd.csv").read_text().replace("Zeta", "Zéta").encode("latin-1")
        ),
        "data/raw/ptsd.csv, line 2: the file is not UTF-8 (byte 0xe9); save it as UTF-8 (CSV "
        "UTF-8 in Excel)",
    ),
    "an empty new file": (
        lambda w: (w / "data/raw/new.csv").write_text(""),
        "data/raw/new.csv: the file is empty; it needs a header row and data rows",
    ),
}


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize("case", BAD)
def test_bad_input_stops_with_one_message(run, tmp_path, case):
    work = copy_of(run, tmp_path)
    before = outputs_of(work)
    edit, expected = BAD[case]
    edit(work)
    result = snakemake(work)
    assert result.returncode != 0
    assert result.stderr == expected + "\n"
    assert result.stdout == ""
    assert outputs_of(work) == before
