# Apache Airflow 3.3 (api-server, scheduler with LocalExecutor, dag-processor, triggerer) with the
# Docker provider: every pipeline step runs as a DockerOperator task in the ml image.
# Build context: the repository root. BASE_IMAGE lets a locally built base stand in (see .ci/).
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    AIRFLOW_HOME=/opt/airflow

RUN python3 -m venv /opt/venv

COPY docker/airflow.requirements.txt docker/airflow.constraints.txt /tmp/req/
COPY airflow/requirements.txt /tmp/req/dags.requirements.txt
# The optional CA bundle (secret id "ca") is used for this step only and never lands in a layer.
RUN --mount=type=secret,id=ca --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    pip install -r /tmp/req/airflow.requirements.txt -r /tmp/req/dags.requirements.txt \
        -c /tmp/req/airflow.constraints.txt \
    && pip check

# The ml package itself, without its dependencies (no torch here): the DAG files read their param
# defaults from `ml.core.config` (pydantic-settings, already in Airflow), the one place for defaults.
COPY pyproject.toml README.md /tmp/ml-src/
COPY ml/ /tmp/ml-src/ml/
RUN --mount=type=secret,id=ca --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    pip install --no-deps /tmp/ml-src && rm -rf /tmp/ml-src \
    && python -c "import ml.core.config; ml.core.config.Settings()"

RUN useradd --system --uid 50000 --user-group --create-home --home-dir /home/airflow airflow \
    && mkdir -p /opt/airflow/dags /opt/airflow/logs /opt/airflow/plugins \
    && chown -R airflow:airflow /opt/airflow
COPY docker/airflow-entrypoint.sh /usr/local/bin/airflow-entrypoint
COPY airflow/dags/ /opt/airflow/dags/
USER airflow
WORKDIR /opt/airflow
EXPOSE 8080
ENTRYPOINT ["airflow-entrypoint"]
CMD ["airflow", "version"]
