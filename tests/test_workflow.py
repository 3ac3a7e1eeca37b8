"""The real ``snakemake`` on the fixture data (tests/fixtures/workflow), in a temporary folder.

One full run is shared by the tests of this module: dry run, full run, the values in
``summary.json`` against the package, the no-op rerun, the one-condition rerun and bad
inputs stopped with their one-line message. The remaining bad-input
cases go through the same checking functions in tests/test_validation.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from schema_keys import ANALYSIS_KEYS

from ketameta.effects import escalc
from ketameta.io import read_data
from ketameta.models import rma

pytestmark = pytest.mark.workflow

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "workflow"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
STAGE = ".ketameta/stage"
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
    """SHA-256 and mtime of every file the workflow writes (published and staged)."""
    files = {}
    for folder in ("data/processed", "reports", STAGE):
        for path in sorted((workdir / folder).rglob("*")):
            if path.is_file() and path.name != "published":
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
    assert "ingest" not in jobs  # each condition's job reads its rows itself
    for condition, analyses in ANALYSES.items():
        assert sorted(jobs[f"analyse_{condition}"]) == sorted(
            [f"{STAGE}/data/processed/{a}/{f}" for a in analyses
             for f in ("effects.csv", "summary.json")]
            + [f"{STAGE}/data/processed/multiverse/{condition}.{e}" for e in ("csv", "json")]
            + [f"{STAGE}/data/interim/{condition}.csv", f"{STAGE}/reports/{condition}.html"]
        )
    assert jobs["publish"] == [f"{STAGE}/published"]
    assert "all" in jobs


def test_full_run(run):
    assert run["full"].returncode == 0, run["full"].stderr
    work = run["work"]
    for condition, analyses in ANALYSES.items():
        assert (work / "reports" / f"{condition}.html").is_file()
        assert (work / "logs" / "condition" / f"{condition}.log").is_file()
        assert (work / "benchmarks" / "results" / "condition" / f"{condition}.tsv").is_file()
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


def test_a_deleted_result_is_restored(run, tmp_path):
    # data/processed/ is a contract output in its own right (docs/contract.md, section 3):
    # deleting one analysis's results republishes them from the last good run, and a
    # deleted staged result reruns its condition's fit only.
    work = copy_of(run, tmp_path)
    before = outputs_of(work)
    analysis = ANALYSES["PTSD"][0]
    shutil.rmtree(work / "data" / "processed" / analysis)
    jobs = scheduled(snakemake(work, "--dry-run"))
    assert sorted(jobs) == ["all", "publish"]
    result = snakemake(work)
    assert result.returncode == 0, result.stderr
    after = outputs_of(work)
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}
    assert [k for k in before if before[k] != after[k]] == [
        f"data/processed/{analysis}/effects.csv",
        f"data/processed/{analysis}/summary.json",
    ]
    shutil.rmtree(work / STAGE / "data" / "processed" / analysis)
    jobs = scheduled(snakemake(work, "--dry-run"))
    assert f"{STAGE}/data/processed/{analysis}/summary.json" in jobs["analyse_PTSD"]
    assert "analyse_TRD" not in jobs


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
    assert f"{STAGE}/data/interim/PTSD.csv" in jobs["analyse_PTSD"]
    assert "analyse_TRD" not in jobs
    assert f"{STAGE}/reports/PTSD.html" in outputs and f"{STAGE}/reports/index.html" in outputs
    assert not [o for o in outputs if "TRD" in o or "/trd_" in o]
    result = snakemake(work)
    assert result.returncode == 0, result.stderr
    after = outputs_of(work)
    rerun = {
        name
        for name in before
        if name.removeprefix(f"{STAGE}/").startswith(("data/processed/ptsd_", "data/interim/PTSD"))
        or name.removeprefix(f"{STAGE}/") in ("reports/PTSD.html", "reports/index.html")
        or name.removeprefix(f"{STAGE}/").startswith("data/processed/multiverse/PTSD.")
    }
    changed = {name for name in before if before[name] != after[name]}
    # Staged files are rewritten by the jobs that reran; a published file is replaced only
    # when its content changed (ptsd_response_end's effects.csv is the same, its
    # summary.json records the new SHA-256 of ptsd.csv).
    assert {n for n in changed if n.startswith(STAGE)} == {n for n in rerun if n.startswith(STAGE)}
    assert {n for n in changed if not n.startswith(STAGE)} == {
        n for n in rerun if not n.startswith(STAGE) and before[n][0] != after[n][0]
    }
    assert "data/processed/ptsd_response_end/effects.csv" not in changed
    assert (
        before["data/processed/ptsd_severity_end/summary.json"][0]
        != after["data/processed/ptsd_severity_end/summary.json"][0]
    )


def test_changing_an_analysis_reruns_its_condition(run, tmp_path):
    work = copy_of(run, tmp_path)
    _replace(work / "config/config.yaml", "measure: MD, method: DL", "measure: MD, method: PM")
    jobs = scheduled(snakemake(work, "--dry-run"))
    assert "analyse_PTSD" in jobs and "analyse_TRD" not in jobs


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
        "config/config.yaml, line 14, analyses.ptsd_severity_end: unknown key 'methd'; allowed "
        f"keys: {ANALYSIS_KEYS}",
    ),
    "outcome not declared": (
        lambda w: _replace(
            w / "config/config.yaml",
            "outcome: ptsd_severity, timepoint: end",
            "outcome: ptsd_sev, timepoint: end",
        ),
        "config/config.yaml, line 14, analyses.ptsd_severity_end.outcome: outcome 'ptsd_sev' is "
        "not declared under outcomes (declared: depression_severity, response, ptsd_severity)",
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
    "an empty new file saved with an upper-case extension": (
        lambda w: (w / "data/raw/trd_more.CSV").write_text(""),
        "data/raw/trd_more.CSV: the file is empty; it needs a header row and data rows",
    ),
    "a dangling link": (
        lambda w: (w / "data/raw/old.csv").symlink_to(w / "gone.csv"),
        "data/raw/old.csv: a link that cannot be followed (its target does not exist); point "
        "it at a file or remove it",
    ),
    "a typo in a condition": (
        lambda w: _replace(w / "data/raw/ptsd.csv", "Eta 2021,2021,PTSD,", "Eta 2021,2021,PTSd,"),
        "data/raw/ptsd.csv, line 3, column condition: condition 'PTSd' is not declared under "
        "conditions in config/config.yaml; did you mean PTSD? declared: TRD, PTSD. Correct the "
        "cell or declare the condition",
    ),
    "an extreme mean": (
        lambda w: _replace(w / "data/raw/ptsd.csv", "15,11.9,12.0,", "15,1e308,12.0,"),
        "data/raw/ptsd.csv, line 3, column mean_treat: implausibly large (got 1e308; the limit "
        "is 1e+06 in absolute value, set by limits.max_abs_value in config/config.yaml)",
    ),
    "a right-to-left override in a label": (
        lambda w: _replace(w / "data/raw/ptsd.csv", "Eta 2021,2021,", "Eta\u202e 2021,2021,"),
        "data/raw/ptsd.csv, line 3, column study: contains the invisible character U+202E "
        "(right-to-left override), which can make text display reversed or two labels look "
        "alike; delete it",
    ),
    "a key given twice": (
        lambda w: _replace(w / "config/config.yaml", "profile: cochrane\n",
                           "profile: cochrane\nprofile: metafor\n"),
        "config/config.yaml, line 4: the key 'profile' is given twice in one mapping (first on "
        "line 3); keep one",
    ),
    "a tab in the configuration": (
        lambda w: _replace(w / "config/config.yaml", "  TRD: {label", "\tTRD: {label"),
        "config/config.yaml, line 5: a tab character; indent with spaces, not tabs",
    ),
    "a python tag in the configuration": (
        lambda w: _replace(w / "config/config.yaml", "profile: cochrane",
                           "profile: !!python/object/apply:os.system [touch hacked]"),
        "config/config.yaml, line 3: the tag !!python/object/apply:os.system is not allowed; "
        "the configuration holds only text, numbers, true/false, lists and keys",
    ),
    "a list as configuration": (
        lambda w: (w / "config/config.yaml").write_text("- TRD\n- PTSD\n"),
        "config/config.yaml, line 1: the top level is a list; it must be keys such as "
        "conditions:, outcomes: and analyses:, each at the start of a line",
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


# ------------------------------------------------------------------ failures and recovery
# A run that fails at any stage leaves every file under data/processed/ and reports/
# byte-identical (jobs write to the staging tree, publication is all or none).

PTSD_EDIT = (
    "Eta 2021,2021,PTSD,ptsd_severity,end,ketamine,midazolam,CAPS-5,low,15,11.9",
    "Eta 2021,2021,PTSD,ptsd_severity,end,ketamine,midazolam,CAPS-5,low,15,12.9",
)


def published(work: Path) -> dict[str, str]:
    """SHA-256 of every file under data/processed and reports."""
    return {
        str(path.relative_to(work)): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in ("data/processed", "reports")
        for path in sorted((work / folder).rglob("*"))
        if path.is_file()
    }


def make_report(work: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """`make report` in ``work`` with the Makefile of the repository and this test's venv."""
    shutil.copy2(ROOT / "Makefile", work / "Makefile")
    shutil.copy2(ROOT / "pyproject.toml", work / "pyproject.toml")
    venv = tmp_path / "venv"
    venv.mkdir(exist_ok=True)
    if not (venv / "bin").exists():  # this test's Python, as a venv of its own
        (venv / "bin").symlink_to(Path(sys.executable).parent)
        (venv / "lib").symlink_to(Path(sys.prefix) / "lib")
        shutil.copy2(Path(sys.prefix) / "pyvenv.cfg", venv / "pyvenv.cfg")
    (venv / ".runtime").touch()  # newer than pyproject.toml: no rebuild
    return subprocess.run(
        ["make", "--no-print-directory", "report", f"VENV={venv}",
         f"SNAKEFILE={ROOT / 'Snakefile'}", "CORES=1"],
        cwd=work, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def test_a_killed_run_changes_nothing_and_make_report_recovers(run, tmp_path):
    work = copy_of(run, tmp_path)
    before = published(work)
    _replace(work / "data/raw/ptsd.csv", *PTSD_EDIT)
    process = subprocess.Popen(
        [str(SNAKEMAKE), "-s", str(ROOT / "Snakefile"), "--cores", "1"],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    incomplete = work / ".snakemake" / "incomplete"
    while time.monotonic() < deadline and process.poll() is None:
        if incomplete.is_dir() and any(incomplete.iterdir()):
            break  # a job is running
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert published(work) == before
    assert any((work / ".snakemake" / "locks").iterdir())  # the lock the killed run left

    result = make_report(work, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "make report: an earlier run was interrupted; removing the lock it left" in lines
    assert lines[-1] == f"make report: done. Open {work}/reports/index.html"
    assert "Traceback" not in result.stdout + result.stderr
    after = published(work)
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed == {
        "data/processed/ptsd_severity_end/effects.csv",
        "data/processed/ptsd_severity_end/summary.json",
        "data/processed/ptsd_response_end/summary.json",
        "data/processed/multiverse/PTSD.csv",
        "data/processed/multiverse/PTSD.json",
        "reports/PTSD.html",
        "reports/index.html",
    }
    # and a second make report has nothing to do
    again = make_report(work, tmp_path)
    assert again.returncode == 0 and "interrupted" not in again.stdout
    assert published(work) == after


@pytest.fixture
def mounted():
    """Mount helper for the tests that need a real read-only or full file system."""
    mounts: list[Path] = []

    def mount(*args: str) -> bool:
        result = subprocess.run(["mount", *args], capture_output=True, text=True)
        if result.returncode == 0:
            mounts.append(Path(args[-1]))
        return result.returncode == 0

    yield mount
    for target in reversed(mounts):
        subprocess.run(["umount", str(target)], check=False)


def test_a_read_only_reports_folder_changes_nothing(run, tmp_path, mounted):
    work = copy_of(run, tmp_path)
    _replace(work / "data/raw/ptsd.csv", *PTSD_EDIT)
    before = published(work)
    reports = work / "reports"
    if os.geteuid() != 0:
        reports.chmod(0o555)
    elif not (
        mounted("--bind", str(reports), str(reports))
        and mounted("-o", "remount,ro,bind", str(reports), str(reports))
    ):
        pytest.skip("running as root without permission to mount a read-only folder")
    try:
        result = snakemake(work)
    finally:
        reports.chmod(0o755) if os.geteuid() != 0 else None
    assert result.returncode != 0
    reason = "permission denied" if os.geteuid() != 0 else "the file system is read-only"
    assert (
        f"reports/index.html: cannot write the new version ({reason}); nothing was published "
        "and the outputs of the last good run are unchanged"
    ) in result.stderr
    assert "Traceback" not in result.stderr
    assert published(work) == before


def test_a_full_disk_changes_nothing(run, tmp_path, mounted):
    # data/processed/ on a file system just big enough for the last good outputs.
    work = copy_of(run, tmp_path)
    _replace(work / "data/raw/ptsd.csv", *PTSD_EDIT)
    before = published(work)
    processed = work / "data" / "processed"
    saved = tmp_path / "saved"
    shutil.copytree(processed, saved)
    pages = sum(-(-p.stat().st_size // 4096) for p in saved.rglob("*") if p.is_file())
    if not mounted("-t", "tmpfs", "-o", f"size={(pages + 1) * 4}k", "tmpfs", str(processed)):
        pytest.skip("no permission to mount a small file system")
    shutil.copytree(saved, processed, dirs_exist_ok=True)
    assert published(work) == before
    result = snakemake(work)
    assert result.returncode != 0
    assert "cannot write the new version (no space left on the device); nothing was " in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    assert published(work) == before
