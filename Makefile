# Two commands for a fresh machine:  `make run`  (the default study)  and  `make test`.
# The venv is created from the pinned requirements the first time either is used; `make test`
# adds the test-only packages of requirements-test.txt (the JAX and PyTorch backends).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= config/config.yaml
CORES  ?= all
TESTENV := $(VENV)/.requirements-test
# packages of requirements-test.txt that `make lock` keeps out of requirements.txt
TEST_ONLY = $(shell sed -n 's/^\([A-Za-z0-9_.-]*\)==.*/\1/p' requirements-test.txt | paste -sd'|')
SMK    := $(BIN)/snakemake --snakefile workflow/Snakefile --profile profiles/local --configfile $(CONFIG) --cores $(CORES)

.PHONY: run report test test-fast lint format bench bench-scale dag clean lock help

help:
	@echo "make run      set up the venv if needed, run the study ($(CONFIG)) and build report.html"
	@echo "make test     set up the venv (with requirements-test.txt) if needed and run the full test suite (two workers)"
	@echo "make test-fast  the unit tests only (no study, no Slurm, no browser): the day-to-day check"
	@echo "make report   rebuild report.html from existing results"
	@echo "make bench    simulation, baseline and training throughput benchmarks -> results/benchmarks/"
	@echo "make bench-scale  peak memory and time of every stage at 50k, 400k and 2M showers (35 min)"
	@echo "make lint     ruff, the import layers (lint-imports), snakefmt --check, snakemake --lint"
	@echo "variables: CONFIG=config/other.yaml CORES=4"

$(BIN)/snakemake: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	touch $@

$(TESTENV): $(BIN)/snakemake requirements-test.txt
	$(BIN)/python -m pip install --quiet -r requirements-test.txt
	touch $@

venv: $(BIN)/snakemake

run: $(BIN)/snakemake
	$(SMK)
	$(MAKE) report

report: $(BIN)/snakemake
	$(SMK) --report report.html
	@echo "report: $(CURDIR)/report.html"

# two pytest-xdist workers, one test file per worker at a time (a module's fixtures run once);
# the workers share the one test study of tests/conftest.py
PYTEST := $(BIN)/python -m pytest -n 2 --dist loadfile

test: $(TESTENV)
	$(PYTEST)

test-fast: $(TESTENV)
	$(PYTEST) -m "not slow and not workflow and not slurm and not browser"

lint: $(BIN)/snakemake
	$(BIN)/ruff check src workflow/scripts scripts tests
	$(BIN)/ruff format --check src workflow/scripts scripts tests
	$(BIN)/lint-imports
	$(BIN)/snakefmt --check workflow
	$(BIN)/snakemake --snakefile workflow/Snakefile --configfile $(CONFIG) --lint

format: $(BIN)/snakemake
	$(BIN)/ruff format src workflow/scripts scripts tests
	$(BIN)/ruff check --fix src workflow/scripts scripts tests
	$(BIN)/snakefmt workflow

bench: $(BIN)/snakemake
	OMP_NUM_THREADS=1 $(BIN)/python scripts/bench/simulation.py --output results/benchmarks/simulation.json
	OMP_NUM_THREADS=1 $(BIN)/python scripts/bench/baseline.py --output results/benchmarks/baseline.json
	$(BIN)/python scripts/bench/training.py --output results/benchmarks/training.json

# the data path and one training at 50,000, 400,000 and 2 million showers (docs/performance.md):
# about 35 minutes and 6 GB of disk on 2 cores
bench-scale: $(BIN)/snakemake
	$(BIN)/python scripts/bench/scale.py --output results/benchmarks/scale.json

dag: $(BIN)/snakemake
	$(SMK) --rulegraph | dot -Tpng > rulegraph.png

lock: $(BIN)/snakemake
	{ head -n 2 requirements.txt; $(BIN)/python -m pip freeze | grep -v -i -E '^($(TEST_ONLY))=='; } > requirements.txt.new
	mv requirements.txt.new requirements.txt

clean:
	rm -rf results logs benchmarks .snakemake report.html
