# The project's front door. `make run` and `make test` set everything up themselves.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DB ?= data/demo.duckdb
DEMO_EVENTS ?= 1000000

.PHONY: help setup system-deps git-filters run test test-fast bench serve schedule lab check lint format clean

help:
	@echo "make run     build the environment, generate demo data, publish every report"
	@echo "make test    build the environment and run the whole test suite"
	@echo "make bench   run the benchmarks under bench/"
	@echo "make serve   serve the Voila dashboards on http://127.0.0.1:8866"
	@echo "make lab     JupyterLab on the report notebooks, with the demo data"
	@echo "make check   check this configuration (source, SMTP, schedules, ...), one line per check"
	@echo "make lint    ruff, import contracts (lint-imports) and types (mypy)"

$(STAMP): pyproject.toml scripts/setup-env.sh
	scripts/setup-env.sh $(VENV) dev
	touch $(STAMP)

system-deps:
	@scripts/install-system-deps.sh

setup: $(STAMP) system-deps git-filters

# Notebooks are committed without outputs or execution counts: git runs nbstripout on
# notebooks/ (see .gitattributes) when a notebook is staged. Skipped outside a git checkout.
git-filters: $(STAMP)
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
		git config filter.nbstripout.clean "'$(abspath $(BIN))/python' -m nbstripout --keep-id" && \
		git config filter.nbstripout.smudge cat && \
		git config filter.nbstripout.required true && \
		git config diff.ipynb.textconv "'$(abspath $(BIN))/python' -m nbstripout -t" && \
		echo "git: notebooks/ are stripped of outputs when staged (nbstripout)"; \
	fi

$(DEMO_DB): | $(STAMP)
	$(BIN)/fawkes-analytics demo-data --events $(DEMO_EVENTS) --output $(DEMO_DB)

# The reports (the dashboards' precomputed views are published by `make serve` and the
# 5-minute refresh schedule, where they are read).
run: setup $(DEMO_DB)
	$(BIN)/fawkes-analytics refresh --wait 600
	$(BIN)/fawkes-analytics run-all --outputs html,csv,json$$(command -v chromium >/dev/null 2>&1 && echo ,pdf)

test: setup
	$(BIN)/pytest --durations=30

test-fast: setup
	$(BIN)/pytest -m "not slow and not spark and not browser and not prometheus"

bench: setup $(DEMO_DB)
	$(BIN)/python bench/run_all.py

serve: setup $(DEMO_DB)
	$(BIN)/fawkes-analytics refresh --wait 600 --quiet --views
	$(BIN)/fawkes-analytics serve --preheat 2

# JupyterLab on the report notebooks with the fawkes-analytics kernel and the demo data (a
# relative source path means the same inside the kernels, which run in notebooks/).
lab: setup $(DEMO_DB)
	$(BIN)/fawkes-analytics refresh --wait 600 --quiet
	FAWKES_ANALYTICS_SOURCE=$${FAWKES_ANALYTICS_SOURCE:-duckdb://$(DEMO_DB)} FAWKES_ANALYTICS_WORKDIR=$(CURDIR) \
		$(BIN)/jupyter lab --notebook-dir=notebooks --MappingKernelManager.default_kernel_name=fawkes-analytics \
		$$([ "$$(id -u)" = 0 ] && echo --allow-root)

check: setup
	$(BIN)/fawkes-analytics check

schedule: setup $(DEMO_DB)
	$(BIN)/fawkes-analytics schedule

lint: setup
	$(BIN)/ruff check lib tests bench notebooks
	$(BIN)/ruff format --check lib tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix lib tests bench notebooks
	$(BIN)/ruff format lib tests bench

clean:
	rm -rf $(VENV) reports/*/ data/*.duckdb data/*.rollups
