"""Resources: where the object store and MLflow are, as Dagster sees them.

The `ml` steps read their settings from the environment themselves (`ml.config`), so these
resources hold no secrets; they validate that environment once per step (so a bad setting
fails before any work, with ml's message) and turn step outputs into links and locations for
the asset metadata.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from ml.config import Settings


def _settings() -> Settings:
    from ml.config import get_settings

    return get_settings()


class StorageResource(dg.ConfigurableResource):
    """The object store (S3-compatible, or local folders in the embedded mode)."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        _settings()

    def describe(self) -> dict[str, str]:
        """Non-secret storage locations for metadata."""
        s = _settings()
        return {
            "s3_endpoint": s.s3_endpoint or "(local storage)",
            "work_uri": s.work_uri,
            "results_uri": s.results_uri,
        }


class MlflowResource(dg.ConfigurableResource):
    """The MLflow tracking server and model registry.

    `public_uri` overrides the base of the UI links only (default: ML_MLFLOW_PUBLIC_URI, else
    the tracking URI), for deployments where people reach MLflow at another address.
    """

    public_uri: str = ""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        _settings()

    @property
    def tracking_uri(self) -> str:
        return _settings().mlflow_tracking_uri

    def ui_base(self) -> str:
        """The URL people open (ML_MLFLOW_PUBLIC_URI, else the tracking URI); empty without a server."""
        s = _settings()
        base = self.public_uri or s.mlflow_public_uri or s.mlflow_tracking_uri
        return base.rstrip("/") if base.startswith("http") else ""

    def model_version_url(self, model_name: str, version: str) -> str:
        base = self.ui_base()
        return f"{base}/#/models/{model_name}/versions/{version}" if base else ""
