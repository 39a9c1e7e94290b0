"""Resources: where the object store is, as Dagster sees it.

The `ml` steps read their settings from the environment themselves (`ml.core.config`), so these
resources hold no secrets; they validate that environment once per step (so a bad setting
fails before any work, with ml's message) and describe the storage locations for the asset
metadata. MLflow links come in the steps' results (`ml/links.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from ml.core.config import Settings


def _settings() -> Settings:
    from ml.core.config import get_settings

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
