#!/usr/bin/env bash
# Make a Docker engine + compose v2 plugin available on a Debian 12 machine that has none.
# Idempotent: installs only what is missing, starts dockerd only when it is not answering.
# Why: CI machines have only a docker client; nothing installed by hand survives.
set -euo pipefail

log() { echo "[docker-engine] $*" >&2; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

COMPOSE_PLUGIN_DIR=/usr/libexec/docker/cli-plugins
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}

if docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  log "engine and compose plugin already available"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing docker.io (engine) from Debian"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends docker.io iptables >/dev/null
fi

if ! docker compose version >/dev/null 2>&1; then
  log "installing the compose v2 plugin from Debian trixie's docker-compose package"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/lists/partial" "$tmp/archives/partial"
  mirror=$(python3 "$(dirname "$0")/debian_mirror.py")  # the machine's own mirror: no host named here
  echo "deb $mirror trixie main" >"$tmp/trixie.list"
  apt_opts=(-o "Dir::Etc::SourceList=$tmp/trixie.list" -o "Dir::Etc::SourceParts=-"
            -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache::Archives=$tmp/archives"
            -o "APT::Architecture=amd64" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
  $SUDO apt-get "${apt_opts[@]}" update -qq
  (cd "$tmp" && $SUDO apt-get "${apt_opts[@]}" download docker-compose >/dev/null)
  deb=$(ls "$tmp"/docker-compose_*.deb | head -1)
  $SUDO dpkg -x "$deb" "$tmp/x"
  $SUDO mkdir -p "$COMPOSE_PLUGIN_DIR"
  $SUDO install -m 0755 "$tmp/x/usr/libexec/docker/cli-plugins/docker-compose" "$COMPOSE_PLUGIN_DIR/docker-compose"
  docker compose version >&2
fi

# dockerd outlives this script: it must not inherit its open files. A caller's lock (`flock
# /tmp/mlpipes-stack.lock .ci/e2e.sh`, fd 3) would otherwise stay held for as long as the daemon runs.
start_dockerd() {
  ( for fd in /proc/self/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done 2>/dev/null
    exec $SUDO nohup dockerd >>"$DOCKERD_LOG" 2>&1 ) &
}

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: $DOCKERD_LOG)"
  start_dockerd
  for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then break; fi
    sleep 1
  done
  if ! docker info >/dev/null 2>&1; then
    log "error: dockerd did not answer within 60 s; see $DOCKERD_LOG"
    tail -n 30 "$DOCKERD_LOG" >&2 || true
    exit 1
  fi
fi
log "ready: $(docker version --format 'engine {{.Server.Version}}') / $(docker compose version --short)"
