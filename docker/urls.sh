#!/bin/sh
# Print where the UIs are and where their credentials live (values come from .env).
set -eu
[ -r .env ] && . ./.env
host=${BIND_ADDRESS:-127.0.0.1}
[ "$host" = 0.0.0.0 ] && host=localhost
cat <<TXT

  Airflow   http://$host:${AIRFLOW_PORT:-8080}   user ${AIRFLOW_ADMIN_USER:-admin}, password: AIRFLOW_ADMIN_PASSWORD in .env
  Dagster   http://$host:${DAGSTER_PORT:-3000}   user ${DAGSTER_ADMIN_USER:-admin}, password: DAGSTER_ADMIN_PASSWORD in .env
  MLflow    http://$host:${MLFLOW_PORT:-5000}   user ${MLFLOW_ADMIN_USER:-admin}, password: MLFLOW_ADMIN_PASSWORD in .env
  MinIO     http://$host:${MINIO_CONSOLE_PORT:-9001}   user MINIO_ROOT_USER, password MINIO_ROOT_PASSWORD in .env

  Next: make train [ORCHESTRATOR=dagster]   then   make infer [ORCHESTRATOR=dagster]
TXT
