"""Render the DAGs' tasks as a run would, without a scheduler: shared by the DAG and launcher tests."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

RUN_ID = "manual__2026-11-25T06:34:22.842943+00:00"
SECRETS = {
    "ML_S3_ACCESS_KEY": "access-key-value-1234",
    "ML_S3_SECRET_KEY": "secret-key-value-5678",
    "MLFLOW_TRACKING_PASSWORD": "mlflow-password-9012",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-value-3456",
}
PLAIN = {
    "ML_S3_ENDPOINT": "http://minio:9000",
    "MLFLOW_TRACKING_URI": "http://mlflow:5000",
    "ML_MODEL_NAME": "text-classifier",
}

#: One output of each upstream step, as docs/steps.md describes them.
UPSTREAM = {
    "load_training_data": {"data_uri": "s3://ml-work/r1/data", "rows": {"train": 8}},
    "train_model": {"model_uri": "s3://ml-work/r1/model", "mlflow_run_id": "abc123"},
    "save_trained_model": {"model_name": "text-classifier", "version": 7, "alias": "challenger"},
    "promote_model": {"model_name": "text-classifier", "version": "7", "awaiting_approval": True,
                      "decision": "v7 awaits approval", "mlflow_model_url": "http://localhost:5000/#/models/text-classifier/versions/7"},
    "review_challenger": {"chosen_options": ["Approve"], "params_input": {"reason": "checked the errors"},
                          "responded_by_user": {"id": "1", "name": "alice"}},
    "load_inference_data": {"data_uri": "s3://ml-work/r2/input", "rows": 5, "id_column": "ticket_id"},
    "load_trained_model": {"model_name": "text-classifier", "version": 4, "alias": "champion"},
    "run_inference": {"predictions_uri": "s3://ml-work/r2/predictions.parquet", "rows": 5},
}


@dataclass
class Upstream:
    """The `ti` of the template context: serves upstream XCom `return_value`s."""

    results: dict[str, dict[str, Any]]

    def xcom_pull(self, task_ids: str, key: str = "return_value", **_: Any) -> Any:
        assert key == "return_value"
        return self.results[task_ids]


@dataclass
class RunInfo:
    """The `dag_run` of the template context (only the fields our templates read)."""

    run_id: str = RUN_ID
    run_after: datetime = datetime(2026, 11, 25, 6, 34, tzinfo=UTC)
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    conf: dict[str, Any] = field(default_factory=dict)


def render(task: Any, conf: dict[str, Any] | None = None, dag_run: RunInfo | None = None) -> Any:
    """A copy of `task` with its template fields rendered as a run with `conf` would."""
    dag = task.dag
    params = copy.deepcopy(dag.params)
    for name, value in (conf or {}).items():
        params[name] = value  # validates, as a triggered run does
    from airflow.sdk.execution_time import macros

    context = {
        "macros": macros,
        "run_id": RUN_ID,
        "params": params.validate(),
        "ti": Upstream(UPSTREAM),
        "dag_run": dag_run or RunInfo(),
    }
    rendered = copy.deepcopy(task)
    rendered.render_template_fields(context, dag.get_template_env())
    return rendered


def ml_args(step: str, model: str | None = None, **options: Any) -> list[str]:
    """The argv of one step's task; every task of a (non-default) model's DAG names its model first,
    unless an upstream output gives it (`model_name` among `options`)."""
    argv = ["python", "-m", "ml", step, "--run-id", RUN_ID, "--orchestrator", "airflow"]
    if model and "model_name" not in options:
        argv += ["--model-name", model]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv
