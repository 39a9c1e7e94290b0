#!/bin/bash
# Entry point of the CI S3 stand-in: `weed mini` with its S3 API on :9000, keys from MINIO_ROOT_*.
# MinIO's arguments (server /data --console-address ...) are accepted and ignored.
set -euo pipefail
: "${MINIO_ROOT_USER:?error: MINIO_ROOT_USER is not set}"
: "${MINIO_ROOT_PASSWORD:?error: MINIO_ROOT_PASSWORD is not set}"
export AWS_ACCESS_KEY_ID=$MINIO_ROOT_USER AWS_SECRET_ACCESS_KEY=$MINIO_ROOT_PASSWORD
ip=$(hostname -i | awk '{print $1}')
exec weed mini -dir=/data -ip="$ip" -ip.bind=0.0.0.0 -s3.port=9000 \
  -master.telemetry=false -admin.ui=false
