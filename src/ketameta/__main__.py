"""``python -m ketameta [snakemake options]``: Snakemake's command line, the worker started first.

``make report`` runs the workflow this way. It is Snakemake's own command line
(``snakemake.cli.main``) with the same options, in the same process; the one difference is
when the warm worker (:mod:`ketameta.worker`) starts. Run as ``snakemake``, the worker
starts when Snakemake reads the workflow, after Snakemake has spent about half a second
importing itself, and the first jobs then wait for it to finish importing the statistics
and page stack. Here it starts before Snakemake is imported, and imports while Snakemake
does; by the time the workflow is read it has, and the plan is built in a fork of it
(:func:`ketameta.workflow.plan_builder`), so that Snakemake's process neither imports the
statistics stack nor runs the checks itself.

It starts early only for a run that is likely to have jobs to run on this machine: no
option that only reports or checks (a dry run, ``--lint``, ``--unlock``, a listing, a
graph, ``--help``), no cluster executor or profile, no other working folder, and a plan
that must be built because its cache (``.ketameta/cache/plan.json``) is missing or older
than a file in ``config/`` or ``data/``. Otherwise, or when the guess is wrong, nothing is
lost: the workflow starts the worker when it finds jobs to run (:func:`ketameta.workflow.\
warm_up`, which finds this one running), and a worker no job uses is stopped when the run
ends, as every worker is. Outputs are the same either way.
"""

from __future__ import annotations

import os
import sys

#: Options after which a run has no jobs of its own to run here (reports, checks, listings,
#: graphs, cluster executors, another working folder).
NO_EARLY_START = frozenset((
    "-n", "--dry-run", "--dryrun", "--lint", "--unlock", "--summary", "-S",
    "--detailed-summary", "-D", "--dag", "--rulegraph", "--filegraph", "--d3dag", "--list",
    "-l", "--list-rules", "--list-target-rules", "--lt", "--list-changes", "--lc",
    "--list-code-changes", "--list-input-changes", "--list-params-changes", "--lp",
    "--list-untracked", "--lu", "--report", "--touch", "-t", "--cleanup-metadata",
    "--cleanup-shadow", "--delete-all-output", "--delete-temp-output", "--help", "-h",
    "--version", "-v", "--profile", "--executor", "-e", "--directory", "-d",
    "--print-compilation", "--containerize", "--archive", "--generate-unit-tests",
))


def early_start(argv: list[str], folder: str = ".") -> bool:
    """Whether to start the worker before Snakemake (see the module's description)."""
    if any(arg.split("=", 1)[0] in NO_EARLY_START for arg in argv):
        return False
    plan = os.path.join(folder, ".ketameta", "cache", "plan.json")
    try:
        built = os.stat(plan).st_mtime_ns
    except OSError:
        return True
    for top in ("config", "data"):
        for root, dirs, files in os.walk(os.path.join(folder, top)):
            dirs[:] = [d for d in dirs if d not in ("processed", "interim")]
            for name in (*files, *dirs):
                try:
                    if os.stat(os.path.join(root, name)).st_mtime_ns > built:
                        return True
                except OSError:
                    return True
    return False


def main(argv: list[str] | None = None) -> int:
    """Run Snakemake's command line with ``argv`` (default: this process's arguments)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    from ketameta import worker

    if worker.enabled() and early_start(argv):
        worker.start(offer=False)
    sys.argv[:] = ["snakemake", *argv]
    from snakemake.cli import main as snakemake

    return snakemake()


if __name__ == "__main__":
    sys.exit(main())
