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

bench: setup ## Benchmarks: bench/results/*.json + docs/benchmarks.md (BENCH_ARGS=--quick for small sizes)
	$(PY) -m bench.run $(BENCH_ARGS)

lock: ## Re-pin the test environment from the current .venv
	$(PIP) freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu/torch==\1/' > .ci/constraints.txt.new && mv .ci/constraints.txt.new .ci/constraints.txt

.PHONY: help setup test test-fast lint demo bench lock

# --- Docker Compose stack (docs/compose.md) -----------------------------------------------------
# Needs only docker (with the compose v2 plugin) and make on the host. Extra compose files (a CA
# bundle for builds behind a proxy, the CI stand-ins) come through COMPOSE_FILE, in the
# environment or in .env.
COMPOSE ?= docker compose
ORCHESTRATOR ?= airflow
PARAMS ?=
UP_TIMEOUT ?= 900
E2E_ARGS ?=
export COMPOSE

.env:
	@sh docker/make-env.sh .env.example .env

images: .env ## Build the four images (ml, airflow, dagster, mlflow)
	$(COMPOSE) build

up: .env ## Build, start the whole stack, wait until every service is healthy, print the URLs
	$(COMPOSE) up -d --build --remove-orphans
	@sh docker/wait-healthy.sh $(UP_TIMEOUT)
	@sh docker/urls.sh

down: ## Stop the stack (data volumes are kept; `make clean` removes them)
	$(COMPOSE) down --remove-orphans

logs: ## Follow the logs of every service (SERVICE=name for one)
	$(COMPOSE) logs -f --tail 100 $(SERVICE)

train: .env ## Train through ORCHESTRATOR=airflow|dagster (PARAMS="epochs=2 dataset_uri=s3://...")
	$(COMPOSE) run --rm --no-deps ml-cli python -m ml.trigger train --orchestrator $(ORCHESTRATOR) $(foreach p,$(PARAMS),--param $(p))

infer: .env ## Label texts through ORCHESTRATOR=airflow|dagster (PARAMS="input_uri=s3://... model_version=3")
	$(COMPOSE) run --rm --no-deps ml-cli python -m ml.trigger infer --orchestrator $(ORCHESTRATOR) $(foreach p,$(PARAMS),--param $(p))

seed-data: .env ## (Re)create the buckets and upload the demo datasets to the object store
	$(COMPOSE) run --rm --no-deps init-storage

e2e: .env ## Whole-stack proof: build, up, train/infer via both orchestrators, load test, teardown
	python3 tests/e2e/run_e2e.py $(E2E_ARGS)

clean: ## Stop the stack and delete its volumes (databases, object store, logs) and step containers
	$(COMPOSE) down -v --remove-orphans
	@ids=$$(docker ps -aq --filter label=ml.orchestrator); if [ -n "$$ids" ]; then docker rm -f $$ids >/dev/null; fi

.PHONY: images up down logs train infer seed-data e2e clean
