#!/bin/sh
# Wait until every service of the stack is healthy (or, for one-shots, exited 0); never a fixed
# sleep. On failure or timeout print the state and the logs of the failing services, exit 1.
# Usage: docker/wait-healthy.sh [timeout_s]    (honours COMPOSE / COMPOSE_FILE like make does)
set -eu
timeout_s=${1:-900}
compose=${COMPOSE:-docker compose}
start=$(date +%s)
expected=$($compose config --services)
last=""

dump() {
  echo "---- docker compose ps -a" >&2
  $compose ps -a >&2 || true
  for svc in $1; do
    echo "---- last logs of $svc" >&2
    $compose logs --no-color --tail 80 "$svc" >&2 || true
  done
}

while :; do
  states=$($compose ps -a --format '{{.Service}}|{{.State}}|{{.Health}}|{{.ExitCode}}')
  pending="" failed=""
  for svc in $expected; do
    line=$(printf '%s\n' "$states" | grep "^$svc|" | head -n 1 || true)
    state=$(echo "$line" | cut -d'|' -f2)
    health=$(echo "$line" | cut -d'|' -f3)
    code=$(echo "$line" | cut -d'|' -f4)
    case "$state" in
      running)
        case "$health" in
          healthy|"") ;;
          unhealthy) failed="$failed $svc" ;;
          *) pending="$pending $svc" ;;
        esac ;;
      exited|dead)
        [ "$code" = 0 ] || failed="$failed $svc" ;;
      *) pending="$pending $svc" ;;
    esac
  done
  if [ -n "$failed" ]; then
    echo "error: service(s) failed:$failed" >&2
    dump "$failed"
    exit 1
  fi
  elapsed=$(( $(date +%s) - start ))
  if [ -z "$pending" ]; then
    echo "all services healthy after ${elapsed}s" >&2
    exit 0
  fi
  if [ "$elapsed" -ge "$timeout_s" ]; then
    echo "error: still waiting after ${timeout_s}s for:$pending" >&2
    dump "$pending"
    exit 1
  fi
  if [ "$pending" != "$last" ]; then
    echo "[${elapsed}s] waiting for:$pending" >&2
    last=$pending
  fi
  sleep 3
done
