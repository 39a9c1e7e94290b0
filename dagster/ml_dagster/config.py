"""Typed run config, built from the run parameters `ml.pipelines.params` declares (as the Airflow params are).

Each asset that starts a step takes the parameters of that step, with the bounds and help of
`ml.pipelines.params`; a field left unset (None) is not passed, so the step applies its own default
(`ml.core.config`: `ML_DATASET_URI`, `ML_EPOCHS`, ...). `run_config` maps `make train PARAMS=...` to the
run config of a job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from pydantic import Field, create_model

from ml.pipelines.params import Param, pipeline_params

#: The asset that runs each step that takes run parameters.
ASSET_OF_STEP = {
    "load_training_data": "training_data",
    "train": "trained_model",
    "load_inference_data": "inference_data",
    "load_model": "production_model",
    "save_predictions": "published_predictions",
}
_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float}
_BOUNDS = {"minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt",
           "minLength": "min_length", "pattern": "pattern"}


def _field(param: Param) -> tuple[Any, Any]:
    kind = _TYPES[param.schema["type"]]
    bounds = {_BOUNDS[key]: value for key, value in param.schema.items() if key in _BOUNDS}
    return kind | None, Field(None, description=param.description, title=param.title, **bounds)


def config_class(pipeline: str, step: str, name: str) -> type[dg.Config]:
    """The `dg.Config` of the asset running `step`: one optional field per parameter of that step."""
    fields = {p.name: _field(p) for p in pipeline_params(pipeline) if p.step == step}
    return create_model(name, __base__=dg.Config, __doc__=f"Run config of the `{step}` step.", **fields)


TrainingDataConfig = config_class("train", "load_training_data", "TrainingDataConfig")
TrainConfig = config_class("train", "train", "TrainConfig")
ProductionModelConfig = config_class("infer", "load_model", "ProductionModelConfig")
PublishConfig = config_class("infer", "save_predictions", "PublishConfig")
# The moment a scheduled run labels the day before (set by the schedule; manual runs use their
# creation time): the partition rule itself is ml's (ml.data.partitions).
InferenceDataConfig = create_model(
    "InferenceDataConfig",
    __base__=config_class("infer", "load_inference_data", "_InferenceDataParams"),
    as_of=(str | None, Field(None, description="ISO time the run labels the day before (schedules set it).")),
)


def step_options(config: dg.Config, pipeline: str, step: str) -> dict[str, Any]:
    """The step keywords of the parameters set in `config` (unset ones are left to the step)."""
    values = config.model_dump()
    return {p.option: values[p.name] for p in pipeline_params(pipeline) if p.step == step and values.get(p.name) is not None}


def run_config(pipeline: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Run config of the `pipeline` job for run parameters (`make train PARAMS=...`); ValueError if unknown."""
    known = {p.name: p for p in pipeline_params(pipeline)}
    ops: dict[str, dict[str, Any]] = {}
    for name, value in params.items():
        if name not in known:
            raise ValueError(f"unknown {pipeline} parameter {name!r}; known: {', '.join(sorted(known))}")
        if value is None or value == "":
            continue
        ops.setdefault(ASSET_OF_STEP[known[name].step], {"config": {}})["config"][name] = value
    return {"ops": ops} if ops else {}
