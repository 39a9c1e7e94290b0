"""Launcher `kubernetes`: each step is a pod of the `ml` image (`KubernetesPodOperator`).

Imported by `ml_airflow.launch` only when `ML_LAUNCHER=kubernetes`, so the other launchers never load
the Kubernetes client. Where and how the pod runs (namespace, service account, Secret,
resources, GPUs) comes from `ml.launch.kube.PodSettings` (`ML_K8S_*`), the same description the Dagster
deployment uses. The contract of `docs/steps.md` holds as for the other launchers:

- the XCom `return_value` is the step's JSON result: the step writes it to
  `/airflow/xcom/return.json` (`ML_RESULT_PATH`), where the operator's XCom sidecar reads it;
- exit code 2 fails the task at once (`AirflowFailException`), anything else is retried with
  the policy's retries; the step's own `error: ...` line is the failure message;
- secrets reach the pod only through `envFrom` of the Kubernetes Secret: the worker's own secret
  variables are never copied into the pod spec, the rendered templates or the serialized DAG.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from kubernetes.client import models as k8s

from ml.launch.env import step_environment
from ml.launch.exits import drop_empty_options
from ml.launch.kube import PodSettings, load_pod_settings
from ml.launch.settings import load_launch_settings
from ml_airflow.launch import literal_environment
from ml_airflow.step_failure import step_failure

#: Where KubernetesPodOperator's XCom sidecar reads the result (the provider's fixed path).
XCOM_RESULT_PATH = "/airflow/xcom/return.json"
BASE_CONTAINER = "base"  # KubernetesPodOperator's name for the step container


def pod_parts(settings: PodSettings) -> dict[str, Any]:
    """Operator arguments for `settings`, as Kubernetes client objects."""
    parts: dict[str, Any] = {
        "namespace": settings.namespace,
        "service_account_name": settings.service_account,
        "image_pull_policy": settings.image_pull_policy,
        "container_resources": k8s.V1ResourceRequirements(**settings.resources()),
        "node_selector": settings.node_selector() or None,
        "tolerations": [k8s.V1Toleration(**t) for t in settings.tolerations()] or None,
        "env_from": _env_from(settings),
        "startup_timeout_seconds": settings.startup_timeout_seconds,
        "schedule_timeout_seconds": settings.startup_timeout_seconds,
    }
    if shm := settings.shm():
        volume, mount = shm
        empty_dir = volume["emptyDir"]
        parts["volumes"] = [
            k8s.V1Volume(
                name=volume["name"],
                empty_dir=k8s.V1EmptyDirVolumeSource(medium=empty_dir["medium"], size_limit=empty_dir["sizeLimit"]),
            )
        ]
        parts["volume_mounts"] = [k8s.V1VolumeMount(name=mount["name"], mount_path=mount["mountPath"])]
    return parts


def _env_from(settings: PodSettings) -> list[k8s.V1EnvFromSource]:
    sources = []
    for source in settings.env_from():
        if "secretRef" in source:
            sources.append(k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(**source["secretRef"])))
        else:
            sources.append(k8s.V1EnvFromSource(config_map_ref=k8s.V1ConfigMapEnvSource(**source["configMapRef"])))
    return sources


def _terminated(remote_pod: Any) -> Any:
    """The `terminated` state of the step container of a pod, or None when it never ran to an end."""
    statuses = getattr(getattr(remote_pod, "status", None), "container_statuses", None) or []
    for status in statuses:
        if status.name == BASE_CONTAINER and status.state and status.state.terminated:
            return status.state.terminated
    return None


def pod_failure(step: str, remote_pod: Any, error: AirflowException) -> AirflowException:
    """The exception carrying the retry policy for a failed step pod (see `step_failure`).

    The reason is the step's `error: ...` line from the container's termination message (its
    last log lines, `FallbackToLogsOnError`). A pod that never ran its step to an end (not
    scheduled, evicted, deleted) keeps the provider's `error`: an ordinary, retried failure.
    """
    terminated = _terminated(remote_pod)
    if terminated is None:
        return error
    lines = str(terminated.message or "").splitlines() or str(error).splitlines()
    return step_failure(step, int(terminated.exit_code), lines)


class MlKubernetesPodOperator(KubernetesPodOperator):
    """`KubernetesPodOperator` that returns the step's JSON result and maps its exit code to a policy."""

    template_fields_renderers: ClassVar[dict[str, str]] = {
        **KubernetesPodOperator.template_fields_renderers,
        "arguments": "py",
    }
    ui_color = "#e8eefa"

    def __init__(self, *, step: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step = step

    def build_pod_request_obj(self, context: Any = None, *, dry_run: bool = False) -> k8s.V1Pod:
        # Options rendered to '' are left out, so the step's own default applies.
        self.arguments = drop_empty_options(self.arguments)
        return super().build_pod_request_obj(context, dry_run=dry_run)

    def execute(self, context: Any) -> dict[str, Any]:
        result = super().execute(context)
        if not isinstance(result, dict):
            raise AirflowException(f"ml {self.step} exited 0 but wrote no JSON object to {XCOM_RESULT_PATH}")
        return result

    def cleanup(self, pod: Any, remote_pod: Any, xcom_result: dict | None = None, context: Any = None) -> None:
        try:
            super().cleanup(pod, remote_pod, xcom_result=xcom_result, context=context)
        except (AirflowFailException, AirflowSkipException):
            raise
        except AirflowException as exc:
            failure = pod_failure(self.step, remote_pod, exc)
            if failure is exc:
                raise
            raise failure from None


def kubernetes_task(step: str, command: list[str], common: dict[str, Any]) -> BaseOperator:
    """The `KubernetesPodOperator` task of one step (see the module docstring)."""
    settings = load_pod_settings()
    plain_env = step_environment("airflow").plain  # secrets come from the Secret, never from here
    plain_env["ML_RESULT_PATH"] = XCOM_RESULT_PATH
    timeout: timedelta = common["execution_timeout"]
    return MlKubernetesPodOperator(
        step=step,
        name=f"ml-{step}",
        image=settings.check_image(load_launch_settings().image),
        cmds=command[:1],
        arguments=command[1:],
        env_vars=literal_environment(plain_env),
        labels={"app.kubernetes.io/part-of": "ml-pipelines", "ml-step": step, "ml-orchestrator": "airflow"},
        get_logs=True,
        log_events_on_failure=True,
        do_xcom_push=True,
        on_finish_action="delete_pod",
        termination_message_policy="FallbackToLogsOnError",
        active_deadline_seconds=int(timeout.total_seconds()),
        **pod_parts(settings),
        **common,
    )
