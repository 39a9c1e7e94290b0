"""Training assets: training_data -> trained_model -> model_evaluation -> registered_model.

Each asset is one `ml` step call (two for registered_model: register, then promote); the
value it returns is the step's small JSON dict, handed on by `StepOutputIOManager`.
"""

# No `from __future__ import annotations` here: Dagster reads the config and resource
# annotations of these functions when they are decorated.

from typing import Any

import dagster as dg

from ml_dagster.config import TrainConfig, TrainingDataConfig, step_options
from ml_dagster.io_manager import VALIDATION_ERROR_KEY
from ml_dagster.metadata import link, numbers, result
from ml_dagster.resources import StorageResource
from ml_dagster.runner import STEP_RETRY_POLICY, run_loading_step, run_step

GROUP = "training"


@dg.asset(group_name=GROUP, kinds={"python", "s3"}, retry_policy=STEP_RETRY_POLICY)
def training_data(
    context: dg.AssetExecutionContext, config: TrainingDataConfig, storage: StorageResource
) -> dg.Output[dict[str, Any]]:
    """The labelled dataset, validated and split train/validation/test in the run's workspace."""
    out = run_loading_step(context, "load_training_data", **step_options(config, "train", "load_training_data"))
    metadata: dict[str, Any] = {**storage.describe()}
    if VALIDATION_ERROR_KEY in out:
        return dg.Output(out, metadata={**metadata, "valid": False, "error": out[VALIDATION_ERROR_KEY]})
    rows = out["rows"]
    return dg.Output(
        out,
        metadata={
            **metadata,
            **result(out),
            "dataset_uri": dg.MetadataValue.path(out["dataset_uri"]),
            "valid": True,
            "data_uri": dg.MetadataValue.path(out["data_uri"]),
            "dagster/row_count": sum(rows.values()),
            "rows_train": rows["train"],
            "rows_validation": rows["validation"],
            "rows_test": rows["test"],
            "dropped_rows": out["dropped_rows"],
            "labels": ", ".join(out["labels"]),
            "fingerprint": out["fingerprint"],
        },
    )


@dg.asset(group_name=GROUP, kinds={"pytorch", "mlflow"}, retry_policy=STEP_RETRY_POLICY)
def trained_model(
    context: dg.AssetExecutionContext, config: TrainConfig, training_data: dict[str, Any]
) -> dg.Output[dict[str, Any]]:
    """The fine-tuned model (saved in the run workspace) and its MLflow run with per-epoch metrics."""
    out = run_step(context, "train", data_uri=training_data["data_uri"], **step_options(config, "train", "train"))
    return dg.Output(
        out,
        metadata={
            **result(out),
            "model_uri": dg.MetadataValue.path(out["model_uri"]),
            "mlflow_run_id": out["mlflow_run_id"],
            **link("mlflow_run", out.get("mlflow_run_url")),
            "device": out["device"],
            "epochs_run": out["epochs_run"],
            "best_epoch": out["best_epoch"],
            **numbers(out["metrics"]),
        },
    )


@dg.asset(group_name=GROUP, kinds={"mlflow"}, retry_policy=STEP_RETRY_POLICY)
def model_evaluation(
    context: dg.AssetExecutionContext, training_data: dict[str, Any], trained_model: dict[str, Any]
) -> dg.Output[dict[str, Any]]:
    """Test-split metrics and plots, logged to the training's MLflow run."""
    out = run_step(
        context,
        "evaluate",
        data_uri=training_data["data_uri"],
        model_uri=trained_model["model_uri"],
        mlflow_run_id=trained_model["mlflow_run_id"],
    )
    return dg.Output(
        out,
        metadata={
            **result(out),
            "mlflow_run_id": out["mlflow_run_id"],
            **link("mlflow_run", trained_model.get("mlflow_run_url")),
            "quality_gate": out["gate"]["reason"],
            "dagster/row_count": out["test_rows"],
            "plots": ", ".join(out["plots"]),
            **numbers(out["metrics"]),
        },
    )


@dg.asset(group_name=GROUP, kinds={"mlflow"}, retry_policy=STEP_RETRY_POLICY, deps=[model_evaluation])
def registered_model(context: dg.AssetExecutionContext, trained_model: dict[str, Any]) -> dg.Output[dict[str, Any]]:
    """A new registered version (alias challenger) and the champion rule's decision on it.

    The decision is ml's (`ml.lifecycle.champion`): promoted, kept, or (approval mode) waiting for a person,
    who decides with the `review_job` (launchpad) or `make approve`.

    It depends on model_evaluation because register reads the test metric evaluate logged, and so
    that the quality gate check (blocking, ml's verdict) keeps a weak model out of the registry.
    """
    registered = run_step(
        context, "register", model_uri=trained_model["model_uri"], mlflow_run_id=trained_model["mlflow_run_id"]
    )
    promotion = run_step(context, "promote", model_name=registered["model_name"], version=registered["version"])
    out = {"register": registered, "promote": promotion}
    return dg.Output(
        out,
        metadata={
            **result({**registered, **promotion}),
            "model_name": registered["model_name"],
            "model_version": registered["version"],
            "model_uri": registered["model_uri"],
            "alias": registered["alias"],
            **link("mlflow_model_version", registered.get("mlflow_model_url")),
            "promoted": promotion["promoted"],
            "awaiting_approval": promotion.get("awaiting_approval", False),
            "champion_version": str(promotion["champion_version"]),
            "decision": promotion["decision"],
            "mlflow_run_id": trained_model["mlflow_run_id"],
            **numbers(registered["metric"]),
        },
    )


TRAINING_ASSETS = [training_data, trained_model, model_evaluation, registered_model]
