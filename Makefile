# ML pipelines on Airflow and Dagster. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
# The first of python3.11, python3.12, python3.13 on the PATH that runs; PYTHON=/path/to/python to choose.
PYTHON ?= $(shell for v in 3.11 3.12 3.13; do p=$$(command -v python$$v) && "$$p" -c '' 2>/dev/null && { echo "$$p"; break; }; done)
# One constraints file per minor version: .ci/constraints.txt (3.11), .ci/constraints-3.12.txt, ...
PYTHON_MINOR = $(if $(PYTHON),$(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null))
CONSTRAINTS ?= .ci/constraints$(if $(filter 3.12 3.13,$(PYTHON_MINOR)),-$(PYTHON_MINOR)).txt
LOCK_VERSIONS ?= 3.12 3.13
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST_ARGS ?=
# Extra pip options of make setup, e.g. PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu" for torch's CPU build.
PIP_ARGS ?=
# What the test targets run (a folder, a file or a test id); e.g. TESTS=tests/airflow/test_airflow_new_data.py
TESTS ?= tests
# CPU-burning processes beside `make test-under-load`
BURNERS ?= 3

.DEFAULT_GOAL := help

help: ## List the targets (colour only on a terminal)
	@if [ -t 1 ]; then c=$$'\033[36m' r=$$'\033[0m'; else c= r=; fi; \
	grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' -v c="$$c" -v r="$$r" '{printf "  %s%-20s%s %s\n", c, $$1, r, $$2}'

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	@case "$(PYTHON_MINOR)" in 3.11|3.12|3.13) ;; \
	  *) echo "error: need Python 3.11, 3.12 or 3.13 (PYTHON='$(PYTHON)' is '$(PYTHON_MINOR)'); install one or pass PYTHON=/path/to/python3.1x" >&2; exit 2 ;; esac
	@echo "== $(VENV): ml, Airflow, Dagster and the test tools; about 3 GB with torch's CPU build, 6.5 GB with PyPI's CUDA build (README, Embedded mode)"
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c $(CONSTRAINTS) -e '.[dev,airflow,dagster]' $(PIP_ARGS)
	touch $@
	@echo "== done; activate it to run python -m ml, mlflow, airflow and dagster directly: . $(VENV)/bin/activate"

setup: $(VENV)/.installed ## Create .venv with everything the tests need (ml, Airflow, Dagster, test servers)

test: setup ## The test suite but the tests over a minute (unit, DAG/definitions, pipelines against real S3 + MLflow)
	$(PY) -m pytest $(TESTS) -m "not slow" $(PYTEST_ARGS)

test-slow: setup ## The tests over a minute (-m slow): real-data fine-tuning, the README's blocks run as written
	$(PY) -m pytest $(TESTS) -m slow $(PYTEST_ARGS)

test-all: setup ## make test and make test-slow in one pytest session
	$(PY) -m pytest $(TESTS) $(PYTEST_ARGS)

test-under-load: setup ## make test with BURNERS=3 CPU-burning processes beside it: no test may depend on speed
	@pids=""; for _ in $$(seq $(BURNERS)); do $(PY) -c 'while True: pass' & pids="$$pids $$!"; done; \
	trap 'kill $$pids 2>/dev/null || true' EXIT; echo "$(BURNERS) CPU burners beside the tests (pids$$pids)"; \
	$(PY) -m pytest $(TESTS) -m "not slow" $(PYTEST_ARGS)

test-fast: setup ## Only the fast unit tests (no servers, no real data, no network)
	$(PY) -m pytest $(TESTS) -m "not integration and not slow and not network" $(PYTEST_ARGS)

browser-deps: setup ## The e2e browser checks' tools: Debian's chromium (apt-get) and Playwright in .venv (.ci/browser.sh)
	.ci/browser.sh $(VENV)

lint: setup ## Static checks
	$(VENV)/bin/ruff check ml ml_trigger airflow dagster tests bench

# Each run ends with its summary on stderr (the summary make train prints); its JSON line is not needed here.
demo: setup ## Embedded mode: synthetic data -> train `tiny` -> register/promote -> predict (no Docker, no servers)
	@echo "== synthetic demo data: $(ML_HOME)/demo/train.csv ($(DEMO_ROWS) rows), $(ML_HOME)/demo/inference.csv"
	@$(PY) -m ml demo-data --output-uri $(ML_HOME)/demo/train.csv --rows $(DEMO_ROWS) >/dev/null
	@$(PY) -m ml demo-data --output-uri $(ML_HOME)/demo/inference.csv --rows 500 --seed 11 --no-labelled >/dev/null
	@echo "== training (embedded: storage in $(ML_HOME)/, MLflow in $(ML_HOME)/mlflow.db)"
	@$(PY) -m ml run-training --dataset-uri $(ML_HOME)/demo/train.csv >/dev/null
	@echo "== inference"
	@$(PY) -m ml run-inference --input-uri $(ML_HOME)/demo/inference.csv >/dev/null

bench: setup ## Benchmarks: bench/results/*.json + docs/benchmarks.md (BENCH_ARGS=--quick for small sizes)
	$(PY) -m bench.run $(BENCH_ARGS)

lock: ## Re-pin the test environment: 3.11 from the current .venv, then LOCK_VERSIONS (3.12 3.13) with pip's resolver
	{ sed -n '1,2p' .ci/constraints.txt; $(PIP) freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu/torch==\1/'; } > .ci/constraints.txt.new && mv .ci/constraints.txt.new .ci/constraints.txt
	PYTHON=$(PY) .ci/lock-python.sh $(LOCK_VERSIONS)

.PHONY: help setup browser-deps test test-slow test-all test-under-load test-fast lint demo bench lock

# --- Embedded mode with an orchestrator, no Docker (README "Airflow, locally" / "Dagster, locally") ----
# Storage in $(ML_HOME) (local folders), MLflow in its SQLite file; steps run as subprocesses of this
# machine (Airflow: the `local` launcher; Dagster: the run's own processes). DATASET (training) and
# INPUT (inference) may be any local CSV/TSV/JSONL/Parquet file; by default the synthetic demo sets,
# generated once. `python -m ml_trigger local` runs the DAG (dag.test) or the job (execute_job) and
# ends with the summary make train/make infer print (ml_trigger/local.py).
ML_HOME ?= .ml
LOCAL_HOME := $(abspath $(ML_HOME))
DEMO_ROWS ?= 2000
DATASET ?= $(LOCAL_HOME)/demo/train.csv
INPUT ?= $(LOCAL_HOME)/demo/inference.csv
LOCAL_ENV = ML_HOME=$(LOCAL_HOME) PYTHONPATH=$(CURDIR):$(CURDIR)/dagster$${PYTHONPATH:+:$$PYTHONPATH}
AIRFLOW_LOCAL_HOME ?= $(CURDIR)/.airflow
DAGSTER_LOCAL_HOME ?= $(CURDIR)/.dagster
AIRFLOW_LOCAL_ENV = $(LOCAL_ENV) ML_LAUNCHER=local ML_LOCAL_PYTHON=$(abspath $(PY)) AIRFLOW_HOME=$(AIRFLOW_LOCAL_HOME) \
	AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/airflow/dags AIRFLOW__CORE__LOAD_EXAMPLES=False
DAGSTER_LOCAL_ENV = $(LOCAL_ENV) DAGSTER_HOME=$(DAGSTER_LOCAL_HOME)
LOCAL_RUN = $(PY) -m ml_trigger local
NEED_DATASET = @test -f "$(DATASET)" || { echo "error: DATASET=$(DATASET) does not exist; pass a local training file, e.g. make $@ DATASET=data/tickets.csv" >&2; exit 2; }
NEED_INPUT = @test -f "$(INPUT)" || { echo "error: INPUT=$(INPUT) does not exist; pass a local file of texts to label, e.g. make $@ INPUT=data/new.csv" >&2; exit 2; }

$(LOCAL_HOME)/demo/train.csv:
	@$(PY) -m ml demo-data --output-uri $@ --rows $(DEMO_ROWS) >/dev/null

$(LOCAL_HOME)/demo/inference.csv:
	@$(PY) -m ml demo-data --output-uri $@ --rows 500 --seed 11 --no-labelled >/dev/null

local-data: setup $(LOCAL_HOME)/demo/train.csv $(LOCAL_HOME)/demo/inference.csv ## Embedded mode: the synthetic demo sets in $(ML_HOME)/demo/ (DEMO_ROWS=2000 training rows)

airflow-local-db: setup
	@$(AIRFLOW_LOCAL_ENV) $(VENV)/bin/airflow db migrate >/dev/null

dagster-local-home:
	@mkdir -p $(DAGSTER_LOCAL_HOME) && cp dagster/local/dagster.yaml $(DAGSTER_LOCAL_HOME)/dagster.yaml

local-airflow: setup airflow-local-db $(if $(filter $(LOCAL_HOME)/demo/train.csv,$(DATASET)),$(DATASET)) ## Embedded mode: one training run through Airflow, tasks as subprocesses (DATASET=path; .airflow/ holds its SQLite DB)
	$(NEED_DATASET)
	@echo "== training through Airflow (embedded: $(ML_HOME)/, every task's log below, then the summary)"
	@$(AIRFLOW_LOCAL_ENV) $(LOCAL_RUN) train --orchestrator airflow --param dataset_uri=$(abspath $(DATASET))

local-airflow-infer: setup airflow-local-db $(if $(filter $(LOCAL_HOME)/demo/inference.csv,$(INPUT)),$(INPUT)) ## Embedded mode: label INPUT=path with the champion through Airflow
	$(NEED_INPUT)
	@echo "== inference through Airflow (embedded: $(ML_HOME)/, every task's log below, then the summary)"
	@$(AIRFLOW_LOCAL_ENV) $(LOCAL_RUN) infer --orchestrator airflow --param input_uri=$(abspath $(INPUT))

local-dagster: setup dagster-local-home $(if $(filter $(LOCAL_HOME)/demo/train.csv,$(DATASET)),$(DATASET)) ## Embedded mode: one training run through Dagster, a process per step (DATASET=path; .dagster/ is DAGSTER_HOME)
	$(NEED_DATASET)
	@echo "== training through Dagster (embedded: $(ML_HOME)/, the run's events below, then the summary)"
	@$(DAGSTER_LOCAL_ENV) $(LOCAL_RUN) train --orchestrator dagster --param dataset_uri=$(abspath $(DATASET))

local-dagster-infer: setup dagster-local-home $(if $(filter $(LOCAL_HOME)/demo/inference.csv,$(INPUT)),$(INPUT)) ## Embedded mode: label INPUT=path with the champion through Dagster
	$(NEED_INPUT)
	@echo "== inference through Dagster (embedded: $(ML_HOME)/, the run's events below, then the summary)"
	@$(DAGSTER_LOCAL_ENV) $(LOCAL_RUN) infer --orchestrator dagster --param input_uri=$(abspath $(INPUT))

.PHONY: local-data airflow-local-db dagster-local-home local-airflow local-airflow-infer local-dagster local-dagster-infer

# --- Docker Compose stack (docs/compose.md) -----------------------------------------------------
# Needs only docker (with the compose v2 plugin) and make on the host. Extra compose files (a CA
# bundle for builds behind a proxy, the CI stand-ins) come through COMPOSE_FILE, in the
# environment or in .env.
COMPOSE ?= docker compose
ORCHESTRATOR ?= airflow
PARAMS ?=
# The model of the catalog (config/models.yaml, ML_MODEL_CATALOG) a command is for; empty: the default model.
MODEL ?=
MODEL_ARG = $(if $(MODEL),--model $(MODEL))
MODEL_NAME_ARG = $(if $(MODEL),--model-name $(MODEL))
# Extra options of the trigger client, e.g. TRIGGER_ARGS=--json (the JSON result on a terminal too).
TRIGGER_ARGS ?=
UP_TIMEOUT ?= 900
E2E_ARGS ?=
export COMPOSE
# The source revision baked into the ml image and recorded with every model version (git_sha tag).
ML_GIT_SHA ?= $(shell git describe --always --dirty --abbrev=12 --exclude='*' 2>/dev/null || echo unknown)
export ML_GIT_SHA

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

# The trigger client (ml_trigger/, in the dagster image): in the compose network, or (STACK=k8s)
# against a cluster's forwarded ports.
TRIGGER = $(if $(filter k8s,$(STACK)),$(K8S_TRIGGER),$(COMPOSE) run --rm --no-deps trigger python -m ml_trigger)

train: .env ## Train MODEL=name (default: the default model) through ORCHESTRATOR=airflow|dagster (PARAMS="epochs=2 dataset_uri=s3://..."; STACK=k8s)
	$(TRIGGER) train --orchestrator $(ORCHESTRATOR) $(MODEL_ARG) $(foreach p,$(PARAMS),--param $(p)) $(TRIGGER_ARGS)

infer: .env ## Label texts with MODEL=name through ORCHESTRATOR=airflow|dagster (PARAMS="input_uri=s3://... model_version=3"; STACK=k8s)
	$(TRIGGER) infer --orchestrator $(ORCHESTRATOR) $(MODEL_ARG) $(foreach p,$(PARAMS),--param $(p)) $(TRIGGER_ARGS)

resume: .env ## Resume the failed run RUN=<run id> from its failed step through ORCHESTRATOR=airflow|dagster (finished steps are not re-run)
	@test -n "$(RUN)" || { echo "error: make resume needs RUN=<run id> (make train printed it)" >&2; exit 2; }
	$(TRIGGER) resume --run "$(RUN)" --orchestrator $(ORCHESTRATOR) $(TRIGGER_ARGS)

# Both orchestrators at once unless ORCHESTRATOR is given (on the command line or in the environment).
BACKFILL_ORCHESTRATOR = $(if $(filter command line environment environment override,$(origin ORCHESTRATOR)),$(ORCHESTRATOR),both)
backfill: .env ## Label every day FROM=YYYY-MM-DD TO=YYYY-MM-DD (both orchestrators; ORCHESTRATOR=airflow|dagster for one)
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "error: make backfill needs FROM=YYYY-MM-DD TO=YYYY-MM-DD (complete UTC days)" >&2; exit 2; }
	$(TRIGGER) backfill --from $(FROM) --to $(TO) --orchestrator $(BACKFILL_ORCHESTRATOR) $(MODEL_ARG) $(TRIGGER_ARGS)

models: .env ## Check the model catalog (config/models.yaml) and list its models; give each its MLflow rights; reload Dagster's code location with it
	@$(ML_CLI) models >/dev/null
	@$(COMPOSE) run --rm --no-deps mlflow-users  # each model's registered model, experiments and MLflow rights
	$(TRIGGER) reload

# --- Model lifecycle (docs/pipelines.md, "Model lifecycle") ---------------------------------------
# One-off `python -m ml <command>` in the ml image on the compose network (embedded mode: run
# `python -m ml <command>` directly). The champion history table goes to stderr. MODEL=name picks
# a model of the catalog (each has its own champion and history); empty: the default model.
ML_CLI = $(COMPOSE) run --rm --no-deps -T ml-cli python -m ml
ACTOR ?= cli:$(shell id -un 2>/dev/null || echo unknown)
REASON ?=
NEED_VERSION = @test -n "$(VERSION)" || { echo "error: set VERSION=<model version>, e.g. make $@ VERSION=3 (make versions lists them)" >&2; exit 2; }

history: .env ## Every move of the champion alias of MODEL=name: when, from/to, who, code and image, why
	@$(ML_CLI) history $(MODEL_NAME_ARG) >/dev/null

versions: .env ## Every version of MODEL=name (default: the default model): its score, aliases, review state and task (what rollback/approve choose from)
	@$(ML_CLI) versions $(MODEL_NAME_ARG) >/dev/null

rollback: .env ## Point champion at VERSION=N and pin it (REASON="..." required; NEW_TASK=1 for another label set); automatic promotion waits for make unpin
	$(NEED_VERSION)
	@$(ML_CLI) rollback --version "$(VERSION)" --reason "$(REASON)" --actor "$(ACTOR)" $(if $(NEW_TASK),--new-task) $(MODEL_NAME_ARG)

unpin: .env ## Let automatic promotion move a pinned champion again
	@$(ML_CLI) unpin --actor "$(ACTOR)" $(MODEL_NAME_ARG)

approve: .env ## Make VERSION=N champion by decision (approval mode; REASON optional; NEW_TASK=1 for another label set)
	$(NEED_VERSION)
	@$(ML_CLI) approve --version "$(VERSION)" --reason "$(REASON)" --actor "$(ACTOR)" $(if $(NEW_TASK),--new-task) $(MODEL_NAME_ARG)

reject: .env ## Refuse VERSION=N (approval mode): never promoted automatically; REASON optional
	$(NEED_VERSION)
	@$(ML_CLI) reject --version "$(VERSION)" --reason "$(REASON)" --actor "$(ACTOR)" $(MODEL_NAME_ARG)

seed-data: .env ## (Re)create the buckets and upload the demo datasets to the object store
	$(COMPOSE) run --rm --no-deps init-storage

e2e: .env ## Whole-stack proof, phase by phase (tests/e2e): build, up, both orchestrators, load, faults, teardown
	python3 -m tests.e2e.run $(E2E_ARGS)

chaos: .env ## Fault phase alone against the running stack (make up first): kill, restart, cancel mid-run
	python3 -m tests.e2e.chaos $(CHAOS_ARGS)

clean: ## Stop the stack and delete its volumes (databases, object store, logs) and step containers
	$(COMPOSE) down -v --remove-orphans
	@ids=$$(docker ps -aq --filter label=ml.orchestrator); if [ -n "$$ids" ]; then docker rm -f $$ids >/dev/null; fi

.PHONY: images up down logs train infer resume backfill models history versions rollback unpin approve reject seed-data e2e chaos clean

# --- Kubernetes (docs/kubernetes.md) ------------------------------------------------------------
# The same four images on a cluster: the services from the kustomize base docker/k8s, Airflow and
# Dagster from their official Helm charts. Needs kubectl and helm (and kind for a local cluster);
# the Secrets come from the same .env as compose. Images get an immutable tag (the git commit): the
# step pods use IfNotPresent, so a moving tag would leave stale copies on the nodes.
K8S_NAMESPACE := ml-pipelines
K8S_TAG ?= $(shell git rev-parse --short HEAD 2>/dev/null)
K8S_REGISTRY ?=
KIND_CLUSTER ?=
KUBECTL ?= kubectl
HELM ?= helm
AIRFLOW_CHART_VERSION ?= 1.22.0
DAGSTER_CHART_VERSION ?= 1.13.27
K8S_IMAGES = $(foreach name,ml airflow dagster mlflow,$(K8S_REGISTRY)mlpipes/$(name):$(K8S_TAG))
# The Dagster chart's web UI service (release `dagster`) and its port, for k8s-forward.
DAGSTER_WEBSERVER_SERVICE ?= dagster-dagster-webserver
DAGSTER_WEBSERVER_PORT ?= 80
# Image tags of the Dagster release: webserver and daemon (dagster image), code location (ml image;
# with -f, a --set on a list element keeps the element's other fields from the values file).
DAGSTER_HELM_SET ?= --set dagsterWebserver.image.repository=$(K8S_REGISTRY)mlpipes/dagster \
	--set-string dagsterWebserver.image.tag=$(K8S_TAG) \
	--set dagsterDaemon.image.repository=$(K8S_REGISTRY)mlpipes/dagster \
	--set-string dagsterDaemon.image.tag=$(K8S_TAG) \
	--set 'dagster-user-deployments.deployments[0].image.repository=$(K8S_REGISTRY)mlpipes/ml' \
	--set-string 'dagster-user-deployments.deployments[0].image.tag=$(K8S_TAG)'
K8S_NEED_TAG = @test -n "$(K8S_TAG)" || { echo "error: K8S_TAG is empty (not a git checkout?); set K8S_TAG=<version>" >&2; exit 1; }
# make train/infer STACK=k8s: the trigger runs in the dagster image on the host network and reaches
# the APIs that `make k8s-forward` publishes on 127.0.0.1 (compose's make train uses the compose network).
K8S_TRIGGER = set -a; . ./.env; set +a; docker run --rm --network host \
	-e AIRFLOW_URL=http://127.0.0.1:$${AIRFLOW_PORT:-8080} -e AIRFLOW_PUBLIC_URL=http://localhost:$${AIRFLOW_PORT:-8080} \
	-e AIRFLOW_ADMIN_USER -e AIRFLOW_ADMIN_PASSWORD \
	-e DAGSTER_URL=http://127.0.0.1:$${DAGSTER_PORT:-3000} -e DAGSTER_PUBLIC_URL=http://localhost:$${DAGSTER_PORT:-3000} \
	-e ML_INFERENCE_URI \
	$(K8S_REGISTRY)mlpipes/dagster:$(K8S_TAG) python -m ml_trigger

k8s-images: .env ## Build the four images tagged K8S_TAG (git commit); KIND_CLUSTER=name loads them into kind
	$(K8S_NEED_TAG)
	ML_IMAGE=$(K8S_REGISTRY)mlpipes/ml:$(K8S_TAG) AIRFLOW_IMAGE=$(K8S_REGISTRY)mlpipes/airflow:$(K8S_TAG) \
	DAGSTER_IMAGE=$(K8S_REGISTRY)mlpipes/dagster:$(K8S_TAG) MLFLOW_IMAGE=$(K8S_REGISTRY)mlpipes/mlflow:$(K8S_TAG) \
	$(COMPOSE) build
	$(if $(KIND_CLUSTER),kind load docker-image --name $(KIND_CLUSTER) $(K8S_IMAGES))

k8s-push: ## Push the four K8S_TAG images to K8S_REGISTRY (e.g. K8S_REGISTRY=registry.example.com/team/)
	$(K8S_NEED_TAG)
	@test -n "$(K8S_REGISTRY)" || { echo "error: set K8S_REGISTRY=<registry>/<path>/ (with the trailing slash)" >&2; exit 1; }
	for image in $(K8S_IMAGES); do docker push "$$image"; done

k8s-secrets: .env ## Create/update the cluster's Secrets from .env (docker/k8s/secrets.sh)
	K8S_NAMESPACE=$(K8S_NAMESPACE) sh docker/k8s/secrets.sh .env

k8s-config: ## Create/update the ConfigMaps postgres-init (docker/postgres-init/) and minio-users (docker/minio/)
	$(KUBECTL) apply -f docker/k8s/namespace.yaml
	$(KUBECTL) -n $(K8S_NAMESPACE) create configmap postgres-init --from-file=docker/postgres-init/ \
		--dry-run=client -o yaml | $(KUBECTL) apply -f -
	$(KUBECTL) -n $(K8S_NAMESPACE) create configmap minio-users --from-file=docker/minio/users.sh \
		--from-file=docker/minio/policies/ --dry-run=client -o yaml | $(KUBECTL) apply -f -

k8s-up: k8s-config ## Deploy to the current kubectl context: services (kustomize), Airflow and Dagster (Helm), images K8S_TAG
	$(K8S_NEED_TAG)
	@$(KUBECTL) -n $(K8S_NAMESPACE) get secret ml-pipeline-secrets >/dev/null || { echo "error: run make k8s-secrets first" >&2; exit 1; }
	mkdir -p build/k8s
	printf '%s\n' 'apiVersion: kustomize.config.k8s.io/v1beta1' 'kind: Kustomization' 'resources:' '  - ../../docker/k8s' \
		'images:' '  - name: mlpipes/ml' '    newName: $(K8S_REGISTRY)mlpipes/ml' '    newTag: "$(K8S_TAG)"' \
		'  - name: mlpipes/mlflow' '    newName: $(K8S_REGISTRY)mlpipes/mlflow' '    newTag: "$(K8S_TAG)"' \
		>build/k8s/kustomization.yaml
	$(KUBECTL) -n $(K8S_NAMESPACE) delete job init-storage minio-users mlflow-users --ignore-not-found
	$(KUBECTL) apply -k build/k8s
	$(KUBECTL) -n $(K8S_NAMESPACE) rollout status statefulset/postgres --timeout=10m
	$(KUBECTL) -n $(K8S_NAMESPACE) rollout status statefulset/minio --timeout=10m
	$(HELM) repo add apache-airflow https://airflow.apache.org --force-update >/dev/null
	$(HELM) repo add dagster https://dagster-io.github.io/helm --force-update >/dev/null
	$(HELM) upgrade --install airflow apache-airflow/airflow --version $(AIRFLOW_CHART_VERSION) --namespace $(K8S_NAMESPACE) \
		-f docker/k8s/airflow/values.yaml --set images.airflow.repository=$(K8S_REGISTRY)mlpipes/airflow \
		--set-string images.airflow.tag=$(K8S_TAG) --timeout 20m
	$(HELM) upgrade --install dagster dagster/dagster --version $(DAGSTER_CHART_VERSION) --namespace $(K8S_NAMESPACE) \
		-f docker/k8s/dagster/values.yaml $(DAGSTER_HELM_SET) --timeout 20m
	$(KUBECTL) -n $(K8S_NAMESPACE) get pods

k8s-forward: ## Forward Airflow, Dagster, MLflow and MinIO to 127.0.0.1 on compose's ports (Ctrl-C stops)
	@set -a; [ ! -r .env ] || . ./.env; set +a; \
	$(KUBECTL) -n $(K8S_NAMESPACE) port-forward --address 127.0.0.1 svc/airflow-api-server $${AIRFLOW_PORT:-8080}:8080 & \
	$(KUBECTL) -n $(K8S_NAMESPACE) port-forward --address 127.0.0.1 svc/$(DAGSTER_WEBSERVER_SERVICE) $${DAGSTER_PORT:-3000}:$(DAGSTER_WEBSERVER_PORT) & \
	$(KUBECTL) -n $(K8S_NAMESPACE) port-forward --address 127.0.0.1 svc/mlflow $${MLFLOW_PORT:-5000}:5000 & \
	$(KUBECTL) -n $(K8S_NAMESPACE) port-forward --address 127.0.0.1 svc/minio $${MINIO_PORT:-9000}:9000 $${MINIO_CONSOLE_PORT:-9001}:9001 & \
	wait

k8s-down: ## Uninstall Airflow and Dagster, remove the services; volumes, Secrets and namespace stay
	-$(HELM) uninstall airflow --namespace $(K8S_NAMESPACE)
	-$(HELM) uninstall dagster --namespace $(K8S_NAMESPACE)
	$(KUBECTL) -n $(K8S_NAMESPACE) delete statefulset,deployment,job,service -l app.kubernetes.io/part-of=ml-pipelines --ignore-not-found

k8s-clean: k8s-down ## k8s-down, then delete the namespace with its volumes (databases, object store) and Secrets
	$(KUBECTL) delete namespace $(K8S_NAMESPACE) --ignore-not-found

.PHONY: k8s-images k8s-push k8s-secrets k8s-config k8s-up k8s-forward k8s-down k8s-clean
