"""Inference assets: inference_data and production_model -> predictions -> published_predictions.

production_model resolves the alias to ONE version; predictions and published_predictions use
that version, so a promotion in the middle of a run cannot mix two models.

The four assets share DAILY_PARTITIONS, one partition per UTC day from ml's FIRST_DAY to the last
complete day (end_offset 0: at 00:00 on D+1 the newest partition is D, the day ml's rule labels
then). A run of partition D labels day D (the key reaches the step as `partition_date`), so the
UI shows which days are labelled and backfills a range. A run without a partition (a manual run
with an explicit `input_uri`, or `dagster job launch`) runs as before: nothing here reads a
partition key unless the run has one.
"""

# No `from __future__ import annotations` here: Dagster reads the config and resource
# annotations of these functions when they are decorated.

from datetime import UTC, datetime
from typing import Any

import dagster as dg

from ml.errors import BadInputError
from ml.partitions import FIRST_DAY, day_of_partition_key
from ml_dagster.config import InferenceDataConfig, ProductionModelConfig, PublishConfig, step_options
from ml_dagster.io_manager import VALIDATION_ERROR_KEY
from ml_dagster.metadata import link, result
from ml_dagster.resources import StorageResource
from ml_dagster.runner import STEP_RETRY_POLICY, run_loading_step, run_step

GROUP = "inference"
#: One partition per UTC day; the newest is the last complete day (ml.partitions.last_complete_day).
DAILY_PARTITIONS = dg.DailyPartitionsDefinition(start_date=FIRST_DAY.isoformat(), timezone="UTC", end_offset=0)


@dg.asset(group_name=GROUP, partitions_def=DAILY_PARTITIONS, kinds={"python", "s3"}, retry_policy=STEP_RETRY_POLICY)
def inference_data(
    context: dg.AssetExecutionContext, config: InferenceDataConfig, storage: StorageResource
) -> dg.Output[dict[str, Any]]:
    """The texts to label, validated and staged (id, text) in the run's workspace.

    Without `input_uri` the step picks the partition (ml's rule) from `partition_date`, else from
    `as_of`: the schedule's tick time, or when this run was created.
    """
    options = step_options(config, "infer", "load_inference_data")
    if context.has_partition_key:
        options["partition_date"] = partition_day(context.partition_key, options)
    elif not options:
        options["as_of"] = config.as_of or run_created_at(context)
    out = run_loading_step(context, "load_inference_data", **options)
    metadata: dict[str, Any] = {**storage.describe()}
    if VALIDATION_ERROR_KEY in out:
        return dg.Output(out, metadata={**metadata, "valid": False, "error": out[VALIDATION_ERROR_KEY]})
    return dg.Output(
        out,
        metadata={
            **metadata,
            **result(out),
            "input_uri": dg.MetadataValue.path(out["input_uri"]),
            "partition_date": out["partition_date"] or "(explicit input_uri)",
            "valid": True,
            "data_uri": dg.MetadataValue.path(out["data_uri"]),
            "dagster/row_count": out["rows"],
            "dropped_rows": out["dropped_rows"],
            "fingerprint": out["fingerprint"],
        },
    )


@dg.asset(group_name=GROUP, partitions_def=DAILY_PARTITIONS, kinds={"mlflow"}, retry_policy=STEP_RETRY_POLICY)
def production_model(context: dg.AssetExecutionContext, config: ProductionModelConfig) -> dg.Output[dict[str, Any]]:
    """The one registered model version this run uses (the alias, resolved once, or a given version)."""
    out = run_step(context, "load_model", **step_options(config, "infer", "load_model"))
    return dg.Output(
        out,
        metadata={
            **result(out),
            "model_name": out["model_name"],
            "model_version": out["version"],
            "model_uri": out["model_uri"],
            "alias": out["alias"] or "(explicit version)",
            "mlflow_run_id": out.get("mlflow_run_id") or "",
            **link("mlflow_model_version", out.get("mlflow_model_url")),
        },
    )


@dg.asset(group_name=GROUP, partitions_def=DAILY_PARTITIONS, kinds={"pytorch"}, retry_policy=STEP_RETRY_POLICY)
def predictions(
    context: dg.AssetExecutionContext, inference_data: dict[str, Any], production_model: dict[str, Any]
) -> dg.Output[dict[str, Any]]:
    """Predictions of that exact model version, staged (Parquet) in the run's workspace."""
    out = run_step(
        context,
        "predict",
        data_uri=inference_data["data_uri"],
        model_name=production_model["model_name"],
        version=production_model["version"],
    )
    return dg.Output(
        out,
        metadata={
            **result(out),
            "predictions_uri": dg.MetadataValue.path(out["predictions_uri"]),
            "dagster/row_count": out["rows"],
            "model_name": out["model_name"],
            "model_version": out["model_version"],
            "device": out["device"],
        },
    )


@dg.asset(group_name=GROUP, partitions_def=DAILY_PARTITIONS, kinds={"parquet", "s3"}, retry_policy=STEP_RETRY_POLICY)
def published_predictions(
    context: dg.AssetExecutionContext, config: PublishConfig, predictions: dict[str, Any],
    inference_data: dict[str, Any],
) -> dg.Output[dict[str, Any]]:
    """The predictions published atomically where readers look (all rows or nothing).

    A run that labelled a day publishes to that day's stable location (ml's rule, from the day
    `inference_data` reports), any other run under its run id.
    """
    out = run_step(context, "save_predictions", predictions_uri=predictions["predictions_uri"],
                   partition_date=inference_data.get("partition_date"),
                   **step_options(config, "infer", "save_predictions"))
    return dg.Output(
        out,
        metadata={
            **result(out),
            "output_uri": dg.MetadataValue.path(out["output_uri"]),
            "dagster/row_count": out["rows"],
            "model_name": out["model_name"],
            "model_version": str(out["model_version"]),
        },
    )


def partition_day(key: str, options: dict[str, Any]) -> str:
    """The day the run of partition `key` labels (ml's rule); a contradicting config fails, not retried."""
    try:
        return day_of_partition_key(key, options.pop("partition_date", None), options.get("input_uri")).isoformat()
    except BadInputError as exc:
        raise dg.Failure(description=f"error: {exc}", allow_retries=False) from exc


def run_created_at(context: dg.AssetExecutionContext) -> str:
    """When this run was created (ISO, UTC): the moment a manual run was triggered."""
    record = context.instance.get_run_record_by_id(context.run_id)
    created = record.create_timestamp if record is not None else datetime.now(UTC)
    return created.astimezone(UTC).isoformat()


INFERENCE_ASSETS = [inference_data, production_model, predictions, published_predictions]
