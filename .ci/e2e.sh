#!/usr/bin/env bash
# CI: prove the compose stack on a machine without a Docker engine or a registry.
# 1) install/start Docker (engine from Debian, compose v2 plugin), 2) build the local Debian base
# image, 3) `make e2e` with the user's compose.yaml plus two overrides: the host CA bundle as a
# build secret (docker/compose.ca.yaml) and the local stand-ins for postgres and MinIO
# (.ci/compose.ci.yaml). Layer and pip caches live in /var/lib/docker and are reused when present.
# Usage: .ci/e2e.sh [python3 -m tests.e2e.run args, e.g. --load 5]
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
stage() { printf '\n==== %s (%ss)\n' "$1" "$(( $(date +%s) - start ))"; }

stage "docker engine"
.ci/docker-engine.sh
stage "local base image"
.ci/base-images.sh
export COMPOSE_FILE=compose.yaml:docker/compose.ca.yaml:.ci/compose.ci.yaml
export CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
stage "make e2e"
make e2e E2E_ARGS="$*"
stage "e2e done"
