"""The two DAGs as Airflow parses them: import errors, what parsing imports, structure, params, rendered args.

No step runs here: these tests need neither the `ml` services nor a Docker daemon.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pytest
from dag_parse import parse_imports
from dag_render import PLAIN, SECRETS, RunInfo, ml_args, render

from ml.launch.exits import drop_empty_options

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "airflow" / "dags"

DOCKER_ENV = {
    "ML_LAUNCHER": "docker",
    "ML_IMAGE": "registry.example/ml:1.2.3",
    "ML_DOCKER_NETWORK": "mlpipe_default",
    "ML_MEM_LIMIT": "6g",
    "ML_SHM_SIZE": "1g",
    **SECRETS,
    **PLAIN,
}


# --- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("launcher", ["docker", "local", "kubernetes"])
def test_dagbag_loads_both_dags_without_errors(load_dags, launcher):
    bag = load_dags(ML_LAUNCHER=launcher, ML_IMAGE="registry.example/ml:1.2.3")
    assert bag.import_errors == {}
    assert set(bag.dags) == {"ml_training", "ml_inference"}
    stats = {stat.file for stat in bag.dagbag_stats}
    assert stats == {"ml_training.py", "ml_inference.py", "ml_new_data.py"}, "the launcher modules must be ignored as DAG files"


def test_dag_file_parse_is_cheap_in_a_fresh_interpreter():
    """What parsing imports, in a new process where only Airflow is imported beforehand.

    A property, not a timing (the test machine may be busy): no heavy library is imported. How
    long a parse takes is a figure for the benchmarks.
    """
    for name in ("ml_training.py", "ml_inference.py"):
        assert parse_imports(DAGS_FOLDER / name, ML_LAUNCHER="docker") == [], name


def test_unknown_launcher_is_an_import_error(load_dags):
    bag = load_dags(ML_LAUNCHER="ssh")
    assert bag.dags == {}
    assert bag.import_errors
    assert all("invalid setting ML_LAUNCHER='ssh'" in error for error in bag.import_errors.values())


# --- structure --------------------------------------------------------------------------------


def _spec_graph(name: str) -> tuple[set[str], set[tuple[str, str]]]:
    """The spec's task ids and edges (the graph without implied edges) for pipeline `name`."""
    from ml.pipelines.spec import pipeline

    spec = pipeline(name)
    task = {s.name: s.airflow_task for s in spec.steps}
    return set(task.values()), {(task[a], task[b]) for a, b in spec.edges()}


def _dag_graph(dag) -> tuple[set[str], set[tuple[str, str]]]:
    return set(dag.task_ids), {(t.task_id, d) for t in dag.tasks for d in t.downstream_task_ids}


@pytest.mark.parametrize("name", ["training", "inference"])
def test_each_dag_is_the_pipeline_spec_tasks_and_edges(load_dags, name):
    """Task ids and edges equal ml's spec (`python -m ml pipelines`): a drift between them fails here."""
    from ml.pipelines.spec import pipeline

    dag = load_dags().dags[pipeline(name).airflow_dag]
    assert _dag_graph(dag) == _spec_graph(name)


def test_training_is_manual_and_inference_daily(load_dags):
    bag = load_dags()
    training, inference = bag.dags["ml_training"], bag.dags["ml_inference"]
    assert training.schedule is None  # manual trigger only
    assert training.max_active_runs >= 5 and inference.max_active_runs >= 5
    # the drift check runs before publishing, so ML_DRIFT_BLOCKING can stop it (as Dagster's blocking check)
    assert inference.get_task("save_inference_results").upstream_task_ids == {"check_drift"}
    assert inference.catchup is False
    assert type(inference.timetable).__name__ == "CronDataIntervalTimetable"
    assert inference.timetable.expression == "0 0 * * *"  # @daily


@pytest.mark.parametrize("launcher", ["docker", "local", "kubernetes"])
@pytest.mark.parametrize("dag_id", ["ml_training", "ml_inference"])
def test_failure_policy_on_every_task(load_dags, dag_id, launcher):
    dag = load_dags(ML_LAUNCHER=launcher, ML_IMAGE="registry.example/ml:1.2.3").dags[dag_id]
    for task in dag.tasks:
        assert task.retries == 2, task.task_id
        assert task.retry_exponential_backoff == 2.0, task.task_id
        assert task.execution_timeout is not None and task.execution_timeout.total_seconds() > 0


OPERATORS = {"docker": "MlDockerOperator", "local": "MlLocalOperator", "kubernetes": "MlKubernetesPodOperator"}


@pytest.mark.parametrize("launcher", sorted(OPERATORS))
def test_every_task_is_one_ml_call_with_the_run_id(load_dags, launcher):
    bag = load_dags(ML_LAUNCHER=launcher, ML_IMAGE="registry.example/ml:1.2.3")
    from ml.pipelines.spec import all_steps

    steps = {step.airflow_task: step.name for step in all_steps()}
    for dag in bag.dags.values():
        for task in dag.tasks:
            argv = task.cmds + task.arguments if launcher == "kubernetes" else task.command
            assert argv[:8] == [
                "python",
                "-m",
                "ml",
                steps[task.task_id],
                "--run-id",
                "{{ run_id }}",
                "--orchestrator",
                "airflow",
            ]
            assert type(task).__name__ == OPERATORS[launcher]


# --- params -----------------------------------------------------------------------------------


def test_params_are_unset_by_default_so_the_step_applies_its_own(load_dags):
    """No default is read at parse time: an unset param reaches no step (ml applies ML_EPOCHS, ...)."""
    bag = load_dags(ML_DATASET_URI="s3://datasets/reviews/train.parquet", ML_EPOCHS="5")
    for dag_id in ("ml_training", "ml_inference"):
        params = bag.dags[dag_id].params.validate()
        assert params and all(value is None for value in params.values()), (dag_id, params)
    task = render(bag.dags["ml_training"].get_task("load_training_data"))
    assert drop_empty_options(task.command) == ml_args("load-training-data")


def test_params_and_their_bounds_are_ml_params(load_dags):
    from ml.pipelines.spec import pipeline

    bag = load_dags()
    for spec in (pipeline("training"), pipeline("inference")):
        dag_id = spec.airflow_dag
        dump = bag.dags[dag_id].params.dump()
        assert list(dump) == [p.name for p in spec.params()]
        for p in spec.params():
            schema = bag.dags[dag_id].params.get_param(p.name).schema
            assert schema["type"] == ["null", p.schema["type"]]
            assert {k: v for k, v in schema.items() if k in p.schema and k != "type"} == {
                k: v for k, v in p.schema.items() if k != "type"
            }


def test_bad_setting_in_the_environment_is_a_clear_import_error(load_dags):
    bag = load_dags(ML_CPUS="three")
    assert bag.import_errors["ml_training.py"].strip().endswith(
        "BadInputError: invalid setting ML_CPUS='three': Input should be a valid number, "
        "unable to parse string as a number; fix the env value"
    )


@pytest.mark.parametrize(
    ("dag_id", "name", "value"),
    [
        ("ml_training", "dataset_uri", ""),
        ("ml_training", "dataset_uri", "relative/train.csv"),
        ("ml_training", "dataset_uri", "s3://bucket-only"),
        ("ml_training", "epochs", 0),
        ("ml_training", "epochs", "three"),
        ("ml_training", "learning_rate", 0),
        ("ml_training", "learning_rate", 1.5),
        ("ml_training", "batch_size", -1),
        ("ml_training", "seed", -3),
        ("ml_training", "max_train_samples", 0),
        ("ml_training", "base_model", ""),
        ("ml_inference", "input_uri", "not a uri"),
        ("ml_inference", "model_version", 0),
        ("ml_inference", "model_version", "latest"),
        ("ml_inference", "model_alias", "champion; rm -rf /"),
        ("ml_inference", "output_uri", "ftp://x/y"),
    ],
)
def test_params_reject_bad_values(load_dags, dag_id, name, value):
    from airflow.sdk.exceptions import ParamValidationError

    params = copy.deepcopy(load_dags().dags[dag_id].params)
    with pytest.raises(ParamValidationError):
        params[name] = value


@pytest.mark.parametrize(
    ("dag_id", "conf"),
    [
        ("ml_training", {"dataset_uri": "/data/train.csv", "epochs": 1, "learning_rate": 0.01}),
        ("ml_training", {"dataset_uri": "https://example.org/train.jsonl", "max_train_samples": 64}),
        ("ml_inference", {"input_uri": "s3://datasets/inference/x.csv", "model_version": 3}),
        ("ml_inference", {"input_uri": None, "model_version": None, "output_uri": "s3://predictions/x.parquet"}),
    ],
)
def test_params_accept_good_values(load_dags, dag_id, conf):
    params = copy.deepcopy(load_dags().dags[dag_id].params)
    for name, value in conf.items():
        params[name] = value
    assert {name: params[name] for name in conf} == conf


# --- rendered docker arguments ----------------------------------------------------------------


def test_docker_task_renders_image_command_network_and_mounts(load_dags):
    dag = load_dags(**DOCKER_ENV).dags["ml_training"]
    task = render(dag.get_task("train_model"), conf={"epochs": 2, "max_train_samples": 100})
    assert task.image == "registry.example/ml:1.2.3"
    assert drop_empty_options(task.command) == ml_args(
        "train", data_uri="s3://ml-work/r1/data", epochs=2, max_train_samples=100
    )
    assert task.network_mode == "mlpipe_default"
    assert task.mount_tmp_dir is False
    assert task.mem_limit == "6g"
    assert task.shm_size == 1024**3
    assert task.do_xcom_push is True
    assert task.remove_container is True


def test_docker_task_keeps_secrets_out_of_plain_environment_and_templates(load_dags):
    dag = load_dags(**DOCKER_ENV).dags["ml_training"]
    for source in dag.tasks:
        task = render(source)
        for name, value in SECRETS.items():
            assert name not in task.environment
            assert task._private_environment[name] == value
            for field_name in task.template_fields:
                assert value not in repr(getattr(task, field_name)), (task.task_id, field_name)
        for name, value in PLAIN.items():
            assert task.environment[name] == value
        assert task.environment["ML_ORCHESTRATOR"] == "airflow"
        assert "ML_LAUNCHER" not in task.environment


def test_serialized_dag_holds_no_secret(load_dags):
    """What the DAG processor writes to the metadata DB (and the UI shows) has no secret value."""
    import json

    from airflow.serialization.serialized_objects import DagSerialization

    bag = load_dags(**DOCKER_ENV)
    for dag in bag.dags.values():
        serialized = json.dumps(DagSerialization.serialize_dag(dag))
        assert "ML_S3_ENDPOINT" in serialized  # the plain environment is there
        for value in SECRETS.values():
            assert value not in serialized, dag.dag_id


def test_docker_task_requests_all_gpus_with_ml_gpus_all(load_dags):
    dag = load_dags(**DOCKER_ENV, ML_GPUS="all").dags["ml_training"]
    for task in dag.tasks:
        assert task.gpus == "all"
        (request,) = task.device_requests
        assert request["Count"] == -1
        assert request["Capabilities"] == [["gpu"]]


@pytest.mark.parametrize("gpus", ["none", "auto"])
def test_docker_task_has_no_device_requests_at_parse_time_otherwise(load_dags, gpus):
    """`none` never requests GPUs; `auto` asks the daemon at run time, never while parsing."""
    dag = load_dags(**DOCKER_ENV, ML_GPUS=gpus).dags["ml_training"]
    for task in dag.tasks:
        assert task.gpus == gpus
        assert task.device_requests is None


def test_bad_gpu_setting_is_an_import_error(load_dags):
    bag = load_dags(**DOCKER_ENV, ML_GPUS="some")
    assert bag.import_errors
    assert all("invalid setting ML_GPUS='some'" in error and "device ids" in error for error in bag.import_errors.values())


def test_downstream_training_tasks_take_upstream_outputs(load_dags):
    dag = load_dags(**DOCKER_ENV).dags["ml_training"]
    assert drop_empty_options(render(dag.get_task("evaluate_model")).command) == ml_args(  # `--cache` unset: not passed
        "evaluate", data_uri="s3://ml-work/r1/data", model_uri="s3://ml-work/r1/model", mlflow_run_id="abc123"
    )
    assert render(dag.get_task("save_trained_model")).command == ml_args(
        "register", model_uri="s3://ml-work/r1/model", mlflow_run_id="abc123"
    )
    assert render(dag.get_task("promote_model")).command == ml_args("promote", model_name="text-classifier", version=7)


def test_inference_passes_when_the_run_was_due_and_leaves_the_partition_to_ml(load_dags):
    """A scheduled run passes its data interval's end, a manual one its trigger time; ml picks the day."""
    dag = load_dags(**DOCKER_ENV).dags["ml_inference"]
    scheduled = RunInfo(
        run_id="scheduled__2026-11-24T00:00:00+00:00",
        run_after=datetime(2026, 11, 25, tzinfo=UTC),
        data_interval_start=datetime(2026, 11, 24, tzinfo=UTC),
        data_interval_end=datetime(2026, 11, 25, tzinfo=UTC),
    )
    task = render(dag.get_task("load_inference_data"), dag_run=scheduled)
    assert drop_empty_options(task.command) == ml_args("load-inference-data", as_of="2026-11-25T00:00:00+00:00")
    manual = render(dag.get_task("load_inference_data"))  # triggered 2026-11-25 06:34 with no logical date
    assert drop_empty_options(manual.command) == ml_args("load-inference-data", as_of="2026-11-25T06:34:00+00:00")
    named = render(dag.get_task("load_inference_data"), conf={"partition_date": "2026-11-01"})
    assert drop_empty_options(named.command)[-4:] == ["--partition-date", "2026-11-01", "--as-of", "2026-11-25T06:34:00+00:00"]
    explicit = render(dag.get_task("load_inference_data"), conf={"input_uri": "s3://datasets/x/today.jsonl"})
    assert drop_empty_options(explicit.command)[8:10] == ["--input-uri", "s3://datasets/x/today.jsonl"]


def test_inference_model_version_is_optional(load_dags):
    dag = load_dags(**DOCKER_ENV).dags["ml_inference"]
    by_alias = render(dag.get_task("load_trained_model"))
    assert drop_empty_options(by_alias.command) == ml_args("load-model")  # the step's default alias: champion
    pinned = render(dag.get_task("load_trained_model"), conf={"model_version": 3})
    assert drop_empty_options(pinned.command) == ml_args("load-model", version=3)
    assert drop_empty_options(render(dag.get_task("run_inference")).command) == ml_args(  # the ids keep the input's column name
        "predict", data_uri="s3://ml-work/r2/input", model_name="text-classifier", version=4, id_column="ticket_id"
    )
    assert render(dag.get_task("check_drift")).command == ml_args(
        "check-drift", data_uri="s3://ml-work/r2/input", predictions_uri="s3://ml-work/r2/predictions.parquet",
        model_name="text-classifier", version=4,
    )
    save = render(dag.get_task("save_inference_results"), conf={"output_uri": "s3://predictions/p.parquet"})
    assert drop_empty_options(save.command) == ml_args(
        "save-predictions",
        predictions_uri="s3://ml-work/r2/predictions.parquet",
        output_uri="s3://predictions/p.parquet",
    )


# --- approval mode ----------------------------------------------------------------------------


def test_approval_mode_adds_a_human_review_whose_answer_reaches_one_ml_call(load_dags):
    """ML_PROMOTION_MODE=approval: promote -> awaiting_approval -> review_challenger (HITL) -> apply_review."""
    from airflow.providers.standard.operators.hitl import HITLOperator

    bag = load_dags(ML_PROMOTION_MODE="approval")
    assert bag.import_errors == {}
    dag = bag.dags["ml_training"]
    for upstream, downstream in pairwise(["promote_model", "awaiting_approval", "review_challenger", "apply_review"]):
        assert dag.get_task(upstream).downstream_task_ids == {downstream}
    review = dag.get_task("review_challenger")
    assert isinstance(review, HITLOperator) and review.options == ["Approve", "Reject"]
    assert review.response_timeout is not None
    apply = render(dag.get_task("apply_review"))
    assert drop_empty_options(apply.command) == ml_args(
        "review", version="7", model_name="text-classifier", decision="approve",
        reason="checked the errors", actor="airflow:alice")
    assert "v7" in render(review).subject


def test_auto_mode_has_no_review_tasks(load_dags):
    dag = load_dags(ML_PROMOTION_MODE="auto").dags["ml_training"]
    assert not {"awaiting_approval", "review_challenger", "apply_review"} & set(dag.task_ids)
