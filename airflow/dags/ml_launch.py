"""Launcher seam: turn one `python -m ml <step> ...` call into one Airflow task.

Why a seam: the DAG files only say *which* step runs with *which* run parameters; how the step
is launched is the launch policy's (`ml.launch`, `ML_LAUNCHER` when the DAG file is parsed):

- `docker` (default): a container of the `ml` image (`ml_launch_docker.py`);
- `local`: the same argv as a subprocess of the Airflow worker (`ml_launch_local.py`);
- `kubernetes`: a pod of the same image (`ml_launch_k8s.py`).

Every launcher keeps the contract of `docs/steps.md`: the task's XCom `return_value` is the step's
JSON result; exit code 2 (bad input) fails the task at once; any other failure is retried with
the policy's numbers (`ml.launch.exits.STEP_RETRY`). The run parameters (`dag_params`) are
`ml.pipelines.params`'s, with the same bounds Dagster's run config has; an unset one reaches no step.

This module sits in the DAG folder (Airflow puts that folder on `sys.path`) and is kept out of
DAG parsing by `.airflowignore`. Importing it is cheap: a launcher module is imported only when
a DAG file builds its tasks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator, Param

from ml.launch.exits import STEP_RETRY, step_argv
from ml.launch.settings import load_launch_settings
from ml.pipelines.params import pipeline_params

#: The policy's retry numbers in Airflow's terms (bad input never reaches them: AirflowFailException).
RETRY_ARGS: dict[str, Any] = {
    "retries": STEP_RETRY.retries,
    "retry_delay": timedelta(seconds=STEP_RETRY.delay_s),
    "retry_exponential_backoff": STEP_RETRY.backoff,
    "max_retry_delay": timedelta(seconds=STEP_RETRY.max_delay_s),
}


def dag_params(pipeline: str) -> dict[str, Param]:
    """The DAG's params: every `ml.pipelines.params` parameter of `pipeline`, nullable, unset by default."""
    return {
        p.name: Param(None, type=["null", p.schema["type"]], title=p.title, description=p.description,
                      **{k: v for k, v in p.schema.items() if k != "type"})
        for p in pipeline_params(pipeline)
    }


def param(name: str) -> str:
    """Template of a run parameter: its value, or '' when unset (the option is then not passed)."""
    return f"{{{{ params.{name} if params.{name} is not none else '' }}}}"


def step_params(pipeline: str, step: str) -> dict[str, str]:
    """The step's options for the run parameters it takes (`ml.pipelines.params`), as templates."""
    return {p.option: param(p.name) for p in pipeline_params(pipeline) if p.step == step}


def xcom(task_id: str, key: str) -> str:
    """Template for one key of an upstream step's JSON output (its XCom `return_value`)."""
    return f"{{{{ ti.xcom_pull(task_ids='{task_id}')['{key}'] }}}}"


def _builder(launcher: str) -> Any:
    if launcher == "docker":
        from ml_launch_docker import docker_task

        return docker_task
    if launcher == "kubernetes":
        from ml_launch_k8s import kubernetes_task

        return kubernetes_task
    from ml_launch_local import local_task

    return local_task


def ml_task(
    step: str,
    *,
    task_id: str,
    options: Mapping[str, str] | None = None,
    doc_md: str | None = None,
) -> BaseOperator:
    """The task that runs `python -m ml <step>` with the launcher named by `ML_LAUNCHER`.

    `options` maps step keywords to (templated) values; a value that renders to '' is left out so
    the step's default applies. Must be called inside a `with DAG(...)` block.
    """
    settings = load_launch_settings()
    # one try's limit, the same table Dagster's run limit comes from (ml/launch/timeouts.py)
    timeout = timedelta(seconds=settings.step_limit_s(step))
    common: dict[str, Any] = {"task_id": task_id, "execution_timeout": timeout, "doc_md": doc_md, **RETRY_ARGS}
    command = step_argv(step, "{{ run_id }}", "airflow", dict(options or {}))
    return _builder(settings.launcher)(step, command, common)
