"""The parameters a user may set on a pipeline run, for every orchestrator's trigger form.

Why here: Airflow's DAG params, Dagster's run config and `make train PARAMS=...` offer the same
parameters with the same bounds, and a parameter left unset must reach no step, so that the step
applies its own default (`ml.core.config`, from `ML_*`). Each parameter names the step and keyword
that take it; its bounds come from the `ml.core.config` field of the same meaning, so they are written
once. Adapters turn `Param.schema` into a DAG `Param` or a Dagster config field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

#: URIs the `ml` storage layer reads: s3://bucket/key, http(s)://, hf://, file:// or an absolute path.
URI_PATTERN = r"^(s3://[^/\s]+/\S+|https?://\S+|hf://\S+|file://\S+|/\S+)$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
_BOUND_KEYS = ("type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "pattern")


@dataclass(frozen=True)
class Param:
    """One run parameter: which step keyword takes it, its JSON schema (non-null values), its help.

    Every parameter is optional and unset by default: the step then applies its own default.
    """

    name: str
    step: str
    title: str
    description: str
    schema: dict[str, Any] = field(default_factory=dict)
    keyword: str = ""  # the step's keyword argument when it differs from `name`

    @property
    def option(self) -> str:
        """The step's keyword argument that takes this parameter."""
        return self.keyword or self.name


@cache
def _settings_schema() -> dict[str, Any]:
    from ml.core.config import Settings

    return Settings.model_json_schema()["properties"]


def from_settings(setting: str, **extra: Any) -> dict[str, Any]:
    """The JSON schema of a non-null value of an `ml.core.config` field (its type and bounds)."""
    prop = dict(_settings_schema()[setting])
    for option in prop.pop("anyOf", []):
        if option.get("type") != "null":
            prop.update(option)
    return {key: prop[key] for key in _BOUND_KEYS if key in prop} | extra


def _default_note(setting: str) -> str:
    default = _settings_schema()[setting].get("default")
    return f"Empty: ML_{setting.upper()}" + (f" (default {default})" if default not in (None, "") else "")


def training_params() -> list[Param]:
    """Parameters of the training pipeline, in form order."""
    return [
        Param("dataset_uri", "load_training_data", "Dataset URI",
              "Labelled CSV, TSV, JSONL or Parquet (s3://, http(s)://, hf://, a path). " + _default_note("dataset_uri") + ".",
              {"type": "string", "pattern": URI_PATTERN}),
        Param("base_model", "train", "Base model",
              "'tiny' (offline preset), a model folder (local or s3://) or a hub id. " + _default_note("base_model") + ".",
              from_settings("base_model", minLength=1)),
        Param("epochs", "train", "Epochs", _default_note("epochs") + ".", from_settings("epochs")),
        Param("learning_rate", "train", "Learning rate",
              "Empty: ML_LEARNING_RATE, else 1e-3 for tiny, 5e-5 otherwise.", from_settings("learning_rate")),
        Param("batch_size", "train", "Batch size", _default_note("batch_size") + ".", from_settings("batch_size")),
        Param("seed", "train", "Seed", _default_note("seed") + ".", from_settings("seed")),
        Param("max_train_samples", "train", "Max training samples",
              "Cap the training split for a quick run. Empty: ML_MAX_TRAIN_SAMPLES (default: all rows).",
              from_settings("max_train_samples")),
    ]


def inference_params() -> list[Param]:
    """Parameters of the inference pipeline, in form order."""
    return [
        Param("input_uri", "load_inference_data", "Input URI",
              "Texts to label (CSV, JSONL or Parquet). Empty: the partition of `partition_date`.",
              {"type": "string", "pattern": URI_PATTERN}),
        Param("partition_date", "load_inference_data", "Partition date",
              "Day to label (YYYY-MM-DD) in ML_INFERENCE_INPUT_TEMPLATE. Empty: the UTC day before the run was triggered.",
              {"type": "string", "pattern": DATE_PATTERN}),
        Param("model_version", "load_model", "Model version",
              "Registered version to use. Empty: the version behind the alias below.",
              {"type": "integer", "minimum": 1}, keyword="version"),
        Param("model_alias", "load_model", "Model alias",
              "Alias resolved when no version is given. Empty: champion.",
              {"type": "string", "pattern": r"^[A-Za-z0-9_-]+$"}, keyword="alias"),
        Param("output_uri", "save_predictions", "Output URI",
              "Where to publish the predictions. Empty: under ML_RESULTS_URI, per run.",
              {"type": "string", "pattern": URI_PATTERN}),
    ]


def pipeline_params(pipeline: str) -> list[Param]:
    """`train` or `infer` -> its parameters; ValueError for another name."""
    if pipeline == "train":
        return training_params()
    if pipeline == "infer":
        return inference_params()
    raise ValueError(f"unknown pipeline {pipeline!r}; use train or infer")
