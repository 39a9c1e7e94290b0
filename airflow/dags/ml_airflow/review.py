"""Approval mode (`ML_PROMOTION_MODE=approval`): a person approves or rejects the challenger in the UI.

The rule of what approval means is `ml.lifecycle.champion`'s; this module only wires it into Airflow:

    promote_model -> awaiting_approval -> review_challenger -> apply_review

- `awaiting_approval` lets the run go on only when the promote step answered
  `awaiting_approval: true` (a version of another task is not offered for approval);
- `review_challenger` is the standard provider's human-in-the-loop operator: the task waits in
  the UI (Required actions, or the task's page) with "Approve" / "Reject" and a reason field;
- `apply_review` is one ml call, `python -m ml review --decision approve|reject`, in the same
  image and with the same launch policy as every step: the decision, the reviewer's name and
  the reason go into the registry and the champion history.

A review left unanswered fails its task after `REVIEW_TIMEOUT`; the version stays `pending`
and can still be decided with `make approve` / `make reject`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.providers.standard.operators.python import ShortCircuitOperator
from airflow.sdk import BaseOperator, Param

from ml.pipelines.spec import Pipeline, pipeline
from ml_airflow.launch import ml_task
from ml_airflow.pipelines import xcom

REVIEW_TIMEOUT = timedelta(days=7)
APPROVE, REJECT = "Approve", "Reject"


def _awaits_approval(promote_task: str, **context: Any) -> bool:
    """True when the promote step asked for a decision (its own JSON result says so)."""
    return bool(context["ti"].xcom_pull(task_ids=promote_task).get("awaiting_approval"))


def _answer(review_task: str, expr: str) -> str:
    return f"{{{{ ti.xcom_pull(task_ids='{review_task}'){expr} }}}}"


def review_tasks(training: Pipeline, last: BaseOperator) -> tuple[BaseOperator, BaseOperator, BaseOperator]:
    """The three approval-mode tasks after the training pipeline's last task `last` (inside `with DAG`).

    The last training step (promote) answers `awaiting_approval`, the version and its model; the
    review pipeline's one step applies the person's answer. Task ids are the spec's.
    """
    promote_task = last.task_id
    gate_id, ask_id = training.airflow_review_tasks
    step = pipeline("review").steps[0]
    awaiting = ShortCircuitOperator(
        task_id=gate_id,
        python_callable=_awaits_approval,
        op_kwargs={"promote_task": promote_task},
        doc_md="Continue only when the promote step left the new version waiting for a decision.",
    )
    review = HITLOperator(
        task_id=ask_id,
        subject=f"Make {xcom(promote_task, 'model_name')} v{xcom(promote_task, 'version')} the champion?",
        body=f"{xcom(promote_task, 'decision')}\n\nModel version: {xcom(promote_task, 'mlflow_model_url')}",
        options=[APPROVE, REJECT],
        params={"reason": Param("", type="string", title="Reason", description="Kept in the champion history.")},
        response_timeout=REVIEW_TIMEOUT,
        doc_md="A person approves or rejects the challenger (Airflow UI: Required actions).",
    )
    apply = ml_task(
        step.name,
        task_id=step.airflow_task,
        options={
            "version": xcom(promote_task, "version"),
            "model-name": xcom(promote_task, "model_name"),
            "decision": _answer(ask_id, "['chosen_options'][0] | lower"),
            "reason": _answer(ask_id, "['params_input'].get('reason') or ''"),
            "actor": "airflow:" + _answer(ask_id, "['responded_by_user']['name']"),
        },
        doc_md=step.doc,
    )
    last >> awaiting >> review >> apply
    return awaiting, review, apply
