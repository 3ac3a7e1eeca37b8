# ketameta: meta-analyses of ketamine and esketamine trials, from data/raw/*.csv to reports/.
# Rules live in workflow/rules/ by stage (condition, multiverse, report, claims, publish);
# all statistics in the ketameta package (src/ketameta). What is analysed is set in
# config/config.yaml only; workflow/rules/common.smk reads it (with line numbers for every
# message).
from snakemake.utils import min_version

min_version("9.0")


include: "workflow/rules/common.smk"
include: "workflow/rules/condition.smk"
include: "workflow/rules/multiverse.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/publish.smk"


wildcard_constraints:
    condition="|".join(CONDITIONS),


# On a cluster these run in the main Snakemake process, not as jobs: `all` does nothing,
# and publish only copies the staged outputs that changed.


localrules:
    all,
    publish,


rule all:
    default_target: True
    input:
        staged("published"),


# The jobs of a run on this machine are run by a warm worker process that imported the
# statistics and page stack once, rather than once a job (ketameta.worker); each job is
# still its own Snakemake job, with its own files, log, benchmark and exit status. Jobs
# that a cluster executor runs elsewhere start their own Python.
onstart:
    on_start(workflow)


# When the run is over, the worker stops, and the scheduler's pending one-second timers,
# which would keep Snakemake waiting with nothing left to do, are cancelled
# (ketameta.workflow.end).
onsuccess:
    end(success=True)


onerror:
    end()
