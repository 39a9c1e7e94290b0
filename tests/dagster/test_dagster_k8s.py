"""The Kubernetes variant: the run and step Jobs that dagster-k8s renders carry ml.kube's pod settings.

No cluster: `K8sRunLauncher` (configured from docker/k8s/dagster/values.yaml the way the chart
renders it) and `k8s_job_executor` run their own code, with a kubeconfig that points at a closed
port, and `BatchV1Api.create_namespaced_job`, the call that would send a Job to the API server,
records the Job instead. What a live cluster would do with these specs is not tested here.
"""

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import kubernetes
import pytest
import yaml
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.launcher import LaunchRunContext

from ml.core.errors import BadInputError
from ml.launch.kube import DEFAULT_CONFIG_MAP, DEFAULT_NAMESPACE, DEFAULT_SECRET, GPU_RESOURCE

REPO = Path(__file__).resolve().parents[2]
VALUES = REPO / "docker" / "k8s" / "dagster" / "values.yaml"
IMAGE = "mlpipes/ml:1.4.2"
# Secret values in the launching process: none may appear in a rendered spec.
SECRETS = {
    "ML_S3_ACCESS_KEY": "sekrit-access-3f9a",
    "ML_S3_SECRET_KEY": "sekrit-s3-8c1d",
    "DAGSTER_PG_PASSWORD": "sekrit-pg-77e2",
    "AWS_SECRET_ACCESS_KEY": "sekrit-aws-19b4",
}
CPU_RESOURCES = {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "8Gi"}}
GPU_SELECTOR = {"nvidia.com/gpu.present": "true"}
GPU_TOLERATIONS = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
RELEASE_SERVICE_ACCOUNT = "dagster"  # the chart's service account (release `dagster`)
CODE_SERVICE_ACCOUNT = "dagster-dagster-user-deployments-user-deployments"  # the user-deployments subchart's


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return yaml.safe_load(VALUES.read_text())


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    """A kubeconfig whose API server is a closed local port: any real API call would fail."""
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "test", "user": {"token": "not-a-token"}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
    }))
    return path


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """(namespace, Job as the API server would receive it) for every Job dagster-k8s creates."""
    jobs: list[tuple[str, dict[str, Any]]] = []
    serialize = kubernetes.client.ApiClient().sanitize_for_serialization

    def create_namespaced_job(self: Any, namespace: str, body: Any, **kwargs: Any) -> None:
        jobs.append((namespace, serialize(body)))
        if body.metadata.name.startswith("dagster-step-"):
            raise RuntimeError("no cluster here: stop after the first step Job")  # ends the run's execution

    monkeypatch.setattr(kubernetes.client.BatchV1Api, "create_namespaced_job", create_namespaced_job)
    monkeypatch.setattr(kubernetes.client.BatchV1Api, "delete_namespaced_job", lambda self, *a, **k: None)
    return jobs


@pytest.fixture
def load_defs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., dg.Definitions]]:
    """Rebuild the code location under an environment (the jobs read it at import)."""
    import ml_dagster.definitions
    import ml_dagster.jobs
    import ml_dagster.schedules
    import ml_dagster.sensors

    def rebuild() -> dg.Definitions:
        # the schedule holds daily_inference_job, the sensor training_job
        for module in (ml_dagster.jobs, ml_dagster.schedules, ml_dagster.sensors):
            importlib.reload(module)
        return importlib.reload(ml_dagster.definitions).defs

    def load(**env: str) -> dg.Definitions:
        for name in [n for n in os.environ if n.startswith("ML_K8S_")] + ["ML_LAUNCHER", "DAGSTER_CURRENT_IMAGE"]:
            monkeypatch.delenv(name, raising=False)
        for name, value in {**SECRETS, **env}.items():
            monkeypatch.setenv(name, value)
        return rebuild()

    yield load
    monkeypatch.undo()
    rebuild()


def names(refs: list[dict[str, str]]) -> list[str]:
    return [ref["name"] for ref in refs]


def launcher_config(values: dict[str, Any], kubeconfig: Path) -> dict[str, Any]:
    """K8sRunLauncher config as the chart's instance ConfigMap renders it from runLauncher.config.k8sRunLauncher."""
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert k8s["loadInclusterConfig"] is True  # replaced below: no cluster here
    return {
        "job_namespace": k8s["jobNamespace"],
        "image_pull_policy": k8s["imagePullPolicy"],
        "env_config_maps": names(k8s["envConfigMaps"]),
        "env_secrets": names(k8s["envSecrets"]),
        "service_account_name": RELEASE_SERVICE_ACCOUNT,
        "dagster_home": "/opt/dagster/dagster_home",
        "instance_config_map": "dagster-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
        "load_incluster_config": False,
        "kubeconfig_file": str(kubeconfig),
    }


def code_location(values: dict[str, Any]) -> ReconstructableRepository:
    """The code location as the chart's gRPC server advertises it: its image and container context.

    The context is what the user-deployments chart passes (includeConfigInLaunchedRuns, on by
    default): it names the release namespace, which values.yaml says is ml-pipelines.
    """
    deployment = values["dagster-user-deployments"]["deployments"][0]
    context = {"k8s": {
        "image_pull_policy": deployment["image"]["pullPolicy"],
        "env_config_maps": [f"dagster-dagster-user-deployments-{deployment['name']}-user-env",
                            *names(deployment["envConfigMaps"])],
        "env_secrets": names(deployment["envSecrets"]),
        "namespace": values["runLauncher"]["config"]["k8sRunLauncher"]["jobNamespace"],
        "service_account_name": CODE_SERVICE_ACCOUNT,
    }}
    return ReconstructableRepository.for_module(
        "ml_dagster.definitions", "defs", container_image=IMAGE, container_context=context
    )


def render_run(defs: dg.Definitions, values: dict[str, Any], kubeconfig: Path,
               created: list[tuple[str, dict[str, Any]]]) -> tuple[str, dict[str, Any]]:
    """The run worker Job that K8sRunLauncher.launch_run creates for a training_job run."""
    job = defs.resolve_job_def("training_job")
    origin = code_location(values).get_reconstructable_job("training_job").get_python_origin()
    overrides = {"run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher",
                                  "config": launcher_config(values, kubeconfig)}}
    with dg.instance_for_test(overrides=overrides) as instance:
        # the webserver and daemon merge the job's run tags into the run's tags; so does this
        run = instance.create_run_for_job(job, tags=job.run_tags, job_code_origin=origin)
        instance.run_launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    [rendered] = created
    return rendered


def render_step(values: dict[str, Any], kubeconfig: Path,
                created: list[tuple[str, dict[str, Any]]]) -> tuple[str, dict[str, Any]]:
    """The first step Job that the job's executor (k8s_job_executor) creates, run as in a run pod."""
    recon_job = code_location(values).get_reconstructable_job("training_job")
    # each run pod is a fresh process; here the last test's definitions are cached per origin
    type(recon_job).get_repository_definition.cache_clear()
    type(recon_job).get_definition.cache_clear()
    overrides = {"run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher",
                                  "config": launcher_config(values, kubeconfig)}}
    with dg.instance_for_test(overrides=overrides) as instance:
        result = dg.execute_job(recon_job, instance=instance)
    assert not result.success  # stopped on purpose after the first step Job
    [rendered] = created
    return rendered


def container(job: dict[str, Any]) -> dict[str, Any]:
    return job["spec"]["template"]["spec"]["containers"][0]


def assert_common(namespace: str, job: dict[str, Any], command: list[str]) -> None:
    """What every pod the variant starts has: namespace, image, command, env by reference only."""
    spec = container(job)
    assert namespace == DEFAULT_NAMESPACE
    assert spec["image"] == IMAGE and spec["imagePullPolicy"] == "IfNotPresent"
    assert "command" not in spec and spec["args"][:3] == command  # the image has no ENTRYPOINT
    env_from = spec["envFrom"]
    assert {"secretRef": {"name": DEFAULT_SECRET}} in env_from
    assert {"configMapRef": {"name": DEFAULT_CONFIG_MAP}} in env_from
    text = json.dumps(job)
    leaked = [name for name, value in SECRETS.items() if value in text]
    assert not leaked, f"secret values in the spec: {leaked}"


def assert_step_pod(job: dict[str, Any], gpus: int) -> None:
    """The pod that runs the steps: ml.kube's resources, GPU placement only with GPUs, /dev/shm."""
    spec, pod = container(job), job["spec"]["template"]["spec"]
    limits = {**CPU_RESOURCES["limits"], **({GPU_RESOURCE: str(gpus)} if gpus else {})}
    assert spec["resources"] == {"requests": CPU_RESOURCES["requests"], "limits": limits}
    assert pod["serviceAccountName"] == "ml-steps"
    assert pod.get("nodeSelector") == (GPU_SELECTOR if gpus else None)
    assert pod.get("tolerations") == (GPU_TOLERATIONS if gpus else None)
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}} in pod["volumes"]
    assert {"name": "dshm", "mountPath": "/dev/shm"} in spec["volumeMounts"]


@pytest.mark.parametrize("env", [{}, {"ML_LAUNCHER": "docker", "ML_K8S_GPUS": "2"}, {"ML_LAUNCHER": "local"}])
def test_docker_and_local_jobs_stay_as_they_were(load_defs: Callable[..., dg.Definitions], env: dict[str, str]) -> None:
    defs = load_defs(**env)
    for name in ("training_job", "inference_job"):
        job = defs.resolve_job_def(name)
        assert not any(key.startswith("dagster-k8s") for key in job.run_tags), name
        assert job.executor_def.name == "multiprocess", name


@pytest.mark.parametrize("gpus", [0, 1])
def test_run_worker_job_runs_the_steps_with_the_pod_settings(
    load_defs: Callable[..., dg.Definitions], values: dict[str, Any], kubeconfig: Path,
    created: list[tuple[str, dict[str, Any]]], gpus: int,
) -> None:
    defs = load_defs(ML_LAUNCHER="kubernetes", ML_K8S_GPUS=str(gpus), DAGSTER_CURRENT_IMAGE=IMAGE)
    assert defs.resolve_job_def("inference_job").run_tags["dagster-k8s/config"]
    assert defs.resolve_job_def("training_job").executor_def.name == "multiprocess"
    namespace, job = render_run(defs, values, kubeconfig, created)
    assert_common(namespace, job, ["dagster", "api", "execute_run"])
    assert_step_pod(job, gpus)
    assert (GPU_RESOURCE in json.dumps(job)) == bool(gpus)


@pytest.mark.parametrize("gpus", [0, 2])
def test_step_pods_get_the_pod_settings_and_the_run_pod_holds_no_gpu(
    load_defs: Callable[..., dg.Definitions], values: dict[str, Any], kubeconfig: Path,
    created: list[tuple[str, dict[str, Any]]], gpus: int,
) -> None:
    defs = load_defs(ML_LAUNCHER="kubernetes", ML_K8S_STEP_PODS="true", ML_K8S_GPUS=str(gpus))
    job_def = defs.resolve_job_def("training_job")
    assert job_def.executor_def.name == "k8s"
    assert "dagster-k8s/config" not in job_def.run_tags

    namespace, run_job = render_run(defs, values, kubeconfig, created)
    assert_common(namespace, run_job, ["dagster", "api", "execute_run"])
    assert GPU_RESOURCE not in json.dumps(run_job)
    assert run_job["spec"]["template"]["spec"]["serviceAccountName"] == CODE_SERVICE_ACCOUNT  # may create Jobs

    created.clear()
    namespace, step_job = render_step(values, kubeconfig, created)
    assert step_job["metadata"]["labels"]["dagster/op"] == "training_data"
    assert_common(namespace, step_job, ["dagster", "api", "execute_step"])
    assert_step_pod(step_job, gpus)


def test_definitions_stay_cheap_on_kubernetes() -> None:
    code = ("import sys, ml_dagster.definitions as d; d.defs.get_repository_def(); "
            "print(sorted(m for m in ('dagster_k8s', 'kubernetes', 'torch', 'ml.steps') if m in sys.modules))")
    env = {"PYTHONPATH": f"{REPO / 'dagster'}:{REPO}", "PATH": "/usr/bin:/bin", "ML_LAUNCHER": "kubernetes"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize(("env", "setting"), [
    ({"ML_LAUNCHER": "kubernetes", "ML_K8S_STEP_PODS": "maybe"}, "ML_K8S_STEP_PODS='maybe'"),
    ({"ML_K8S_STEP_PODS": "maybe"}, "ML_K8S_STEP_PODS='maybe'"),
    ({"ML_LAUNCHER": "kubernetes", "ML_K8S_GPUS": "-1"}, "ML_K8S_GPUS='-1'"),
    ({"ML_LAUNCHER": "kube"}, "ML_LAUNCHER='kube'"),
    ({"ML_LAUNCHER": "kubernetes", "DAGSTER_CURRENT_IMAGE": "mlpipes/ml:latest"}, "'mlpipes/ml:latest'"),
])
def test_bad_settings_fail_the_load_with_one_line(
    load_defs: Callable[..., dg.Definitions], env: dict[str, str], setting: str
) -> None:
    with pytest.raises(BadInputError) as info:
        load_defs(**env)
    assert setting in str(info.value) and "\n" not in str(info.value)


def test_values_name_the_shared_objects_and_hold_no_secret(values: dict[str, Any]) -> None:
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert deployment["image"]["repository"] == "mlpipes/ml" and deployment["image"]["tag"] != "latest"
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "ml_dagster.definitions"] and deployment["port"] == 4000
    assert deployment["env"]["ML_LAUNCHER"] == "kubernetes"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    for scope in (deployment, launcher):
        assert names(scope["envSecrets"]) == [DEFAULT_SECRET]
        assert names(scope["envConfigMaps"]) == [DEFAULT_CONFIG_MAP]
    assert launcher["jobNamespace"] == DEFAULT_NAMESPACE
    assert {values[part]["image"]["repository"] for part in ("dagsterWebserver", "dagsterDaemon")} == {"mlpipes/dagster"}
    postgres = values["postgresql"]
    assert postgres["enabled"] is False and values["generatePostgresqlPasswordSecret"] is False
    assert (postgres["postgresqlHost"], postgres["postgresqlUsername"], postgres["postgresqlDatabase"]) == (
        "postgres", "dagster", "dagster")
    assert [key for key in keys(values) if "password" in key.lower()] == ["generatePostgresqlPasswordSecret"]


def keys(tree: Any) -> Iterator[str]:
    """Every mapping key in a YAML tree."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield key
            yield from keys(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from keys(item)
