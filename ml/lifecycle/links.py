"""Links to the MLflow UI, built in one place for the steps, both orchestrators and `make train`.

Why one place: people follow these links from the Airflow task log, the Dagster asset metadata
and the `make train` summary; the steps return them in their JSON result, so no adapter builds
its own. The base is `ML_MLFLOW_PUBLIC_URI` (the address people reach), else the tracking URI;
there is no link for the embedded SQLite store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from ml.core.config import Settings


def ui_base(settings: Settings) -> str:
    """The MLflow UI address people open, or '' when MLflow is not a server (embedded mode)."""
    from ml.core import redact

    base = redact.uri(settings.mlflow_public_uri or settings.mlflow_tracking_uri)
    return base.rstrip("/") if base.startswith(("http://", "https://")) else ""


def run_url(settings: Settings, experiment_id: str, run_id: str) -> str:
    """The page of one MLflow run ('' without a server)."""
    base = ui_base(settings)
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}" if base else ""


def model_version_url(settings: Settings, model_name: str, version: str | int) -> str:
    """The page of one registered model version ('' without a server)."""
    base = ui_base(settings)
    return f"{base}/#/models/{quote(model_name, safe='')}/versions/{version}" if base else ""
