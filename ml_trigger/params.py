"""`--param key=value` pairs, and which of them the trigger fills in when they are left out.

Steps own their defaults (`ml/config.py`): the trigger passes on only what the user chose. One
exception keeps a new user's `make infer` working: with no input chosen, the input is the
stack's seeded demo file (ML_INFERENCE_URI), not today's partition, which does not exist yet.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ml_trigger.errors import EXIT_USAGE, TriggerError


def _commands() -> tuple[str, ...]:
    from ml.pipelines.spec import pipelines

    return tuple(p.command for p in pipelines().values() if p.cli)


#: What `make train|infer` may trigger: the spec's pipelines that have a runner of their own.
PIPELINES = _commands()
#: Params that choose the inference input; any of them, even empty, stops the demo-file fill.
INFER_INPUT_PARAMS = ("input_uri", "partition_date", "run_config")
DEMO_INPUT_VARIABLE = "ML_INFERENCE_URI"


def parse_params(items: Sequence[str]) -> dict[str, Any]:
    """`key=value` pairs -> dict; values that parse as JSON scalars (numbers, true, null) keep that type."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise TriggerError(f"--param {item!r} is not key=value, e.g. --param epochs=2", EXIT_USAGE)
        try:
            value: Any = json.loads(raw)
            if isinstance(value, (dict, list)):
                value = raw
        except ValueError:
            value = raw
        params[key] = value
    return params


def check_known(pipeline: str, params: Mapping[str, Any]) -> None:
    """Refuse a parameter the pipeline does not have, on both orchestrators (Airflow would ignore it)."""
    from ml.pipelines.spec import pipeline as spec_of

    known = {p.name for p in spec_of(pipeline).params()} | {"run_config"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise TriggerError(
            f"unknown {pipeline} parameter {unknown[0]!r}; known: {', '.join(sorted(known - {'run_config'}))}",
            EXIT_USAGE,
        )


def with_default_inputs(pipeline: str, params: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """`params` less the empty ones (`key=`: the step's default applies), plus the demo input.

    For infer with none of `input_uri`, `partition_date`, `run_config` given (not even empty),
    `input_uri` is ML_INFERENCE_URI when that is set.
    """
    check_known(pipeline, params)
    chosen = {key: value for key, value in params.items() if value != ""}
    demo_input = env.get(DEMO_INPUT_VARIABLE)
    if pipeline == "infer" and demo_input and not any(key in params for key in INFER_INPUT_PARAMS):
        chosen["input_uri"] = demo_input
    return chosen


def model_spec(pipeline: str, model: str | None) -> Any:
    """Pipeline `pipeline` of `model` (None: the default model), with its DAG and job names
    (ml/pipelines/models.py); a model the catalog does not have is a usage error naming those it has."""
    from ml.core.errors import BadInputError
    from ml.pipelines.models import model_pipeline

    try:
        return model_pipeline(pipeline, model or None)
    except BadInputError as exc:
        raise TriggerError(str(exc), EXIT_USAGE) from None
