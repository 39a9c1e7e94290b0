"""Typed run config, built from the pipeline spec's run parameters (as the Airflow params are).

Each asset that runs a step takes that step's run parameters (and the run facts it takes, such
as `as_of`), with the bounds and help of `ml.pipelines.params`; a field left unset (None) is not
passed, so the step applies its own default (`ml.core.config`: `ML_DATASET_URI`, `ML_EPOCHS`, ...).
`run_config` maps `make train PARAMS=...` to the run config of a job.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, Literal

import dagster as dg
from pydantic import Field, create_model

from ml.pipelines.params import Param
from ml.pipelines.spec import CONTEXT_HELP, Step, pipeline

_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}
_BOUNDS = {"minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt",
           "minLength": "min_length", "pattern": "pattern"}


def _field(param: Param) -> tuple[Any, Any]:
    kind: Any = Literal[tuple(param.schema["enum"])] if "enum" in param.schema else _TYPES[param.schema["type"]]
    bounds = {_BOUNDS[key]: value for key, value in param.schema.items() if key in _BOUNDS}
    if param.required:
        return kind, Field(description=param.description, title=param.title, **bounds)
    return kind | None, Field(None, description=param.description, title=param.title, **bounds)


@cache
def config_class(step: Step) -> type[dg.Config]:
    """The `dg.Config` of the asset or op running `step`: one field per run parameter and run fact."""
    fields: dict[str, Any] = {p.name: _field(p) for p in step.run_params}
    fields.update({name: (str | None, Field(None, description=CONTEXT_HELP[name])) for name in step.context})
    name = "".join(part.title() for part in step.name.split("-")) + "Config"
    return create_model(name, __base__=dg.Config, __doc__=f"Run config of the `{step.name}` step.", **fields)


def step_options(config: dg.Config, step: Step) -> dict[str, Any]:
    """The step keywords of the run parameters set in `config` (unset ones are left to the step)."""
    values = config.model_dump()
    return {p.option: values[p.name] for p in step.run_params if values.get(p.name) is not None}


def run_config(name: str, params: Mapping[str, Any], model: str | None = None) -> dict[str, Any]:
    """Run config of pipeline `name`'s job of `model` (None: the default) for run parameters
    (`make train PARAMS=...`); ValueError if unknown. A model's ops carry its asset key prefix."""
    from ml.pipelines.models import model_pipeline

    spec = model_pipeline(name, model) if model else pipeline(name)
    known = {p.name for p in spec.params()}
    ops: dict[str, dict[str, Any]] = {}
    for key, value in params.items():
        if key not in known:
            raise ValueError(f"unknown {spec.name} parameter {key!r}; known: {', '.join(sorted(known))}")
        if value is None or value == "":
            continue
        for step in spec.steps_of_param(key):  # `cache` goes to every cacheable step
            op = "__".join([*spec.dagster_prefix, step.dagster_name])
            ops.setdefault(op, {"config": {}})["config"][key] = value
    return {"ops": ops} if ops else {}
