"""Airflow with a model catalog of two models: a set of DAGs per model, each built from the spec.

No step runs here. Airflow is imported inside the tests (conftest.py sets AIRFLOW_HOME first).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dag_render import render

from ml.launch.exits import drop_empty_options

CATALOG = """
models:
  text-classifier: {}
  support-tickets:
    text_column: message
    label_column: category
    id_column: ticket_id
    inference_schedule: "0 6 * * *"
    promotion_mode: approval
    train_on_new_data: true
  spam:
    inference_schedule: none
"""


@pytest.fixture
def catalog(tmp_path: Path) -> str:
    path = tmp_path / "models.yaml"
    path.write_text(CATALOG)
    return str(path)


def test_each_model_has_its_dags_named_by_the_one_rule(load_dags, catalog: str) -> None:
    from ml.pipelines.models import model_pipelines

    bag = load_dags(ML_LAUNCHER="local", ML_MODEL_CATALOG=catalog, ML_TRAIN_ON_NEW_DATA="true")
    assert bag.import_errors == {}
    expected = {p.airflow_dag for name in ("training", "inference") for p in model_pipelines(name)}
    assert expected == {"ml_training", "ml_inference", "ml_training__support-tickets", "ml_inference__support-tickets",
                        "ml_training__spam", "ml_inference__spam"}
    assert expected | {"ml_new_data", "ml_new_data__support-tickets", "ml_new_data__spam"} == set(bag.dags)
    default, tickets = bag.dags["ml_training"], bag.dags["ml_training__support-tickets"]
    assert {t.task_id for t in default.tasks} < {t.task_id for t in tickets.tasks}  # the same steps, plus review
    assert "model:support-tickets" in tickets.tags


def test_every_task_of_a_models_dag_runs_for_that_model(load_dags, catalog: str) -> None:
    """Each task names the model, or takes it from the upstream step that resolved it (rendered here
    from the fake XComs of dag_render, so only the option's presence is checked for those)."""
    from ml.pipelines.spec import all_steps

    from_upstream = {s.airflow_task for s in all_steps() if "model_name" in s.inputs}
    bag = load_dags(ML_LAUNCHER="local", ML_MODEL_CATALOG=catalog)
    for dag_id in ("ml_training__spam", "ml_inference__spam"):
        for task in bag.dags[dag_id].tasks:
            command = drop_empty_options(render(task).command)
            if task.task_id in from_upstream:
                assert "--model-name" in command, (dag_id, task.task_id)
                continue
            assert command[command.index("--model-name") + 1] == "spam", (dag_id, task.task_id)
    for dag_id in ("ml_training", "ml_inference"):  # the default model's tasks read ML_MODEL_NAME
        for task in bag.dags[dag_id].tasks:
            command = drop_empty_options(render(task).command)
            assert "--model-name" not in command or command[command.index("--model-name") + 1] == "text-classifier"


def test_each_model_has_its_schedule_and_review_flow(load_dags, catalog: str) -> None:
    bag = load_dags(ML_LAUNCHER="local", ML_MODEL_CATALOG=catalog)
    assert bag.dags["ml_inference"].timetable.expression == "0 0 * * *"  # @daily
    assert bag.dags["ml_inference__support-tickets"].timetable.expression == "0 6 * * *"
    assert bag.dags["ml_inference__spam"].schedule is None  # manual runs only
    from ml.pipelines.spec import pipeline

    training = pipeline("training")
    gate, ask = training.airflow_review_tasks
    assert {gate, ask} <= {t.task_id for t in bag.dags["ml_training__support-tickets"].tasks}  # approval mode
    assert not {gate, ask} & {t.task_id for t in bag.dags["ml_training__spam"].tasks}  # auto mode


def test_each_models_new_data_dag_watches_its_own_prefix(load_dags, catalog: str) -> None:
    bag = load_dags(ML_LAUNCHER="local", ML_MODEL_CATALOG=catalog, ML_TRAIN_ON_NEW_DATA="false")
    assert set(bag.dags) & {"ml_new_data", "ml_new_data__support-tickets", "ml_new_data__spam"} == {
        "ml_new_data__support-tickets"}  # only the model whose entry turns it on
    dag = bag.dags["ml_new_data__support-tickets"]
    [asset] = dag.timetable.asset_condition.objects if hasattr(dag.timetable.asset_condition, "objects") else [
        dag.timetable.asset_condition]
    assert asset.uri.rstrip("/") == "s3://datasets/training/support-tickets"
    start = dag.get_task("start_training")
    assert start.partial_kwargs.get("trigger_dag_id", getattr(start, "trigger_dag_id", None)) == \
        "ml_training__support-tickets"


def test_the_default_watcher_leaves_nested_model_prefixes_to_their_models(catalog: str, monkeypatch) -> None:
    from ml.core.config import reset_settings
    from ml.data.new_data import watches

    monkeypatch.setenv("ML_MODEL_CATALOG", catalog)
    reset_settings()
    by_model = {w.model: w for w in watches()}
    assert by_model["text-classifier"].exclude == ("s3://datasets/training/spam/",
                                                   "s3://datasets/training/support-tickets/")
    assert by_model["support-tickets"].exclude == ()


def test_a_catalog_mistake_is_an_import_error_listing_every_mistake(load_dags, tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("models:\n  a: {epoch: 3}\n  b: {seed: -1}\n")
    bag = load_dags(ML_LAUNCHER="local", ML_MODEL_CATALOG=str(path))
    errors = "\n".join(bag.import_errors.values())
    assert "model 'a': field 'epoch' is not a catalog field" in errors
    assert "ml_training" not in bag.dags


def test_the_catalog_reaches_a_step_container_as_written(load_dags, tmp_path: Path) -> None:
    """The task environment is a template field: a catalog holding `{{` or `{#` must not be rendered."""
    path = tmp_path / "models.yaml"
    text = 'models:\n  spam:\n    description: "alerts {{ like this }} and {# that #}"\n'
    path.write_text(text)
    bag = load_dags(ML_LAUNCHER="docker", ML_IMAGE="registry.example/ml:1.2.3", ML_MODEL_CATALOG=str(path))
    task = render(bag.dags["ml_training__spam"].get_task("train_model"))
    assert task.environment["ML_MODEL_CATALOG_TEXT"] == text


@pytest.mark.parametrize(("conf", "expected"), [({"new_task": True}, True), ({"new_task": False}, False), ({}, False)])
def test_new_task_reaches_the_load_step_as_the_cli_reads_it(load_dags, conf: dict, expected: bool) -> None:
    """`make train PARAMS=new_task=true`: the rendered option parses as the step's boolean."""
    from ml.cli import build_parser

    bag = load_dags(ML_LAUNCHER="local")
    task = render(bag.dags["ml_training"].get_task("load_training_data"), conf=conf)
    args = build_parser().parse_args(drop_empty_options(task.command)[3:])
    assert args.new_task is expected
