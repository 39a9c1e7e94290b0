# MLflow tracking server + model registry: Postgres backend, artifacts proxied into the object store.
# Build context: the repository root. BASE_IMAGE lets a locally built base stand in (see .ci/).
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

RUN python3 -m venv /opt/venv

COPY docker/mlflow.requirements.txt docker/mlflow.constraints.txt /tmp/req/
# The optional CA bundle (secret id "ca") is used for this step only and never lands in a layer.
RUN --mount=type=secret,id=ca --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    pip install -r /tmp/req/mlflow.requirements.txt -c /tmp/req/mlflow.constraints.txt \
    && pip check

RUN useradd --system --uid 10002 --user-group --create-home --home-dir /home/mlflow mlflow
COPY docker/mlflow-start.sh /usr/local/bin/mlflow-start
COPY docker/mlflow-users.py /usr/local/bin/mlflow-users
USER mlflow
WORKDIR /home/mlflow
EXPOSE 5000
CMD ["mlflow-start"]
