"""The review job: a person approves or rejects a model version from the Dagster UI (launchpad).

Approval mode (`ML_PROMOTION_MODE=approval`) leaves each new version `pending`: the
`registered_model` asset's decision says so. Launch `review_job` with the version, `approve` or
`reject` and a reason; its one op is one ml call (`ml.lifecycle.review`), the same the Airflow
approval task and `make approve` / `make reject` make, so the rule (`ml.champion`) is ml's.
"""

# No `from __future__ import annotations`: Dagster reads the config annotation of the op.

from typing import Any, Literal

import dagster as dg
from pydantic import Field

from ml_dagster.jobs import LAUNCH, time_limit
from ml_dagster.metadata import result
from ml_dagster.runner import STEP_RETRY_POLICY, run_step


class ReviewConfig(dg.Config):
    """What the reviewer decided on which version (the launchpad form)."""

    version: str = Field(description="Registered model version to decide on (the decision of its training run names it).")
    decision: Literal["approve", "reject"] = Field(description="approve: it becomes champion; reject: it never will.")
    reason: str = Field("", description="Why (kept in the champion history).")
    new_task: bool = Field(False, description="Approve a version of another task (labels, columns); the model's task changes.")


@dg.op(retry_policy=STEP_RETRY_POLICY, tags={"kind": "mlflow"})
def review_model(context: dg.OpExecutionContext, config: ReviewConfig) -> dg.Output[dict[str, Any]]:
    """Apply the decision to the registry and the champion history (`python -m ml review`)."""
    # No free-text "who": Dagster has no users; the decision is recorded as this run
    # (dagster:<run id>), and the login that launched it is in dagster-proxy's access log.
    out = run_step(context, "review", **config.model_dump())
    return dg.Output(out, metadata={**result(out), "decision": out["decision"],
                                    "champion_version": str(out.get("champion_version"))})


@dg.job(
    name="review_job",
    description="Approve or reject a model version (approval mode); recorded in the champion history.",
    tags={"ml/pipeline": "review", **time_limit("review"), **LAUNCH.tags},
    executor_def=LAUNCH.executor_def or dg.in_process_executor,
)
def review_job() -> None:
    review_model()
