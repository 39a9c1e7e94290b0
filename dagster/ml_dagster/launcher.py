"""`DockerRunLauncher` that adds GPUs when `ML_GPUS` asks and forwards the `ML_*` settings.

Why a subclass: `container_kwargs` in `dagster.yaml` is a literal mapping (no env
substitution inside it), but whether a machine has GPUs is a per-deployment choice
(`ML_GPUS`, the same variable the Airflow launcher reads). The launcher runs in the
Dagster daemon, the one container with the Docker socket, so it is also the only place
that can ask the Docker daemon whether an NVIDIA runtime exists (`ML_GPUS=auto`).

It also forwards every variable of the daemon's environment whose name starts with one of
`forward_env_prefixes` (`ML_`, `MLFLOW_`), like the Airflow launcher does: the stock `env_vars`
list fails a launch when a listed variable is unset, and listing every optional `ML_*`
setting by name would force deployments to set them all.

This module imports only dagster and dagster-docker: the webserver/daemon image has no `ml`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import Field, StringSource
from dagster._core.launcher.base import LaunchRunContext
from dagster._core.storage.dagster_run import DagsterRun
from dagster_docker import DockerRunLauncher
from dagster_docker.container_context import DockerContainerContext
from dagster_docker.utils import DOCKER_CONFIG_SCHEMA

GPU_HELP = "ML_GPUS must be 'none' (or empty), 'all', 'auto', or comma-separated device ids like '0,1'"


def device_requests_for(gpus: str, nvidia_runtime: bool | None = None) -> list[dict[str, Any]]:
    """Docker `device_requests` for an `ML_GPUS` value; `auto` needs `nvidia_runtime` known."""
    value = (gpus or "").strip().lower()
    if value in ("", "none", "0", "false", "cpu"):
        return []
    if value == "all" or (value == "auto" and nvidia_runtime):
        return [{"count": -1, "capabilities": [["gpu"]]}]
    if value == "auto":
        return []
    ids = [part.strip() for part in value.split(",")]
    if not all(part.isdigit() or part.startswith("gpu-") for part in ids):
        raise ValueError(f"{GPU_HELP}, got {gpus!r}")
    return [{"device_ids": ids, "capabilities": [["gpu"]]}]


class MlDockerRunLauncher(DockerRunLauncher):
    """Launches each run in the `ml` image, with GPUs per `gpus` (`ML_GPUS`)."""

    def __init__(
        self,
        inst_data: Any = None,
        gpus: str = "none",
        forward_env_prefixes: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        device_requests_for(gpus, nvidia_runtime=False)  # fail at instance load on a bad value
        self.gpus = gpus
        self.forward_env_prefixes = tuple(forward_env_prefixes)
        self._nvidia_runtime: bool | None = None
        super().__init__(inst_data=inst_data, **kwargs)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {
            **DOCKER_CONFIG_SCHEMA,
            "gpus": Field(
                StringSource,
                is_required=False,
                default_value="none",
                description=GPU_HELP + " (auto: all GPUs when the Docker daemon has an NVIDIA runtime).",
            ),
            "forward_env_prefixes": Field(
                [str],
                is_required=False,
                default_value=[],
                description="Forward every variable of this process's environment with one of these prefixes.",
            ),
        }

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> MlDockerRunLauncher:
        return cls(inst_data=inst_data, **config_value)

    def _has_nvidia_runtime(self) -> bool:
        """Ask the Docker daemon once whether it can run NVIDIA GPU containers."""
        if self._nvidia_runtime is None:
            import docker
            from docker.errors import DockerException

            try:
                runtimes = docker.client.from_env().info().get("Runtimes") or {}
            except DockerException as exc:
                raise RuntimeError(
                    f"ML_GPUS=auto: cannot ask the Docker daemon for its runtimes ({exc}); "
                    "mount the Docker socket or set ML_GPUS to none/all"
                ) from exc
            self._nvidia_runtime = "nvidia" in runtimes
        return self._nvidia_runtime

    def device_requests(self) -> list[dict[str, Any]]:
        """The GPUs every run container gets (empty: CPU only)."""
        auto = self.gpus.strip().lower() == "auto"
        return device_requests_for(self.gpus, nvidia_runtime=self._has_nvidia_runtime() if auto else None)

    def forwarded_env_vars(self) -> list[str]:
        """Names of the environment variables forwarded by prefix (values read at launch)."""
        if not self.forward_env_prefixes:
            return []
        return sorted(name for name in os.environ if name.startswith(self.forward_env_prefixes))

    def get_container_context(self, dagster_run: DagsterRun) -> DockerContainerContext:
        context = super().get_container_context(dagster_run)
        listed = {entry.split("=", 1)[0] for entry in context.env_vars}
        extra = [name for name in self.forwarded_env_vars() if name not in listed]
        if extra:
            context = context.merge(DockerContainerContext(env_vars=extra))
        requests = self.device_requests()
        if not requests or "device_requests" in context.container_kwargs:
            return context  # explicit container_kwargs.device_requests win over ML_GPUS
        return context.merge(DockerContainerContext(container_kwargs={"device_requests": requests}))

    def launch_run(self, context: LaunchRunContext) -> None:
        requests = self.get_container_context(context.dagster_run).container_kwargs.get("device_requests")
        self._instance.report_engine_event(
            message=f"Run container GPUs: {requests if requests else 'none (CPU)'} (ML_GPUS={self.gpus!r})",
            dagster_run=context.dagster_run,
            cls=self.__class__,
        )
        super().launch_run(context)
