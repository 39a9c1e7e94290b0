"""`DockerRunLauncher` that starts each run container by the launch policy (`ml.launch`).

Why a subclass: `container_kwargs` in `dagster.yaml` is a literal mapping (no env substitution),
but GPUs, limits and the forwarded environment are per-deployment choices that the Airflow
launcher reads from the same variables. This launcher asks `ml.launch` for all of them:
`LaunchSettings` (`ML_GPUS`, `ML_CPUS`, `ML_MEM_LIMIT`, `ML_SHM_SIZE`, one GPU grammar and one
NVIDIA-runtime probe) and `step_environment` (which variables a step receives). It runs in the
Dagster daemon, the one container with the Docker socket, so it is also where `ML_GPUS=auto` can
ask the Docker daemon whether an NVIDIA runtime exists.

The daemon image installs `ml` without its dependencies (only `ml.launch` and `ml.core.config` are used).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.launcher.base import LaunchRunContext
from dagster._core.storage.dagster_run import DagsterRun
from dagster_docker import DockerRunLauncher
from dagster_docker.container_context import DockerContainerContext

from ml.core.catalog import TEXT_VARIABLE
from ml.launch.env import step_environment
from ml.launch.settings import LaunchSettings, image_id, load_launch_settings, nvidia_runtime

#: Labels of every run container (a Dagster run runs all its steps in one container).
STEP_LABELS = {"ml.orchestrator": "dagster", "ml.step": "run"}
#: Docker states of a run container that can neither work nor end by itself.
STUCK_STATES = frozenset({"paused", "restarting"})


def _labels(value: Any) -> dict[str, str]:
    """container_kwargs `labels` as a dict (Docker also takes a list of names)."""
    if isinstance(value, list):
        return {str(key): "" for key in value}
    return dict(value or {})


class MlDockerRunLauncher(DockerRunLauncher):
    """Launches each run in the `ml` image with the launch policy's GPUs, limits and environment."""

    def __init__(self, inst_data: Any = None, **kwargs: Any) -> None:
        self.launch_settings: LaunchSettings = load_launch_settings()  # a bad ML_GPUS fails at instance load
        self._nvidia_runtime: bool | None = None
        super().__init__(inst_data=inst_data, **kwargs)

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> MlDockerRunLauncher:
        return cls(inst_data=inst_data, **config_value)

    def _has_nvidia_runtime(self) -> bool:
        """Ask the Docker daemon once whether it can run NVIDIA GPU containers."""
        if self._nvidia_runtime is None:
            import docker
            from docker.errors import DockerException

            try:
                self._nvidia_runtime = nvidia_runtime(docker.client.from_env())
            except DockerException as exc:
                raise RuntimeError(
                    f"ML_GPUS=auto: cannot ask the Docker daemon for its runtimes ({exc}); "
                    "mount the Docker socket or set ML_GPUS to none/all"
                ) from exc
        return self._nvidia_runtime

    def device_requests(self) -> list[dict[str, Any]]:
        """The GPUs every run container gets (empty: CPU only)."""
        policy = self.launch_settings
        return policy.gpu_device_requests(self._has_nvidia_runtime() if policy.needs_runtime_probe() else None)

    def get_container_context(self, dagster_run: DagsterRun) -> DockerContainerContext:
        context = super().get_container_context(dagster_run)
        listed = {entry.split("=", 1)[0] for entry in context.env_vars}
        env = step_environment("dagster")
        # Values travel by name (read from this process at launch), never written into the run config.
        fixed = [f"ML_ORCHESTRATOR={env.plain['ML_ORCHESTRATOR']}", *self._image_env(dagster_run)]
        # The model catalog's content: read from the file this daemon mounts, so it travels by value
        # (the run container builds every model's jobs from it, as the code location did).
        fixed += [f"{name}={env.plain[name]}" for name in (TEXT_VARIABLE,) if name in env.plain]
        fixed_names = {entry.split("=", 1)[0] for entry in fixed}
        extra = [name for name in env.names() if name not in listed and name not in fixed_names] + fixed
        policy = {**self.launch_settings.container_limits(), **self.launch_settings.container_hardening()}
        kwargs: dict[str, Any] = {
            key: value for key, value in policy.items()
            if key not in context.container_kwargs  # explicit container_kwargs in dagster.yaml win
        }
        requests = self.device_requests()
        if requests and "device_requests" not in context.container_kwargs:
            kwargs["device_requests"] = requests
        # The label every ml step container carries (Airflow's too): `make clean`, the e2e teardown
        # and the fault phase find run containers by it. DockerRunLauncher adds dagster/run_id.
        kwargs["labels"] = {**STEP_LABELS, **_labels(context.container_kwargs.get("labels"))}
        return context.merge(DockerContainerContext(env_vars=extra, container_kwargs=kwargs))

    def _image_env(self, dagster_run: DagsterRun) -> list[str]:
        """`ML_IMAGE` and `ML_IMAGE_ID` of the image this run starts in (lineage tags of its model)."""
        import docker

        if dagster_run.job_code_origin is None:
            return []
        image = self._get_docker_image(dagster_run.job_code_origin)
        return [f"ML_IMAGE={image}", f"ML_IMAGE_ID={image_id(docker.client.from_env().api, image)}"]

    def launch_run(self, context: LaunchRunContext) -> None:
        requests = self.get_container_context(context.dagster_run).container_kwargs.get("device_requests")
        self._instance.report_engine_event(
            message=f"Run container GPUs: {requests if requests else 'none (CPU)'} (ML_GPUS={self.launch_settings.gpus!r})",
            dagster_run=context.dagster_run,
            cls=self.__class__,
        )
        super().launch_run(context)

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        """Dagster's check, plus: a run container that is frozen (paused) or stuck restarting is
        removed once the check fails the run, so a hung worker leaves nothing behind; the monitor
        then fails the run and `run_retries` starts it again (dagster.yaml)."""
        result = super().check_run_worker_health(run)
        container = self._get_container(run) if result.status == WorkerStatus.FAILED else None
        if container is not None and container.status in STUCK_STATES:
            from docker.errors import DockerException

            try:
                container.remove(force=True)
                message = f"Run container {container.short_id} was {container.status}: removed it (hung run worker)."
            except DockerException as exc:
                message = f"Run container {container.short_id} was {container.status}; removing it failed: {exc}"
            self._instance.report_engine_event(message=message, dagster_run=run, cls=self.__class__)
        return result

    def terminate(self, run_id: str) -> bool:
        """Stop the run container when this process has the Docker socket (the daemon); elsewhere
        (the webserver, which handles terminateRun) the run is marked CANCELING and its run worker
        stops itself (ml_dagster/instance.py). Never an error for the user's cancel request."""
        from docker.errors import DockerException

        try:
            return super().terminate(run_id)
        except DockerException as exc:
            run = self._instance.get_run_by_id(run_id)
            if run is None:
                return False
            self._instance.report_engine_event(
                message=f"No Docker daemon here ({type(exc).__name__}); the run worker stops itself on CANCELING.",
                dagster_run=run,
                cls=self.__class__,
            )
            return True
