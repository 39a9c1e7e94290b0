"""The Dagster instance of the compose deployment: a run worker stops itself when its run is cancelled.

Why: `terminateRun` is handled by the webserver, which (unlike the daemon) has no Docker socket,
so `DockerRunLauncher.terminate` cannot stop the run container from there. Dagster's run worker
has its own answer, a thread that polls the run's status and interrupts the run when it turns
CANCELING (`dagster._core.execution.run_cancellation_thread`), but the open-source instance keeps
it off. This instance turns it on; `run_monitoring.cancellation_thread_poll_interval_seconds` in
dagster.yaml says how often it polls. The interrupted run stops its step processes, is marked
CANCELED, and its container exits (and is removed: `auto_remove`). No Docker socket is added to
the webserver, the UI users reach.
"""

from __future__ import annotations

from typing import Any

from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef


class MlDagsterInstance(DagsterInstance):
    """`DagsterInstance` whose run workers watch for cancellation (see the module docstring)."""

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        """No settings of its own (a custom instance class must name them)."""
        return {}

    @staticmethod
    def config_defaults(base_dir: str) -> dict[str, Any]:
        """The storage defaults of the standard instance."""
        return InstanceRef.config_defaults(base_dir)

    @property
    def should_start_background_run_thread(self) -> bool:
        return True
