"""Both adapters asked the same question give one answer: the launch policy's and ml's.

Each test loads the Airflow DAGs (as the DAG processor does) and the Dagster code location and
run launcher in the same environment, and compares what each would do: GPUs, the environment a
step gets, secrets, retry numbers, run parameters and their bounds, the partition a manual or a
scheduled inference run labels, and the quality gate.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dag_render import RunInfo, render

from ml.core.retry import STEP_RETRY
from ml.launch.exits import drop_empty_options

DAGSTER_DIR = Path(__file__).resolve().parents[2] / "dagster"
if str(DAGSTER_DIR) not in sys.path:
    sys.path.insert(0, str(DAGSTER_DIR))

ENV = {
    "ML_LAUNCHER": "docker",
    "ML_IMAGE": "registry.example/ml:1.2.3",
    "ML_DOCKER_NETWORK": "mlpipe_default",
    "ML_S3_ENDPOINT": "http://minio:9000",
    "ML_S3_ACCESS_KEY": "access-key-value-1234",
    "ML_S3_SECRET_KEY": "secret-key-value-5678",
    "ML_PREDICT_BATCH_TOKENS": "8192",
    "TOKENIZERS_PARALLELISM": "false",
    "MLFLOW_TRACKING_URI": "http://mlflow:5000",
    "MLFLOW_TRACKING_PASSWORD": "mlflow-password-9012",
    "ML_CPUS": "2",
    "ML_MEM_LIMIT": "6g",
    "ML_GPUS": "none",
}


@pytest.fixture
def both(load_dags, monkeypatch):
    """(airflow DagBag, a Dagster run launcher factory) under `ENV` plus per-test variables."""
    import os

    for name in [n for n in os.environ if n.startswith(("ML_", "MLFLOW_", "AWS_", "HF_", "TRANSFORMERS_", "TOKENIZERS_"))]:
        monkeypatch.delenv(name)

    def load(**extra: str) -> tuple[Any, Any]:
        bag = load_dags(**{**ENV, **extra})
        assert bag.import_errors == {}

        from ml_dagster.launcher import MlDockerRunLauncher

        def launcher() -> Any:
            return MlDockerRunLauncher(image=ENV["ML_IMAGE"], network=ENV["ML_DOCKER_NETWORK"],
                                       env_vars=["DAGSTER_POSTGRES_USER"])

        return bag, launcher

    return load


def _dagster_context(launcher: Any) -> Any:
    from dagster._core.storage.dagster_run import DagsterRun

    return launcher.get_container_context(DagsterRun(job_name="training_job", run_id="r1"))


class FakeDocker:
    """The Docker daemon's `info()`, as both adapters' GPU probe reads it."""

    def __init__(self, nvidia: bool) -> None:
        self.runtimes = {"runc": {}, **({"nvidia": {}} if nvidia else {})}

    def info(self) -> dict[str, Any]:
        return {"Runtimes": self.runtimes}


def _airflow_gpus(task: Any, nvidia: bool, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    if task.probe_gpus:
        monkeypatch.setattr(type(task), "cli", FakeDocker(nvidia))  # DockerOperator's client: only info() is read
        task._probe_gpus()
    return [{k: v for k, v in {"count": r.count if r.count else None, "device_ids": r.device_ids or None,
                              "capabilities": r.capabilities}.items() if v is not None}
            for r in task.device_requests or []]


@pytest.mark.parametrize("gpus", ["auto", "all", "none", "0,1", ""])
@pytest.mark.parametrize("nvidia", [True, False])
def test_gpus_one_grammar_one_probe(both, monkeypatch, gpus, nvidia) -> None:
    import docker

    bag, launcher = both(**{"ML_GPUS": gpus})
    monkeypatch.setattr(docker.client, "from_env", lambda: FakeDocker(nvidia))
    dagster = launcher().device_requests()
    for task in bag.dags["ml_training"].tasks:
        assert _airflow_gpus(task, nvidia, monkeypatch) == dagster, (gpus, nvidia, task.task_id)
    expect_gpu = gpus in ("all", "0,1") or (gpus in ("auto", "") and nvidia)
    assert bool(dagster) == expect_gpu


def test_bad_gpu_value_fails_both_with_one_message(load_dags, monkeypatch) -> None:
    from ml.core.errors import BadInputError
    from ml_dagster.launcher import MlDockerRunLauncher

    bag = load_dags(**{**ENV, "ML_GPUS": "cpu"})
    with pytest.raises(BadInputError) as dagster_error:
        MlDockerRunLauncher(image="x")
    assert bag.import_errors
    for error in bag.import_errors.values():
        assert str(dagster_error.value) in error


def test_same_step_environment_and_the_same_secrets(both) -> None:
    from ml.core.secrets import secret_names

    bag, launcher = both()
    context = _dagster_context(launcher())
    dagster_names = {entry.split("=", 1)[0] for entry in context.env_vars} - {"DAGSTER_POSTGRES_USER"}
    assert "ML_ORCHESTRATOR=dagster" in context.env_vars
    assert not [e for e in context.env_vars if "=" in e and e.split("=", 1)[0] in secret_names()], "secret value in config"
    for task in bag.dags["ml_training"].tasks:
        task = render(task)
        airflow_names = set(task.environment) | set(task._private_environment)
        assert airflow_names == dagster_names, task.task_id
        assert task.environment["ML_ORCHESTRATOR"] == "airflow"
        assert set(task._private_environment) == {"ML_S3_ACCESS_KEY", "ML_S3_SECRET_KEY", "MLFLOW_TRACKING_PASSWORD"}
        assert task.environment["ML_PREDICT_BATCH_TOKENS"] == "8192"  # a setting, never a secret
        assert set(task._private_environment) == dagster_names & secret_names()


def test_same_container_limits(both) -> None:
    bag, launcher = both()
    kwargs = _dagster_context(launcher()).container_kwargs
    for task in bag.dags["ml_inference"].tasks:
        assert round(task.cpus * 1024) == kwargs["cpu_shares"] == 2048  # DockerOperator: cpu_shares = cpus * 1024
        assert task.mem_limit == kwargs["mem_limit"] == "6g"
        assert task.shm_size == 2 * 1024**3 and kwargs["shm_size"] == "2g"


def test_same_container_hardening_and_a_default_memory_limit(both) -> None:
    from types import SimpleNamespace

    import docker

    from ml.launch.settings import DEFAULT_MEM_LIMIT, HARDENING

    bag, launcher = both(ML_MEM_LIMIT="")
    kwargs = _dagster_context(launcher()).container_kwargs
    assert {k: kwargs[k] for k in HARDENING} == HARDENING == {"security_opt": ["no-new-privileges:true"], "cap_drop": ["ALL"]}
    assert kwargs["mem_limit"] == DEFAULT_MEM_LIMIT
    task = bag.dags["ml_inference"].tasks[0]
    task.__dict__["hook"] = SimpleNamespace(api_client=docker.APIClient(base_url="unix:///nonexistent", version="1.41"))
    host_config = task.cli.create_host_config(mem_limit=task.mem_limit)  # what DockerOperator sends
    assert host_config["SecurityOpt"] == ["no-new-privileges:true"] and host_config["CapDrop"] == ["ALL"]
    assert task.mem_limit == DEFAULT_MEM_LIMIT
    bag, launcher = both(ML_MEM_LIMIT="none")
    assert "mem_limit" not in _dagster_context(launcher()).container_kwargs
    assert bag.dags["ml_inference"].tasks[0].mem_limit is None


def test_same_retry_numbers(both) -> None:
    from ml_dagster.definitions import defs

    bag, _ = both()
    for dag in bag.dags.values():
        for task in dag.tasks:
            assert task.retries == STEP_RETRY.retries
            assert task.retry_delay.total_seconds() == STEP_RETRY.delay_s
            assert task.retry_exponential_backoff == STEP_RETRY.backoff
    for asset in defs.assets:
        policy = asset.op.retry_policy
        assert (policy.max_retries, policy.delay) == (STEP_RETRY.retries, STEP_RETRY.delay_s), asset.key


def test_same_run_parameters_with_the_same_bounds(both) -> None:
    from ml.pipelines.spec import pipeline
    from ml_dagster import config

    bag, _ = both()
    bounds = {"minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt",
              "minLength": "min_length", "pattern": "pattern"}
    for spec in (pipeline("training"), pipeline("inference")):
        airflow = bag.dags[spec.airflow_dag].params
        dagster_fields: dict[str, Any] = {}
        for step in spec.steps:
            dagster_fields.update(config.config_class(step).model_fields)
        for p in spec.params():
            assert airflow[p.name] is None and dagster_fields[p.name].default is None, p.name  # unset by default
            schema = airflow.get_param(p.name).schema
            field = dagster_fields[p.name]
            dagster_bounds = {}
            for meta in field.metadata:
                for json_key, attr in bounds.items():
                    if getattr(meta, attr, None) is not None:
                        dagster_bounds[json_key] = getattr(meta, attr)
            airflow_bounds = {k: v for k, v in schema.items() if k in bounds}
            assert airflow_bounds == dagster_bounds, p.name


def test_same_partition_for_a_scheduled_and_a_manual_run(both, monkeypatch) -> None:
    """The Airflow @daily run and the Dagster schedule tick at the same time label one day; so do
    manual runs triggered at the same moment."""
    import dagster as dg

    import ml_dagster.assets as assets
    from ml.data.partitions import partition_date
    from ml_dagster.definitions import defs

    bag, _ = both()
    dag = bag.dags["ml_inference"]
    tick = datetime(2026, 12, 1, tzinfo=UTC)
    scheduled = render(dag.get_task("load_inference_data"), dag_run=RunInfo(
        run_after=tick, data_interval_start=datetime(2026, 11, 30, tzinfo=UTC), data_interval_end=tick))
    airflow_as_of = drop_empty_options(scheduled.command)[-1]
    with dg.instance_for_test() as instance, dg.build_schedule_context(instance=instance,
                                                                     scheduled_execution_time=tick) as context:
        [request] = defs.resolve_schedule_def("daily_inference_schedule").evaluate_tick(context).run_requests
    # Dagster's tick runs partition D; the asset passes D to the step as partition_date
    assert partition_date(airflow_as_of) == partition_date(None, request.partition_key) == datetime(2026, 11, 30).date()

    seen: dict[str, Any] = {}

    def fake_step(context: Any, step: str, **kwargs: Any) -> dict[str, Any]:  # records what the step would get
        seen.update(kwargs)
        return {"data_uri": "s3://w/x", "input_uri": "s3://d/x.csv", "partition_date": None, "rows": 1,
                "dropped_rows": 0, "fingerprint": "f"}

    monkeypatch.setattr(assets, "run_loading_step", fake_step)
    inference_data = defs.resolve_assets_def("inference_data")
    result = dg.materialize([inference_data])
    assert result.success
    assert set(seen) == {"as_of"}  # nothing else set: the step picks the partition
    # a manual Airflow run created at the same moment: the same partition (whatever the clock says now)
    manual = render(dag.get_task("load_inference_data"), dag_run=RunInfo(run_after=datetime.fromisoformat(seen["as_of"])))
    assert partition_date(seen["as_of"]) == partition_date(drop_empty_options(manual.command)[-1])


def test_one_quality_gate(both, monkeypatch) -> None:
    """The Dagster check holds no threshold: it shows the verdict evaluate returns and register enforces."""
    import dagster as dg

    import ml_dagster.checks as checks
    from ml.core.config import load_settings
    from ml.training.gates import quality_gate
    from ml_dagster.definitions import defs

    bag, _ = both()
    assert not any("f1" in name or "gate" in name for name in bag.dags["ml_training"].params)
    gate_check = next(c for c in defs.asset_checks if any(s.name == "quality_gate" for s in c.check_specs))
    assert gate_check.node_def.config_schema.config_type.kind.name == "ANY"  # no config of its own
    monkeypatch.setenv("ML_MIN_TEST_MACRO_F1", "0.9")
    verdict = quality_gate({"test_macro_f1": 0.85}, load_settings())
    monkeypatch.setattr(checks, "checked_output", lambda context, key: {"gate": verdict.as_dict()})
    result = gate_check(dg.build_asset_check_context())
    assert result.passed is verdict.passed is False
    assert result.description == verdict.reason


def test_the_stack_starts_with_the_same_automation_on_both(both) -> None:
    """Daily inference and the new-data trigger start in the same state on both orchestrators.

    Airflow: DAGs are unpaused at creation in the stack (compose), `ml_inference` is `@daily` and
    `ml_new_data` exists only with `ML_TRAIN_ON_NEW_DATA=true`; Dagster: the schedule runs from the
    start and the sensor's default status follows the same setting.
    """
    import os
    import subprocess

    import yaml

    compose = yaml.safe_load((Path(__file__).resolve().parents[2] / "compose.yaml").read_text())
    airflow_env = compose["x-airflow"]["environment"]
    assert str(airflow_env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"]).lower() == "false"
    assert str(airflow_env["ML_TRAIN_ON_NEW_DATA"]).endswith(":-true}")  # on in the stack
    for on in (True, False):
        bag, _ = both(ML_TRAIN_ON_NEW_DATA=str(on).lower())
        code = ("from ml_dagster.definitions import defs; "
                "print(defs.resolve_sensor_def('new_training_data_sensor').default_status.name)")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ML_")}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**env, "ML_TRAIN_ON_NEW_DATA": str(on).lower(), "PYTHONPATH": str(DAGSTER_DIR)})
        assert ("ml_new_data" in bag.dags) is on
        assert (out.stdout.split()[-1] == "RUNNING") is on
    from ml_dagster.definitions import defs

    daily_inference_schedule = defs.resolve_schedule_def("daily_inference_schedule")
    timetable = bag.dags["ml_inference"].timetable
    assert timetable.expression in ("@daily", "0 0 * * *") and str(timetable.timezone) == "UTC"
    assert daily_inference_schedule.cron_schedule == "0 0 * * *" and daily_inference_schedule.execution_timezone == "UTC"
    assert daily_inference_schedule.default_status.name == "RUNNING"


@pytest.mark.parametrize("overrides", ["", "train=90s,promote=2m"])
def test_same_time_limits(both, overrides: str) -> None:
    """Airflow's per-try `execution_timeout`s and Dagster's run limit come from one table.

    Dagster bounds the whole run (`dagster/max_runtime`: a Docker run's steps share its container),
    so its limit must equal the longest an Airflow run of the same pipeline can take: every
    task's tries at their timeout plus the retry waits.
    """
    import os
    import subprocess

    from ml.launch.timeouts import step_limit_s

    bag, _ = both(ML_STEP_TIMEOUTS=overrides)
    code = ("from ml_dagster.definitions import defs; "
            "print(*(defs.resolve_job_def(j).tags['dagster/max_runtime'] for j in ('training_job', 'inference_job')))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**env, "ML_STEP_TIMEOUTS": overrides, "PYTHONPATH": str(DAGSTER_DIR)})
    dagster_limits = [int(v) for v in out.stdout.split()[-2:]]
    waits = sum(STEP_RETRY.delays())
    for (dag_id, tasks), dagster_limit in zip((("ml_training", 5), ("ml_inference", 5)), dagster_limits, strict=True):
        dag = bag.dags[dag_id]
        assert len(dag.tasks) == tasks
        worst = sum(t.execution_timeout.total_seconds() * (t.retries + 1) + waits for t in dag.tasks)
        assert worst == dagster_limit, dag_id
    train_task = bag.dags["ml_training"].get_task("train_model")
    assert train_task.execution_timeout.total_seconds() == step_limit_s("train", overrides)
    assert (train_task.execution_timeout.total_seconds() == 90) is bool(overrides)
