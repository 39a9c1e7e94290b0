"""The review job: a person approves or rejects a model version from the Dagster UI (launchpad).

Approval mode (`ML_PROMOTION_MODE=approval`) leaves each new version `pending`: the training
job's promotion asset's decision says so. Launch the review job with the version, `approve` or
`reject` and a reason; its one op is the review pipeline's one ml step (`ml.lifecycle.commands.review`),
the same the Airflow approval task and `make approve` / `make reject` make, so the rule
(`ml.lifecycle.champion`) is ml's. The job's and op's names and the form's fields are the spec's.
"""

# No `from __future__ import annotations`: Dagster reads the config annotation of the op.

from typing import Any

import dagster as dg

from ml.pipelines.spec import Pipeline
from ml_dagster.config import config_class, step_options
from ml_dagster.jobs import LAUNCH, time_limit
from ml_dagster.metadata import step_metadata
from ml_dagster.runner import STEP_RETRY_POLICY, run_step


def review_job(spec: Pipeline) -> dg.JobDefinition:
    """A job of one op per step of the review pipeline (it has one: review)."""
    [step] = spec.steps

    def apply(context, config):
        out = run_step(context, step, **spec.model_option(step), **step_options(config, step))
        return dg.Output(out, metadata=step_metadata(out))

    apply.__annotations__ = {"context": dg.OpExecutionContext, "config": config_class(step),
                             "return": dg.Output[dict[str, Any]]}
    # Op names are unique in a code location: a model's op carries its prefix, as its assets do.
    name = "__".join([*spec.dagster_prefix, str(step.dagster_op)])
    op = dg.op(name=name, description=step.doc, retry_policy=STEP_RETRY_POLICY)(apply)

    @dg.job(
        name=spec.dagster_job,
        description=f"{spec.title} of {spec.model or 'the default model'}; recorded in its champion history.",
        tags={"ml/pipeline": spec.name, **time_limit(spec.name), **LAUNCH.tags},
        executor_def=LAUNCH.executor_def or dg.in_process_executor,
    )
    def job() -> None:
        op()

    return job
