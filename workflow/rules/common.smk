# Configuration and data checks, and the helpers the rules use. Everything here runs when
# Snakemake reads the workflow, so a bad configuration or input file stops the run with one
# message before any job starts (docs/contract.md, sections 1 and 2).
#
# Outputs are built in a staging tree (STAGE) and published to data/processed/ and reports/
# by the last rule (publish.smk) only when every job succeeded, so a failed run never
# touches the outputs of the last good run.
import sys
from pathlib import Path

from snakemake.utils import update_config

import ketameta
from ketameta.analysis import check_inputs
from ketameta.io import DataError, config_line, load_config, validate_config
from ketameta.plan import plan_analyses
from ketameta.profiles import effective_configs

# How messages name the configuration: the --configfile given, else config/config.yaml.
CONFIG_PATH = (
    str(workflow.configfiles[0]) if workflow.configfiles else "config/config.yaml"
)
if Path(CONFIG_PATH).is_absolute() and Path(CONFIG_PATH).is_relative_to(Path.cwd()):
    CONFIG_PATH = str(Path(CONFIG_PATH).relative_to(Path.cwd()))
SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"

# The configuration is read here rather than by a configfile: directive, with a safe loader
# that knows the line of every key and refuses duplicate keys (ketameta.io.load_config);
# values given with --config still override it.
CONFIG_LINES = {}
try:
    loaded, CONFIG_LINES = load_config(CONFIG_PATH)
    update_config(loaded, workflow.config_settings.overwrite_config)
    config.clear()
    config.update(loaded)
    validate_config(config, SCHEMA, CONFIG_PATH, CONFIG_LINES)
    TRIALS = check_inputs(config, CONFIG_PATH)
    # Every condition x outcome x time point in the data gets an analysis (ketameta.plan).
    config["analyses"] = plan_analyses(config, TRIALS, CONFIG_PATH)
except DataError as error:
    if error.path == CONFIG_PATH and error.line is None:
        error.line = config_line(CONFIG_LINES, error.key)
    sys.exit(str(error))

# The package version is a parameter of every rule, so that a new release reruns them.
VERSION = ketameta.__version__

# Where the jobs write; publish.smk copies what changed to the project folders.
STAGE = ".ketameta/stage"
PUBLISHED = ("data/processed", "reports")

# Conditions that have analyses, in config order.
CONDITIONS = list(
    dict.fromkeys(
        c
        for c in config["conditions"]
        for a in config["analyses"].values()
        if a["condition"] == c
    )
)


def staged(path):
    """Where a job writes ``path`` (a project path such as reports/TRD.html)."""
    return f"{STAGE}/{path}"


def analyses_of(condition):
    """Analysis ids of one condition, in config order."""
    return [
        a for a, entry in config["analyses"].items() if entry["condition"] == condition
    ]


def raw_files_of(condition):
    """The input files holding rows of one condition (its only data dependencies)."""
    rows = TRIALS[TRIALS["condition"] == condition]
    return sorted(set(rows["source_file"]))


def get_raw_files(wildcards):
    return raw_files_of(wildcards.condition)


def get_condition_outputs(wildcards):
    """Staged summary.json and effects.csv files of one condition's analyses."""
    return {
        "summaries": expand(
            staged("data/processed/{analysis}/summary.json"),
            analysis=analyses_of(wildcards.condition),
        ),
        "effects": expand(
            staged("data/processed/{analysis}/effects.csv"),
            analysis=analyses_of(wildcards.condition),
        ),
    }


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
        # The multiverse of each condition's primary analysis (workflow/rules/multiverse.smk,
        # included before the publication rule reads this list).
        *expand(
            "data/processed/multiverse/{condition}.{ext}",
            condition=globals().get("MULTIVERSE_PRIMARY", {}),
            ext=["csv", "json"],
        ),
        # The claims page (workflow/rules/claims.smk), when config/claims.yaml exists.
        *globals().get("CLAIMS_TARGETS", []),
    ]
