#!/usr/bin/env bash
# The e2e browser checks' tools (tests/e2e/in_venv/browser.py): Debian's `chromium` package and the pinned
# Playwright Python package in the project venv. Playwright drives that Chromium through
# `executable_path`; `playwright install` (a browser download from its own CDN) is never used.
# Idempotent: installs only what is missing. Needs root (or sudo) for apt-get when Chromium is absent.
# Usage: .ci/browser.sh [VENV]   (default .venv; `make browser-deps` calls it after `make setup`)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
if ! command -v chromium >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "error: no Python venv at $venv; run make setup first (or pass the venv folder)" >&2
  exit 2
fi
if ! "$venv/bin/python" -c 'import playwright' 2>/dev/null; then
  minor=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  constraints=.ci/constraints.txt
  case "$minor" in 3.12|3.13) constraints=.ci/constraints-$minor.txt ;; esac
  "$venv/bin/pip" install --quiet -c "$constraints" playwright
fi
echo "browser: chromium $(dpkg-query -W -f='${Version}' chromium 2>/dev/null || echo "(not from dpkg)"), playwright $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("playwright"))')"
