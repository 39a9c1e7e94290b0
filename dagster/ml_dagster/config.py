"""Typed run config, mirroring the Airflow DAG params.

Unset (None/empty) values fall back to the `ml` settings (`ml/config.py`, from the environment),
read when the step runs, as in the Airflow DAGs: `dataset_uri` to `ML_DATASET_URI`, `input_uri`
to the day's partition of `ML_INFERENCE_INPUT_TEMPLATE`, the rest to `ML_BASE_MODEL`,
`ML_EPOCHS`, ... — one place for defaults.
"""

from __future__ import annotations

from datetime import date

import dagster as dg
from pydantic import Field


def dataset_uri_or_default(value: str) -> str:
    """The configured dataset, else the `ml` settings' default (`ML_DATASET_URI`)."""
    from ml.config import get_settings

    return value or get_settings().dataset_uri


def input_uri_for(day: date) -> str:
    """The input partition of `day`, by the `ml` settings (`ML_INFERENCE_INPUT_TEMPLATE`)."""
    from ml.config import get_settings

    return get_settings().inference_input_for(day)


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
        None, ge=0, le=1, description="Minimum test macro-F1 to register. Default: $ML_MIN_TEST_MACRO_F1 (ml settings)."
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
