"""The Dagster jobs, run in-process against a real S3 server and a real MLflow server.

Training then inference share one Dagster instance, as in a deployment, so later runs also
exercise loading an upstream asset's step output from an earlier run. One inference run uses
the deployed executor (a process per step) on a persistent instance.
"""

import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[2]


def inference_job_for_subprocesses() -> dg.JobDefinition:
    """The deployed inference job, importable by the multiprocess executor's step processes."""
    from ml_dagster.definitions import defs

    return defs.resolve_job_def("inference_job")


@pytest.fixture
def defs() -> dg.Definitions:
    from ml_dagster.definitions import defs

    return defs


def _run(defs: dg.Definitions, job: str, instance: dg.DagsterInstance, ops: dict[str, Any],
         selection: list[str] | None = None) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(job).execute_in_process(
        run_config={"ops": ops},
        instance=instance,
        asset_selection=[dg.AssetKey(key) for key in selection] if selection else None,
        raise_on_error=False,
    )


def _materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    return {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data for e in result.all_events
            if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION}


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    return {ev.asset_key.to_user_string(): ev.event_specific_data.materialization.metadata
            for ev in result.get_asset_materialization_events()}


def _assert_ml_result_is_the_step_result(result: dg.ExecuteInProcessResult) -> None:
    """Every asset's `ml_result` entry is its step's result as is."""
    for asset, metadata in _metadata(result).items():
        out = result.output_for_node(asset.replace("/", "__"))
        assert metadata["ml_result"].value == out, asset
        assert metadata["step_output"].value == out, asset


def _publish_partitions(source_uri: str, template: str) -> None:
    """The file of `source_uri` as the partitions a run created now labels (today's too: midnight may pass)."""
    from datetime import UTC, datetime, timedelta

    from ml.core import storage
    from ml.data.partitions import input_uri_for, partition_date

    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        local = storage.fetch(source_uri, Path(tmp) / "texts.csv")
        for moment in (now, now + timedelta(days=1)):
            storage.publish(local, input_uri_for(template, partition_date(moment)))


def test_training_then_inference_registers_a_champion_and_labels_with_it(
    live_env: Any, defs: dg.Definitions, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    import pyarrow.parquet as pq

    from ml.core import storage
    from ml.core.config import get_settings, reset_settings
    from ml.data.partitions import daily_results_uri, partition_date

    instance = dg.DagsterInstance.ephemeral()
    training = _run(defs, "training_job", instance, {
        "training_data": {"config": {"dataset_uri": live_env.demo_dataset_uri}},
        "trained_model": {"config": {"epochs": 2, "seed": 7}},
    })
    assert training.success, [e.message for e in training.all_events if e.is_failure]
    assert _materialized(training) == {"training_data", "trained_model", "model_evaluation", "registered_model",
                                       "model_promotion"}
    checks = _checks(training)
    assert checks["training_data_is_valid"].passed and checks["quality_gate"].passed
    registered, promotion = training.output_for_node("registered_model"), training.output_for_node("model_promotion")
    version = registered["version"]
    assert promotion["promoted"] is True

    # the registry really holds that version with alias champion, tagged as Dagster's
    s = get_settings()
    client = mlflow.MlflowClient(s.mlflow_tracking_uri)
    champion = client.get_model_version_by_alias(s.model_name, "champion")
    assert champion.version == version
    assert champion.tags["orchestrator"] == "dagster"
    assert champion.tags["pipeline_run_id"] == training.run_id

    # the quality gate check shows evaluate's verdict (ML_MIN_TEST_MACRO_F1=0 in the test services)
    gate = training.output_for_node("model_evaluation")["gate"]
    score = gate["value"]
    assert gate["passed"] is True and gate["metric"] == "test_macro_f1" and gate["minimum"] == 0.0
    assert checks["quality_gate"].description == gate["reason"]
    assert checks["quality_gate"].metadata["test_macro_f1"].value == score
    assert checks["quality_gate"].metadata["minimum"].value == 0.0

    # metadata carries the step results as is, row counts, metrics, model version, MLflow links and URIs
    _assert_ml_result_is_the_step_result(training)
    events = _metadata(training)
    assert events["training_data"]["dagster/row_count"].value == 900
    assert events["model_evaluation"]["test_macro_f1"].value == pytest.approx(score, abs=1e-6)  # metrics: 6 places
    assert events["trained_model"]["mlflow_run_url"].value.startswith(s.mlflow_tracking_uri)
    assert events["registered_model"]["version"].value == version
    assert events["trained_model"]["model_uri"].value.startswith("s3://ml-work/runs/")
    model_url = registered["mlflow_model_url"]
    assert model_url.startswith(s.mlflow_tracking_uri) and model_url.endswith(f"/versions/{version}")
    assert promotion["mlflow_model_url"] == model_url  # promoted: the champion is this version
    assert events["registered_model"]["mlflow_model_url"].value == model_url

    # ml's threshold above the score (a later run reusing this run's upstream outputs) keeps the model out
    assert score < 1.0
    minimum = round((score + 1.0) / 2, 4)
    monkeypatch.setenv("ML_MIN_TEST_MACRO_F1", str(minimum))
    reset_settings()
    strict = _run(defs, "training_job", instance, {},
                  selection=["model_evaluation", "registered_model", "model_promotion"])
    assert not strict.success
    assert _materialized(strict) == {"model_evaluation"}
    rejected = _checks(strict)["quality_gate"]
    assert not rejected.passed
    assert rejected.metadata["minimum"].value == minimum
    assert f"< ML_MIN_TEST_MACRO_F1 {minimum:.4f}" in rejected.description and "\n" not in rejected.description
    assert strict.output_for_node("model_evaluation")["gate"]["passed"] is False
    started = {e.step_key for e in strict.all_events if e.event_type == dg.DagsterEventType.STEP_START}
    assert "registered_model" not in started  # blocked by the check, not rejected by register
    assert client.get_model_version_by_alias(s.model_name, "champion").version == version
    monkeypatch.setenv("ML_MIN_TEST_MACRO_F1", "0")
    reset_settings()

    # nothing set: the run labels the UTC day before it was created (ml's partition rule)
    template = f"s3://datasets/dagster-partitions/{uuid.uuid4().hex[:8]}/{{ds}}.csv"
    monkeypatch.setenv("ML_INFERENCE_INPUT_TEMPLATE", template)
    reset_settings()
    _publish_partitions(live_env.demo_inference_uri, template)
    inference = _run(defs, "inference_job", instance, {})
    assert inference.success, [e.message for e in inference.all_events if e.is_failure]
    assert _materialized(inference) == {"inference_data", "production_model", "predictions", "published_predictions"}
    _assert_ml_result_is_the_step_result(inference)
    created = instance.get_run_record_by_id(inference.run_id).create_timestamp
    day = partition_date(created).isoformat()
    staged = inference.output_for_node("inference_data")
    assert (staged["partition_date"], staged["input_uri"]) == (day, template.replace("{ds}", day))
    assert _metadata(inference)["inference_data"]["partition_date"].value == day
    production = inference.output_for_node("production_model")
    assert production["version"] == version and production["mlflow_model_url"] == model_url
    published = inference.output_for_node("published_predictions")
    assert published["output_uri"].startswith("s3://predictions/") and published["rows"] == 300
    with tempfile.TemporaryDirectory() as tmp:
        table = pq.read_table(storage.fetch(published["output_uri"], Path(tmp) / "p.parquet"))
    assert table.num_rows == 300
    assert set(table["model_version"].to_pylist()) == {version}
    assert set(table["model_name"].to_pylist()) == {s.model_name}
    assert set(table["pipeline_run_id"].to_pylist()) == {inference.run_id}
    # a run that labelled a day publishes at the day's stable location (ml's rule)
    assert published["output_uri"] == daily_results_uri(s.results_uri, partition_date(created))

    # the daily graph: the run of partition `day` labels it and replaces the day's file, whole
    daily = defs.resolve_job_def("daily_inference_job").execute_in_process(
        instance=instance, partition_key=day, raise_on_error=False)
    assert daily.success, [e.message for e in daily.all_events if e.is_failure]
    again = daily.output_for_node("daily__published_predictions")
    assert again["output_uri"] == published["output_uri"] and again["partition_date"] == day
    with tempfile.TemporaryDirectory() as tmp:
        table = pq.read_table(storage.fetch(again["output_uri"], Path(tmp) / "p.parquet"))
    assert table.num_rows == 300 and set(table["pipeline_run_id"].to_pylist()) == {daily.run_id}
    [record] = [e for e in daily.get_asset_materialization_events()
                if e.asset_key == dg.AssetKey(["daily", "published_predictions"])]
    assert record.partition == day

    # the same job as deployed (a process per step), with an explicit input, version and output URI
    out_uri = f"s3://predictions/dagster-test/{inference.run_id}.parquet"
    ok, outputs, results, run_id = _run_multiprocess({
        "inference_data": {"config": {"input_uri": live_env.demo_inference_uri}},
        "production_model": {"config": {"model_version": int(version)}},
        "published_predictions": {"config": {"output_uri": out_uri}},
    }, monkeypatch)
    assert ok
    assert results == outputs  # ml_result: the step results, there too
    assert outputs["inference_data"]["partition_date"] is None  # an explicit input_uri: no partition
    assert outputs["production_model"]["version"] == version and outputs["production_model"]["alias"] is None
    assert outputs["published_predictions"]["output_uri"] == out_uri
    with tempfile.TemporaryDirectory() as tmp:
        table = pq.read_table(storage.fetch(out_uri, Path(tmp) / "p.parquet"))
    assert set(table["model_version"].to_pylist()) == {version}
    assert set(table["pipeline_run_id"].to_pylist()) == {run_id}


def _run_multiprocess(ops: dict[str, Any], monkeypatch: pytest.MonkeyPatch
                      ) -> tuple[bool, dict[str, Any], dict[str, Any], str]:
    """Run the inference job as deployed: multiprocess executor (one process per step) on a
    persistent instance, so step outputs must travel through the instance's event log."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "dagster"), str(REPO)]))
    job = dg.reconstructable(inference_job_for_subprocesses)
    with (
        dg.instance_for_test() as instance,
        dg.execute_job(job, instance=instance, run_config={"ops": ops}, raise_on_error=False) as result,
    ):
        outputs, results = {}, {}
        for event in result.get_asset_materialization_events():
            metadata = event.event_specific_data.materialization.metadata
            outputs[event.asset_key.to_user_string()] = metadata["step_output"].value
            results[event.asset_key.to_user_string()] = metadata["ml_result"].value
        return result.success, outputs, results, result.run_id


def test_bad_dataset_fails_the_blocking_check_and_nothing_downstream_runs(
    bad_dataset_uri: str, defs: dg.Definitions
) -> None:
    result = _run(defs, "training_job", dg.DagsterInstance.ephemeral(), {
        "training_data": {"config": {"dataset_uri": bad_dataset_uri}},
    })
    assert not result.success
    check = _checks(result)["training_data_is_valid"]
    assert not check.passed
    assert "label" in check.description and "\n" not in check.description  # ml's one-line reason
    assert _materialized(result) == {"training_data"}  # the validation record, nothing downstream
    started = {e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START}
    assert "training_data" in started
    assert not {"trained_model", "model_evaluation", "registered_model", "model_promotion"} & started


def test_input_without_a_text_column_fails_inference_validation(live_env: Any, defs: dg.Definitions) -> None:
    from ml.core import storage

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "no-text.csv"
        path.write_text("id,body\n1,hello\n2,world\n")
        uri = storage.publish(path, "s3://datasets/bad/no-text.csv")
    result = _run(defs, "inference_job", dg.DagsterInstance.ephemeral(), {
        "inference_data": {"config": {"input_uri": uri}},
    })
    assert not result.success
    check = _checks(result)["inference_data_is_valid"]
    assert not check.passed and "text" in check.description
    started = {e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START}
    assert not {"predictions", "published_predictions"} & started


def test_a_split_without_rows_fails_the_blocking_check_with_mls_reason(live_env: Any, defs: dg.Definitions) -> None:
    from ml.core import storage

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tiny.csv"
        path.write_text("id,text,label\n1,great,pos\n2,fine,pos\n3,awful,neg\n4,bad,neg\n")
        uri = storage.publish(path, f"s3://datasets/bad/{uuid.uuid4().hex[:8]}/tiny.csv")
    result = _run(defs, "training_job", dg.DagsterInstance.ephemeral(), {
        "training_data": {"config": {"dataset_uri": uri}},
    })
    assert not result.success
    check = _checks(result)["training_data_is_valid"]
    assert not check.passed
    assert "no rows in" in check.description and "\n" not in check.description  # ml's load step rejected it
    assert _materialized(result) == {"training_data"}
    started = {e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START}
    assert not {"trained_model", "model_evaluation", "registered_model", "model_promotion"} & started


def test_approval_mode_training_waits_and_the_review_job_decides(
    live_env: Any, defs: dg.Definitions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ML_PROMOTION_MODE=approval: the training run leaves its version pending; review_job approves it."""
    from ml.core.config import get_settings, reset_settings
    from ml.lifecycle import champion, history, registry

    monkeypatch.setenv("ML_PROMOTION_MODE", "approval")
    reset_settings()
    instance = dg.DagsterInstance.ephemeral()
    training = _run(defs, "training_job", instance, {
        "training_data": {"config": {"dataset_uri": live_env.demo_dataset_uri}},
        "trained_model": {"config": {"epochs": 1, "max_train_samples": 200}},
    })
    assert training.success, [e.message for e in training.all_events if e.is_failure]
    promoted = training.output_for_node("model_promotion")
    version = promoted["version"]
    assert promoted["awaiting_approval"] is True and promoted["promoted"] is False
    assert _metadata(training)["model_promotion"]["awaiting_approval"].value is True
    s = get_settings()
    assert registry.champion_version(s) is None
    bad = _run(defs, "review_job", instance, {"review_model": {"config": {"version": "999", "decision": "approve"}}})
    assert not bad.success and registry.champion_version(s) is None  # bad input: one failure, nothing moved
    review = _run(defs, "review_job", instance, {"review_model": {"config": {
        "version": version, "decision": "approve", "reason": "read the confusion matrix"}}})
    assert review.success, [e.message for e in review.all_events if e.is_failure]
    assert registry.champion_version(s) == version
    assert champion.read_state(s).get(version).tags[champion.REVIEW_TAG] == "approved"
    last = history.read(s)[-1]
    assert (last.action, last.new, last.actor, last.reason) == (
        "approve", version, f"dagster:{review.run_id}", "read the confusion matrix")
