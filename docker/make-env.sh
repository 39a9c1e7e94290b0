#!/bin/sh
# Create .env from .env.example, filling every empty secret with a fresh random value.
# Why a shell script: `make up` must need only docker and make on the host (plus coreutils);
# secrets are generated here, on your machine, and never leave .env. An existing .env is kept.
# Usage: docker/make-env.sh [.env.example] [.env]
set -eu
example=${1:-.env.example}
target=${2:-.env}
if [ -e "$target" ]; then
  echo "$target exists; keeping it" >&2
  exit 0
fi
[ -r "$example" ] || { echo "error: $example not found; run from the repository root" >&2; exit 1; }

hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
# A Fernet key: 32 random bytes, url-safe base64.
fernet() { head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '\n'; }

docker_gid=""
sock=${DOCKER_SOCKET:-/var/run/docker.sock}
if [ -S "$sock" ]; then
  docker_gid=$(stat -c %g "$sock" 2>/dev/null || stat -f %g "$sock" 2>/dev/null || true)
fi

umask 077
tmp="$target.tmp.$$"
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    AIRFLOW_FERNET_KEY=)         echo "AIRFLOW_FERNET_KEY=$(fernet)" ;;
    DOCKER_GID=)                 echo "DOCKER_GID=$docker_gid" ;;
    MINIO_ROOT_USER=)            echo "MINIO_ROOT_USER=s3admin$(hex 6)" ;;
    *PASSWORD=|*SECRET=|*SECRET_KEY=|*_KEY=) echo "${line}$(hex 24)" ;;
    *) echo "$line" ;;
  esac
done <"$example" >"$tmp"
mv "$tmp" "$target"
echo "created $target with random secrets (mode 600); keep it out of git" >&2
