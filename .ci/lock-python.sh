#!/usr/bin/env bash
# Pins of the test environment (make setup) for Python minor versions other than 3.11:
# .ci/constraints-<version>.txt, from pip's resolver for that version (--python-version, wheels only,
# metadata only: exactly what `pip install` would pick there, without that Python installed).
# Why seeded with .ci/constraints.txt (3.11, frozen from a working venv): every version tests the
# same library versions wherever that version has wheels; a 3.11 pin with no wheel for it is
# dropped and re-resolved (reported). Ignores this machine's pip config (local indexes, constraints).
# Usage: .ci/lock-python.sh 3.12 3.13    env: PYTHON (a Python >= 3.11 with pip; default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ $# -gt 0 ] || { echo "usage: $0 VERSION..." >&2; exit 2; }
cert_args=()
for c in "${PIP_CERT:-}" /etc/ssl/certs/ca-certificates.crt; do
  if [ -n "$c" ] && [ -s "$c" ]; then cert_args=(--cert "$c"); break; fi
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$PYTHON" docker/pyproject-deps.py pyproject.toml dev airflow dagster >"$tmp/requirements.txt"

for version in "$@"; do
  grep -v '^#' .ci/constraints.txt >"$tmp/seed.txt"
  for round in $(seq 1 20); do
    echo "[lock] resolving for Python $version (round $round)" >&2
    if env -i PATH="$PATH" HOME="$tmp" PIP_CONFIG_FILE=/dev/null \
      "$PYTHON" -m pip install "${cert_args[@]}" --disable-pip-version-check --quiet --dry-run --ignore-installed \
      --python-version "$version" --only-binary=:all: --report "$tmp/report.json" \
      -c "$tmp/seed.txt" -r "$tmp/requirements.txt" 2>"$tmp/err.txt"; then
      break
    fi
    missing=$(sed -n 's/.*No matching distribution found for \([A-Za-z0-9._-]*\)==.*/\1/p' "$tmp/err.txt" | head -1)
    if [ -z "$missing" ] || ! grep -qi "^$missing==" "$tmp/seed.txt"; then
      cat "$tmp/err.txt" >&2; exit 1
    fi
    echo "[lock] Python $version: no wheel for $(grep -i "^$missing==" "$tmp/seed.txt"); re-resolving it" >&2
    grep -vi "^$missing==" "$tmp/seed.txt" >"$tmp/seed.new" && mv "$tmp/seed.new" "$tmp/seed.txt"
  done
  "$PYTHON" - "$tmp/report.json" ".ci/constraints-$version.txt" "$version" <<'PY'
import json, sys
report, out, version = sys.argv[1:]
pins = sorted({(i["metadata"]["name"].lower().replace("_", "-"), i["metadata"]["version"])
               for i in json.load(open(report))["install"]})
with open(out, "w") as f:
    f.write(f"# Exact versions of the test/dev environment (make setup) on Python {version}. Regenerate: make lock\n")
    f.write("# Resolved by .ci/lock-python.sh from the 3.11 pins (.ci/constraints.txt) with pip --python-version.\n")
    f.writelines(f"{n}=={v}\n" for n, v in pins)
print(f"[lock] wrote {out}: {len(pins)} pins", file=sys.stderr)
PY
done
