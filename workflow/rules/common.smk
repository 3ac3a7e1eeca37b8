# Configuration and data checks, and the helpers the rules use. Everything here runs when
# Snakemake reads the workflow, so a bad configuration or input file stops the run with one
# message before any job starts (docs/contract.md, sections 1 and 2).
#
# The checks and everything the rules derive from them (which files hold a condition's
# rows, each analysis's effective configuration, the page, claims and multiverse settings)
# form one plain "plan" (ketameta.workflow.build). It is cached in .ketameta/cache/ under
# a fingerprint of every input it depends on, so a rerun that changes nothing skips the
# checks and imports nothing heavy; any changed byte of an input redoes them.
#
# Outputs are built in a staging tree (STAGE) and published to data/processed/ and reports/
# by the last rule (publish.smk) only when every job succeeded, so a failed run never
# touches the outputs of the last good run.
import sys
from pathlib import Path

import ketameta
from ketameta.workflow import load as load_plan
from ketameta.workflow import (
    Settings,
    begin,
    end,
    likely_jobs,
    on_start,
    plan_builder,
    warm_up,
)

begin(workflow)

# How messages name the configuration: the --configfile given, else config/config.yaml.
CONFIG_PATH = (
    str(workflow.configfiles[0]) if workflow.configfiles else "config/config.yaml"
)
if Path(CONFIG_PATH).is_absolute() and Path(CONFIG_PATH).is_relative_to(Path.cwd()):
    CONFIG_PATH = str(Path(CONFIG_PATH).relative_to(Path.cwd()))
SCHEMAS = Path(workflow.basedir) / "workflow" / "schemas"
CLAIMS_FILE = "config/claims.yaml"

# The configuration is read by ketameta.io.load_config rather than a configfile: directive,
# with a safe loader that knows the line of every key and refuses duplicate keys; values
# given with --config still override it.
# When the plan has to be built (an input changed), the run has jobs to run: the warm
# worker starts importing the statistics now, while the inputs are checked
# (ketameta.workflow.warm_up, ketameta.worker). A worker started before Snakemake
# (`python -m ketameta`, as make report runs it) has imported them already and builds the
# plan in a fork of itself (ketameta.workflow.plan_builder).
try:
    PLAN = load_plan(
        CONFIG_PATH,
        workflow.config_settings.overwrite_config,
        SCHEMAS,
        CLAIMS_FILE,
        on_build=lambda: warm_up(workflow),
        builder=plan_builder(),
    )
except Exception as error:
    from ketameta.errors import DataError

    if not isinstance(error, DataError):
        raise
    sys.exit(str(error))
config.clear()
config.update(PLAN["config"])

# The package version is a parameter of every rule, so that a new release reruns them.
VERSION = ketameta.__version__

# Where the jobs write; publish.smk copies what changed to the project folders.
STAGE = ".ketameta/stage"

# Conditions that have analyses, in config order.
CONDITIONS = PLAN["conditions"]
# condition -> effective configuration of its multiverse's primary analysis
MULTIVERSE_PRIMARY = PLAN["multiverse"]["primary"]


# The order jobs start in (priority, with Snakemake's greedy scheduler): the conditions with
# the most work (trial rows plus analyses) first, so that the small ones fill the cores
# while the largest finishes; among conditions of equal work, those the claims page reads,
# and the claims page as soon as its conditions are done, so that it runs beside the last
# condition jobs rather than after them.
CLAIM_CONDITIONS = {
    config["analyses"][analysis]["condition"] for analysis in PLAN["claims"]["analyses"]
}
CLAIMS_PRIORITY = 2 * max(PLAN["work"].values(), default=0) + 2


def priority_of(condition):
    """Priority of a condition's job (see the comment above)."""
    return 2 * PLAN["work"][condition] + (condition in CLAIM_CONDITIONS)


def staged(path):
    """Where a job writes ``path`` (a project path such as reports/TRD.html)."""
    return f"{STAGE}/{path}"


def analyses_of(condition):
    """Analysis ids of one condition, in config order."""
    return PLAN["analyses_of"][condition]


def final_outputs():
    """Every file the workflow publishes, as project paths."""
    analyses = [a for c in CONDITIONS for a in analyses_of(c)]
    return [
        "reports/index.html",
        *expand("reports/{condition}.html", condition=CONDITIONS),
        *expand(
            "data/processed/{analysis}/{output}",
            analysis=analyses,
            output=["effects.csv", "summary.json"],
        ),
        *expand(
            "data/processed/multiverse/{condition}.{ext}",
            condition=MULTIVERSE_PRIMARY,
            ext=["csv", "json"],
        ),
        *PLAN["claims"]["targets"],
    ]


# With the plan unchanged, the worker starts only if the jobs are still likely to run (an
# output missing, a forced rerun, an interrupted run): a no-op rerun starts none.
if likely_jobs(
    workflow,
    [staged(path) for path in final_outputs()]
    + [staged(f"data/interim/{condition}.csv") for condition in CONDITIONS],
):
    warm_up(workflow)
