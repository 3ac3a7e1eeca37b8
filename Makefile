# Two commands do all set-up: `make report` and `make test` (see README).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
SNAKEFILE ?= Snakefile
# Snakemake's output kept short: progress and errors, not every rule and reason.
SNAKEMAKE_FLAGS ?= --quiet rules host reason --show-failed-logs
# How the ready jobs are chosen when they outnumber the free cores: by the rules' priorities
# (condition.smk: the conditions with the most work first), greedily. Snakemake's default
# solves an integer program in a separate solver process each time a job ends, which picks
# the same jobs here but adds about 10 ms between one job's end and the next one's start,
# and a tenth of a second before the first. benchmarks/pipeline.sh runs with the same flag.
SCHEDULER := --scheduler greedy

.PHONY: report test lint benchmark clean-reports

# The runtime environment, (re)built when pyproject.toml changes: only what the pipeline
# needs. The development tools (pytest, ruff, snakefmt, the cross-check packages) are
# added by `make test`.
# pip byte-compiles the packages it copies into the environment but not an editable one,
# and where Python does not write bytecode itself (PYTHONDONTWRITEBYTECODE, set in many
# container images) every job of the workflow would compile ketameta's source again, about
# a fifth of a second each. compileall writes only what is missing or older than its source.
COMPILE := $(BIN)/python -m compileall -q src/ketameta
# The page templates compiled ahead of any run, beside the package's code, as compileall
# does for its Python (ketameta.report.render.precompile_templates): a project's first run
# then copies them rather than spending a tenth of a second compiling them before its first
# job can start. Redone when a template or the environment changes.
# (Only where the package's source is: a project folder elsewhere has nothing to compile.)
TEMPLATES := $(wildcard src/ketameta/templates/*)
PRECOMPILED := $(if $(TEMPLATES),src/ketameta/report/_precompiled/.done)

$(VENV)/.runtime: pyproject.toml
	@echo "make: building the Python environment in $(VENV) (first run, or pyproject.toml changed): about 2 to 5 minutes"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@$(COMPILE)
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime
	@echo "make: adding the development tools to $(VENV) (pytest, ruff, snakefmt, PyMARE, statsmodels): about a minute"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@

# A template that cannot be compiled stops nothing here: the run compiles it and says why.
$(PRECOMPILED): $(TEMPLATES) $(VENV)/.runtime
	@$(BIN)/python -c "from ketameta.report.render import precompile_templates as p; p()" \
	  && touch $@ \
	  || echo "make: the page templates were not compiled ahead; the run compiles them" >&2

# The run is Snakemake's command line started as `python -m ketameta` (ketameta/__main__.py):
# the same options and workflow, with the warm worker that runs the jobs started before
# Snakemake imports itself rather than when it reads the workflow, and building the plan
# in a fork of itself (about 0.2 s sooner to the first job on a clean run); `snakemake`
# itself runs the same workflow to the same outputs.
# One run at a time per folder (.ketameta/run.lock). Holding that lock, any Snakemake lock
# left in .snakemake/ is stale (a run killed before it could remove it), so it is removed,
# and outputs a killed job left half-written are redone (--rerun-incomplete); both are
# announced. Jobs write to .ketameta/stage/ and data/processed/ and reports/ change only
# when the whole run succeeded.
report: $(VENV)/.runtime $(PRECOMPILED)
	@mkdir -p .ketameta
	@flock -n -E 75 .ketameta/run.lock $(MAKE) --no-print-directory _report; status=$$?; \
	if [ $$status -eq 75 ]; then \
	  echo "make report: another run is in progress in this folder; wait for it to finish" >&2; \
	fi; exit $$status

.PHONY: _report
_report:
	@if [ -n "$$(ls -A .snakemake/locks 2>/dev/null)" ]; then \
	  echo "make report: an earlier run was interrupted; removing the lock it left"; \
	  $(BIN)/snakemake -s $(SNAKEFILE) --unlock --quiet all >/dev/null 2>&1 || rm -f .snakemake/locks/*; \
	fi
	@if [ -n "$$(ls -A .snakemake/incomplete 2>/dev/null)" ]; then \
	  echo "make report: an earlier run was interrupted; redoing the outputs it left unfinished"; \
	fi
	@$(COMPILE)
	@$(BIN)/python -m ketameta -s $(SNAKEFILE) --cores $(CORES) --rerun-incomplete $(SCHEDULER) $(SNAKEMAKE_FLAGS)
	@echo "make report: done. Open $(CURDIR)/reports/index.html"

test: $(VENV)/.dev
	@$(COMPILE)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check Snakefile workflow/ benchmarks/floor.smk
	$(BIN)/snakemake --lint

# The pipeline beside the hand-written R script (benchmarks/pipeline.sh --help: what is
# timed, and the BENCH_* settings, e.g. BENCH_PAIRS=1 BENCH_SCALE="20 40" for a smoke run).
benchmark: $(VENV)/.dev
	PATH="$(CURDIR)/$(BIN):$$PATH" benchmarks/pipeline.sh $(CORES)

# Everything the pipeline writes (the next `make report` recomputes it).
clean-reports:
	rm -rf reports data/interim data/processed logs benchmarks/results .ketameta
