"""Typed run config, mirroring the Airflow DAG params.

Unset (None/empty) values fall back to the environment, read when the step runs, as in the
Airflow DAGs: `dataset_uri` to `ML_DATASET_URI`; `input_uri` to the day's partition of
`ML_INFERENCE_INPUT_TEMPLATE`; everything else to the `ml` settings (`ML_BASE_MODEL`,
`ML_EPOCHS`, ...), so there is one place for defaults.
"""

from __future__ import annotations

import os
from datetime import date

import dagster as dg
from pydantic import Field


def env_default(value: str, env_var: str, what: str) -> str:
    """`value`, else `$env_var`; a one-line error when both are empty."""
    resolved = value or os.environ.get(env_var, "")
    if not resolved:
        raise dg.Failure(
            description=f"no {what}: set it in the run config or set {env_var}", allow_retries=False
        )
    return resolved


DEFAULT_INPUT_TEMPLATE = "s3://datasets/inference/{ds}.csv"


def input_uri_for(day: date) -> str:
    """The input partition of `day`: `ML_INFERENCE_INPUT_TEMPLATE` with `{ds}` = YYYY-MM-DD."""
    template = os.environ.get("ML_INFERENCE_INPUT_TEMPLATE") or DEFAULT_INPUT_TEMPLATE
    return template.replace("{ds}", day.isoformat())


class TrainingDataConfig(dg.Config):
    """Config of `training_data`."""

    dataset_uri: str = Field(
        "", description="Labelled data: CSV/TSV/Parquet/JSONL, s3://, path or http(s). Default: $ML_DATASET_URI."
    )


class TrainConfig(dg.Config):
    """Config of `trained_model`; None leaves a value to the ml settings (`ML_<NAME>`)."""

    base_model: str | None = Field(None, description="'tiny', hub id, local or s3:// folder. Default: $ML_BASE_MODEL.")
    epochs: int | None = Field(None, ge=1, le=100, description="Default: $ML_EPOCHS.")
    learning_rate: float | None = Field(None, gt=0, lt=1, description="Default: $ML_LEARNING_RATE.")
    batch_size: int | None = Field(None, ge=1, le=4096, description="Default: $ML_BATCH_SIZE.")
    seed: int | None = Field(None, ge=0, description="Default: $ML_SEED.")
    max_train_samples: int | None = Field(None, ge=1, description="Cap the training split. Default: $ML_MAX_TRAIN_SAMPLES.")


class EvaluationThresholdConfig(dg.Config):
    """Config of the `test_macro_f1_above_minimum` check."""

    min_test_macro_f1: float | None = Field(
        None, ge=0, le=1, description="Minimum test macro-F1 to register. Default: $ML_MIN_TEST_MACRO_F1, else 0.5."
    )


class InferenceDataConfig(dg.Config):
    """Config of `inference_data`."""

    input_uri: str = Field(
        "", description="Texts to label (CSV/Parquet/JSONL). Default: today's (UTC) partition of $ML_INFERENCE_INPUT_TEMPLATE."
    )


class ProductionModelConfig(dg.Config):
    """Config of `production_model`: an explicit version, or the alias to resolve once."""

    model_version: int | None = Field(None, ge=1, description="Registered version to use; None uses the alias.")
    model_alias: str = Field("champion", pattern=r"^[A-Za-z0-9_-]+$", description="Alias resolved when no version is given.")


class PublishConfig(dg.Config):
    """Config of `published_predictions`."""

    output_uri: str | None = Field(None, description="Where to publish. Default: under $ML_RESULTS_URI, per run.")
