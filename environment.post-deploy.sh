#!/usr/bin/env bash
# Snakemake runs this inside the rules' conda environment right after creating it from
# environment.yml (`snakemake --sdm conda`): install the ketameta package itself from the
# working directory, which is the repository when the workflow is run as the README says.
set -euo pipefail
python -m pip install --no-deps --editable .
