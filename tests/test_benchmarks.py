"""The pipeline benchmark's own parts, not its timings (nothing here measures time).

- ``benchmarks/synthetic.py`` writes projects the pipeline's checks accept, with the
  promised shape (5 to 30 trials per analysis, several conditions and outcomes, continuous
  and binary rows, configured and planned analyses), the same bytes for the same seed;
- ``benchmarks/resolve.py`` lists for the R script exactly the analyses the pipeline fits:
  the configured ones and the planned ones, each with its effective method choices; the
  workflow itself is asked which ``summary.json`` files it would write;
- ``benchmarks/r_pipeline.R`` fits every listed analysis (when R and metafor are here);
- the scripts' argument handling: help, and one message for a wrong argument.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ketameta.analysis import check_inputs
from ketameta.io import load_config, read_data, validate_config
from ketameta.plan import plan_analyses
from ketameta.profiles import effective_config

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


synthetic = _module("synthetic")
resolve = _module("resolve")


def _pipeline_view(project: Path) -> tuple[dict, dict]:
    """Configuration and planned analyses as workflow/rules/common.smk computes them."""
    config, lines = load_config(project / "config" / "config.yaml", "config/config.yaml")
    validate_config(config, SCHEMA, "config/config.yaml", lines)
    trials = check_inputs(config, "config/config.yaml", root=project)
    return config, plan_analyses(config, trials, "config/config.yaml")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("synthetic")
    return folder, synthetic.write_project(folder, 60, seed=7)


def test_synthetic_project_passes_the_pipelines_checks(project):
    folder, drawn = project
    config, planned = _pipeline_view(folder)
    configured = [a for a in drawn if drawn[a]["configured"]]
    assert list(planned)[: len(configured)] == configured
    assert set(planned) == set(drawn)
    generated = {a for a, entry in planned.items() if entry.get("generated")}
    assert generated == {a for a in drawn if not drawn[a]["configured"]}
    assert 0 < len(generated) < len(planned)
    assert config["multiverse"]["enabled"] is False


def test_synthetic_project_has_the_promised_shape(project):
    folder, drawn = project
    trials = read_data("data/raw", folder)
    per_analysis = trials.groupby(["condition", "outcome", "timepoint"]).size()
    assert len(per_analysis) == len(drawn)
    assert per_analysis.min() >= 5 and per_analysis.max() <= 30
    assert sorted(per_analysis.to_numpy()) == sorted(a["k"] for a in drawn.values())
    assert per_analysis.nunique() > 5  # k varies between analyses
    assert set(trials["condition"]) == set(synthetic.CONDITIONS)
    assert set(trials["outcome"]) == set(synthetic.OUTCOMES)
    assert set(trials["kind"]) == {"continuous", "dichotomous"}
    binary = (trials["kind"] == "dichotomous").mean()
    assert 0.1 < binary < 0.5
    _, planned = _pipeline_view(folder)
    measures = {entry["measure"] for entry in planned.values()}
    assert {"SMD", "MD", "RR", "OR"} <= measures
    assert any(entry.get("exclude") for entry in planned.values())
    assert {"DL", "PM"} <= {entry.get("method") for entry in planned.values()}


def test_synthetic_project_is_reproducible(tmp_path):
    synthetic.write_project(tmp_path / "a", 25, seed=3)
    synthetic.write_project(tmp_path / "b", 25, seed=3)
    synthetic.write_project(tmp_path / "c", 25, seed=4)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*"))
    assert files
    for path in files:
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()
    assert (tmp_path / "a" / "data/raw/C1.csv").read_bytes() != (
        tmp_path / "c" / "data/raw/C1.csv"
    ).read_bytes()


def test_r_side_lists_every_analysis_with_its_effective_choices(project):
    folder, _ = project
    config, planned = _pipeline_view(folder)
    listed = resolve.analysis_list(folder)
    assert listed["data_dir"] == "data/raw"
    assert listed["conditions"] == list(synthetic.CONDITIONS)
    assert [a["analysis"] for a in listed["analyses"]] == list(planned)
    full = {**config, "analyses": planned}
    for entry in listed["analyses"]:
        cfg = effective_config(entry["analysis"], full)
        for key in ("condition", "outcome", "timepoint", "measure", "method", "test", "level"):
            assert entry[key] == cfg[key], (entry["analysis"], key)
        assert entry["exclude"] == list(cfg["exclude"])
        assert entry["escalc"] == cfg["escalc"]


def test_r_side_lists_the_shipped_configured_and_planned_analyses():
    config, _ = load_config(ROOT / "config" / "config.yaml")
    listed = [a["analysis"] for a in resolve.analysis_list(ROOT)["analyses"]]
    configured = list(config["analyses"])
    assert listed[: len(configured)] == configured
    assert len(listed) > len(configured)  # rows no configured analysis takes get one


@pytest.mark.workflow
def test_r_side_list_is_what_the_workflow_writes(tmp_path):
    """The workflow, asked by Snakemake, writes one summary.json per listed analysis."""
    for part in ("config", "data"):
        shutil.copytree(ROOT / part, tmp_path / part)
    summary = subprocess.run(
        [str(SNAKEMAKE), "-s", str(ROOT / "Snakefile"), "--summary"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert summary.returncode == 0, summary.stderr
    written = set(re.findall(r"data/processed/([^/\s]+)/summary\.json", summary.stdout))
    listed = {a["analysis"] for a in resolve.analysis_list(tmp_path)["analyses"]}
    assert written == listed


def _r_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(
        ["Rscript", "-e", "library(metafor); library(jsonlite)"], capture_output=True
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _r_available(), reason="needs Rscript with metafor and jsonlite")
def test_r_script_fits_every_listed_analysis(tmp_path):
    synthetic.write_project(tmp_path, 12, seed=11)
    listing = tmp_path / "analyses.json"
    assert resolve.main(["list", str(tmp_path), str(listing)]) == 0
    run = subprocess.run(
        [
            "Rscript",
            str(BENCHMARKS / "r_pipeline.R"),
            str(tmp_path),
            str(listing),
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    pages = "".join(p.read_text() for p in sorted((tmp_path / "r").glob("*.html")))
    ids = re.findall(r'<section class="analysis" id="([^"]+)"', pages)
    listed = json.loads(listing.read_text())["analyses"]
    assert sorted(ids) == sorted(a["analysis"] for a in listed)
    assert pages.count("<svg") == 2 * len(listed)  # a forest and a funnel plot each
    assert {p.name for p in (tmp_path / "r").glob("*.html")} == {
        "index.html",
        *(f"{c}.html" for c in synthetic.CONDITIONS),
    }


def test_benchmark_script_help_and_bad_arguments():
    script = BENCHMARKS / "pipeline.sh"
    shown = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert shown.returncode == 0
    for name in ("BENCH_PAIRS", "BENCH_SCALE", "BENCH_VALIDATE", "BENCH_SLURM", "[cores]"):
        assert name in shown.stdout
    for args, env, word in (
        (["two"], {}, "cores"),
        (["0"], {}, "cores"),
        (["2", "3"], {}, "too many arguments"),
        ([], {"BENCH_PAIRS": "x"}, "BENCH_PAIRS"),
        ([], {"BENCH_SCALE": "200 lots"}, "BENCH_SCALE"),
        ([], {"BENCH_DATA": "/nonexistent"}, "BENCH_DATA"),
    ):
        run = subprocess.run(
            [str(script), *args],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin", **env},
        )
        assert run.returncode == 2, (args, env, run.stderr)
        assert word in run.stderr.splitlines()[0]
        assert "Traceback" not in run.stderr


def test_helpers_refuse_bad_arguments_with_one_message(tmp_path):
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / "synthetic.py"), str(tmp_path), "0"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "at least 1" in run.stderr
    assert "Traceback" not in run.stderr
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text("data_dir: data/raw\nconditions: {}\n")
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / "resolve.py"), "checks", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert "config/config.yaml" in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


@pytest.mark.workflow
@pytest.mark.parametrize("imports", ["", "json,csv"])
def test_floor_workflow_runs_the_asked_number_of_jobs(tmp_path, imports):
    args = [str(SNAKEMAKE), "-s", str(ROOT / "benchmarks" / "floor.smk"), "--cores", "2",
            "--quiet", "all", "--config", "jobs=3", f"imports={imports}"]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "floor").iterdir()) == [
        "0.done", "1.done", "2.done"]


@pytest.mark.workflow
def test_floor_workflow_fails_on_an_import_that_does_not_exist(tmp_path):
    args = [str(SNAKEMAKE), "-s", str(ROOT / "benchmarks" / "floor.smk"), "--cores", "1",
            "--quiet", "all", "--config", "jobs=1", "imports=no_such_module_here"]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode != 0
    assert not (tmp_path / "floor" / "0.done").exists()
