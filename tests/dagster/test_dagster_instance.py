"""The compose instance config in the repo (dagster/dagster.yaml) loads and launches runs as intended.

A real Postgres (Debian's postgresql-15 binaries, run as a throwaway cluster) backs a real
DagsterInstance built from the repo's file; no Docker engine is needed for what is checked here:
the run launcher's image, network, env, GPU requests and container kwargs.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef
from dagster_docker import DockerRunLauncher

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


@pytest.mark.parametrize(("gpus", "expected"), [
    ("none", None),
    ("", None),
    ("all", [{"count": -1, "capabilities": [["gpu"]]}]),
    ("0,1", [{"device_ids": ["0", "1"], "capabilities": [["gpu"]]}]),
])
def test_gpus_become_device_requests(gpus: str, expected: object, instance_env: dict[str, str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from ml_dagster.launcher import device_requests_for

    monkeypatch.setenv("ML_GPUS", gpus)
    launcher = _ref().run_launcher
    assert (launcher.device_requests() or None) == expected
    assert device_requests_for("auto", nvidia_runtime=True) == [{"count": -1, "capabilities": [["gpu"]]}]
    assert device_requests_for("auto", nvidia_runtime=False) == []


def test_auto_gpus_without_a_docker_daemon_is_a_clear_error(
    instance_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ML_GPUS", "auto")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-docker.sock'}")
    with pytest.raises(RuntimeError, match="ML_GPUS=auto: cannot ask the Docker daemon"):
        _ref().run_launcher.device_requests()


def test_bad_gpus_value_fails_instance_load(instance_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_GPUS", "lots")
    with pytest.raises(ValueError, match="ML_GPUS must be"):
        _ref().run_launcher  # noqa: B018


def test_real_instance_on_postgres_launches_runs_in_the_ml_image(
    instance_env: dict[str, str], postgres: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DagsterInstance from the repo's dagster.yaml on a real Postgres; a run's container context
    carries the image, network, Postgres env, forwarded ML_* settings and GPUs."""
    monkeypatch.setenv("DAGSTER_POSTGRES_HOST", postgres["DAGSTER_POSTGRES_HOST"])
    monkeypatch.setenv("ML_GPUS", "all")
    monkeypatch.setenv("ML_DATASET_URI", "s3://datasets/demo/train.csv")
    yaml_text = (DAGSTER_DIR / "dagster.yaml").read_text()
    assert "port: 5432" in yaml_text
    with tempfile.TemporaryDirectory() as home:
        # the same file, with only the Postgres port moved to the throwaway server's
        Path(home, "dagster.yaml").write_text(yaml_text.replace("port: 5432", f"port: {postgres['DAGSTER_POSTGRES_PORT']}"))
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(home)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
            assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
            run = instance.create_run_for_job(job_def=_tiny_job(), run_id=str(uuid.uuid4()))
            assert instance.get_run_by_id(run.run_id) is not None  # really stored in Postgres
            launcher = instance.run_launcher
            context = launcher.get_container_context(run)
    assert context.networks == ["mlpipe_default"]
    assert {"DAGSTER_POSTGRES_PASSWORD", "ML_S3_ENDPOINT", "MLFLOW_TRACKING_URI", "ML_DATASET_URI"} <= set(context.env_vars)
    assert not {"PATH", "HOME", "DOCKER_HOST"} & set(context.env_vars)  # only the listed and ML_*/MLFLOW_*
    assert context.container_kwargs["device_requests"] == [{"count": -1, "capabilities": [["gpu"]]}]
    assert context.container_kwargs["auto_remove"] is True
    assert launcher.image == "ml-pipelines/ml:test"


def _tiny_job() -> dg.JobDefinition:
    @dg.op
    def noop() -> None:
        """A job to create a run record with; never executed here."""

    @dg.job
    def tiny() -> None:
        noop()

    return tiny
