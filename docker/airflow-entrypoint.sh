#!/bin/sh
# Entry point of every Airflow container.
# Why: the admin account comes from .env at run time (never from the image). Airflow's
# SimpleAuthManager reads users from AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS and passwords from a
# JSON file; this writes that file (mode 600, container-local) from AIRFLOW_ADMIN_PASSWORD.
set -eu
if [ -n "${AIRFLOW_ADMIN_USER:-}" ] && [ -n "${AIRFLOW_ADMIN_PASSWORD:-}" ]; then
  pw_file="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-$AIRFLOW_HOME/simple_auth_manager_passwords.json}"
  umask 077
  python -c 'import json, os, sys; json.dump({os.environ["AIRFLOW_ADMIN_USER"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}, open(sys.argv[1], "w"))' "$pw_file"
fi
exec "$@"
