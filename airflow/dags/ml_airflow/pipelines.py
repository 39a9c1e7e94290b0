"""A pipeline of ml's spec as Airflow tasks: one task per step, edges and XComs from the spec.

Why a builder: which steps run, fed by which outputs, under which task ids, is declared once in
`ml/pipelines/spec.py`; this module only translates it. Each step's keywords become `python -m ml`
options: an upstream output is an XCom template (the upstream task's JSON result), a run
parameter a DAG-param template, and `as_of` (a run fact) the end of the run's data interval.
A template that renders to '' is not passed, so the step applies its own default.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, BaseOperator

from ml.pipelines.spec import Pipeline, Ref, Step
from ml_airflow.launch import dag_params, ml_task

#: When the run was due: the end of its data interval (scheduled, backfill, or manual with a logical
#: date), else the trigger time (a manual run without one has no data interval). ml labels the UTC
#: day before it (ml/data/partitions.py).
AS_OF = "{{ (dag_run.data_interval_end or dag_run.run_after).isoformat() }}"


def xcom(task_id: str, key: str, optional: bool = False) -> str:
    """Template for one key of an upstream task's JSON result (its XCom `return_value`).

    An optional key that is missing or null renders to '' (the option is then not passed).
    """
    if optional:
        return f"{{{{ ti.xcom_pull(task_ids='{task_id}').get('{key}') or '' }}}}"
    return f"{{{{ ti.xcom_pull(task_ids='{task_id}')['{key}'] }}}}"


def param(name: str) -> str:
    """Template of a run parameter: its value, or '' when unset (the option is then not passed)."""
    return f"{{{{ params.{name} if params.{name} is not none else '' }}}}"


def output_of(spec: Pipeline, ref: Ref) -> str:
    """The XCom template of an upstream step's output."""
    return xcom(spec.step(ref.step).airflow_task, ref.output, ref.optional)


def step_options(spec: Pipeline, step: Step) -> dict[str, str]:
    """The step's options as templates: its inputs, its run parameters, the run facts it takes, and
    the model the pipeline is for (`--model-name`: the step reads that model's catalog entry)."""
    options = dict(spec.model_option(step))
    options.update({keyword: output_of(spec, ref) for keyword, ref in step.inputs.items()})
    options.update({p.option: param(p.name) for p in step.run_params})
    if "as_of" in step.context:
        options["as-of"] = AS_OF
    return options


def step_tasks(spec: Pipeline) -> dict[str, BaseOperator]:
    """Every step of `spec` as a task, wired as the spec says; call inside `with DAG(...)`."""
    tasks = {step.name: ml_task(step.name, task_id=step.airflow_task, options=step_options(spec, step), doc_md=step.doc)
             for step in spec.steps}
    for upstream, downstream in spec.edges():
        tasks[upstream] >> tasks[downstream]
    return tasks


def pipeline_dag(spec: Pipeline, *, schedule: Any, start_date: datetime, description: str, doc_md: str | None) -> DAG:
    """The DAG of `spec` (its id and params are the spec's): no catchup, up to 8 runs at once.

    Use it as `with pipeline_dag(...) as dag: step_tasks(spec)`.
    """
    tags = ["ml", spec.name, *([f"model:{spec.model}"] if spec.model else [])]
    return DAG(dag_id=spec.airflow_dag, description=description, schedule=schedule, start_date=start_date,
               catchup=False, max_active_runs=8, tags=tags, doc_md=doc_md, params=dag_params(spec))
