# ML pipelines on Airflow and Dagster. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml .ci/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c .ci/constraints.txt -e '.[dev,airflow,dagster]'
	touch $@

setup: $(VENV)/.installed ## Create .venv with everything the tests need (ml, Airflow, Dagster, test servers)

test: setup ## Run the whole test suite (unit, DAG/definitions, in-process pipelines against real S3 + MLflow)
	$(PY) -m pytest tests $(PYTEST_ARGS)

test-fast: setup ## Only the fast unit tests (no servers, no real data)
	$(PY) -m pytest tests -m "not integration and not slow" $(PYTEST_ARGS)

lint: setup ## Static checks
	$(VENV)/bin/ruff check ml airflow dagster tests bench

demo: setup ## Embedded mode: synthetic data -> train `tiny` -> register/promote -> predict (no Docker, no servers)
	$(PY) -m ml demo-data --output-uri .ml/demo/train.csv >/dev/null
	$(PY) -m ml demo-data --output-uri .ml/demo/inference.csv --rows 500 --seed 11 --no-labelled >/dev/null
	@echo "== training (embedded: storage in .ml/, MLflow in .ml/mlflow.db)"
	$(PY) -m ml run-training --dataset-uri .ml/demo/train.csv | tail -1 | $(PY) -c 'import json,sys; print("registered {model_name} version {version}; alias champion -> version {champion_version} ({decision})".format(**json.load(sys.stdin)))'
	@echo "== inference"
	$(PY) -m ml run-inference --input-uri .ml/demo/inference.csv | tail -1 | $(PY) -c 'import json,sys; print("{rows} predictions by {model_name} version {model_version}: {output_uri}".format(**json.load(sys.stdin)))'
	@echo "Browse the runs: $(VENV)/bin/mlflow ui --backend-store-uri sqlite:///.ml/mlflow.db"

lock: ## Re-pin the test environment from the current .venv
	$(PIP) freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu/torch==\1/' > .ci/constraints.txt.new && mv .ci/constraints.txt.new .ci/constraints.txt

.PHONY: help setup test test-fast lint demo lock
