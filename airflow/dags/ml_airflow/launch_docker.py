"""Launcher `docker` (default): each step is a container of the `ml` image (`DockerOperator`).

Imported by `ml_airflow.launch` only when `ML_LAUNCHER=docker`, so the other launchers never load the
Docker provider or SDK; the Docker daemon is contacted only when a task runs. Image, GPUs, CPU
weight, memory, /dev/shm, network and the step's environment (plain vs secret) are the launch
policy's (`ml.launch`), the same the Dagster run launcher applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.docker.exceptions import DockerContainerFailedException
from airflow.providers.docker.operators.docker import DockerOperator
from docker.errors import APIError
from docker.types import DeviceRequest

from ml.core.secrets import masks_in_logs
from ml.launch.env import step_environment
from ml.launch.exits import drop_empty_options
from ml.launch.settings import LaunchSettings, image_id, load_launch_settings, nvidia_runtime, parse_size
from ml_airflow.launch import literal_environment
from ml_airflow.step_failure import step_failure, step_result

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context


class MlDockerOperator(DockerOperator):
    """`DockerOperator` that returns the step's JSON result and maps its exit code to a policy.

    The container's stdout and stderr stream into the task log (DockerOperator does that); the
    XCom is the JSON object on the last line of the container's *stdout* only. The container is
    removed after every run, once its exit code has been read.
    """

    template_fields_renderers: ClassVar[dict[str, str]] = {**DockerOperator.template_fields_renderers, "command": "py"}
    ui_color = "#e3eefa"

    def __init__(self, *, step: str, policy: LaunchSettings, **kwargs: Any) -> None:
        kwargs["auto_remove"] = "never"  # we remove the container ourselves, after reading its exit code
        super().__init__(**kwargs)
        self.step = step
        self.policy = policy
        self.remove_container = True

    @property
    def gpus(self) -> str:
        """`ML_GPUS` as the policy read it."""
        return self.policy.gpus

    @property
    def probe_gpus(self) -> bool:
        """Whether GPUs depend on this Docker daemon's runtimes (`auto`), asked when the task runs."""
        return self.policy.needs_runtime_probe()

    @property
    def cli(self) -> Any:
        """DockerOperator's Docker client, whose container host configs carry the launch policy's
        hardening (`LaunchSettings.container_hardening`: no-new-privileges, no capabilities), which
        DockerOperator has no parameter for; the same the Dagster run launcher passes."""
        client = self.hook.api_client
        if not getattr(client, "_ml_hardened", False):
            plain, hardening = client.create_host_config, self.policy.container_hardening()
            client.create_host_config = lambda *args, **kwargs: plain(*args, **{**hardening, **kwargs})
            client._ml_hardened = True
        return client

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.log import mask_secret

        for name, value in self._private_environment.items():
            if value and masks_in_logs(name, value):
                mask_secret(value, name)
        self.command = drop_empty_options(self.command)
        if self.probe_gpus:
            self._probe_gpus()
        self.environment = {**self.environment, "ML_IMAGE_ID": image_id(self.cli, self.image)}
        self.labels = {**(self.labels or {}), **try_labels(context)}
        self._remove_earlier_tries()
        if self.device_requests:
            self.log.info("Launcher docker: GPU (%s requested, ML_GPUS=%s)", self.device_requests, self.gpus)
        else:
            self.log.info("Launcher docker: CPU (no GPU requested, ML_GPUS=%s)", self.gpus)
        try:
            super().execute(context)
            stdout = self._container_stdout()
        except DockerContainerFailedException as exc:
            raise step_failure(self.step, self._exit_code(), [str(x) for x in exc.logs or []]) from None
        finally:
            self._remove()
        return step_result(self.step, stdout)

    def _probe_gpus(self) -> None:
        """`ML_GPUS=auto`: every GPU when this Docker daemon has the NVIDIA runtime (ml.launch's probe)."""
        requests = self.policy.gpu_device_requests(nvidia_runtime(self.cli))
        self.device_requests = [DeviceRequest(**r) for r in requests] or None

    def _container_id(self) -> str | None:
        return (self.container or {}).get("Id")

    def _container_stdout(self) -> list[str]:
        raw = self.cli.logs(self._container_id(), stdout=True, stderr=False)
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
        return text.splitlines()

    def _exit_code(self) -> int:
        try:
            return int(self.cli.inspect_container(self._container_id())["State"]["ExitCode"])
        except (APIError, KeyError, TypeError, ValueError):  # container gone: an ordinary, retried failure
            return 1

    def _remove(self) -> None:
        cid = self._container_id()
        if cid and self.remove_container:
            try:
                self.cli.remove_container(cid, force=True)
            except APIError as exc:  # never hide the step's own outcome
                self.log.warning("Could not remove container %s: %s", cid[:12], exc)

    def _remove_earlier_tries(self) -> None:
        """Remove this task's containers left by an earlier try of the same run.

        Why: a try whose task process died with the scheduler (restart, OOM) never reached
        `_remove`, and its container may still be running the step. The new try owns the step now.
        """
        wanted = [f"{key}={value}" for key, value in self.labels.items() if key in IDENTITY_LABELS]
        for found in self.cli.containers(all=True, filters={"label": wanted}):
            self.log.warning("Removing container %s of an earlier try (%s)", found["Id"][:12], found.get("Status", ""))
            try:
                self.cli.remove_container(found["Id"], force=True)
            except APIError as exc:
                self.log.warning("Could not remove container %s: %s", found["Id"][:12], exc)

    def on_kill(self) -> None:
        """Kill and remove the step container at once (the run was cancelled or timed out).

        Not DockerOperator's graceful `stop`: `python -m ml` is PID 1 in the container, which
        ignores SIGTERM, so `stop` waits its 10 s grace period, long enough for the task
        supervisor to SIGKILL this process before the container is removed (seen in the fault
        phase: a cancelled run left its container behind). A step needs no graceful end: its
        outputs are published atomically, and a killed step leaves nothing where readers look.
        """
        self._remove()


#: Labels naming the task instance a step container belongs to (every try of it has the same).
IDENTITY_LABELS = ("ml.dag_id", "ml.task_id", "ml.run_id")


def try_labels(context: Context) -> dict[str, str]:
    """The container's task-instance labels: dag, task, run, and which try started it."""
    ti = context["ti"]
    return {"ml.dag_id": ti.dag_id, "ml.task_id": ti.task_id, "ml.run_id": ti.run_id, "ml.try": str(ti.try_number)}


def docker_task(step: str, command: list[str], common: dict[str, Any]) -> BaseOperator:
    """The `DockerOperator` task of one step (see the module docstring)."""
    policy = load_launch_settings()
    env = step_environment("airflow")
    limits = policy.container_limits()
    fixed_gpus = policy.gpu_device_requests(None) if not policy.needs_runtime_probe() else []
    return MlDockerOperator(
        step=step,
        policy=policy,
        image=policy.image,
        command=command,
        environment=literal_environment(env.plain),
        private_environment=env.secret,
        network_mode=policy.docker_network or None,
        docker_url=policy.docker_url or None,
        mount_tmp_dir=False,
        mem_limit=limits.get("mem_limit"),
        shm_size=parse_size(limits.get("shm_size", "")),
        cpus=policy.cpus,  # DockerOperator: cpu_shares = cpus * 1024, as container_limits() says
        device_requests=[DeviceRequest(**r) for r in fixed_gpus] or None,
        labels={"ml.step": step, "ml.orchestrator": "airflow"},
        tty=False,
        do_xcom_push=True,
        **common,
    )
