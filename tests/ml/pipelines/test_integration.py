"""The whole pipeline against a real S3 server and a real MLflow server (started by fixtures)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from ml import steps
from ml.core import storage
from ml.lifecycle import champion
from ml.pipelines import embedded

pytestmark = pytest.mark.integration


def _read_parquet(uri: str):
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as tmp:
        return pq.read_table(storage.fetch(uri, Path(tmp) / "p.parquet"))


def test_training_then_inference_through_every_step(live_env) -> None:
    from mlflow.tracking import MlflowClient

    run_id = "manual__2026-11-25T06:34:22.842943+00:00"
    common = {"run_id": run_id, "orchestrator": "pytest"}
    loaded = steps.load_training_data(dataset_uri=live_env.demo_dataset_uri, **common)
    assert loaded["data_uri"].startswith("s3://ml-work/runs/manual__2026-11-25T06_34_22.842943_00_00-")
    assert sum(loaded["rows"].values()) == 900 and len(loaded["fingerprint"]) == 64
    trained = steps.train(data_uri=loaded["data_uri"], epochs=2, **common)
    evaluated = steps.evaluate(data_uri=loaded["data_uri"], model_uri=trained["model_uri"],
                               mlflow_run_id=trained["mlflow_run_id"], **common)
    assert evaluated["metrics"]["test_accuracy"] > 0.6
    registered = steps.register(model_uri=trained["model_uri"], mlflow_run_id=trained["mlflow_run_id"], **common)
    promoted = steps.promote(version=registered["version"], **common)
    assert promoted["promoted"] and promoted["champion_version"] == registered["version"]
    # a retried register (a fault after registration) and a retried promote change nothing
    again = steps.register(model_uri=trained["model_uri"], mlflow_run_id=trained["mlflow_run_id"], **common)
    assert again["version"] == registered["version"]
    assert steps.promote(version=registered["version"], **common)["champion_version"] == registered["version"]
    assert len(MlflowClient().search_model_versions(f"name='{registered['model_name']}'")) == 1
    signature = MlflowClient().get_model_version(registered["model_name"], registered["version"]).tags["task_signature"]
    assert signature == champion.task_signature(loaded["labels"], "text", "label")

    client = MlflowClient()
    version = client.get_model_version_by_alias(registered["model_name"], "champion")
    assert version.version == registered["version"]
    assert version.tags["data_fingerprint"] == loaded["fingerprint"]
    assert version.tags["pipeline_run_id"] == run_id
    assert version.tags["orchestrator"] == "pytest"
    assert "promoted" in version.tags["promotion_decision"]
    artifacts = {a.path for a in client.list_artifacts(trained["mlflow_run_id"], "plots")}
    assert artifacts == {"plots/confusion_matrix.png", "plots/training_curves.png"}

    result = embedded.run("inference", {"input_uri": live_env.demo_inference_uri}, run_id="scheduled__2026-11-26",
                          orchestrator="pytest")["summary"]
    assert result["predictions_uri"].startswith("s3://predictions/scheduled__2026-11-26-")
    table = _read_parquet(result["predictions_uri"])
    assert table.num_rows == 300 == result["rows"]
    assert set(table.column("model_version").to_pylist()) == {registered["version"]}
    assert set(table.column("pipeline_run_id").to_pylist()) == {"scheduled__2026-11-26"}
    assert {"prob_negative", "prob_neutral", "prob_positive", "score", "predicted_label", "id"} <= set(table.column_names)


def test_served_model_loads_with_pyfunc(live_env) -> None:
    import mlflow
    import pandas as pd

    out = embedded.run("training", {"dataset_uri": live_env.demo_dataset_uri, "epochs": 1})["summary"]
    loaded = mlflow.pyfunc.load_model(f"models:/{out['model_name']}@champion")
    frame = loaded.predict(pd.DataFrame({"text": ["The blender is excellent. Highly recommended."]}))
    assert list(frame.columns[:2]) == ["predicted_label", "score"]
    assert frame.loc[0, "predicted_label"] in {"negative", "neutral", "positive"}


def test_init_storage_creates_missing_buckets_idempotently(live_env, monkeypatch) -> None:
    from ml.cli import init_storage
    from ml.core.config import reset_settings

    monkeypatch.setenv("ML_DATA_BUCKET", "fresh-datasets")
    monkeypatch.setenv("ML_RESULTS_URI", "s3://fresh-results/x")
    reset_settings()
    first = init_storage()
    assert set(first["created"]) == {"fresh-datasets", "fresh-results"}
    assert init_storage()["created"] == []
    assert live_env.s3.client().bucket_exists("fresh-results")


def test_wrong_s3_secret_is_bad_input(live_env, monkeypatch) -> None:
    from ml.core.config import reset_settings
    from ml.core.errors import BadInputError

    monkeypatch.setenv("ML_S3_SECRET_KEY", "not-the-secret")
    reset_settings()
    with pytest.raises(BadInputError, match="check ML_S3_ACCESS_KEY / ML_S3_SECRET_KEY"):
        steps.load_training_data(run_id="wrong-secret", dataset_uri=live_env.demo_dataset_uri)
