"""Launcher seam: turn one `python -m ml <step> ...` call into one Airflow task.

Why a seam: the DAG files only say *which* step runs with *which* run parameters; how the step
is launched is the launch policy's (`ml.launch`, `ML_LAUNCHER` when the DAG file is parsed):

- `docker` (default): a container of the `ml` image (`ml_airflow/launch_docker.py`);
- `local`: the same argv as a subprocess of the Airflow worker (`ml_airflow/launch_local.py`);
- `kubernetes`: a pod of the same image (`ml_airflow/launch_k8s.py`).

Every launcher keeps the contract of `docs/steps.md`: the task's XCom `return_value` is the step's
JSON result; exit code 2 (bad input) fails the task at once; any other failure is retried with
the policy's numbers (`ml.core.retry.STEP_RETRY`). The run parameters (`dag_params`) are the
pipeline spec's, with the same bounds Dagster's run config has; an unset one reaches no step.

Importing it is cheap: a launcher module is imported only when a DAG file builds its tasks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator, Param

from ml.core.retry import STEP_RETRY
from ml.launch.exits import step_argv
from ml.launch.settings import load_launch_settings
from ml.pipelines.spec import Pipeline

#: The policy's retry numbers in Airflow's terms (bad input never reaches them: AirflowFailException).
RETRY_ARGS: dict[str, Any] = {
    "retries": STEP_RETRY.retries,
    "retry_delay": timedelta(seconds=STEP_RETRY.delay_s),
    "retry_exponential_backoff": STEP_RETRY.backoff,
    "max_retry_delay": timedelta(seconds=STEP_RETRY.max_delay_s),
}


def dag_params(spec: Pipeline) -> dict[str, Param]:
    """The DAG's params: every run parameter of the pipeline (`ml.pipelines`), nullable, unset by default."""
    return {
        p.name: Param(None, type=["null", p.schema["type"]], title=p.title, description=p.description,
                      **{k: v for k, v in p.schema.items() if k != "type"})
        for p in spec.params()
    }


def literal_environment(environment: Mapping[str, str]) -> dict[str, str]:
    """`environment` for a templated operator field: a value Jinja would read as a template (the model
    catalog's content may hold `{{`, `{%` or `{#`) is wrapped in `{% raw %}` so that it arrives as written."""
    def literal(value: str) -> str:
        if any(mark in value for mark in ("{{", "{%", "{#")) and "{% endraw %}" not in value:
            return "{% raw %}" + value + "{% endraw %}"
        return value

    return {name: literal(value) for name, value in environment.items()}


def _builder(launcher: str) -> Any:
    if launcher == "docker":
        from ml_airflow.launch_docker import docker_task

        return docker_task
    if launcher == "kubernetes":
        from ml_airflow.launch_k8s import kubernetes_task

        return kubernetes_task
    from ml_airflow.launch_local import local_task

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
