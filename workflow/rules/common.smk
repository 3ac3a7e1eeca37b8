# Configuration and data checks, and the helpers the rules use. Everything here runs when
# Snakemake reads the workflow, so a bad configuration or input file stops the run with one
# message before any job starts (CONTRACT.md sections 1 and 2).
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

import ketameta
from ketameta.analysis import check_inputs
from ketameta.io import DataError, schema_error
from ketameta.plan import plan_analyses
from ketameta.profiles import effective_configs

# How messages name the configuration: the --configfile given, else config/config.yaml.
CONFIG_PATH = (
    str(workflow.configfiles[0]) if workflow.configfiles else "config/config.yaml"
)
if Path(CONFIG_PATH).is_absolute() and Path(CONFIG_PATH).is_relative_to(Path.cwd()):
    CONFIG_PATH = str(Path(CONFIG_PATH).relative_to(Path.cwd()))

try:
    validate(config, "../schemas/config.schema.yaml")
except WorkflowError as error:
    cause = error.__context__  # the jsonschema.ValidationError that validate() wraps
    sys.exit(str(schema_error(cause, CONFIG_PATH)) if cause else str(error))

try:
    TRIALS = check_inputs(config, CONFIG_PATH)
    # Every condition x outcome x time point in the data gets an analysis (ketameta.plan).
    config["analyses"] = plan_analyses(config, TRIALS, CONFIG_PATH)
except DataError as error:
    sys.exit(str(error))

# The package version is a parameter of every rule, so that a new release reruns them.
VERSION = ketameta.__version__

# Conditions that have analyses, in config order.
CONDITIONS = list(
    dict.fromkeys(
        c
        for c in config["conditions"]
        for a in config["analyses"].values()
        if a["condition"] == c
    )
)


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
