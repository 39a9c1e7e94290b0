"""The reason `make train|infer ORCHESTRATOR=dagster` prints for a failed step, from Dagster's own events.

A step whose retries ran out fails with Dagster's "Exceeded max_retries of N"; the step's own error
is that failure's cause. The events here are real: an asset with the steps' retry policy shape,
materialized in process, its failure turned into what the GraphQL API answers (message, causes).
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from ml.core.errors import TransientError
from ml_trigger.dagster_api import step_failure


def failure_event(raised: Exception, retries: int) -> dict[str, Any]:
    """The GraphQL shape of the step failure event of an asset that raised `raised` on every try."""

    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=retries))
    def model_evaluation() -> None:
        raise raised

    result = dg.materialize([model_evaluation], raise_on_error=False)
    failure = next(e for e in result.all_events if e.is_step_failure)
    error = failure.step_failure_data.error
    causes = []
    while error.cause is not None:
        error = error.cause
        causes.append({"message": error.message})
    top = failure.step_failure_data.error
    return {"__typename": "ExecutionStepFailureEvent", "stepKey": failure.step_key, "message": failure.message,
            "error": {"message": top.message, "causes": causes}}


def transient() -> TransientError:
    """ml's error as its MLflow calls raise it: from the library's own exception."""
    try:
        try:
            raise ConnectionError("HTTPConnectionPool(host='mlflow', port=5000): Max retries exceeded")
        except ConnectionError as exc:
            raise TransientError("MLflow at http://mlflow:5000 unreachable after 5 attempts") from exc
    except TransientError as error:
        return error


def test_after_its_retries_the_reason_is_the_steps_own_error() -> None:
    reason, _ = step_failure(failure_event(transient(), 1))
    assert reason == "error: MLflow at http://mlflow:5000 unreachable after 5 attempts (exceeded max_retries of 1)"


def test_a_step_that_printed_its_error_line_keeps_it() -> None:
    event = failure_event(dg.Failure(description="error: s3://x/train.csv has no column 'label'", allow_retries=False), 2)
    assert step_failure(event)[0] == "error: s3://x/train.csv has no column 'label'"


def test_a_bug_is_named_by_its_class_not_dressed_as_ml_error() -> None:
    reason, line = step_failure(failure_event(KeyError("text"), 1))
    assert reason is None and line.startswith("KeyError: 'text'") and "max_retries of 1" in line
