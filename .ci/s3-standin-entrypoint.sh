#!/bin/bash
# Entry point of the CI S3 stand-in: `weed mini` with its S3 API on :9000. The root user
# (MINIO_ROOT_*) is the admin; every MinIO policy of docker/minio/policies (mounted at
# /etc/s3-policies) becomes a SeaweedFS identity of its user S3_<NAME>_USER / S3_<NAME>_PASSWORD
# (.ci/s3-standin-identities.py), so CI enforces the same per-service rights as MinIO.
# MinIO's arguments (server /data --console-address ...) are accepted and ignored.
set -euo pipefail
: "${MINIO_ROOT_USER:?error: MINIO_ROOT_USER is not set}"
: "${MINIO_ROOT_PASSWORD:?error: MINIO_ROOT_PASSWORD is not set}"
config=$(mktemp /tmp/s3-identities.XXXXXX)
python3 /usr/local/bin/s3-standin-identities "${S3_POLICY_DIR:-/etc/s3-policies}" >"$config"
ip=$(hostname -i | awk '{print $1}')
exec weed mini -dir=/data -ip="$ip" -ip.bind=0.0.0.0 -s3.port=9000 -s3.config="$config" \
  -master.telemetry=false -admin.ui=false
