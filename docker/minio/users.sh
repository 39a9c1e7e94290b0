#!/bin/sh
# One MinIO user per service, each with its policy (run once by compose's `minio-users`, in the MinIO
# image, with the root credentials: the only place besides init-storage that holds them).
# Every docker/minio/policies/NAME.json (mounted at /etc/s3-policies) is created as policy `ml-NAME`
# and attached to the user S3_<NAME>_USER with the secret key S3_<NAME>_PASSWORD. Idempotent: a
# user that exists gets its key and policy set again.
set -eu
: "${MINIO_ROOT_USER:?error: MINIO_ROOT_USER is not set}"
: "${MINIO_ROOT_PASSWORD:?error: MINIO_ROOT_PASSWORD is not set}"
command -v mc >/dev/null 2>&1 || { echo "error: this MinIO image has no mc; use an image that ships it (MINIO_IMAGE)" >&2; exit 1; }
export MC_CONFIG_DIR=/tmp/mc
tries=0
until mc alias set local "${S3_URL:-http://minio:9000}" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null 2>&1; do
  tries=$((tries + 1)); [ "$tries" -lt 30 ] || { echo "error: MinIO at ${S3_URL:-http://minio:9000} unreachable" >&2; exit 75; }
  sleep 2
done
for file in "${S3_POLICY_DIR:-/etc/s3-policies}"/*.json; do
  name=$(basename "$file" .json)
  upper=$(echo "$name" | tr '[:lower:]' '[:upper:]')
  user=$(printenv "S3_${upper}_USER" || true)
  password=$(printenv "S3_${upper}_PASSWORD" || true)
  [ -n "$user" ] && [ -n "$password" ] || { echo "error: S3_${upper}_USER / S3_${upper}_PASSWORD are not set; see .env.example" >&2; exit 2; }
  mc admin policy create local "ml-$name" "$file" >/dev/null
  mc admin user add local "$user" "$password" >/dev/null
  mc admin policy attach local "ml-$name" --user "$user" >/dev/null 2>&1 || true  # already attached: fine
  echo "user $user: policy ml-$name" >&2
done
