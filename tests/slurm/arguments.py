"""Print, one a line, the arguments that point the profiles/slurm profile at the test cluster.

A user fills the partition and account into the profile; for the one-node cluster of
tests/slurm/cluster.sh they are given on the command line instead, together with what a
cluster without accounting needs:

* ``--default-resources``: the profile's list (the command line replaces it as a whole)
  with the cluster's partition and without an account, plus ``--slurm-no-account``;
* ``--slurm-status-command squeue``: without slurmdbd, ``sacct`` cannot answer, while
  ``squeue`` lists finished jobs for MinJobAge seconds;
* ``--slurm-init-seconds-before-status-checks 1``: the jobs take seconds, not the
  plugin's default 40 s;
* ``--slurm-keep-successful-logs``: the SLURM log of every job stays for inspection.

Used by tests/test_slurm.py and benchmarks/pipeline.sh:
``python tests/slurm/arguments.py [profile folder]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

PROFILE = Path(__file__).resolve().parents[2] / "profiles" / "slurm"
# The partition tests/slurm/cluster.sh defines.
PARTITION = "debug"


def cluster_arguments(profile: Path = PROFILE) -> list[str]:
    """Snakemake arguments for the test cluster, on top of ``--profile profile``."""
    settings = yaml.safe_load((profile / "config.yaml").read_text())
    resources = dict(settings["default-resources"], slurm_partition=PARTITION)
    resources.pop("slurm_account", None)
    return [
        "--default-resources",
        *(f"{name}={value}" for name, value in resources.items()),
        "--slurm-no-account",
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--slurm-keep-successful-logs",
    ]


if __name__ == "__main__":
    print("\n".join(cluster_arguments(Path(sys.argv[1]) if len(sys.argv) > 1 else PROFILE)))
