"""What the in-image scripts share: the clients of the stack's services, reading predictions, waiting.

Runs inside the ml image (ml, MLflow, pyarrow installed; ml_trigger mounted by the driver), with
the compose network's service names and .env's credentials in the environment. Imports of those
libraries stay inside the functions, so the host can import the pure parts of these modules.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def airflow() -> Any:
    """A logged-in Airflow REST client (ml_trigger's)."""
    import ml_trigger as trigger

    client = trigger.AirflowClient(os.environ["AIRFLOW_URL"], os.environ["AIRFLOW_ADMIN_USER"],
                                   os.environ["AIRFLOW_ADMIN_PASSWORD"], public_url=os.environ.get("AIRFLOW_PUBLIC_URL"))
    client.login()
    return client


def dagster() -> Any:
    """A Dagster GraphQL client (ml_trigger's); one per thread: its transport is not thread-safe."""
    import ml_trigger as trigger

    return trigger.DagsterClient(os.environ["DAGSTER_URL"], public_url=os.environ.get("DAGSTER_PUBLIC_URL"))


def mlflow_client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])


def model_name() -> str:
    return os.environ.get("ML_MODEL_NAME", "text-classifier")


def read_predictions(uri: str, columns: list[str] | None = None) -> Any:
    """A predictions Parquet file from the object store, as a pyarrow Table."""
    import pyarrow.parquet as pq

    from ml.core import storage

    with tempfile.TemporaryDirectory() as tmp:
        return pq.read_table(storage.fetch(uri, Path(tmp) / "predictions.parquet"), columns=columns)


def wait_for(fn: Callable[[], T], timeout: float, poll: float = 2.0, what: str = "") -> T:
    """`fn()`'s first truthy value within `timeout` s; after that its last value, or TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            if what:
                raise TimeoutError(f"{what} after {timeout:.0f} s")
            return value
        time.sleep(poll)


def versions_of_run(run_id: str) -> list[str]:
    """The model versions a pipeline run registered (their `pipeline_run_id` tag), whatever other runs did."""
    quoted = run_id.replace("'", "\\'")
    found = mlflow_client().search_model_versions(f"name='{model_name()}' and tags.pipeline_run_id = '{quoted}'")
    return sorted(str(v.version) for v in found)


def monitoring_status(run_id: str) -> str | None:
    """The drift verdict ml logged for one inference run (its monitoring run's `drift_status` tag)."""
    client = mlflow_client()
    experiment = client.get_experiment_by_name(f"monitoring/{model_name()}")
    if experiment is None:
        return None
    quoted = run_id.replace("'", "\\'")
    found = client.search_runs([experiment.experiment_id], f"tags.pipeline_run_id = '{quoted}'", max_results=1)
    return found[0].data.tags.get("drift_status") if found else None
