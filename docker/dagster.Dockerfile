# Dagster webserver and daemon. The pipelines' code location runs from the ml image (gRPC), and
# each run starts in its own ml container (DockerRunLauncher): this image needs neither ml nor
# torch, only the run launcher module of ml_dagster.
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

# Same uid as the ml image's user: both write the shared compute-log volume.
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/dagster dagster \
    && mkdir -p /opt/dagster/dagster_home /opt/dagster/compute_logs /opt/dagster/app \
    && chmod 1777 /opt/dagster/compute_logs \
    && chown -R dagster:dagster /opt/dagster/dagster_home
COPY dagster/dagster.yaml dagster/workspace.yaml /opt/dagster/dagster_home/
COPY dagster/ml_dagster/ /opt/dagster/app/ml_dagster/
ENV PYTHONPATH=/opt/dagster/app
USER dagster
WORKDIR /opt/dagster/dagster_home
EXPOSE 3000
CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "/opt/dagster/dagster_home/workspace.yaml"]
