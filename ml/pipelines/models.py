"""Each model's pipelines: the spec's pipelines bound to one catalog entry, and their names.

Why one rule here: both orchestrators build one set of pipelines per model of the catalog
(`ml/core/catalog.py`) and the trigger behind `make train MODEL=...` must find them; so the name
of a model's DAG, job, asset group, asset key prefix, schedule and sensor is derived here, from the
spec's names and the model's name, and nowhere else:

- the default model (ML_MODEL_NAME) keeps the spec's names (its DAGs, jobs, groups, un-prefixed
  assets): a stack with one model looks as it always did;
- another model `m` gets `<dag>__m` for Airflow DAGs (`<training dag>__support-tickets`), `<name>__<m>`
  for Dagster jobs, schedules and sensors (`<training job>__support_tickets`; Dagster names take
  letters, digits and `_` only, see `ml.core.catalog.dagster_name`), `<m>__<group>` for asset groups
  and the asset key prefix `<m>/` (`support_tickets/<asset>`, `support_tickets/<daily prefix>/<asset>`).

`python -m ml models` prints every model's names.

Every step of another model's pipeline runs with `--model-name m` (`Pipeline.model_option`), so it
reads that model's settings from the catalog entry; the default model's steps read ML_MODEL_NAME.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ml.core import catalog
from ml.core.config import check_catalog, load_settings, model_catalog
from ml.pipelines.spec import Pipeline, pipeline


def scoped(name: str, model: str, default: bool, *, dagster: bool = False) -> str:
    """`name` for `model`: unchanged for the default model, else `<name>__<model>` (Dagster's form of it)."""
    return name if default else f"{name}__{catalog.dagster_name(model) if dagster else model}"


def is_default(model: str) -> bool:
    """Whether `model` is the catalog's default model (ML_MODEL_NAME), whose names are the spec's."""
    return model_catalog(load_settings()).is_default(model)


def for_model(spec: Pipeline, model: str, *, default: bool) -> Pipeline:
    """`spec` bound to `model`: every step runs for it, under the model's names (module docstring)."""
    if default:
        return replace(spec, model=model)
    tag = catalog.dagster_name(model)
    daily = spec.daily and replace(spec.daily, dagster_job=scoped(spec.daily.dagster_job, model, False, dagster=True),
                                   dagster_group=f"{tag}__{spec.daily.dagster_group}")
    return replace(spec, model=model, model_scoped=True, airflow_dag=scoped(spec.airflow_dag, model, False),
                   dagster_job=scoped(spec.dagster_job, model, False, dagster=True),
                   dagster_group=f"{tag}__{spec.dagster_group}", dagster_prefix=(tag,), daily=daily)


def model_pipelines(name: str, checked: bool = True) -> list[Pipeline]:
    """Pipeline `name` (or its command) for every model of the catalog, the default first.

    `checked`: the whole catalog is validated first (every mistake, one line each), so a DAG file
    or code location with a broken catalog fails to load with those lines instead of half the models.
    """
    found = check_catalog() if checked else model_catalog(load_settings())
    spec = pipeline(name)
    names = sorted(found.names(), key=lambda m: not found.is_default(m))
    return [for_model(spec, m, default=found.is_default(m)) for m in names]


def model_pipeline(name: str, model: str | None = None) -> Pipeline:
    """Pipeline `name` for `model` (None: the default model); a model not in the catalog is one line."""
    found = model_catalog(load_settings())
    entry = found.entry(model)
    return for_model(pipeline(name), entry.name, default=found.is_default(entry.name))


def _row(name: str, found: catalog.Catalog) -> dict[str, Any]:
    from ml.core.config import model_settings

    s = model_settings(name)
    default = found.is_default(name)
    training, inference = (for_model(pipeline(p), name, default=default) for p in ("training", "inference"))
    return {
        "model": name, "default": default, "description": found.entries[name].description,
        "dataset_uri": s.dataset_uri, "text_column": s.text_column, "label_column": s.label_column,
        "id_column": s.id_column, "base_model": s.base_model, "promotion_mode": s.promotion_mode,
        "inference_input_template": s.inference_input_template, "inference_schedule": s.inference_schedule,
        "train_on_new_data": s.train_on_new_data, "new_data_prefix": s.new_data_prefix,
        "results_uri": s.results_uri, "experiment_name": s.experiment_name, "drift_blocking": s.drift_blocking,
        "airflow_dags": [training.airflow_dag, inference.airflow_dag],
        "dagster_jobs": [training.dagster_job, inference.dagster_job, inference.daily.dagster_job if inference.daily else ""],
        "dagster_prefix": "/".join(training.dagster_prefix),
    }


def show_models() -> dict[str, Any]:
    """Every model of the catalog (ML_MODEL_CATALOG), checked: its data, columns, policies and pipeline names.

    A mistake in the catalog fails with one line per mistake (file, model, field), exit 2. On a
    terminal the CLI shows `table(result)` (ml/cli/output.py); piped, the JSON line.
    """
    found = check_catalog()
    return {"catalog": found.source, "default": found.default, "models": [_row(name, found) for name in found.names()]}


def table(result: dict[str, Any]) -> str:
    """`show_models`'s answer for people: a block per model."""
    lines = [f"model catalog: {result['catalog']} (default model: {result['default']})"]
    for row in result["models"]:
        mark = " (default)" if row["default"] else ""
        lines += [f"{row['model']}{mark}" + (f": {row['description']}" if row["description"] else ""),
                  f"  data       {row['dataset_uri']}  columns text={row['text_column']} label={row['label_column']} "
                  f"id={row['id_column']}",
                  f"  training   base model {row['base_model']}, promotion {row['promotion_mode']}, new data "
                  f"{row['new_data_prefix'] if row['train_on_new_data'] else 'off'}",
                  f"  inference  {row['inference_input_template']} at {row['inference_schedule']}, results "
                  f"{row['results_uri']}, drift {'blocks' if row['drift_blocking'] else 'warns'}",
                  f"  Airflow    {', '.join(row['airflow_dags'])}",
                  f"  Dagster    {', '.join(j for j in row['dagster_jobs'] if j)}"
                  + (f" (assets {row['dagster_prefix']}/...)" if row["dagster_prefix"] else "")]
    return "\n".join(lines)
