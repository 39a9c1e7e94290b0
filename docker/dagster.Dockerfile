# Dagster webserver and daemon, and the trigger client of `make train` / `make infer` (ml_trigger,
# `docker compose run trigger`). The pipelines' code location runs from the ml image (gRPC), and
# each run starts in its own ml container (DockerRunLauncher): this image has no torch. It has the
# ml package WITHOUT its dependencies (plus pydantic-settings), because the daemon's run launcher
# imports `ml.launch` and the trigger builds Dagster run configs with `ml_dagster.config`, which
# reads the run parameters of `ml.pipelines.params`.
# Build context: the repository root. BASE_IMAGE lets a locally built base stand in (see .ci/).
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    DAGSTER_HOME=/opt/dagster/dagster_home

RUN python3 -m venv /opt/venv

# dagster/requirements.txt (what the code location's launcher module needs) is optional.
COPY docker/dagster.requirements.txt docker/dagster.constraints.txt dagster/requirements.tx[t] /tmp/req/
# The optional CA bundle (secret id "ca") is used for this step only and never lands in a layer.
RUN --mount=type=secret,id=ca --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    extra=""; if [ -f /tmp/req/requirements.txt ]; then extra="-r /tmp/req/requirements.txt"; fi; \
    pip install -r /tmp/req/dagster.requirements.txt $extra -c /tmp/req/dagster.constraints.txt \
    && pip check

# The ml package itself, without its dependencies (no torch here): only its settings, run
# parameters and launch helpers are imported in this image.
COPY pyproject.toml README.md /tmp/ml-src/
COPY ml/ /tmp/ml-src/ml/
RUN --mount=type=secret,id=ca --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    pip install --no-deps /tmp/ml-src && rm -rf /tmp/ml-src \
    && python -c "import ml.core.config; ml.core.config.Settings()"

# Same uid as the ml image's user: both write the shared compute-log volume.
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/dagster dagster \
    && mkdir -p /opt/dagster/dagster_home /opt/dagster/compute_logs /opt/dagster/app \
    && chmod 1777 /opt/dagster/compute_logs \
    && chown -R dagster:dagster /opt/dagster/dagster_home
COPY dagster/dagster.yaml dagster/workspace.yaml /opt/dagster/dagster_home/
COPY dagster/ml_dagster/ /opt/dagster/app/ml_dagster/
COPY ml_trigger/ /opt/dagster/app/ml_trigger/
ENV PYTHONPATH=/opt/dagster/app
RUN python -c "import ml_trigger.airflow_api, ml_trigger.dagster_api, ml_dagster.config"
USER dagster
WORKDIR /opt/dagster/dagster_home
EXPOSE 3000
CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "/opt/dagster/dagster_home/workspace.yaml"]
