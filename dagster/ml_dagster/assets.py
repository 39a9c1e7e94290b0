"""A pipeline of ml's spec as Dagster assets: one asset per step, ins and deps from the spec.

Why a factory: which steps run, fed by which outputs, under which asset names, is declared once in
`ml/pipelines/spec.py`; this module only translates it. Each asset is one `ml` step call; the
value it returns is the step's small JSON dict, handed on by `StepOutputIOManager`. A step's
keywords come from its upstream assets' dicts (the spec's `inputs`), its run config (the spec's
run parameters) and the run's facts: `as_of` is when the run was created (or a schedule's tick),
and in the day-partitioned graph the partition key is the day.

The same inference steps form two graphs (`Graph`): `inference` (inference_job) runs without a
partition, as every manual run does; `daily/...` (daily_inference_job) has one partition per UTC
day, from ml's FIRST_DAY to the last complete day. Why two graphs and not one partitioned one:
Dagster cannot run a partitioned asset with upstream assets without a partition key once it has
been materialized, so manual runs would all need a day, and a run of an arbitrary file would
show as some day's partition. Both publish a day's result to the same stable location (ml's rule).
"""

# No `from __future__ import annotations` here: Dagster reads the config and resource
# annotations of the asset functions when they are decorated.

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from ml.pipelines.spec import Pipeline, Step
from ml_dagster.config import config_class, step_options
from ml_dagster.io_manager import VALIDATION_ERROR_KEY
from ml_dagster.metadata import step_metadata
from ml_dagster.resources import StorageResource
from ml_dagster.runner import STEP_RETRY_POLICY, run_loading_step, run_step


@dataclass(frozen=True)
class Graph:
    """One asset graph of a pipeline: its key prefix, group and partitions.

    The keys start with the model's prefix (none for the default model: ml/pipelines/models.py),
    then the graph's own (`daily`).
    """

    spec: Pipeline
    group: str
    prefix: str | None = None
    partitions_def: dg.PartitionsDefinition | None = None

    def key(self, step: Step | str) -> dg.AssetKey:
        """The asset key of `step` (or of the step the check named `step` is about)."""
        step = self.spec.step(step) if isinstance(step, str) else step
        name = step.dagster_asset or self.spec.step(step.checks).dagster_asset
        return dg.AssetKey([*self.spec.dagster_prefix, *([self.prefix] if self.prefix else []), str(name)])

    def asset_steps(self) -> list[Step]:
        return [s for s in self.spec.steps if s.dagster_asset]


def _arg(step: Step) -> str:
    """The asset function's keyword for an upstream step's output: its asset name."""
    return step.dagster_asset or step.name.replace("-", "_")


def step_inputs(spec: Pipeline, step: Step, upstream: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The step's keywords from its upstream assets' outputs (an optional one left out when null)."""
    kwargs: dict[str, Any] = {}
    for keyword, ref in step.inputs.items():
        out = upstream[_arg(spec.step(ref.step))]
        value = out.get(ref.output) if ref.optional else out[ref.output]
        if value is not None:
            kwargs[keyword] = value
    return kwargs


def run_facts(graph: Graph, step: Step, context: dg.AssetExecutionContext, config: dg.Config,
              options: dict[str, Any]) -> dict[str, Any]:
    """What only the runner knows: the partition's day, or when the run was due (`as_of`)."""
    daily = graph.spec.daily
    if daily and context.has_partition_key and daily.partition_param in step.params:
        return {daily.partition_param: partition_day(context.partition_key, options)}
    if "as_of" in step.context and not options:
        return {"as_of": config.as_of or run_created_at(context)}
    return {}


def partition_day(key: str, options: dict[str, Any]) -> str:
    """The day the run of partition `key` labels (ml's rule); a contradicting config fails, not retried."""
    from ml.core.errors import BadInputError
    from ml.data.partitions import day_of_partition_key

    try:
        return day_of_partition_key(key, options.pop("partition_date", None), options.get("input_uri")).isoformat()
    except BadInputError as exc:
        raise dg.Failure(description=f"error: {exc}", allow_retries=False) from exc


def run_created_at(context: dg.AssetExecutionContext) -> str:
    """When this run was created (ISO, UTC): the moment a manual run was triggered."""
    record = context.instance.get_run_record_by_id(context.run_id)
    created = record.create_timestamp if record is not None else datetime.now(UTC)
    return created.astimezone(UTC).isoformat()


def step_asset(graph: Graph, step: Step) -> dg.AssetsDefinition:
    """The asset that runs `step`: its upstream assets as ins (or deps), its run config, its metadata."""
    spec = graph.spec
    validates = "validation" in step.dagster_checks.values()
    read = [spec.step(ref.step) for ref in step.inputs.values()]
    ins = {_arg(up): dg.AssetIn(graph.key(up)) for up in read}
    deps = [graph.key(name) for name in step.after if spec.step(name).dagster_asset]

    def compute(context, config, storage, **upstream):
        options = step_options(config, step)
        kwargs = {**spec.model_option(step), **step_inputs(spec, step, upstream), **options,
                  **run_facts(graph, step, context, config, options)}
        out = (run_loading_step if validates else run_step)(context, step, **kwargs)
        metadata = {**storage.describe(), **step_metadata(out)}
        if VALIDATION_ERROR_KEY in out:
            metadata.update(valid=False, error=out[VALIDATION_ERROR_KEY])
        elif validates:
            metadata["valid"] = True
        return dg.Output(out, metadata=metadata)

    compute.__annotations__ = {"context": dg.AssetExecutionContext, "config": config_class(step),
                               "storage": StorageResource, "return": dg.Output[dict[str, Any]]}
    return dg.asset(key=graph.key(step), ins=ins, deps=deps, group_name=graph.group, description=step.doc,
                    partitions_def=graph.partitions_def, retry_policy=STEP_RETRY_POLICY)(compute)


def graph_assets(graph: Graph) -> list[dg.AssetsDefinition]:
    """Every asset of `graph`, in the spec's order."""
    return [step_asset(graph, step) for step in graph.asset_steps()]
