"""The parameters a user may set on a pipeline run, for every runner's trigger form.

Why here: Airflow's DAG params, Dagster's run config, `make train PARAMS=...` and the embedded
`run-training`/`run-inference` offer the same parameters with the same bounds, and a parameter
left unset must reach no step, so that the step applies its own default (`ml.core.config`, from
`ML_*`). Bounds come from the `ml.core.config` field of the same meaning, so they are written
once. Which step takes each parameter is the pipeline spec's (`ml/pipelines/spec.py`). Adapters
turn `Param.schema` into a DAG `Param`, a Dagster config field or a CLI option.
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
    """One run parameter: its JSON schema (non-null values), its form title and help.

    Optional parameters are unset by default: the step then applies its own default. A
    `required` one (the review's version and decision) must be given.
    """

    name: str
    title: str
    description: str
    schema: dict[str, Any] = field(default_factory=dict)
    keyword: str = ""  # the step's keyword argument when it differs from `name`
    required: bool = False

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


def _training() -> list[Param]:
    return [
        Param("dataset_uri", "Dataset URI",
              "Labelled CSV, TSV, JSONL or Parquet (s3://, http(s)://, hf://, a path). " + _default_note("dataset_uri") + ".",
              {"type": "string", "pattern": URI_PATTERN}),
        Param("base_model", "Base model",
              "'tiny' (offline preset), a model folder (local or s3://) or a hub id. " + _default_note("base_model") + ".",
              from_settings("base_model", minLength=1)),
        Param("epochs", "Epochs", _default_note("epochs") + ".", from_settings("epochs")),
        Param("learning_rate", "Learning rate",
              "Empty: ML_LEARNING_RATE, else 1e-3 for tiny, 5e-5 otherwise.", from_settings("learning_rate")),
        Param("batch_size", "Batch size", _default_note("batch_size") + ".", from_settings("batch_size")),
        Param("seed", "Seed", _default_note("seed") + ".", from_settings("seed")),
        Param("max_train_samples", "Max training samples",
              "Cap the training split for a quick run. Empty: ML_MAX_TRAIN_SAMPLES (default: all rows).",
              from_settings("max_train_samples")),
    ]


def _inference() -> list[Param]:
    return [
        Param("input_uri", "Input URI",
              "Texts to label (CSV, TSV, JSONL or Parquet). Empty: the partition of `partition_date`.",
              {"type": "string", "pattern": URI_PATTERN}),
        Param("partition_date", "Partition date",
              "Day to label (YYYY-MM-DD) in ML_INFERENCE_INPUT_TEMPLATE. Empty: the UTC day before the run was triggered.",
              {"type": "string", "pattern": DATE_PATTERN}),
        Param("model_version", "Model version",
              "Registered version to use. Empty: the version behind the alias below.",
              {"type": "integer", "minimum": 1}, keyword="version"),
        Param("model_alias", "Model alias",
              "Alias resolved when no version is given. Empty: champion.",
              {"type": "string", "pattern": r"^[A-Za-z0-9_-]+$"}, keyword="alias"),
        Param("output_uri", "Output URI",
              "Where to publish the predictions. Empty: under ML_RESULTS_URI, per run.",
              {"type": "string", "pattern": URI_PATTERN}),
    ]


def _review() -> list[Param]:
    """The review's form: no free-text "who"; the decision is recorded as the run (or the login) that made it."""
    return [
        Param("version", "Model version", "Registered model version to decide on (its training run's decision names it).",
              {"type": "string", "pattern": r"^[1-9][0-9]*$"}, required=True),
        Param("decision", "Decision", "approve: it becomes champion; reject: it never will.",
              {"type": "string", "enum": ["approve", "reject"]}, required=True),
        Param("reason", "Reason", "Why (kept in the champion history).", {"type": "string"}),
        Param("new_task", "New task", "Another task (labels, text and label columns) than the model's, on purpose: the "
              "model's task changes. Empty: such data or version is refused (one model per task).", {"type": "boolean"}),
    ]


def _cache() -> list[Param]:
    """Every step the spec marks `cacheable` takes it (ml/pipelines/cache.py)."""
    return [Param("cache", "Step cache",
                  "on: reuse steps whose inputs, parameters and code are unchanged; off: run every step; refresh: run "
                  "every step and replace its cache entry. " + _default_note("cache") + ".",
                  {"type": "string", "pattern": r"^(on|off|refresh)$"})]  # a pattern: an optional enum suits neither form


@cache
def catalogue() -> dict[str, Param]:
    """Every run parameter by name (a name means the same thing in every pipeline)."""
    return {p.name: p for p in [*_training(), *_inference(), *_review(), *_cache()]}


def param(name: str) -> Param:
    """The parameter `name` (KeyError for an unknown name: a spec bug, caught by its tests)."""
    return catalogue()[name]
