"""The kubernetes launcher without a cluster: the pods the DAGs would create, and the failure policy.

Each task's pod comes from the provider's own pod-building path (`build_pod_request_obj` in
dry-run mode, the one `KubernetesPodOperator.dry_run` uses) after rendering the task's templates
as a run would. What needs a live API server (creating the pod, reading the XCom sidecar) is
the provider's code and is not exercised here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from dag_render import PLAIN, SECRETS, ml_args, render

IMAGE = "registry.example/ml:1.2.3"
K8S_ENV = {"ML_LAUNCHER": "kubernetes", "ML_IMAGE": IMAGE, **SECRETS, **PLAIN}


def pod_of(task: Any, conf: dict[str, Any] | None = None) -> dict[str, Any]:
    """The rendered task's pod as the Kubernetes API would receive it (camelCase JSON)."""
    from kubernetes.client import ApiClient

    pod = render(task, conf).build_pod_request_obj(dry_run=True)
    return ApiClient().sanitize_for_serialization(pod)


def step_container(pod: dict[str, Any]) -> dict[str, Any]:
    (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "base"]
    return container


@pytest.fixture
def k8s_dags(load_dags) -> Any:
    def load(**env: str) -> dict[str, Any]:
        bag = load_dags(**{**K8S_ENV, **env})
        assert bag.import_errors == {}
        return bag.dags

    return load


def test_train_pod_runs_the_step_in_the_image_in_the_namespace(k8s_dags):
    task = k8s_dags()["ml_training"].get_task("train_model")
    pod = pod_of(task, conf={"epochs": 2, "max_train_samples": 100})
    container = step_container(pod)
    assert pod["metadata"]["namespace"] == "ml-pipelines"
    assert pod["spec"]["serviceAccountName"] == "ml-steps"
    assert pod["spec"]["restartPolicy"] == "Never"
    assert container["image"] == IMAGE
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["command"] + container["args"] == ml_args(
        "train", data_uri="s3://ml-work/r1/data", epochs=2, max_train_samples=100
    )  # unset params are left out, so the step's defaults apply
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert pod["metadata"]["labels"]["ml-step"] == "train"


def test_every_pod_takes_secrets_from_the_secret_and_holds_no_secret_value(k8s_dags):
    for dag in k8s_dags(ML_K8S_MEMORY_LIMIT="9Gi").values():
        for task in dag.tasks:
            pod = pod_of(task)
            container = step_container(pod)
            assert container["envFrom"] == [
                {"secretRef": {"name": "ml-pipeline-secrets"}},
                {"configMapRef": {"name": "ml-pipeline-config", "optional": True}},
            ]
            env = {item["name"]: item["value"] for item in container["env"]}
            assert {name: env[name] for name in PLAIN} == PLAIN
            assert env["ML_RESULT_PATH"] == "/airflow/xcom/return.json"  # read by the XCom sidecar
            assert env["ML_ORCHESTRATOR"] == "airflow"
            assert not set(SECRETS) & set(env), task.task_id
            assert env["ML_IMAGE"] == IMAGE  # provenance: recorded on the MLflow run
            assert not [name for name in env if name == "ML_LAUNCHER" or name.startswith("ML_K8S_")]
            serialized = json.dumps(pod)
            for value in SECRETS.values():
                assert value not in serialized, task.task_id


def test_serialized_dags_hold_no_secret(k8s_dags):
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in k8s_dags().values():
        serialized = json.dumps(DagSerialization.serialize_dag(dag))
        assert "ml-pipeline-secrets" in serialized
        for value in SECRETS.values():
            assert value not in serialized, dag.dag_id


def test_cpu_pods_ask_for_no_gpu_and_no_gpu_nodes(k8s_dags):
    pod = pod_of(k8s_dags()["ml_training"].get_task("train_model"))
    resources = step_container(pod)["resources"]
    assert resources == {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "8Gi"}}
    assert not pod["spec"].get("nodeSelector")
    assert not pod["spec"].get("tolerations")


def test_gpu_pods_get_gpu_limits_node_selector_and_toleration(k8s_dags):
    dags = k8s_dags(ML_K8S_GPUS="2", ML_K8S_MEMORY_LIMIT="30Gi", ML_K8S_CPU_LIMIT="8")
    pod = pod_of(dags["ml_training"].get_task("train_model"))
    resources = step_container(pod)["resources"]
    assert resources["limits"] == {"memory": "30Gi", "cpu": "8", "nvidia.com/gpu": "2"}
    assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["spec"]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_namespace_secret_and_service_account_come_from_the_environment(k8s_dags):
    dags = k8s_dags(ML_K8S_NAMESPACE="team-a", ML_K8S_SECRET="team-a-ml", ML_K8S_SERVICE_ACCOUNT="runner")
    pod = pod_of(dags["ml_inference"].get_task("run_inference"))
    assert pod["metadata"]["namespace"] == "team-a"
    assert pod["spec"]["serviceAccountName"] == "runner"
    assert step_container(pod)["envFrom"][0] == {"secretRef": {"name": "team-a-ml"}}


def test_pods_are_deleted_when_done_and_bounded_in_time(k8s_dags):
    for dag in k8s_dags().values():
        for task in dag.tasks:
            assert task.on_finish_action.value == "delete_pod"
            assert task.do_xcom_push is True
            assert task.get_logs is True
            assert task.startup_timeout_seconds == 900
            assert task.active_deadline_seconds == int(task.execution_timeout.total_seconds())
            pod = pod_of(task)
            shm = [v for v in pod["spec"]["volumes"] if v["name"] == "dshm"]
            assert shm == [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}]


@pytest.mark.parametrize(
    ("image", "words"),
    [("registry.example/ml:latest", "moving tag"), ("registry.example/ml", "moving tag"), ("", "moving tag")],
)
def test_a_moving_image_tag_is_a_clear_import_error(load_dags, image, words):
    bag = load_dags(ML_LAUNCHER="kubernetes", ML_IMAGE=image)
    assert set(bag.import_errors) == {"ml_training.py", "ml_inference.py"}
    for error in bag.import_errors.values():
        assert words in error and "immutable tag" in error


def test_an_immutable_tag_or_digest_is_accepted(load_dags):
    assert load_dags(ML_LAUNCHER="kubernetes", ML_IMAGE="registry.example/ml@sha256:" + "a" * 64).import_errors == {}
    assert load_dags(ML_LAUNCHER="kubernetes", ML_IMAGE=IMAGE, ML_K8S_IMAGE_PULL_POLICY="Always").import_errors == {}


def test_bad_pod_setting_is_a_one_line_import_error(load_dags):
    bag = load_dags(ML_LAUNCHER="kubernetes", ML_IMAGE=IMAGE, ML_K8S_GPUS="two")
    for error in bag.import_errors.values():
        assert "invalid setting ML_K8S_GPUS='two'" in error


# --- the failure policy on a finished pod -------------------------------------------------------


def finished_pod(exit_code: int | None, message: str = "") -> Any:
    from kubernetes.client import models as k8s

    state = (
        k8s.V1ContainerState(terminated=k8s.V1ContainerStateTerminated(exit_code=exit_code, message=message))
        if exit_code is not None
        else k8s.V1ContainerState(waiting=k8s.V1ContainerStateWaiting(reason="ImagePullBackOff"))
    )
    status = k8s.V1ContainerStatus(name="base", image=IMAGE, image_id="", ready=False, restart_count=0, state=state)
    return k8s.V1Pod(status=k8s.V1PodStatus(phase="Failed", container_statuses=[status]))


@pytest.fixture
def launch_k8s(load_dags) -> Any:
    load_dags(**K8S_ENV)
    import ml_airflow.launch_k8s

    return ml_airflow.launch_k8s


def test_bad_input_exit_fails_the_task_without_retry_with_the_steps_reason(launch_k8s):
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    logs = "INFO reading s3://datasets/x.csv\nerror: s3://datasets/x.csv has no column 'text'; set ML_TEXT_COLUMN"
    failure = launch_k8s.pod_failure("load-training-data", finished_pod(2, logs), AirflowException("Pod failed"))
    assert isinstance(failure, AirflowFailException)
    assert "exit 2, not retried" in str(failure)
    assert "error: s3://datasets/x.csv has no column 'text'" in str(failure)


@pytest.mark.parametrize(("code", "words"), [(75, "a service stayed unreachable"), (1, "failed"), (137, "failed")])
def test_other_exits_are_retried(launch_k8s, code, words):
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    failure = launch_k8s.pod_failure("train", finished_pod(code, "error: boom"), AirflowException("Pod failed"))
    assert not isinstance(failure, AirflowFailException)
    assert f"{words} (exit {code}, retried): error: boom" in str(failure)


def test_a_pod_that_never_ran_keeps_the_providers_retried_error(launch_k8s):
    from airflow.sdk.exceptions import AirflowException

    original = AirflowException("Pod took too long to start")
    assert launch_k8s.pod_failure("train", finished_pod(None), original) is original
