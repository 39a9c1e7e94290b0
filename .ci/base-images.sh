#!/usr/bin/env bash
# Build the local base image the project's Dockerfiles start FROM, without any registry.
# Why: CI machines cannot pull images; debootstrap builds a Debian root file system from the
# Debian mirrors, and `docker import` turns it into an image. Skipped when the tag exists.
# Usage: .ci/base-images.sh [--force]     (env: CI_BASE_IMAGE, DEBIAN_MIRROR)
set -euo pipefail

CI_BASE_IMAGE=${CI_BASE_IMAGE:-mlpipes-ci/base:bookworm}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
log() { echo "[base-images] $*" >&2; }

if [ "${1:-}" != "--force" ] && docker image inspect "$CI_BASE_IMAGE" >/dev/null 2>&1; then
  log "$CI_BASE_IMAGE already present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  log "error: debootstrap needs root; run as root or with sudo"
  exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
fi

rootfs=$(mktemp -d /var/tmp/mlpipes-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
log "debootstrap bookworm into $rootfs"
start=$(date +%s)
debootstrap --variant=minbase \
  --include=python3,python3-venv,python3-pip,ca-certificates \
  bookworm "$rootfs" "$DEBIAN_MIRROR" >/var/tmp/mlpipes-debootstrap.log 2>&1 \
  || { tail -n 30 /var/tmp/mlpipes-debootstrap.log >&2; log "error: debootstrap failed"; exit 1; }
# Smaller image: no package lists or caches (apt-get update inside builds fetches fresh ones).
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
tar -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  - "$CI_BASE_IMAGE" >/dev/null
log "built $CI_BASE_IMAGE in $(( $(date +%s) - start )) s"
