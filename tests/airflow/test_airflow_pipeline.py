"""Both DAGs run for real with `dag.test()` and the `local` launcher.

The steps run as `python -m ml ...` subprocesses against the real S3 server and MLflow server
of the shared `live_env` fixture; Airflow keeps its state in the private SQLite metadata DB of
`tests/airflow/conftest.py`. Each test takes about a minute
(every step is a fresh Python process that imports torch or MLflow).
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest

TRAINING_TASKS = ["load_training_data", "train_model", "evaluate_model", "save_trained_model", "promote_model"]
INFERENCE_TASKS = ["load_inference_data", "load_trained_model", "run_inference", "check_drift", "save_inference_results"]


def read_predictions(uri: str, tmp_path: Path) -> Any:
    """The published predictions table, fetched with the ml storage helpers."""
    import pyarrow.parquet as pq

    from ml.core import config, storage

    config.reset_settings()  # the live_env fixture changed the environment
    return pq.read_table(storage.fetch(uri, tmp_path / "predictions.parquet"))


@pytest.mark.integration
def test_training_then_inference_publishes_champion_predictions(
    airflow_home, load_dags, live_env, repo_cwd, tmp_path, task_states, xcom_results, monkeypatch
):
    from mlflow.tracking import MlflowClient

    bag = load_dags(clear=False, ML_LAUNCHER="local")
    assert bag.import_errors == {}

    training = bag.dags["ml_training"].test(
        run_conf={"dataset_uri": live_env.demo_dataset_uri, "epochs": 1, "max_train_samples": 200}
    )
    states = task_states(training)
    assert str(training.state) == "success", states
    assert states == {task_id: ("success", 1) for task_id in TRAINING_TASKS}
    trained = xcom_results(training)
    assert set(trained) == set(TRAINING_TASKS)
    assert trained["load_training_data"]["dataset_uri"] == live_env.demo_dataset_uri
    assert trained["train_model"]["epochs_run"] == 1
    registered = trained["save_trained_model"]
    model_name, version = registered["model_name"], str(registered["version"])
    assert model_name == os.environ["ML_MODEL_NAME"]
    assert trained["promote_model"]["promoted"] is True  # first version of a fresh model name
    assert str(trained["promote_model"]["champion_version"]) == version

    client = MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    champion = client.get_model_version_by_alias(model_name, "champion")
    assert str(champion.version) == version
    assert champion.tags.get("orchestrator") in (None, "airflow")  # ml records who ran it, when it tags

    inference = bag.dags["ml_inference"].test(run_conf={"input_uri": live_env.demo_inference_uri})
    states = task_states(inference)
    assert str(inference.state) == "success", states
    assert states == {task_id: ("success", 1) for task_id in INFERENCE_TASKS}
    inferred = xcom_results(inference)
    assert str(inferred["load_trained_model"]["version"]) == version
    published = inferred["save_inference_results"]
    assert str(published["model_version"]) == version

    table = read_predictions(published["output_uri"], tmp_path)
    assert table.num_rows == published["rows"] == inferred["load_inference_data"]["rows"] > 0
    assert set(table.column("model_version").to_pylist()) == {version}
    assert set(table.column("model_name").to_pylist()) == {model_name}
    assert set(table.column("pipeline_run_id").to_pylist()) == {inference.run_id}

    # a run that labels day D (here named; a backfill's run of D gets it from its data interval,
    # tests/airflow/test_airflow_partitions.py) publishes at D's stable location (ml's rule)
    from ml.core import storage
    from ml.core.config import get_settings, reset_settings
    from ml.data.partitions import daily_results_uri

    template = "s3://datasets/airflow-days/{ds}.csv"
    monkeypatch.setenv("ML_INFERENCE_INPUT_TEMPLATE", template)
    reset_settings()
    with storage.local_copy(live_env.demo_inference_uri) as local:
        storage.publish(local, template.replace("{ds}", "2026-11-20"))
    day_run = bag.dags["ml_inference"].test(run_conf={"input_uri": None, "partition_date": "2026-11-20"})
    assert str(day_run.state) == "success", task_states(day_run)
    day = xcom_results(day_run)
    assert day["load_inference_data"]["partition_date"] == "2026-11-20"
    assert day["save_inference_results"]["output_uri"] == daily_results_uri(get_settings().results_uri,
                                                                              date(2026, 11, 20))
    table = read_predictions(day["save_inference_results"]["output_uri"], tmp_path)
    assert set(table.column("pipeline_run_id").to_pylist()) == {day_run.run_id}


@pytest.mark.integration
def test_bad_dataset_fails_load_training_data_once_and_stops(
    airflow_home, load_dags, live_env, bad_dataset_uri, repo_cwd, capfd, task_states
):
    dag = load_dags(clear=False, ML_LAUNCHER="local").dags["ml_training"]
    capfd.readouterr()
    dag_run = dag.test(run_conf={"dataset_uri": bad_dataset_uri})
    log = "\n".join(capfd.readouterr())

    assert str(dag_run.state) == "failed"
    states = task_states(dag_run)
    assert states["load_training_data"] == ("failed", 1)
    for task_id in TRAINING_TASKS[1:]:
        assert states[task_id] == ("upstream_failed", 0), states

    # One attempt, no retry, and the step's one-line reason in the task log.
    assert log.count(" -m ml load-training-data --run-id") == 1, log[-3000:]
    failure = [line for line in log.splitlines() if "rejected its input (exit 2, not retried): error:" in line]
    assert failure, log[-3000:]
    assert bad_dataset_uri in failure[0] or "label" in failure[0]
    assert " -m ml train --run-id" not in log
