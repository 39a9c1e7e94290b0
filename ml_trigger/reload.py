"""`python -m ml_trigger reload`: make Dagster load the code location again (a changed model catalog).

Why: the code location builds every model's assets, jobs, schedule and sensor from the model
catalog when it loads (`ml_dagster.definitions`); `dagster code-server start` re-imports the code on
a reload, so a model added to the mounted catalog appears without a restart or an image rebuild.
Airflow needs nothing: its DAG processor parses the DAG files, which read the catalog, every
`min_file_process_interval` (30 s by default). Exit 0 when the location loaded, 1 with Dagster's
one-line reason when it failed (a catalog mistake is listed there), 75 when Dagster is unreachable.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ml_trigger.errors import EXIT_FAILED, EXIT_OK, TriggerError
from ml_trigger.outcome import log


def main(argv: Sequence[str] | None = None) -> int:
    from dagster_graphql import DagsterGraphQLClientError, ReloadRepositoryLocationStatus

    from ml_trigger.dagster_api import DAGSTER_LOCATION, DagsterClient

    client = DagsterClient(os.environ.get("DAGSTER_URL", "http://localhost:3000"))
    try:
        info = client._call(client.graphql.reload_repository_location, DAGSTER_LOCATION)
    except TriggerError as exc:
        log(f"error: {exc}")
        return exc.exit_code
    except DagsterGraphQLClientError as exc:
        log(f"error: Dagster reloadRepositoryLocation failed: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}")
        return EXIT_FAILED
    if info.status == ReloadRepositoryLocationStatus.SUCCESS:
        log(f"[dagster] code location {DAGSTER_LOCATION!r} reloaded: every model of the catalog is loaded")
        log("[airflow] the DAG processor reads the catalog at its next parse of the DAG files (30 s by default)")
        return EXIT_OK
    log(f"error: [dagster] code location {DAGSTER_LOCATION!r} failed to load: {info.message or info.failure_type}")
    return EXIT_FAILED
