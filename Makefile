# Two commands do all set-up: `make report` and `make test` (see README).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: report test lint benchmark clean-reports

# The virtual environment, (re)built when pyproject.toml changes.
$(BIN)/snakemake: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

report: $(BIN)/snakemake
	$(BIN)/snakemake --cores $(CORES)

test: $(BIN)/snakemake
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

lint: $(BIN)/snakemake
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check Snakefile workflow/
	$(BIN)/snakemake --lint

benchmark: $(BIN)/snakemake
	PATH="$(CURDIR)/$(BIN):$$PATH" benchmarks/pipeline.sh

# Everything the pipeline writes (the next `make report` recomputes it).
clean-reports:
	rm -rf reports data/interim data/processed logs benchmarks/results
