"""Inference assets: inference_data and production_model -> predictions -> published_predictions.

production_model resolves the alias to ONE version; predictions and published_predictions use
that version, so a promotion in the middle of a run cannot mix two models.

The same four steps form two asset graphs (`inference_graph`):
- `inference` (inference_job): runs without a partition, as every manual run is: an explicit
  `input_uri`, a `partition_date`, or the day ml's rule picks from when the run was created;
- `daily_inference` (keys `daily/...`, daily_inference_job): one partition per UTC day, from ml's
  FIRST_DAY to the last complete day (end_offset 0: at 00:00 on D+1 the newest partition is D,
  the day ml's rule labels then). A run of partition D labels day D (the key reaches the step as
  `partition_date`); the UI shows which days are labelled, the schedule and backfills use it.
Why two graphs and not one partitioned one: Dagster cannot run a partitioned asset with upstream
assets without a partition key once it has been materialized (it looks up the upstream
partitions' versions), so manual runs would all need a day, and a run of an arbitrary file would
show as some day's partition. Both graphs publish a day's result to the same stable location
(ml's rule), so they agree on what "day D is labelled" means.
"""

# No `from __future__ import annotations` here: Dagster reads the config and resource
# annotations of these functions when they are decorated.

from datetime import UTC, datetime
from typing import Any, NamedTuple

import dagster as dg

from ml.core.errors import BadInputError
from ml.data.partitions import FIRST_DAY, day_of_partition_key
from ml_dagster.config import InferenceDataConfig, ProductionModelConfig, PublishConfig, step_options
from ml_dagster.io_manager import VALIDATION_ERROR_KEY
from ml_dagster.metadata import link, result
from ml_dagster.resources import StorageResource
from ml_dagster.runner import STEP_RETRY_POLICY, run_loading_step, run_step

GROUP = "inference"
DAILY_GROUP = "daily_inference"
DAILY_PREFIX = "daily"
#: One partition per UTC day; the newest is the last complete day (ml.data.partitions.last_complete_day).
DAILY_PARTITIONS = dg.DailyPartitionsDefinition(start_date=FIRST_DAY.isoformat(), timezone="UTC", end_offset=0)


class InferenceGraph(NamedTuple):
    """The four inference assets of one graph."""

    inference_data: dg.AssetsDefinition
    production_model: dg.AssetsDefinition
    predictions: dg.AssetsDefinition
    published_predictions: dg.AssetsDefinition


def inference_graph(prefix: str | None, group: str, partitions_def: dg.PartitionsDefinition | None) -> InferenceGraph:
    """The inference assets under `prefix` (None: plain keys), in `group`, with `partitions_def`."""

    def key(name: str) -> dg.AssetKey:
        return dg.AssetKey([prefix, name]) if prefix else dg.AssetKey(name)

    def upstream(*names: str) -> dict[str, dg.AssetIn]:
        return {name: dg.AssetIn(key(name)) for name in names}

    common: dict[str, Any] = {"group_name": group, "partitions_def": partitions_def, "retry_policy": STEP_RETRY_POLICY}

    @dg.asset(key=key("inference_data"), kinds={"python", "s3"}, **common)
    def inference_data(
        context: dg.AssetExecutionContext, config: InferenceDataConfig, storage: StorageResource
    ) -> dg.Output[dict[str, Any]]:
        """The texts to label, validated and staged (id, text) in the run's workspace.

        The day is the run's partition; without one and without `input_uri`, the step picks it (ml's
        rule) from `partition_date`, else from `as_of`: a tick's time, or when this run was created.
        """
        return load_inference_data(context, config, storage)

    @dg.asset(key=key("production_model"), kinds={"mlflow"}, **common)
    def production_model(context: dg.AssetExecutionContext, config: ProductionModelConfig) -> dg.Output[dict[str, Any]]:
        """The one registered model version this run uses (the alias, resolved once, or a given version)."""
        return load_model(context, config)

    @dg.asset(key=key("predictions"), ins=upstream("inference_data", "production_model"), kinds={"pytorch"}, **common)
    def predictions(
        context: dg.AssetExecutionContext, inference_data: dict[str, Any], production_model: dict[str, Any]
    ) -> dg.Output[dict[str, Any]]:
        """Predictions of that exact model version, staged (Parquet) in the run's workspace."""
        return predict(context, inference_data, production_model)

    @dg.asset(key=key("published_predictions"), ins=upstream("predictions", "inference_data"),
              kinds={"parquet", "s3"}, **common)
    def published_predictions(
        context: dg.AssetExecutionContext, config: PublishConfig, predictions: dict[str, Any],
        inference_data: dict[str, Any],
    ) -> dg.Output[dict[str, Any]]:
        """The predictions published atomically where readers look (all rows or nothing).

        A run that labelled a day publishes to that day's stable location (ml's rule, from the day
        `inference_data` reports), any other run under its run id.
        """
        return publish(context, config, predictions, inference_data)

    return InferenceGraph(inference_data, production_model, predictions, published_predictions)


#: One partition per UTC day; the newest is the last complete day (ml.data.partitions.last_complete_day).
DAILY_PARTITIONS = dg.DailyPartitionsDefinition(start_date=FIRST_DAY.isoformat(), timezone="UTC", end_offset=0)


def load_inference_data(
    context: dg.AssetExecutionContext, config: dg.Config, storage: StorageResource
) -> dg.Output[dict[str, Any]]:
    """The `load_inference_data` step, on the run's partition when it has one."""
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


def load_model(context: dg.AssetExecutionContext, config: dg.Config) -> dg.Output[dict[str, Any]]:
    """The `load_model` step: the alias resolved to one version, or the version given."""
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


def predict(
    context: dg.AssetExecutionContext, inference_data: dict[str, Any], production_model: dict[str, Any]
) -> dg.Output[dict[str, Any]]:
    """The `predict` step with that exact model version."""
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


def publish(
    context: dg.AssetExecutionContext, config: dg.Config, predictions: dict[str, Any], inference_data: dict[str, Any],
) -> dg.Output[dict[str, Any]]:
    """The `save_predictions` step: to the day's stable location when the run labelled a day."""
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


MANUAL = inference_graph(None, GROUP, None)
DAILY = inference_graph(DAILY_PREFIX, DAILY_GROUP, DAILY_PARTITIONS)
inference_data, production_model, predictions, published_predictions = MANUAL
INFERENCE_ASSETS = [*MANUAL, *DAILY]
