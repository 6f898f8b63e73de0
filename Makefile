# The project's front door. `make run` and `make test` set everything up themselves.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DB ?= data/demo.duckdb
DEMO_EVENTS ?= 1000000

.PHONY: help setup system-deps run test test-fast bench serve schedule lint format clean

help:
	@echo "make run     build the environment, generate demo data, publish every report"
	@echo "make test    build the environment and run the whole test suite"
	@echo "make bench   run the benchmarks under bench/"
	@echo "make serve   serve the Voila dashboards on http://127.0.0.1:8866"
	@echo "make lint    ruff check and format check"

$(STAMP): pyproject.toml scripts/setup-env.sh
	scripts/setup-env.sh $(VENV) dev
	touch $(STAMP)

system-deps:
	@scripts/install-system-deps.sh

setup: $(STAMP) system-deps

$(DEMO_DB): | $(STAMP)
	$(BIN)/fawkes-analytics demo-data --events $(DEMO_EVENTS) --output $(DEMO_DB)

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
	$(BIN)/fawkes-analytics refresh --wait 600 --quiet
	$(BIN)/fawkes-analytics serve --preheat 2

schedule: setup $(DEMO_DB)
	$(BIN)/fawkes-analytics schedule

lint: setup
	$(BIN)/ruff check lib tests bench notebooks
	$(BIN)/ruff format --check lib tests bench

format: setup
	$(BIN)/ruff check --fix lib tests bench notebooks
	$(BIN)/ruff format lib tests bench

clean:
	rm -rf $(VENV) reports/*/ data/*.duckdb data/*.rollups
