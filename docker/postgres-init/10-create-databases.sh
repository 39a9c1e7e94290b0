#!/bin/bash
# Runs once, on the first start of an empty Postgres data volume (docker-entrypoint-initdb.d).
# One database and one owner role per service, so Airflow, Dagster and MLflow cannot touch each
# other's tables. Passwords come from the environment (.env); psql variables quote them safely.
set -euo pipefail

create_db() {
  local name=$1 password=$2
  if [ -z "$password" ]; then
    echo "error: no password for database user '$name'; set it in .env (make up creates one)" >&2
    exit 1
  fi
  psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    -v name="$name" -v password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'name', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'name') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'name') \gexec
SQL
  echo "created database and user '$name'"
}

create_db airflow "${AIRFLOW_DB_PASSWORD:-}"
create_db dagster "${DAGSTER_DB_PASSWORD:-}"
create_db mlflow "${MLFLOW_DB_PASSWORD:-}"
