"""The pipelines, declared once: their steps, edges, run parameters, time limits and names.

Why here: every runner is built from this module and declares none of it again: the embedded
chain and the CLI (`ml/pipelines/embedded.py`, `ml/cli.py`), the Airflow DAGs (a loop over the
steps), the Dagster assets, checks and jobs (a factory over the steps), the trigger behind
`make train|infer|backfill`, the step time limits (`ml/launch/timeouts.py`) and the bench. A new
step or edge is one edit here; `python -m ml pipelines` prints it; tests compare both
orchestrators' graphs with it.

A step is one `ml` function (`call`, imported only when a runner calls it) that takes keyword
arguments and returns a small JSON dict. Its keywords come from three places: the outputs of
upstream steps (`inputs`), the run parameters it takes (`params`, see `ml/pipelines/params.py`;
unset ones are left to the step's default) and facts only the runner knows (`context`). Names
follow each orchestrator's idiom (verbs for Airflow tasks, nouns for Dagster assets) and are
written only here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any, Literal

from ml.pipelines.params import Param, param

MINUTE, HOUR = 60, 3600
#: The keyword of every step that names the model (catalog entry) it runs for.
MODEL_OPTION = "model_name"
#: Options of the embedded runner that reach every step taking them: the model, and its columns over
#: the catalog entry's (orchestrated runs take the columns from the entry).
MODEL_OPTIONS = (MODEL_OPTION, "text_column", "label_column", "id_column")

#: What a Dagster check shows of its step's output: `validation`, the step's rejection of bad input
#: (the asset records it instead of failing); `gate`, the `gate` verdict in the step's output.
Verdict = Literal["validation", "gate"]
#: Run facts a runner supplies: `as_of`, when the run was due (the day before it is labelled).
Context = Literal["as_of"]
CONTEXT_HELP: dict[str, str] = {
    "as_of": "When the run was due (ISO time): without a partition date or an input, the UTC day before it "
             "is labelled. Default: when the run was triggered.",
}


@dataclass(frozen=True)
class Ref:
    """One output of an upstream step that feeds a keyword; `optional`: left out when null."""

    step: str
    output: str
    optional: bool = False


@dataclass(frozen=True)
class Step:
    """One step of a pipeline and its name in every runner."""

    name: str  # the CLI command, and the key of its result in a run's results
    call: str  # "module:function"
    doc: str  # what it does, for the orchestrators' UIs
    airflow_task: str
    limit_s: int  # one try, before its orchestrator stops it (override: ML_STEP_TIMEOUTS)
    inputs: Mapping[str, Ref] = field(default_factory=dict)
    after: tuple[str, ...] = ()  # upstream steps whose outputs it does not read
    params: tuple[str, ...] = ()
    context: tuple[Context, ...] = ()
    dagster_asset: str | None = None  # the asset it materializes, or
    dagster_check: str | None = None  # the asset check it runs, on the asset of step `checks`, or
    dagster_op: str | None = None  # the op of a job without assets
    checks: str = ""  # with dagster_check: the step whose asset the check is about
    dagster_checks: Mapping[str, Verdict] = field(default_factory=dict)  # checks showing its verdicts
    # Reusable by content (ml/pipelines/cache.py): its outputs are a function of its inputs, parameters, settings
    # and code, and it changes nothing but its outputs. Never for a step that moves an alias, registers, publishes
    # where readers look, or reads something mutable (an alias).
    cacheable: bool = False
    # "module:function" giving, from the step's keywords, the inputs it resolves itself (a default dataset,
    # the day's file), so that the cache key addresses what the step will read.
    cache_inputs: str = ""
    # "module:function" called on a hit with the cached `result` and the step's keywords: a check the step makes
    # against something that moves (the champion's task), made again; it raises as the step would.
    cache_recheck: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", MappingProxyType(dict(self.inputs)))
        object.__setattr__(self, "dagster_checks", MappingProxyType(dict(self.dagster_checks)))

    def __hash__(self) -> int:  # a step's name is unique across the pipelines
        return hash(self.name)

    @property
    def upstream(self) -> tuple[str, ...]:
        """Every step this one runs after: the steps it reads, then `after`, each once."""
        return tuple(dict.fromkeys([ref.step for ref in self.inputs.values()] + list(self.after)))

    @property
    def run_params(self) -> list[Param]:
        """The run parameters this step takes, in form order (`cache` last, on a cacheable step)."""
        return [param(name) for name in self.params] + ([param("cache")] if self.cacheable else [])

    @property
    def dagster_name(self) -> str:
        """Its Dagster asset, asset check or op."""
        return self.dagster_asset or self.dagster_check or self.dagster_op or ""

    def function(self) -> Callable[..., dict[str, Any]]:
        """What every runner calls: the `ml` function behind the step cache (ml/pipelines/cache.py), with its
        signature plus `cache` on a cacheable step; its result says `cache`, `cache_key`, `cache_source_run`."""
        from ml.pipelines.cache import cached

        return cached(self)

    def own_function(self) -> Callable[..., dict[str, Any]]:
        """The `ml` function itself (imported now, not when the spec is read)."""
        module, _, name = self.call.partition(":")
        return getattr(importlib.import_module(module), name)

    def model_options(self) -> tuple[str, ...]:
        """The `MODEL_OPTIONS` its function takes that no upstream output feeds (imports the function)."""
        import inspect

        taken = inspect.signature(self.function()).parameters
        return tuple(o for o in MODEL_OPTIONS if o in taken and o not in self.inputs)


@dataclass(frozen=True)
class Daily:
    """The day-partitioned variant of a pipeline: runs are UTC days (schedule, backfills).

    The day reaches the steps as the run parameter `partition_param`.
    """

    dagster_job: str
    dagster_group: str
    dagster_prefix: str  # asset keys `<prefix>/<asset>`
    partition_param: str


@dataclass(frozen=True)
class Pipeline:
    """A pipeline: its steps in an order that respects every edge, and its names."""

    name: str
    command: str  # `make <command>` and `python -m ml_trigger <command>`
    title: str
    airflow_dag: str
    dagster_job: str
    dagster_group: str
    steps: tuple[Step, ...]
    summary: Mapping[str, Ref]  # the headline facts of a finished run, from its steps' outputs
    cli: str | None = None  # the embedded runner's command
    preflight: str = ""  # "module:function" the embedded runner calls with the run's options before the first step
    daily: Daily | None = None
    airflow_review_tasks: tuple[str, str] = ("", "")  # approval: (gate task, human-in-the-loop task)
    # Set for one model's pipelines by ml/pipelines/models.py: the model, whether its names and
    # paths are its own (every model but the default), and the first parts of its Dagster asset keys.
    model: str = ""
    model_scoped: bool = False
    dagster_prefix: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary", MappingProxyType(dict(self.summary)))

    def step(self, name: str) -> Step:
        """The step `name` (KeyError: not a step of this pipeline)."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"pipeline {self.name} has no step {name!r}")

    def ancestors(self, name: str) -> set[str]:
        """Every step that must finish before step `name` starts (its upstream, theirs, ...)."""
        found: set[str] = set()
        todo = list(self.step(name).upstream)
        while todo:
            current = todo.pop()
            if current not in found:
                found.add(current)
                todo.extend(self.step(current).upstream)
        return found

    def edges(self) -> list[tuple[str, str]]:
        """The graph's edges, without those implied by a longer path (what a UI should draw).

        `evaluate` reads `load-training-data`'s output but also runs after `train`, which runs after
        it: the edge load-training-data -> evaluate adds no order, so it is not an edge here.
        """
        out: list[tuple[str, str]] = []
        for step in self.steps:
            for up in step.upstream:
                implied = any(up in self.ancestors(other) for other in step.upstream if other != up)
                if not implied:
                    out.append((up, step.name))
        return out

    def find(self, name: str) -> Step | None:
        """The step an orchestrator calls `name`: an Airflow task id, or a Dagster asset (a key's last
        part: `daily/predictions`, `daily__predictions`), asset check step or op; None for another task."""
        last = name.replace("__", "/").split("/")[-1]
        for step in self.steps:
            if name == step.airflow_task or last in (step.dagster_asset, step.dagster_op):
                return step
            if step.dagster_check and (last == step.dagster_check or last.endswith(f"_{step.dagster_check}")):
                return step
        return None

    def model_option(self, step: Step) -> dict[str, str]:
        """`{"model_name": model}` for a step of a (non-default) model's pipeline: every step runs for
        that model (its catalog entry's settings); none where an upstream output already names it.
        The default model's steps get none: they read ML_MODEL_NAME, as every step always has."""
        return {MODEL_OPTION: self.model} if self.model_scoped and MODEL_OPTION not in step.inputs else {}

    def params(self) -> list[Param]:
        """Every run parameter of the pipeline, in step order, each once (`cache` goes to every cacheable step)."""
        return list({p.name: p for step in self.steps for p in step.run_params}.values())

    def steps_of_param(self, name: str) -> list[Step]:
        """Every step that takes run parameter `name`."""
        return [step for step in self.steps if name in (p.name for p in step.run_params)]

    def step_of_param(self, name: str) -> Step:
        """The (first) step that takes run parameter `name` (KeyError: not a parameter of this pipeline)."""
        for step in self.steps:
            if name in (p.name for p in step.run_params):
                return step
        raise KeyError(f"pipeline {self.name} has no parameter {name!r}")


def _training() -> Pipeline:
    data, train = "load-training-data", "train"
    return Pipeline(
        name="training", command="train", cli="run-training", title="Fine-tune, evaluate, register and promote",
        preflight="ml.pipelines.preflight:training",
        airflow_dag="ml_training", dagster_job="training_job", dagster_group="training",
        airflow_review_tasks=("awaiting_approval", "review_challenger"),
        steps=(
            Step(data, "ml.steps:load_training_data",
                 "Validate the dataset, drop bad rows, split train/validation/test into the run workspace.",
                 airflow_task="load_training_data", dagster_asset="training_data", limit_s=30 * MINUTE,
                 params=("dataset_uri", "new_task"), dagster_checks={"training_data_is_valid": "validation"},
                 cacheable=True, cache_inputs="ml.steps.training:training_inputs",
                 cache_recheck="ml.steps.training:recheck_task"),
            Step(train, "ml.steps:train",
                 "Fine-tune the base model (GPU when the launcher grants one), tracked in MLflow.",
                 airflow_task="train_model", dagster_asset="trained_model", limit_s=6 * HOUR,
                 inputs={"data_uri": Ref(data, "data_uri")},
                 params=("base_model", "epochs", "learning_rate", "batch_size", "seed", "max_train_samples"),
                 cacheable=True, cache_inputs="ml.steps.training:base_model_input"),
            Step("evaluate", "ml.steps:evaluate",
                 "Score the held-out test split; metrics, plots and the quality gate's verdict go to the MLflow run.",
                 airflow_task="evaluate_model", dagster_asset="model_evaluation", limit_s=1 * HOUR,
                 inputs={"data_uri": Ref(data, "data_uri"), "model_uri": Ref(train, "model_uri"),
                         "mlflow_run_id": Ref(train, "mlflow_run_id")},
                 dagster_checks={"quality_gate": "gate"}, cacheable=True),
            Step("register", "ml.steps:register",
                 "Register the model as a new version with alias `challenger` (only past the quality gate).",
                 airflow_task="save_trained_model", dagster_asset="registered_model", limit_s=30 * MINUTE,
                 inputs={"model_uri": Ref(train, "model_uri"), "mlflow_run_id": Ref(train, "mlflow_run_id")},
                 after=("evaluate",)),
            Step("promote", "ml.steps:promote",
                 "Apply the champion rule: promote, keep, or (approval mode) wait for a person's decision.",
                 airflow_task="promote_model", dagster_asset="model_promotion", limit_s=15 * MINUTE,
                 inputs={"model_name": Ref("register", "model_name"), "version": Ref("register", "version")}),
        ),
        summary={
            "model_name": Ref("register", "model_name"), "model_version": Ref("register", "version"),
            "alias": Ref("register", "alias"), "promoted": Ref("promote", "promoted"),
            "champion_version": Ref("promote", "champion_version"), "decision": Ref("promote", "decision"),
            "metrics": Ref("evaluate", "metrics"), "mlflow_run_id": Ref(train, "mlflow_run_id"),
            "mlflow_model_url": Ref("promote", "mlflow_model_url", optional=True),
        },
    )


def _inference() -> Pipeline:
    data, model, predict = "load-inference-data", "load-model", "predict"
    return Pipeline(
        name="inference", command="infer", cli="run-inference", title="Label texts with one model version",
        preflight="ml.pipelines.preflight:inference",
        airflow_dag="ml_inference", dagster_job="inference_job", dagster_group="inference",
        daily=Daily(dagster_job="daily_inference_job", dagster_group="daily_inference", dagster_prefix="daily",
                    partition_param="partition_date"),
        steps=(
            Step(data, "ml.steps:load_inference_data",
                 "Validate the texts to label and stage them (id, text) in the run workspace.",
                 airflow_task="load_inference_data", dagster_asset="inference_data", limit_s=30 * MINUTE,
                 params=("input_uri", "partition_date"), context=("as_of",),
                 dagster_checks={"inference_data_is_valid": "validation"},
                 cacheable=True, cache_inputs="ml.steps.inference:inference_inputs"),
            Step(model, "ml.steps:load_model",
                 "Resolve the model version once (alias -> version) for the whole run.",
                 airflow_task="load_trained_model", dagster_asset="production_model", limit_s=30 * MINUTE,
                 params=("model_version", "model_alias")),
            Step(predict, "ml.steps:predict",
                 "Label every row with that one model version (GPU when the launcher grants one).",
                 airflow_task="run_inference", dagster_asset="predictions", limit_s=4 * HOUR,
                 inputs={"data_uri": Ref(data, "data_uri"), "model_name": Ref(model, "model_name"),
                         "version": Ref(model, "version"), "id_column": Ref(data, "id_column", optional=True)},
                 cacheable=True),
            Step("check-drift", "ml.monitoring.monitor:check_drift",
                 "Compare inputs and predictions with the version's training profile (PSI): ok, warn or drift.",
                 airflow_task="check_drift", dagster_check="input_drift", checks=predict, limit_s=30 * MINUTE,
                 inputs={"data_uri": Ref(data, "data_uri"), "predictions_uri": Ref(predict, "predictions_uri"),
                         "model_name": Ref(model, "model_name"), "version": Ref(model, "version")}),
            Step("save-predictions", "ml.steps:save_predictions",
                 "Publish the predictions atomically where readers look, with the model version in every row.",
                 airflow_task="save_inference_results", dagster_asset="published_predictions", limit_s=30 * MINUTE,
                 inputs={"predictions_uri": Ref(predict, "predictions_uri"),
                         "partition_date": Ref(data, "partition_date", optional=True)},
                 after=("check-drift",), params=("output_uri",)),
        ),
        summary={
            "predictions_uri": Ref("save-predictions", "output_uri"), "rows": Ref("save-predictions", "rows"),
            "model_name": Ref("save-predictions", "model_name"),
            "model_version": Ref("save-predictions", "model_version"),
            "input_uri": Ref(data, "input_uri"), "partition_date": Ref(data, "partition_date", optional=True),
            "drift": Ref("check-drift", "status"), "drift_summary": Ref("check-drift", "summary"),
            "mlflow_model_url": Ref(model, "mlflow_model_url", optional=True),
        },
    )


def _review() -> Pipeline:
    return Pipeline(
        name="review", command="review", title="Approve or reject a model version (approval mode)",
        airflow_dag="ml_training", dagster_job="review_job", dagster_group="review",
        steps=(
            Step("review", "ml.lifecycle.commands:review",
                 "Record the decision: approve moves `champion` (ml.lifecycle.champion), reject marks the version.",
                 airflow_task="apply_review", dagster_op="review_model", limit_s=15 * MINUTE,
                 params=("version", "decision", "reason", "new_task")),
        ),
        summary={"decision": Ref("review", "decision"), "champion_version": Ref("review", "champion_version")},
    )


@cache
def pipelines() -> dict[str, Pipeline]:
    """Every pipeline by name: training, inference, review."""
    return {p.name: p for p in (_training(), _inference(), _review())}


def pipeline(name: str) -> Pipeline:
    """A pipeline by its name (`training`) or its command (`train`); ValueError for another name."""
    for p in pipelines().values():
        if name in (p.name, p.command):
            return p
    known = ", ".join(f"{p.name} ({p.command})" for p in pipelines().values())
    raise ValueError(f"unknown pipeline {name!r}; known: {known}")


def all_steps() -> Iterator[Step]:
    """Every step of every pipeline."""
    for p in pipelines().values():
        yield from p.steps


def step_named(name: str) -> Step:
    """The step `name` in whichever pipeline has it (KeyError: no such step)."""
    for step in all_steps():
        if step.name == name:
            return step
    raise KeyError(f"no step {name!r}")


def summarize(p: Pipeline, results: Mapping[str, Any]) -> dict[str, Any]:
    """The run's summary from its steps' results by step name (missing steps or keys: None)."""
    out: dict[str, Any] = {}
    for key, ref in p.summary.items():
        result = results.get(ref.step)
        out[key] = result.get(ref.output) if isinstance(result, Mapping) else None
    out["cached_steps"] = [step.name for step in p.steps  # reused from the step cache, in step order
                           if isinstance(results.get(step.name), Mapping) and results[step.name].get("cache") == "hit"]
    return out
