#!/bin/sh
# Create or update every Kubernetes Secret of the stack from .env (`make k8s-secrets`).
# Why one script: this is the only mapping from .env variables to Secret names and keys; the
# manifests and Helm values name Secrets and keys, never values (tests/k8s checks both sides).
# The values are the ones `make up` generates (docker/make-env.sh), so compose and the cluster
# can share one .env. They go to kubectl through files in a private temporary folder, never on a
# command line (which other users could read in the process list).
#
# Usage: docker/k8s/secrets.sh [ENV_FILE]          (default .env)
#   K8S_NAMESPACE  namespace (default ml-pipelines, ml.kube.DEFAULT_NAMESPACE)
#   PRINT=1        print the Secret manifests instead of applying them (nothing is contacted)
set -eu
env_file=${1:-.env}
ns=${K8S_NAMESPACE:-ml-pipelines}
here=$(dirname "$0")

[ -r "$env_file" ] || { echo "error: $env_file not found; run 'make .env' (or make up) first" >&2; exit 1; }
case $env_file in */*) ;; *) env_file=./$env_file ;; esac
set -a
. "$env_file"
set +a

for name in POSTGRES_PASSWORD AIRFLOW_DB_PASSWORD DAGSTER_DB_PASSWORD MLFLOW_DB_PASSWORD \
            MINIO_ROOT_USER MINIO_ROOT_PASSWORD AIRFLOW_ADMIN_PASSWORD AIRFLOW_JWT_SECRET \
            AIRFLOW_FERNET_KEY AIRFLOW_API_SECRET_KEY S3_STEPS_PASSWORD S3_MLFLOW_PASSWORD \
            S3_OPERATOR_PASSWORD MLFLOW_ADMIN_PASSWORD MLFLOW_STEPS_PASSWORD MLFLOW_OPERATOR_PASSWORD \
            MLFLOW_SECRET_KEY; do
  eval "value=\${$name:-}"
  [ -n "$value" ] || { echo "error: $name is empty in $env_file; fill it (make-env.sh does) and rerun" >&2; exit 1; }
done
AIRFLOW_ADMIN_USER=${AIRFLOW_ADMIN_USER:-admin}
MLFLOW_ADMIN_USER=${MLFLOW_ADMIN_USER:-admin}
S3_STEPS_USER=${S3_STEPS_USER:-ml-steps} S3_MLFLOW_USER=${S3_MLFLOW_USER:-ml-mlflow} S3_OPERATOR_USER=${S3_OPERATOR_USER:-ml-operator}
MLFLOW_STEPS_USER=${MLFLOW_STEPS_USER:-ml-steps} MLFLOW_OPERATOR_USER=${MLFLOW_OPERATOR_USER:-ml-operator}

umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

if [ "${PRINT:-}" = 1 ]; then
  apply() { cat; echo "---"; }
else
  # The namespace first: `make k8s-secrets` may run before `kubectl apply -k`.
  kubectl apply -f "$here/namespace.yaml" >/dev/null
  apply() { kubectl apply -f -; }
fi

# secret NAME KEY=VALUE...: one generic Secret; each value becomes a file named after its key.
secret() {
  name=$1
  shift
  rm -rf "$tmp/$name"
  mkdir "$tmp/$name"
  for pair in "$@"; do
    printf '%s' "${pair#*=}" >"$tmp/$name/${pair%%=*}"
  done
  kubectl create secret generic "$name" --namespace "$ns" --from-file="$tmp/$name" \
    --dry-run=client -o yaml | apply
}

# The step pods' secret env (ml.kube.DEFAULT_SECRET): compose's x-ml-secrets (the steps' own
# object-store user and MLflow login, never root).
secret ml-pipeline-secrets ML_S3_ACCESS_KEY="$S3_STEPS_USER" ML_S3_SECRET_KEY="$S3_STEPS_PASSWORD" MLFLOW_TRACKING_USERNAME="$MLFLOW_STEPS_USER" MLFLOW_TRACKING_PASSWORD="$MLFLOW_STEPS_PASSWORD"
# The init-storage Job: compose's x-root-secrets (it creates the buckets).
secret storage-init-secrets ML_S3_ACCESS_KEY="$MINIO_ROOT_USER" ML_S3_SECRET_KEY="$MINIO_ROOT_PASSWORD"
# The minio-users Job: root, and every user with its password (docker/minio/users.sh).
secret minio-users-secrets MINIO_ROOT_USER="$MINIO_ROOT_USER" MINIO_ROOT_PASSWORD="$MINIO_ROOT_PASSWORD" S3_STEPS_USER="$S3_STEPS_USER" S3_STEPS_PASSWORD="$S3_STEPS_PASSWORD" S3_MLFLOW_USER="$S3_MLFLOW_USER" S3_MLFLOW_PASSWORD="$S3_MLFLOW_PASSWORD" S3_OPERATOR_USER="$S3_OPERATOR_USER" S3_OPERATOR_PASSWORD="$S3_OPERATOR_PASSWORD"
# The mlflow-users Job: MLflow's admin and the service users it makes (docker/mlflow-users.py).
secret mlflow-users-secrets MLFLOW_TRACKING_USERNAME="$MLFLOW_ADMIN_USER" MLFLOW_TRACKING_PASSWORD="$MLFLOW_ADMIN_PASSWORD" MLFLOW_STEPS_USER="$MLFLOW_STEPS_USER" MLFLOW_STEPS_PASSWORD="$MLFLOW_STEPS_PASSWORD" MLFLOW_OPERATOR_USER="$MLFLOW_OPERATOR_USER" MLFLOW_OPERATOR_PASSWORD="$MLFLOW_OPERATOR_PASSWORD"
# Postgres: the superuser and the per-service passwords its init script reads.
secret postgres-secrets POSTGRES_PASSWORD="$POSTGRES_PASSWORD" AIRFLOW_DB_PASSWORD="$AIRFLOW_DB_PASSWORD" DAGSTER_DB_PASSWORD="$DAGSTER_DB_PASSWORD" MLFLOW_DB_PASSWORD="$MLFLOW_DB_PASSWORD"
# MinIO root credentials.
secret minio-secrets MINIO_ROOT_USER="$MINIO_ROOT_USER" MINIO_ROOT_PASSWORD="$MINIO_ROOT_PASSWORD"
# MLflow: its database password (mlflow-start.sh builds the URI), its own object-store user, and
# its login (the basic-auth app's admin and session key).
secret mlflow-secrets MLFLOW_DB_PASSWORD="$MLFLOW_DB_PASSWORD" AWS_ACCESS_KEY_ID="$S3_MLFLOW_USER" AWS_SECRET_ACCESS_KEY="$S3_MLFLOW_PASSWORD" MLFLOW_AUTH_ADMIN_USERNAME="$MLFLOW_ADMIN_USER" MLFLOW_AUTH_ADMIN_PASSWORD="$MLFLOW_ADMIN_PASSWORD" MLFLOW_FLASK_SERVER_SECRET_KEY="$MLFLOW_SECRET_KEY"
# Airflow chart: the key names are the chart's (data.metadataSecretName -> connection,
# fernetKeySecretName -> fernet-key, apiSecretKeySecretName -> api-secret-key, jwtSecretName ->
# jwt-secret); the admin keys feed docker/airflow-entrypoint.sh (SimpleAuthManager), as in compose.
secret airflow-secrets connection="postgresql+psycopg2://airflow:$AIRFLOW_DB_PASSWORD@postgres:5432/airflow" fernet-key="$AIRFLOW_FERNET_KEY" api-secret-key="$AIRFLOW_API_SECRET_KEY" jwt-secret="$AIRFLOW_JWT_SECRET" admin-user="$AIRFLOW_ADMIN_USER" admin-password="$AIRFLOW_ADMIN_PASSWORD" simple-auth-users="$AIRFLOW_ADMIN_USER:admin"
# Dagster chart: its Postgres password (global.postgresqlSecretName, key postgresql-password).
secret dagster-postgresql-secret postgresql-password="$DAGSTER_DB_PASSWORD"

[ "${PRINT:-}" = 1 ] || echo "secrets applied in namespace $ns (values from $env_file)" >&2
