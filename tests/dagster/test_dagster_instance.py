"""The compose instance config in the repo (dagster/dagster.yaml) loads and launches runs as intended.

A real Postgres (Debian's postgresql-15 binaries, run as a throwaway cluster) backs a real
DagsterInstance built from the repo's file. No Docker engine: the docker SDK client the launcher
gets is real, but its API calls (`info`, `create_container`, `start`) are recorded and answered
here, so what is checked is what the daemon would receive: image, network, environment, GPU
requests and limits of the run container, from the launch policy (`ml.launch`).
"""

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.instance.ref import InstanceRef
from dagster._core.launcher import LaunchRunContext
from dagster._core.storage.dagster_run import DagsterRun
from dagster_docker import DockerRunLauncher

from ml.core.errors import BadInputError
from ml.launch.settings import GPU_HELP

DAGSTER_DIR = Path(__file__).resolve().parents[2] / "dagster"  # holds ml_dagster (see conftest.py)

PG_BIN = Path("/usr/lib/postgresql/15/bin")
BASE_ENV = {
    "DAGSTER_POSTGRES_USER": "dagster",
    "DAGSTER_POSTGRES_PASSWORD": "unused-with-trust-auth",
    "DAGSTER_POSTGRES_DB": "dagster",
    "ML_IMAGE": "ml-pipelines/ml:test",
    "ML_DOCKER_NETWORK": "mlpipe_default",
    "ML_GPUS": "none",
}
# What the daemon's environment may hold, by how the launch policy treats it (ml/launch/env.py).
SECRETS = {  # forwarded, secret: by name only
    "ML_S3_SECRET_KEY": "sekrit-s3-8c1d",
    "AWS_SECRET_ACCESS_KEY": "sekrit-aws-19b4",
    "MLFLOW_TRACKING_PASSWORD": "sekrit-mlflow-5e0a",
    "HF_TOKEN": "sekrit-hf-2b7c",
}
PLAIN = {  # forwarded
    "ML_DATASET_URI": "s3://datasets/demo/train.csv",
    "HF_HOME": "/cache/hf",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
LAUNCHER_ONLY = {  # the launcher's own settings, and what each launch sets itself: never forwarded
    "ML_LAUNCHER": "docker",
    "ML_CPUS": "1",
    "ML_SHM_SIZE": "2g",
    "ML_DOCKER_URL": "unix:///var/run/docker.sock",
    "ML_K8S_GPUS": "1",
    "ML_RESULT_PATH": "/tmp/result.json",
    "ML_ORCHESTRATOR": "airflow",
}
UNRELATED = {"DOCKER_HOST": "unix:///var/run/docker.sock", "SOME_TOKEN": "not-forwarded"}
LIMIT_KWARGS = ("cpu_shares", "mem_limit", "shm_size")
IMAGE_ID = "sha256:" + "f00d" * 16


class FakeDocker:
    """What `docker.client.from_env()` returns here: a real docker SDK client (so the launcher's kwargs
    go through the SDK's own conversion and checks) whose calls to the daemon are answered here."""

    def __init__(self) -> None:
        self.nvidia = False
        self.info_calls = 0
        self.created: list[dict[str, Any]] = []
        self.started: list[str] = []
        self.state = "running"  # what inspecting any container answers
        self.removed: list[str] = []

    def client(self, **_: Any) -> Any:
        import docker

        client = docker.DockerClient(base_url="unix:///nonexistent/docker.sock", version="1.44")
        client.api.info = self._info
        client.api.create_container = self._create
        client.api.inspect_container = lambda container_id: {"Id": container_id, "State": {"Status": self.state}}
        client.api.remove_container = lambda container_id, **kw: self.removed.append(container_id)
        client.api.inspect_image = lambda image: {"Id": IMAGE_ID, "RepoDigests": []}
        client.api.start = lambda container_id, **kw: self.started.append(container_id)
        return client

    def _info(self) -> dict[str, Any]:
        self.info_calls += 1
        return {"Runtimes": {"runc": {"path": "runc"}, **({"nvidia": {"path": "nvidia-container-runtime"}} if self.nvidia else {})}}

    def _create(self, **kwargs: Any) -> dict[str, str]:
        self.created.append(kwargs)
        return {"Id": f"c0ffee{len(self.created)}"}


@pytest.fixture
def docker_api(monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
    import docker.client

    fake = FakeDocker()
    monkeypatch.setattr(docker.client, "from_env", fake.client)
    return fake


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres_user(args: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: drop to `nobody` when we are root."""
    return ["runuser", "-u", "nobody", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, str]]:
    """A throwaway Postgres cluster on a free loopback port; yields the DAGSTER_POSTGRES_* env."""
    if not (PG_BIN / "initdb").exists() or not shutil.which("psql"):
        pytest.skip(f"Postgres binaries not found in {PG_BIN} (apt-get install postgresql-15)")
    root = Path(tempfile.mkdtemp(prefix="dagster-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "nobody")
    data, port = root / "data", _free_port()
    subprocess.run(_as_postgres_user([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "dagster"]),
                   check=True, capture_output=True)
    subprocess.run(_as_postgres_user([
        str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"]), check=True, capture_output=True)
    try:
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "dagster", "-d", "postgres",
                        "-c", "CREATE DATABASE dagster"], check=True, capture_output=True)
        yield {"DAGSTER_POSTGRES_HOST": "127.0.0.1", "DAGSTER_POSTGRES_PORT": str(port)}
    finally:
        subprocess.run(_as_postgres_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def instance_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in BASE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DAGSTER_POSTGRES_HOST", "postgres")
    monkeypatch.setenv("ML_S3_ENDPOINT", "http://minio:9000")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    return BASE_ENV


def _ref() -> InstanceRef:
    return InstanceRef.from_dir(str(DAGSTER_DIR))


def _yaml() -> dict[str, Any]:
    return yaml.safe_load((DAGSTER_DIR / "dagster.yaml").read_text())


def _run_record() -> DagsterRun:
    return DagsterRun(job_name="inference_job", run_id=str(uuid.uuid4()))


def _launch(instance: dg.DagsterInstance, docker_api: FakeDocker, image: str | None = None) -> dict[str, Any]:
    """Launch an inference_job run of the code location through `instance.run_launcher`; what the
    Docker daemon was asked to create. `image`: the one the code location advertises."""
    from ml_dagster.definitions import defs

    origin = (ReconstructableRepository.for_module("ml_dagster.definitions", "defs", container_image=image)
              .get_reconstructable_job("inference_job").get_python_origin())
    run = instance.create_run_for_job(defs.resolve_job_def("inference_job"), job_code_origin=origin)
    before = len(docker_api.created)
    instance.run_launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    assert len(docker_api.created) == before + 1
    created = docker_api.created[-1]
    assert docker_api.started[-1] == f"c0ffee{len(docker_api.created)}"
    assert created["labels"]["dagster/run_id"] == run.run_id
    created["run_id"] = run.run_id
    return created


def test_yaml_validates_and_names_the_docker_launcher(instance_env: dict[str, str]) -> None:
    ref = _ref()
    launcher = ref.run_launcher
    assert isinstance(launcher, DockerRunLauncher)
    assert launcher.image == "ml-pipelines/ml:test"
    assert launcher.networks == ["mlpipe_default"]
    assert set(launcher.env_vars) >= {"DAGSTER_POSTGRES_USER", "DAGSTER_POSTGRES_PASSWORD",
                                      "DAGSTER_POSTGRES_HOST", "DAGSTER_POSTGRES_DB"}
    assert launcher.container_kwargs["auto_remove"] is True
    assert launcher.container_kwargs["volumes"] == ["ml-dagster-compute-logs:/opt/dagster/compute_logs"]
    coordinator = ref.run_coordinator
    assert type(coordinator).__name__ == "QueuedRunCoordinator"
    assert coordinator.get_run_queue_config().max_concurrent_runs >= 5
    compute_logs = ref.compute_log_manager
    assert type(compute_logs).__name__ == "LocalComputeLogManager"
    assert compute_logs._base_dir == "/opt/dagster/compute_logs"  # the path the volume is mounted at
    assert ref.settings["telemetry"] == {"enabled": False}
    for storage in (ref.run_storage_data, ref.event_storage_data, ref.schedule_storage_data):
        assert storage.module_name == "dagster_postgres"


def test_missing_env_is_a_clear_error(instance_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ML_DOCKER_NETWORK")
    with pytest.raises(Exception, match="ML_DOCKER_NETWORK"):
        _ref().run_launcher  # noqa: B018


ALL_GPUS = [{"count": -1, "capabilities": [["gpu"]]}]


@pytest.mark.parametrize(("gpus", "nvidia", "expected", "probes"), [
    ("none", True, [], 0),  # CPU only, even where the runtime exists
    ("NONE", True, [], 0),
    ("", True, ALL_GPUS, 1),  # empty = auto
    ("", False, [], 1),
    ("auto", True, ALL_GPUS, 1),
    ("Auto", False, [], 1),
    ("all", False, ALL_GPUS, 0),  # always, without asking (the launch fails where there is none)
    ("0,1", False, [{"device_ids": ["0", "1"], "capabilities": [["gpu"]]}], 0),
    (" 0 , 2 ", True, [{"device_ids": ["0", "2"], "capabilities": [["gpu"]]}], 0),
])
def test_ml_gpus_become_device_requests(gpus: str, nvidia: bool, expected: list[dict[str, Any]], probes: int,
                                        instance_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                        docker_api: FakeDocker) -> None:
    """One ML_GPUS grammar (ml.launch.settings); only auto asks the Docker daemon, once."""
    monkeypatch.setenv("ML_GPUS", gpus)
    docker_api.nvidia = nvidia
    launcher = _ref().run_launcher
    assert launcher.device_requests() == expected
    context = launcher.get_container_context(_run_record())
    assert context.container_kwargs.get("device_requests") == (expected or None)  # no GPUs: no key at all
    assert docker_api.info_calls == probes


def test_gpu_uuids_are_device_ids(instance_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                  docker_api: FakeDocker) -> None:
    uuids = ["GPU-8a5e1c2f-0b1d-4c3e-9f00-1234567890ab", "GPU-00000000-1111-2222-3333-444444444444"]
    monkeypatch.setenv("ML_GPUS", ",".join(uuids))
    [request] = _ref().run_launcher.device_requests()
    # NVIDIA's container runtime matches UUIDs without regard to case
    assert [device.upper() for device in request["device_ids"]] == [u.upper() for u in uuids]
    assert request["capabilities"] == [["gpu"]] and "count" not in request
    assert docker_api.info_calls == 0


def test_auto_gpus_without_a_docker_daemon_is_a_clear_error(
    instance_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ML_GPUS", "auto")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-docker.sock'}")
    with pytest.raises(RuntimeError, match="ML_GPUS=auto: cannot ask the Docker daemon"):
        _ref().run_launcher.device_requests()


@pytest.mark.parametrize(("name", "value"), [
    ("ML_GPUS", "lots"),
    ("ML_GPUS", "0,x"),
    ("ML_GPUS", "GPU-"),
    ("ML_CPUS", "0"),
    ("ML_MEM_LIMIT", "8q"),
    ("ML_SHM_SIZE", "-1g"),
])
def test_bad_launch_setting_fails_instance_load_with_one_line(
    name: str, value: str, instance_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(BadInputError) as info:
        _ref().run_launcher  # noqa: B018
    message = str(info.value)
    assert f"{name}={value!r}" in message and "\n" not in message
    if name == "ML_GPUS":
        assert GPU_HELP in message


def test_run_containers_get_the_step_environment_by_name(
    instance_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, docker_api: FakeDocker
) -> None:
    """Forwarded: ml.launch.env's step environment (secrets included), by name only; ML_ORCHESTRATOR=dagster;
    not forwarded: the launcher's own settings and anything outside the forwarded prefixes."""
    for name, value in {**SECRETS, **PLAIN, **LAUNCHER_ONLY, **UNRELATED}.items():
        monkeypatch.setenv(name, value)
    launcher = _ref().run_launcher
    context = launcher.get_container_context(_run_record())
    entries = list(context.env_vars)
    names = [entry.split("=", 1)[0] for entry in entries]
    assert len(names) == len(set(names)), f"a variable listed twice: {entries}"
    expected = {*SECRETS, *PLAIN, "ML_IMAGE", "ML_S3_ENDPOINT", "MLFLOW_TRACKING_URI",
                "DAGSTER_POSTGRES_USER", "DAGSTER_POSTGRES_PASSWORD", "DAGSTER_POSTGRES_HOST", "DAGSTER_POSTGRES_DB"}
    assert expected <= set(names)
    never = (set(LAUNCHER_ONLY) | set(UNRELATED)) - {"ML_ORCHESTRATOR"}  # that one: set below
    assert not never & set(names)
    # every forwarded variable travels by name (its value read at launch), ML_ORCHESTRATOR is this orchestrator's
    assert [entry for entry in entries if "=" in entry] == ["ML_ORCHESTRATOR=dagster"]
    assert set(SECRETS) <= set(entries)
    config_text = repr((entries, context.container_kwargs, launcher.inst_data.config_dict))
    assert not [name for name, value in SECRETS.items() if value in config_text], "secret values in the run config"

    # launched: the container gets the values, and the orchestrator's name over the daemon's own
    with dg.instance_for_test(overrides={"run_launcher": _yaml()["run_launcher"]}) as instance:
        created = _launch(instance, docker_api)
    environment = created["environment"]
    assert {name: environment.get(name) for name in {**SECRETS, **PLAIN}} == {**SECRETS, **PLAIN}
    assert environment["ML_ORCHESTRATOR"] == "dagster"
    assert not never & set(environment)
    # the image the run starts in, by its immutable id (recorded with the model version it registers)
    assert environment["ML_IMAGE_ID"] == IMAGE_ID and environment["ML_IMAGE"] == created["image"]


@pytest.mark.parametrize(("env", "kwargs", "host"), [
    ({}, {"cpu_shares": 1024, "mem_limit": "8g", "shm_size": "2g"},
     {"CpuShares": 1024, "Memory": 8 * 1024**3, "ShmSize": 2 * 1024**3}),
    ({"ML_CPUS": "2.5", "ML_MEM_LIMIT": "6g", "ML_SHM_SIZE": "512m"},
     {"cpu_shares": 2560, "mem_limit": "6g", "shm_size": "512m"},
     {"CpuShares": 2560, "Memory": 6 * 1024**3, "ShmSize": 512 * 1024**2}),
    ({"ML_MEM_LIMIT": "none"}, {"cpu_shares": 1024, "shm_size": "2g"}, {"CpuShares": 1024, "ShmSize": 2 * 1024**3}),
])
def test_run_containers_get_the_launch_policys_limits(
    env: dict[str, str], kwargs: dict[str, Any], host: dict[str, int], instance_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch, docker_api: FakeDocker,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    context = _ref().run_launcher.get_container_context(_run_record())
    assert {key: context.container_kwargs[key] for key in LIMIT_KWARGS if key in context.container_kwargs} == kwargs
    with dg.instance_for_test(overrides={"run_launcher": _yaml()["run_launcher"]}) as instance:
        sent = _launch(instance, docker_api)["host_config"]  # as the docker SDK sends it to the daemon
    assert {key: sent[key] for key in ("CpuShares", "Memory", "ShmSize") if key in sent} == host
    assert sent["AutoRemove"] is True
    assert sent["Binds"] == ["ml-dagster-compute-logs:/opt/dagster/compute_logs"]
    assert sent["SecurityOpt"] == ["no-new-privileges:true"] and sent["CapDrop"] == ["ALL"]


def test_explicit_container_kwargs_win_over_the_policy(
    instance_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, docker_api: FakeDocker
) -> None:
    monkeypatch.setenv("ML_GPUS", "all")
    monkeypatch.setenv("ML_MEM_LIMIT", "8g")
    config = _yaml()
    config["run_launcher"]["config"]["container_kwargs"].update({"shm_size": "1g", "device_requests": []})
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    launcher = InstanceRef.from_dir(str(tmp_path)).run_launcher
    kwargs = launcher.get_container_context(_run_record()).container_kwargs
    assert kwargs["shm_size"] == "1g" and kwargs["device_requests"] == []  # dagster.yaml's
    assert kwargs["mem_limit"] == "8g" and kwargs["cpu_shares"] == 1024  # the policy's, not set there


def test_real_instance_on_postgres_launches_runs_in_the_ml_image(
    instance_env: dict[str, str], postgres: dict[str, str], monkeypatch: pytest.MonkeyPatch, docker_api: FakeDocker
) -> None:
    """A DagsterInstance from the repo's dagster.yaml on a real Postgres launches a run: the container
    the daemon is asked for has the image, network, Postgres env, forwarded ML_* settings and GPUs."""
    monkeypatch.setenv("DAGSTER_POSTGRES_HOST", postgres["DAGSTER_POSTGRES_HOST"])
    monkeypatch.setenv("ML_GPUS", "all")
    for name, value in {**SECRETS, **PLAIN}.items():
        monkeypatch.setenv(name, value)
    yaml_text = (DAGSTER_DIR / "dagster.yaml").read_text()
    assert "port: 5432" in yaml_text
    with tempfile.TemporaryDirectory() as home:
        # the same file, with only the Postgres port moved to the throwaway server's
        Path(home, "dagster.yaml").write_text(yaml_text.replace("port: 5432", f"port: {postgres['DAGSTER_POSTGRES_PORT']}"))
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(home)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
            assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
            assert type(instance.run_launcher).__name__ == "MlDockerRunLauncher"
            created = _launch(instance, docker_api)
            run = instance.get_run_by_id(created["run_id"])  # really stored in Postgres
            assert run is not None and run.tags["docker/container_id"] == "c0ffee1"
            messages = [entry.message for entry in instance.all_logs(run.run_id)]
            # the code location's image (DAGSTER_CURRENT_IMAGE) wins over ML_IMAGE
            advertised = _launch(instance, docker_api, image="ml-pipelines/ml:from-code-location")
    assert created["image"] == "ml-pipelines/ml:test" and advertised["image"] == "ml-pipelines/ml:from-code-location"
    assert created["command"][:3] == ["dagster", "api", "execute_run"]
    host = created["host_config"]
    assert host["NetworkMode"] == "mlpipe_default"
    assert [{key: request[key] for key in ("Count", "Capabilities")} for request in host["DeviceRequests"]] == [
        {"Count": -1, "Capabilities": [["gpu"]]}]
    assert host["AutoRemove"] is True and host["CpuShares"] == 1024 and host["ShmSize"] == 2 * 1024**3
    environment = created["environment"]
    assert environment["DAGSTER_POSTGRES_HOST"] == postgres["DAGSTER_POSTGRES_HOST"]
    assert {name: environment[name] for name in ("DAGSTER_POSTGRES_PASSWORD", "ML_S3_ENDPOINT", "MLFLOW_TRACKING_URI")} == {
        "DAGSTER_POSTGRES_PASSWORD": "unused-with-trust-auth", "ML_S3_ENDPOINT": "http://minio:9000",
        "MLFLOW_TRACKING_URI": "http://mlflow:5000"}
    assert {name: environment[name] for name in {**SECRETS, **PLAIN}} == {**SECRETS, **PLAIN}
    assert environment["ML_ORCHESTRATOR"] == "dagster" and environment["ML_IMAGE"] == "ml-pipelines/ml:test"
    assert not {"PATH", "HOME", "DOCKER_HOST", "ML_GPUS", "ML_DOCKER_NETWORK"} & set(environment)
    assert any("Run container GPUs" in message and "ML_GPUS='all'" in message for message in messages), messages


def test_run_containers_carry_the_ml_step_label(instance_env: dict[str, str], docker_api: FakeDocker) -> None:
    """`ml.orchestrator` marks every ml step container (Airflow's too): clean-up and the fault phase find them."""
    with dg.instance_for_test(overrides={"run_launcher": _yaml()["run_launcher"]}) as instance:
        labels = _launch(instance, docker_api)["labels"]
    assert labels["ml.orchestrator"] == "dagster" and labels["ml.step"] == "run"


def test_cancel_without_a_docker_socket_leaves_it_to_the_run_worker(
    instance_env: dict[str, str], postgres: dict[str, str], monkeypatch: pytest.MonkeyPatch, docker_api: FakeDocker
) -> None:
    """The webserver handles terminateRun but has no Docker socket: the run turns CANCELING (which
    the run worker's cancellation thread, on with this instance class, acts on) and the request succeeds."""
    import docker.client
    from docker.errors import DockerException

    from ml_dagster.instance import MlDagsterInstance

    monkeypatch.setenv("DAGSTER_POSTGRES_HOST", postgres["DAGSTER_POSTGRES_HOST"])
    yaml_text = (DAGSTER_DIR / "dagster.yaml").read_text()
    with tempfile.TemporaryDirectory() as home:
        Path(home, "dagster.yaml").write_text(yaml_text.replace("port: 5432", f"port: {postgres['DAGSTER_POSTGRES_PORT']}"))
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(home)) as instance:
            assert isinstance(instance, MlDagsterInstance)
            assert instance.should_start_background_run_thread  # the run worker polls its status
            assert instance.cancellation_thread_poll_interval_seconds == 5
            run_id = _launch(instance, docker_api)["run_id"]

            def no_socket(**_: Any) -> Any:
                raise DockerException("Error while fetching server API version: no such file")

            monkeypatch.setattr(docker.client, "from_env", no_socket)
            assert instance.run_coordinator.cancel_run(run_id) is True
            run = instance.get_run_by_id(run_id)
            messages = [entry.message for entry in instance.all_logs(run_id)]
    assert run is not None and run.status.value == "CANCELING"
    assert any("the run worker stops itself" in message for message in messages), messages


def test_a_frozen_run_container_fails_its_run_and_is_removed(instance_env: dict[str, str], docker_api: FakeDocker) -> None:
    """Run monitoring fails a run whose container is paused (a hung worker); the launcher also removes
    that container, which Dagster's own launcher leaves behind (the fault phase's `docker pause` row)."""
    from dagster._core.launcher import WorkerStatus

    with dg.instance_for_test(overrides={"run_launcher": _yaml()["run_launcher"]}) as instance:
        run_id = _launch(instance, docker_api)["run_id"]
        run = instance.get_run_by_id(run_id)
        assert instance.run_launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
        assert docker_api.removed == []
        docker_api.state = "paused"
        assert instance.run_launcher.check_run_worker_health(run).status == WorkerStatus.FAILED
        messages = [entry.message for entry in instance.all_logs(run_id)]
    assert docker_api.removed == [docker_api.started[-1]]
    assert any("was paused: removed it" in message for message in messages), messages
