"""The drift reference at register time and the check-drift step, against the real S3 and MLflow servers."""

from __future__ import annotations

import csv
import json
import random
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from ml import steps
from ml.core import storage
from ml.monitoring import monitor
from ml.pipelines import embedded

pytestmark = pytest.mark.integration

_FOREIGN = ["la", "livraison", "est", "arrivée", "très", "tard", "et", "le", "produit", "était", "cassé", "je", "veux",
            "être", "remboursé", "service", "client", "injoignable", "jamais", "plus", "chambre", "bruyante", "sale"]


@pytest.fixture
def trained(live_env: Any) -> dict[str, Any]:
    """A trained, registered and promoted version of this test's model name.

    Trained well enough (3 epochs on the whole split) that its predicted class mix matches the
    training labels: a 1-epoch model that labels nearly everything alike is flagged as drift.
    """
    run = embedded.run("training", {"dataset_uri": live_env.demo_dataset_uri, "epochs": 3}, orchestrator="pytest")
    return {**run["summary"], "version": run["summary"]["model_version"]}


def _foreign_csv(rows: int = 200, seed: int = 1) -> str:
    """An s3:// CSV of long French texts: another language and other lengths than the demo training data."""
    rng = random.Random(seed)
    uri = f"s3://datasets/drift/{uuid.uuid4().hex[:8]}/french.csv"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "french.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "text"])
            for i in range(rows):
                writer.writerow([f"fr-{i}", " ".join(rng.choice(_FOREIGN) for _ in range(rng.randint(30, 60)))])
        storage.publish(path, uri)
    return uri


def _staged(run_id: str, input_uri: str, version: str) -> dict[str, str]:
    common = {"run_id": run_id, "orchestrator": "pytest"}
    loaded = steps.load_inference_data(input_uri=input_uri, **common)
    predicted = steps.predict(data_uri=loaded["data_uri"], version=version, **common)
    return {"run_id": run_id, "data_uri": loaded["data_uri"], "predictions_uri": predicted["predictions_uri"],
            "version": version, "orchestrator": "pytest"}


def test_register_logs_the_reference_and_an_ordinary_partition_is_ok(live_env: Any, trained: dict[str, Any]) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    version = client.get_model_version(trained["model_name"], trained["version"])
    assert version.tags[monitor.REFERENCE_TAG] == monitor.REFERENCE_ARTIFACT
    profile = mlflow.artifacts.load_dict(f"runs:/{trained['mlflow_run_id']}/{monitor.REFERENCE_ARTIFACT}")
    assert profile["schema"] == 1 and set(profile["labels"]) == {"negative", "neutral", "positive"}
    assert profile["rows"] == 720  # the train split of 900 rows

    result = embedded.run("inference", {"input_uri": live_env.demo_inference_uri}, run_id="scheduled__2026-11-27",
                          orchestrator="pytest")
    drift = result["results"]["check-drift"]
    assert result["summary"]["drift"] == drift["status"] == "ok", drift["summary"]
    run = client.get_run(drift["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == f"monitoring/{trained['model_name']}"
    assert run.data.tags["model_version"] == trained["version"]
    assert run.data.tags["model_name"] == trained["model_name"]
    assert run.data.tags["pipeline_run_id"] == "scheduled__2026-11-27"
    assert run.data.tags["drift_status"] == "ok"
    assert run.data.params["drift_psi"] == "0.25"
    assert run.data.metrics["rows"] == 300
    assert {"psi_text_length", "psi_unknown_words", "psi_predicted_label"} <= set(run.data.metrics)
    artifacts = {a.path for d in ("plots", "drift") for a in client.list_artifacts(run.info.run_id, d)}
    assert artifacts == {"plots/drift.png", "drift/verdict.json"}
    tags = client.get_model_version(trained["model_name"], trained["version"]).tags
    assert tags["drift_last_status"] == "ok" and tags["drift_last_check"] == run.info.run_id


def test_foreign_texts_drift_a_retry_reuses_the_run_and_blocking_fails(
    live_env: Any, trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from mlflow.tracking import MlflowClient

    args = _staged("manual__drift-1", _foreign_csv(), trained["version"])
    verdict = monitor.check_drift(**args)
    assert verdict["status"] == "drift" and verdict["blocking"] is False
    stats = verdict["statistics"]
    assert stats["unknown_words"]["status"] == "drift" and stats["unknown_words"]["share"] > 0.9
    assert stats["text_length"]["status"] == "drift"
    assert verdict["rows"] == 200 and verdict["version"] == trained["version"]
    assert verdict["reference"] == f"runs:/{trained['mlflow_run_id']}/{monitor.REFERENCE_ARTIFACT}"
    assert verdict["mlflow_run_url"].endswith(f"/runs/{verdict['mlflow_run_id']}")
    logged = MlflowClient().get_run(verdict["mlflow_run_id"])
    assert logged.data.tags["drift_status"] == "drift"
    assert logged.data.metrics["psi_unknown_words"] == pytest.approx(stats["unknown_words"]["psi"])

    again = monitor.check_drift(**args)  # a retry of the same inference run
    assert again["mlflow_run_id"] == verdict["mlflow_run_id"]
    assert again["statistics"] == verdict["statistics"]

    _blocking_drift_logs_then_fails_with_exit_2(trained, monkeypatch, capsys)
    _predictions_of_another_version_are_bad_input_and_a_version_without_reference_is_unchecked(live_env, trained, tmp_path)


def _blocking_drift_logs_then_fails_with_exit_2(trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from mlflow.tracking import MlflowClient

    from ml import cli
    from ml.core import config

    args = _staged("manual__drift-blocking", _foreign_csv(seed=2), trained["version"])
    monkeypatch.setenv("ML_DRIFT_BLOCKING", "true")
    config.reset_settings()
    argv = ["check-drift", *[part for key, value in args.items() for part in (f"--{key.replace('_', '-')}", value)]]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: input drift and ML_DRIFT_BLOCKING=true: drift: ")
    client = MlflowClient()
    experiment = client.get_experiment_by_name(f"monitoring/{trained['model_name']}")
    [run] = client.search_runs([experiment.experiment_id], "tags.pipeline_run_id = 'manual__drift-blocking'")
    assert run.data.tags["drift_status"] == "drift" and run.data.params["blocking"] == "true"
    assert json.loads(Path(client.download_artifacts(run.info.run_id, "drift/verdict.json")).read_text())["status"] == "drift"


def _predictions_of_another_version_are_bad_input_and_a_version_without_reference_is_unchecked(
    live_env: Any, trained: dict[str, Any], tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    from ml.core.errors import BadInputError

    args = _staged("manual__drift-wrong", live_env.demo_inference_uri, trained["version"])
    local = storage.fetch(args["predictions_uri"], tmp_path / "predictions.parquet")
    with pytest.raises(BadInputError, match="predictions of version"):
        monitor._count_predictions(local, args["predictions_uri"], "999", 1000)
    MlflowClient().delete_model_version_tag(trained["model_name"], trained["version"], monitor.REFERENCE_TAG)
    unchecked = monitor.check_drift(**args)  # an older version: inference still publishes, the check says why
    assert unchecked["status"] == "unchecked" and "no drift reference" in unchecked["summary"]


def test_an_unreadable_recorded_profile_is_transient_not_bad_input(local_env, monkeypatch) -> None:
    """MLflow turns every failed artifact download into RESOURCE_DOES_NOT_EXIST (the fault phase
    saw it during an object-store restart); a profile the version recorded is then retried (exit 75)."""
    from types import SimpleNamespace

    import mlflow
    import pytest
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

    from ml.core.config import get_settings
    from ml.core.errors import TransientError
    from ml.lifecycle import registry
    from ml.monitoring import monitor

    found = SimpleNamespace(run_id="r1", tags={monitor.REFERENCE_TAG: "drift/reference_profile.json"})
    monkeypatch.setattr(registry, "resolve", lambda settings, version=None: found)

    def store_down(uri: str) -> dict:
        raise MlflowException("Failed to download artifacts from path 'drift/reference_profile.json', "
                              "please ensure that the path is correct.", error_code=RESOURCE_DOES_NOT_EXIST)

    monkeypatch.setattr(mlflow.artifacts, "load_dict", store_down)
    with pytest.raises(TransientError, match=r"reference profile of version 3 .* could not be read"):
        monitor.reference_profile(get_settings(), "3")
