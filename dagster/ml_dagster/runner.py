"""Calls one `ml` step for an asset, check or op: the run id and orchestrator name go with every call.

The failure policy is the contract's (docs/steps.md): bad input fails at once and is never
retried; a transient fault or any other error propagates to the asset's `RetryPolicy`.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from ml.core.retry import STEP_RETRY
from ml.pipelines.spec import Step
from ml_dagster.io_manager import VALIDATION_ERROR_KEY

# Transient faults (object store or MLflow down after ml's own retries) and bugs: the launch
# policy's retry numbers, the same the Airflow tasks get (bad input raises a no-retry Failure).
STEP_RETRY_POLICY = dg.RetryPolicy(
    max_retries=STEP_RETRY.retries, delay=STEP_RETRY.delay_s, backoff=dg.Backoff.EXPONENTIAL
)


def _call(context: dg.OpExecutionContext, step: Step, kwargs: dict[str, Any]) -> dict[str, Any]:
    from ml.core.logs import attach_to_stderr

    attach_to_stderr()  # the step's own log lines (progress, counts) into the compute logs

    args = {key: value for key, value in kwargs.items() if value is not None}
    context.log.info(f"ml step {step.name}({', '.join(f'{k}={v!r}' for k, v in args.items())})")
    return step.function()(run_id=context.run_id, orchestrator="dagster", **args)


def run_step(context: dg.OpExecutionContext, step: Step, **kwargs: Any) -> dict[str, Any]:
    """The step's function with `run_id=<Dagster run id>, orchestrator="dagster"`; None args omitted."""
    from ml.core.errors import BadInputError

    try:
        return _call(context, step, kwargs)
    except BadInputError as exc:
        raise dg.Failure(description=f"error: {exc}", allow_retries=False) from exc


def run_loading_step(context: dg.AssetExecutionContext, step: Step, **kwargs: Any) -> dict[str, Any]:
    """Like `run_step`, but input that `ml` rejects becomes a recorded validation failure.

    The asset then materializes that result (`validation_error` plus the inputs), its blocking
    data-validation check fails with ml's one-line reason, and nothing downstream runs.
    """
    from ml.core.errors import BadInputError

    try:
        return _call(context, step, kwargs)
    except BadInputError as exc:
        context.log.error(f"error: {exc}")
        return {VALIDATION_ERROR_KEY: str(exc), **kwargs}
