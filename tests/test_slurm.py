"""The workflow through a real one-node SLURM, with the profile that ships in profiles/slurm.

``tests/slurm/cluster.sh up`` starts munged, slurmctld and slurmd from Debian's packages on
this machine; the shipped configuration and data are copied twice into a temporary folder,
with the workflow and the profile. One copy is run locally (``snakemake --cores 2``), the
other from its folder as a user would on a login node (``snakemake --profile
profiles/slurm``), with the values a user fills in (partition, account) passed on the
command line by tests/slurm/arguments.py. The test asserts that

* every file under ``data/processed/`` and ``reports/`` is byte-identical in both runs;
* the jobs went through the scheduler: every SLURM job id that Snakemake's log names is
  listed by ``squeue`` under the run's name, completed, in the run's folder, one job per
  fitting rule plus one for the grouped report pages (the SLURM job ids are printed).

The cluster has no accounting daemon, so ``sacct`` cannot answer: job states come from
``squeue``, which keeps finished jobs for MinJobAge (an hour), and so does the assertion.
The first status check is brought forward from the plugin's 40 s to 1 s.

The test starts daemons as root, so it runs only when selected on its own
(``pytest -m slurm``, as ``.ci/run`` does) and is skipped, with the reason, when not
selected, when the executor plugin is not installed, or when SLURM cannot run here (not
root, Debian packages missing, another SLURM configured). The cluster is torn down
afterwards; ``cluster.sh down`` fails if a daemon is left running.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "tests" / "slurm" / "cluster.sh"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
# What a user's copy of the repository needs to run the workflow (the package itself is
# installed in the virtual environment, which the jobs reach through the filesystem).
PROJECT = [
    "Snakefile",
    "workflow",
    "config",
    "data/raw",
    "profiles",
    "environment.yml",
    "environment.post-deploy.sh",
]
OUTPUTS = ("data/processed", "reports")


def _selected(config: pytest.Config) -> bool:
    expression = config.getoption("markexpr") or ""
    return "slurm" in expression and "not slurm" not in expression


@pytest.fixture(scope="module")
def cluster(request):
    """A running one-node SLURM, held for this module and torn down afterwards."""
    if not _selected(request.config):
        pytest.skip("starts SLURM daemons on this machine; run it on its own: pytest -m slurm")
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        pytest.skip("snakemake-executor-plugin-slurm is not installed: pip install -e '.[slurm]'")
    state = Path(os.environ.get("KETAMETA_SLURM_DIR", "/tmp/ketameta-slurm"))
    # One test run at a time per machine: a second one waits instead of tearing down the
    # cluster under the first.
    with open(f"{state}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        up = subprocess.run([str(CLUSTER), "up"], capture_output=True, text=True, timeout=300)
        if up.returncode == 77:
            pytest.skip(up.stderr.strip().splitlines()[-1])
        if up.returncode != 0:
            subprocess.run([str(CLUSTER), "down"], capture_output=True, timeout=120)
            pytest.fail(f"SLURM did not come up:\n{up.stderr}")
        print(up.stderr.strip())
        try:
            yield
        finally:
            down = subprocess.run(
                [str(CLUSTER), "down"], capture_output=True, text=True, timeout=120
            )
            assert down.returncode == 0, f"SLURM was not torn down:\n{down.stderr}"


def _project(folder: Path) -> Path:
    for name in PROJECT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, folder / name)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    return folder


def _snakemake(folder: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(SNAKEMAKE), *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    (folder / "snakemake.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, f"snakemake failed in {folder}:\n{result.stderr[-5000:]}"
    return result


def _cluster_arguments() -> list[str]:
    """The partition, account and status checks of the test cluster (tests/slurm/arguments.py)."""
    printed = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "slurm" / "arguments.py")],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    return printed.splitlines()


def _digests(folder: Path) -> dict[str, str]:
    files = {}
    for top in OUTPUTS:
        for path in sorted((folder / top).rglob("*")):
            if path.is_file():
                files[str(path.relative_to(folder))] = hashlib.sha256(
                    path.read_bytes()
                ).hexdigest()
    return files


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    work = tmp_path_factory.mktemp("slurm")
    local = _project(work / "local")
    slurm = _project(work / "slurm")
    _snakemake(local, "--cores", "2")
    result = _snakemake(slurm, "--profile", "profiles/slurm", *_cluster_arguments())
    log = result.stdout + result.stderr
    run_id = re.search(r"SLURM run ID: (\S+)", log)
    assert run_id, "the log names no SLURM run"
    queue = subprocess.run(
        ["squeue", "--noheader", "--states=all", f"--name={run_id.group(1)}",
         "--format=%i|%T|%Z"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    return {"local": local, "slurm": slurm, "log": log, "queue": queue}


def test_outputs_on_slurm_are_byte_identical_to_a_local_run(runs):
    local, slurm = _digests(runs["local"]), _digests(runs["slurm"])
    assert local, "the local run wrote nothing"
    assert sorted(slurm) == sorted(local)
    differ = [name for name in local if local[name] != slurm[name]]
    assert not differ, f"differ between the local and the SLURM run: {differ}"


def test_jobs_went_through_the_scheduler(runs):
    submitted = {
        slurm_id: log
        for slurm_id, log in re.findall(
            r"has been submitted with SLURM jobid (\d+) \(log: ([^)]+)\)", runs["log"]
        )
    }
    queue = {}
    for line in runs["queue"].splitlines():
        job_id, state, workdir = line.split("|")
        queue[job_id] = (state, workdir)
    print(f"\nSLURM jobs of the run ({len(submitted)}):")
    for job_id, log in submitted.items():
        print(f"  {job_id:>6}  {queue.get(job_id, ('not in squeue', ''))[0]:<10} {log}")

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    conditions = {entry["condition"] for entry in config["analyses"].values()}
    # One job per condition (its fits, multiverse and page), one for the claims page and one
    # for the overview; publish runs in the main process. The plugin names each job's log
    # folder after its rule.
    kinds = Counter(log.split("slurm_logs/")[1].split("/")[0] for log in submitted.values())
    assert kinds == Counter(
        [f"rule_analyse_{condition}" for condition in conditions]
        + ["rule_render_claims", "rule_render_index"]
    )
    assert set(queue) == set(submitted), "squeue and the log name different jobs"
    for job_id, (state, workdir) in queue.items():
        assert state == "COMPLETED", f"SLURM job {job_id}: {state}"
        assert Path(workdir).resolve() == runs["slurm"].resolve()
