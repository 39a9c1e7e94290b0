#!/usr/bin/env bash
# Build the local base image the project's Dockerfiles start FROM, without any registry.
# Why: CI machines cannot pull images; debootstrap builds a Debian root file system from the
# Debian mirrors, and `docker import` turns it into an image. Skipped when the tag exists.
# The mirror is the one this machine's apt uses (.ci/debian_mirror.py), so no host is named here.
# Usage: .ci/base-images.sh [--force]     (env: CI_BASE_IMAGE; DEBIAN_MIRROR overrides apt's mirror)
set -euo pipefail

CI_BASE_IMAGE=${CI_BASE_IMAGE:-mlpipes-ci/base:bookworm}
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

DEBIAN_MIRROR=$(python3 "$(dirname "$0")/debian_mirror.py")

rootfs=$(mktemp -d /var/tmp/mlpipes-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
log "debootstrap bookworm from $DEBIAN_MIRROR into $rootfs"
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
