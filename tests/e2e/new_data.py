"""e2e phase "new data": an upload under ML_NEW_DATA_PREFIX starts training by itself on both orchestrators.

Host side: the checks run inside the ml image (`new_data_checks.py`: the object store, Airflow's
REST API and Dagster's GraphQL API on the compose network). Against an already running stack:

    python3 tests/e2e/new_data.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run_e2e


def run() -> None:
    """Five files at once (one good, four without labels) on both; the good one again: no new run."""
    result = run_e2e.in_ml_image([], timeout=1800, script="new_data_checks.py")
    run_e2e.record("new data: checks ran inside the ml image", result is not None)


if __name__ == "__main__":
    run_e2e.timed("new data", run)
    print(json.dumps({"checks": run_e2e.RESULTS["checks"], "phases": run_e2e.RESULTS["phases"]}, indent=2))
    sys.exit(0 if all(c["passed"] for c in run_e2e.RESULTS["checks"]) else 1)
