"""MLflow connection: one place that points the client at the server and survives blips.

MLflow's own HTTP client retries for minutes by default; we cap it and add our own bounded
retry with backoff around whole calls, then fail with one clear line (`TransientError`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TypeVar

from ml.core import progress, redact, retry
from ml.core.config import Settings
from ml.core.errors import BadInputError, TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")

_UNREACHABLE = ("max retries exceeded", "connection refused", "failed to establish", "name or service not known",
                "temporary failure in name resolution", "read timed out", "connection aborted", "bad gateway",
                "service unavailable", "gateway timeout")


def configure(settings: Settings) -> None:
    """Point MLflow at the configured server (or the embedded SQLite file)."""
    import mlflow

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "120")
    if not progress.interactive():  # in a task log its bar is one line per update (35 per model download)
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if settings.mlflow_tracking_uri.startswith("sqlite:///"):
        settings.home.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)


def is_unreachable(exc: BaseException) -> bool:
    import requests

    if isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError)):
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _UNREACHABLE)


def call(what: str, fn: Callable[[], T], settings: Settings) -> T:
    """Run an MLflow call, retrying only when the server is unreachable."""
    from mlflow.exceptions import MlflowException

    try:
        return retry.call(f"MLflow {what}", fn, is_unreachable, settings.retry_attempts)
    except Exception as exc:
        if is_unreachable(exc):
            raise TransientError(
                f"MLflow at {redact.uri(settings.mlflow_tracking_uri)} unreachable ({what}) after {settings.retry_attempts} attempts; "
                "check that the server runs and MLFLOW_TRACKING_URI"
            ) from exc
        if isinstance(exc, MlflowException) and exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise BadInputError(f"MLflow {what}: {str(exc).splitlines()[0]}") from exc
        raise


def experiment_id(settings: Settings) -> str:
    """The training runs' experiment (`ML_EXPERIMENT_NAME`), created on first use."""
    return named_experiment(settings, settings.experiment_name)


def named_experiment(settings: Settings, name: str, tags: dict[str, str] | None = None) -> str:
    """The id of the experiment `name` (training, champion history, monitoring), created on first use, race-safe.

    Embedded mode keeps artifacts beside the SQLite file instead of ./mlruns of the cwd.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient()

    def get_or_create() -> str:
        found = client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = None if settings.mlflow_tracking_uri.startswith("http") else (settings.home.resolve() / "artifacts").as_uri()
        try:
            return client.create_experiment(name, artifact_location=location, tags=tags)
        except Exception:  # a concurrent writer created it between the two calls
            again = client.get_experiment_by_name(name)
            if again is None:
                raise
            return again.experiment_id

    return call(f"experiment {name}", get_or_create, settings)
