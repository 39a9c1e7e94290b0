#!/bin/sh
# Start the MLflow server from the environment (compose passes it): check the artifact bucket, then
# serve, behind MLflow's basic-auth app when MLFLOW_AUTH_ADMIN_PASSWORD is set (every API and the
# UI then ask who you are; users and their rights: docker/mlflow-users.py). Why a script: the
# database URI is assembled from the password at run time, so no secret is written into
# compose.yaml or the image.
set -eu
: "${MLFLOW_DB_PASSWORD:?error: MLFLOW_DB_PASSWORD is not set; copy .env.example to .env or run make up}"
: "${MLFLOW_S3_ENDPOINT_URL:?error: MLFLOW_S3_ENDPOINT_URL is not set (e.g. http://minio:9000)}"
: "${MLFLOW_ARTIFACTS_DESTINATION:=s3://mlflow/artifacts}"

python - <<'PY'
import os, sys, time
import boto3
from botocore.exceptions import ClientError, EndpointConnectionError

bucket = os.environ["MLFLOW_ARTIFACTS_DESTINATION"].removeprefix("s3://").split("/", 1)[0]
s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"])
for attempt in range(30):
    try:
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                raise
            s3.create_bucket(Bucket=bucket)
            print(f"created bucket {bucket}", file=sys.stderr)
        break
    except (EndpointConnectionError, ClientError) as exc:
        if attempt == 29:
            sys.exit(f"error: cannot reach bucket {bucket} at {os.environ['MLFLOW_S3_ENDPOINT_URL']}: {exc}")
        time.sleep(2)
PY

db_uri="postgresql+psycopg2://${MLFLOW_DB_USER:-mlflow}:${MLFLOW_DB_PASSWORD}@${MLFLOW_DB_HOST:-postgres}:5432/${MLFLOW_DB_NAME:-mlflow}"
set --
if [ -n "${MLFLOW_AUTH_ADMIN_PASSWORD:-}" ]; then
  : "${MLFLOW_FLASK_SERVER_SECRET_KEY:?error: MLFLOW_FLASK_SERVER_SECRET_KEY is not set (the login's session key)}"
  case "${MLFLOW_AUTH_CACHE_TTL_S:-60}" in
    ''|*[!0-9]*) echo "error: MLFLOW_AUTH_CACHE_TTL_S=${MLFLOW_AUTH_CACHE_TTL_S} is not a whole number of seconds; set it in .env (60, or 0 to turn the cache off)" >&2; exit 2 ;;
  esac
  # The users and their rights live in MLflow's own database (tables apart from the tracking ones).
  # auth_cache_ttl_seconds: MLflow's own cache of verified credentials (per worker, keyed by an HMAC
  # of the password). Without it every request pays a deliberately slow password-hash check, and a
  # model's upload or download (one request per file) queues every other client behind it. A
  # password changed through MLflow's API holds at once on the worker that changed it, elsewhere
  # within the TTL; 0 turns the cache off.
  MLFLOW_AUTH_CONFIG_PATH=$(mktemp /tmp/mlflow-auth.XXXXXX)
  export MLFLOW_AUTH_CONFIG_PATH
  umask 077
  cat >"$MLFLOW_AUTH_CONFIG_PATH" <<INI
[mlflow]
default_permission = READ
database_uri = ${db_uri}
admin_username = ${MLFLOW_AUTH_ADMIN_USERNAME:-admin}
auth_cache_ttl_seconds = ${MLFLOW_AUTH_CACHE_TTL_S:-60}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
  set -- --app-name basic-auth
fi

exec mlflow server "$@" \
  --backend-store-uri "$db_uri" \
  --artifacts-destination "$MLFLOW_ARTIFACTS_DESTINATION" \
  --host 0.0.0.0 --port 5000 \
  --workers "${MLFLOW_WORKERS:-2}"
