"""The client behind `make train` / `make infer`: trigger a pipeline through Airflow or Dagster.

    python -m ml_trigger train|infer --orchestrator airflow|dagster [--param key=value ...]
    python -m ml_trigger backfill --from YYYY-MM-DD --to YYYY-MM-DD [--orchestrator airflow|dagster|both]

Why not in `ml/`: the steps know no orchestrator; this is the client of the orchestrators' own
APIs (Airflow's REST API v2, Dagster's GraphQL API), so it runs in the dagster image, which has
dagster-graphql, requests and tenacity. One module per concern: `cli` (arguments, exit codes),
`http` (session and retries), `airflow_api`, `dagster_api`, `outcome`, `summary`, `params`,
`backfill` (a range of days through both orchestrators), `local` (a run through Airflow or
Dagster on this machine with no servers: `python -m ml_trigger local train|infer -o ...`).

The names below are importable from the package itself (`import ml_trigger as trigger`, as the
e2e checks do); each module is imported on first use, so importing the package costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EXIT_OK": "errors", "EXIT_FAILED": "errors", "EXIT_USAGE": "errors", "EXIT_UNREACHABLE": "errors",
    "EXIT_TIMEOUT": "errors", "TriggerError": "errors", "RunTimeout": "errors",
    "Outcome": "outcome", "log": "outcome",
    "PIPELINES": "params", "parse_params": "params", "with_default_inputs": "params",
    "summarize": "summary",
    "ORCHESTRATORS": "cli", "main": "cli",
    "AirflowClient": "airflow_api", "run_airflow": "airflow_api",
    "DAGSTER_LOCATION": "dagster_api", "DagsterClient": "dagster_api",
    "run_dagster": "dagster_api", "dagster_run_config": "dagster_api",
    "run_backfill": "backfill", "DayResult": "backfill",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """The exported name from its module, imported now (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ml_trigger' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ml_trigger.{module}"), name)
