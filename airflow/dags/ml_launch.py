"""Launcher seam: turn one `python -m ml <step> ...` call into one Airflow task.

Why a seam: the DAG files only say *which* step runs with *which* options; how the step is
launched is chosen by the environment variable `ML_LAUNCHER` when the DAG file is parsed:

- `docker` (default): a `DockerOperator` that runs the step in the pinned `ml` image
  (`ML_IMAGE`) on the compose network (`ML_DOCKER_NETWORK`), GPUs by `ML_GPUS`;
- `local`: the same argv as a subprocess of the Airflow worker (tests, embedded mode);
- `kubernetes`: a `KubernetesPodOperator` that runs the step as a pod of the same image, placed
  and sized by `ML_K8S_*` (`ml.kube.PodSettings`; the launcher lives in `ml_launch_k8s.py`).

Every launcher keeps the contract of `docs/steps.md`: the task's XCom `return_value` is the
JSON object the step printed on its last stdout line; exit code 2 (bad input) fails the task at
once without retries (`AirflowFailException`); any other failure is retried with exponential
backoff. This module sits in the DAG folder (Airflow puts that folder on `sys.path`) and is kept
out of DAG parsing by `.airflowignore`. Importing it is cheap: the Docker provider and the Docker
SDK are imported only when the docker launcher is used, and the Docker daemon is only contacted
when a task runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from airflow.sdk import Context

EXIT_BAD_INPUT = 2  # ml.errors.EXIT_BAD_INPUT: retrying cannot help
EXIT_TRANSIENT = 75  # ml.errors.EXIT_TRANSIENT: a service stayed unreachable

DEFAULT_IMAGE = "ml-pipeline/ml:latest"

#: Retry policy of every step task (bad input never reaches it: AirflowFailException).
RETRY_ARGS: dict[str, Any] = {
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
}

#: Worker environment forwarded to the step (storage, MLflow, ml settings, model caches).
FORWARDED_ENV_PREFIXES = ("ML_", "MLFLOW_", "AWS_", "HF_", "TRANSFORMERS_", "TOKENIZERS_")
#: Settings of the launcher itself: they mean nothing inside the step.
LAUNCHER_ONLY_ENV = frozenset(
    {
        "ML_LAUNCHER",
        "ML_DOCKER_NETWORK",
        "ML_DOCKER_URL",
        "ML_GPUS",
        "ML_MEM_LIMIT",
        "ML_SHM_SIZE",
        "ML_CPUS",
        "ML_LOCAL_PYTHON",
        "ML_DATASET_URI",
        "ML_INFERENCE_INPUT_TEMPLATE",
    }
)
#: A variable whose name contains one of these words is a secret: `private_environment` only.
SECRET_MARKERS = ("SECRET", "KEY", "PASSWORD", "TOKEN", "CREDENTIAL", "PASSWD")


# --- helpers of the DAG files ----------------------------------------------------------------

#: URIs the `ml` storage layer reads: s3://bucket/key, http(s)://, file:// or an absolute path.
URI_PATTERN = r"^(s3://[^/\s]+/\S+|https?://\S+|file://\S+|/\S+)$"


def env_number(name: str, kind: type[int | float], default: Any) -> Any:
    """A param default from the environment: `kind(os.environ[name])`, or `default` when unset."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a valid {kind.__name__}; fix it or unset it") from None


def xcom(task_id: str, key: str) -> str:
    """Template for one key of an upstream step's JSON output (its XCom `return_value`)."""
    return f"{{{{ ti.xcom_pull(task_ids='{task_id}')['{key}'] }}}}"


def optional_param(name: str) -> str:
    """Template that renders a nullable param, or '' when it is null (the option is then omitted)."""
    return f"{{{{ params.{name} if params.{name} is not none else '' }}}}"


def is_secret(name: str) -> bool:
    """True for variables that must never appear in plain environment or rendered templates."""
    upper = name.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


def masks_in_logs(name: str) -> bool:
    """Secrets whose values are also masked in task logs.

    An S3 access key id is an identifier, often a plain word such as the project name: it stays
    private but is not masked, or every log line with that word would read `***`.
    """
    upper = name.upper()
    return is_secret(name) and not upper.endswith(("ACCESS_KEY", "ACCESS_KEY_ID"))


def step_environment(environ: Mapping[str, str] | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """Split the forwarded worker environment into (plain, secret) dicts for the step."""
    environ = os.environ if environ is None else environ
    plain: dict[str, str] = {}
    secret: dict[str, str] = {}
    for name, value in sorted(environ.items()):
        if not name.startswith(FORWARDED_ENV_PREFIXES) or name in LAUNCHER_ONLY_ENV or name.startswith("ML_K8S_"):
            continue
        (secret if is_secret(name) else plain)[name] = value
    plain["ML_ORCHESTRATOR"] = "airflow"
    return plain, secret


def ml_argv(step: str, options: Mapping[str, str]) -> list[str]:
    """`python -m ml <step> --run-id {{ run_id }} --orchestrator airflow --opt value ...`."""
    argv = ["python", "-m", "ml", step, "--run-id", "{{ run_id }}", "--orchestrator", "airflow"]
    for option, value in options.items():
        argv += [f"--{option.lstrip('-').replace('_', '-')}", value]
    return argv


def drop_empty_options(argv: Sequence[str]) -> list[str]:
    """Drop `--option ''` pairs from a rendered argv, so the step's own default applies."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        item = str(argv[i])
        if item.startswith("--") and i + 1 < len(argv) and str(argv[i + 1]).strip() == "":
            i += 2
            continue
        out.append(item)
        i += 1
    return out


# --- the step's result and failure ------------------------------------------------------------


def error_reason(lines: Iterable[str]) -> str:
    """The step's one-line `error: ...` message, else its last non-empty output line."""
    stripped = [str(line).strip() for line in lines if str(line).strip()]
    for line in reversed(stripped):
        if line.startswith("error:"):
            return line
    return stripped[-1] if stripped else "(the step printed nothing)"


def step_failure(step: str, exit_code: int, lines: Iterable[str]) -> AirflowException:
    """The exception that carries the retry policy for a step's exit code."""
    reason = error_reason(lines)
    if exit_code == EXIT_BAD_INPUT:
        return AirflowFailException(f"ml {step} rejected its input (exit 2, not retried): {reason}")
    kind = "a service stayed unreachable" if exit_code == EXIT_TRANSIENT else "failed"
    return AirflowException(f"ml {step} {kind} (exit {exit_code}, retried): {reason}")


def parse_result(step: str, stdout_lines: Sequence[str]) -> dict[str, Any]:
    """The JSON object on the step's last non-empty stdout line (the step contract)."""
    lines = [line.strip() for line in stdout_lines if line.strip()]
    last = lines[-1] if lines else ""
    try:
        result = json.loads(last)
    except ValueError:
        result = None
    if not isinstance(result, dict):
        raise AirflowException(f"ml {step} exited 0 but its last stdout line is not a JSON object: {last[:200]!r}")
    return result


# --- launchers --------------------------------------------------------------------------------


class MlLocalOperator(BaseOperator):
    """Run `python -m ml <step> ...` as a subprocess of the worker (launcher `local`).

    stderr (the step's logs) streams into the task log line by line; the last stdout line is
    parsed as JSON and returned (XCom `return_value`). The interpreter is `ML_LOCAL_PYTHON`
    when set, else the worker's own.
    """

    template_fields: Sequence[str] = ("command", "environment")
    template_fields_renderers: ClassVar[dict[str, str]] = {"command": "py", "environment": "json"}
    ui_color = "#e8f4e8"

    def __init__(
        self, *, step: str, command: list[str], environment: dict[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.step = step
        self.command = command
        self.environment = environment or {}
        self._proc: subprocess.Popen[str] | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        argv = drop_empty_options(self.command)
        argv[0] = os.environ.get("ML_LOCAL_PYTHON") or sys.executable
        env = {**os.environ, **self.environment}
        self.log.info("Launcher local: %s -m ml %s", argv[0], " ".join(argv[3:]))
        proc = self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env=env,
            start_new_session=True,  # on_kill ends the step and anything it started
        )
        stderr_tail: deque[str] = deque(maxlen=50)

        def pump_stderr() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                line = line.rstrip("\n")
                stderr_tail.append(line)
                self.log.info("%s", line)

        reader = threading.Thread(target=pump_stderr, name=f"ml-{self.step}-stderr", daemon=True)
        reader.start()
        stdout_lines: list[str] = []
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip("\n")
                stdout_lines.append(line)
                self.log.info("stdout: %s", line)
            exit_code = proc.wait()
            reader.join()
        finally:
            if proc.poll() is None:  # timeout or kill while the step runs
                self._terminate()
        if exit_code != 0:
            raise step_failure(self.step, exit_code, list(stderr_tail) + stdout_lines[-5:])
        return parse_result(self.step, stdout_lines)

    def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def on_kill(self) -> None:
        self._terminate()


def gpu_mode() -> str:
    """`ML_GPUS`: `all` (always request GPUs), `auto` (when the daemon has an NVIDIA runtime), `none`."""
    mode = os.environ.get("ML_GPUS", "auto").strip().lower() or "auto"
    if mode not in ("all", "auto", "none"):
        raise ValueError(f"ML_GPUS={mode!r} is not valid; use all, auto or none")
    return mode


def gpu_device_requests() -> list[Any]:
    """Docker device request for every NVIDIA GPU (`--gpus all`)."""
    from docker.types import DeviceRequest

    return [DeviceRequest(count=-1, capabilities=[["gpu"]])]


def parse_size(value: str | None) -> int | None:
    """`2g`, `512m`, `1073741824` -> bytes; empty -> None."""
    if value is None or not str(value).strip():
        return None
    from docker.utils import parse_bytes

    try:
        return int(parse_bytes(str(value).strip()))
    except Exception as exc:  # docker raises DockerException with a long message
        raise ValueError(f"size {value!r} is not valid; use bytes or a number with b, k, m or g") from exc


@cache
def docker_operator_class() -> type[BaseOperator]:
    """`MlDockerOperator`, defined on first use so that the Docker SDK loads only for this launcher."""
    from airflow.providers.docker.exceptions import DockerContainerFailedException
    from airflow.providers.docker.operators.docker import DockerOperator
    from docker.errors import APIError

    class MlDockerOperator(DockerOperator):
        """`DockerOperator` that returns the step's JSON result and maps its exit code to a policy.

        The container's stdout and stderr stream into the task log (DockerOperator does that);
        the XCom is the JSON object on the last line of the container's *stdout* only. The
        container is removed after every run, once its exit code has been read.
        """

        template_fields_renderers: ClassVar[dict[str, str]] = {
            **DockerOperator.template_fields_renderers,
            "command": "py",
        }
        ui_color = "#e3eefa"

        def __init__(self, *, step: str, gpus: str = "auto", **kwargs: Any) -> None:
            # We remove the container ourselves, after reading its exit code and stdout.
            kwargs["auto_remove"] = "never"
            super().__init__(**kwargs)
            self.step = step
            self.gpus = gpus
            self.remove_container = True

        def execute(self, context: Context) -> dict[str, Any]:
            from airflow.sdk.log import mask_secret

            for name, value in self._private_environment.items():
                if value and masks_in_logs(name):
                    mask_secret(value, name)
            self.command = drop_empty_options(self.command)
            self._choose_device()
            try:
                super().execute(context)
                stdout = self._container_stdout()
            except DockerContainerFailedException as exc:
                exit_code = self._exit_code()
                raise step_failure(self.step, exit_code, [str(x) for x in exc.logs or []]) from None
            finally:
                self._remove()
            return parse_result(self.step, stdout)

        def _choose_device(self) -> None:
            if self.gpus == "all":
                self.device_requests = self.device_requests or gpu_device_requests()
            elif self.gpus == "auto":
                runtimes = (self.cli.info() or {}).get("Runtimes") or {}
                self.device_requests = gpu_device_requests() if "nvidia" in runtimes else None
            else:
                self.device_requests = None
            if self.device_requests:
                self.log.info("Launcher docker: GPU (all NVIDIA GPUs requested, ML_GPUS=%s)", self.gpus)
            else:
                self.log.info("Launcher docker: CPU (no GPU requested, ML_GPUS=%s)", self.gpus)

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

        def on_kill(self) -> None:
            super().on_kill()
            self._remove()

    MlDockerOperator.__module__ = __name__
    MlDockerOperator.__qualname__ = "MlDockerOperator"
    return MlDockerOperator


def _local_task(step: str, command: list[str], common: dict[str, Any]) -> BaseOperator:
    # The subprocess inherits the worker's environment: nothing secret is copied into a field.
    return MlLocalOperator(step=step, command=command, environment={"ML_ORCHESTRATOR": "airflow"}, **common)


def _docker_task(step: str, command: list[str], common: dict[str, Any]) -> BaseOperator:
    plain_env, secret_env = step_environment()
    gpus = gpu_mode()
    return docker_operator_class()(
        step=step,
        gpus=gpus,
        image=os.environ.get("ML_IMAGE") or DEFAULT_IMAGE,
        command=command,
        environment=plain_env,
        private_environment=secret_env,
        network_mode=os.environ.get("ML_DOCKER_NETWORK") or None,
        docker_url=os.environ.get("ML_DOCKER_URL") or None,
        mount_tmp_dir=False,
        mem_limit=os.environ.get("ML_MEM_LIMIT") or None,
        shm_size=parse_size(os.environ.get("ML_SHM_SIZE", "2g")),
        cpus=env_number("ML_CPUS", float, 1.0),
        device_requests=gpu_device_requests() if gpus == "all" else None,
        labels={"ml.step": step, "ml.orchestrator": "airflow"},
        tty=False,
        do_xcom_push=True,
        **common,
    )


def _kubernetes_task(step: str, command: list[str], common: dict[str, Any]) -> BaseOperator:
    from ml_launch_k8s import kubernetes_task

    return kubernetes_task(step, command, common, image=os.environ.get("ML_IMAGE"))


_BUILDERS = {"docker": _docker_task, "local": _local_task, "kubernetes": _kubernetes_task}


def ml_task(
    step: str,
    *,
    task_id: str,
    options: Mapping[str, str] | None = None,
    timeout: timedelta,
    doc_md: str | None = None,
) -> BaseOperator:
    """The task that runs `python -m ml <step>` with the launcher named by `ML_LAUNCHER`.

    `options` maps CLI option names to (templated) values; a value that renders to '' is left
    out so the step's default applies. Must be called inside a `with DAG(...)` block.
    """
    common: dict[str, Any] = {
        "task_id": task_id,
        "execution_timeout": timeout,
        "doc_md": doc_md,
        **RETRY_ARGS,
    }
    from ml.kube import launcher_name  # ml is installed in the Airflow image (without its heavy dependencies)

    return _BUILDERS[launcher_name()](step, ml_argv(step, options or {}), common)
