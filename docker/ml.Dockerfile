# The ml image: every pipeline step (python -m ml <step>) and the Dagster code location.
# GPU-enabled: torch from PyPI on Linux x86_64 is the CUDA build and brings its CUDA libraries as
# wheels, so a plain Debian/Python base works; the host needs only the NVIDIA driver and the
# NVIDIA Container Toolkit. Without a GPU the same image runs on the CPU.
# Build context: the repository root. BASE_IMAGE lets a locally built base stand in (see .ci/).
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

RUN python3 -m venv /opt/venv

# 1) Dependencies only (pyproject.toml's, its `dagster` extra, torch): a layer that survives code
#    edits. The optional CA bundle (secret id "ca") is used for this step only, never stored.
COPY pyproject.toml docker/ml.requirements.txt docker/ml.constraints.txt docker/pyproject-deps.py /tmp/req/
RUN --mount=type=secret,id=ca --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    python /tmp/req/pyproject-deps.py /tmp/req/pyproject.toml dagster >/tmp/req/project.txt \
    && pip install -r /tmp/req/ml.requirements.txt -r /tmp/req/project.txt -c /tmp/req/ml.constraints.txt

# 2) The ml package itself (no dependency changes here) and the Dagster code location.
COPY pyproject.toml README.md /opt/ml/src/
COPY ml/ /opt/ml/src/ml/
RUN --mount=type=secret,id=ca --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    pip install --no-deps /opt/ml/src -c /tmp/req/ml.constraints.txt \
    && pip check \
    && rm -rf /opt/ml/src
COPY dagster/ml_dagster/ /opt/ml/dagster/ml_dagster/
ENV PYTHONPATH=/opt/ml/dagster

# Non-root user. /opt/dagster/compute_logs is where Dagster run containers write step logs (a
# shared volume that the Dagster webserver reads): world-writable with the sticky bit.
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/ml ml \
    && mkdir -p /opt/dagster/compute_logs /opt/dagster/dagster_home \
    && chmod 1777 /opt/dagster/compute_logs \
    && chown ml:ml /opt/dagster/dagster_home
USER ml
WORKDIR /home/ml
ENV HOME=/home/ml \
    ML_HOME=/home/ml/.ml \
    HF_HOME=/home/ml/.cache/huggingface

# The source revision every model version records (git_sha tag): a build argument from
# `git describe --always --dirty` (Makefile), last so that a new commit rebuilds only this layer.
ARG ML_GIT_SHA=unknown
ENV ML_GIT_SHA=${ML_GIT_SHA}
LABEL org.opencontainers.image.revision=${ML_GIT_SHA}

CMD ["python", "-m", "ml", "--help"]
