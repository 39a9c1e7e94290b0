"""Asset checks that show ml's verdicts in the Dagster UI, built from the pipeline spec. All blocking:
when one fails with severity ERROR, the assets downstream of the checked asset do not run.

They hold no rule of their own. The spec says which check shows which verdict of which step:
- `validation`: the load steps reject bad input (an empty split included) with a one-line reason,
  which their asset records as `validation_error` instead of failing;
- `gate`: `evaluate` returns the quality gate's verdict (`gate`), the one `register` enforces;
- a step that runs *as* a check (`check-drift`): its verdict (`status`, `summary`) is the check's
  result; the step raising `DriftDetected` (ML_DRIFT_BLOCKING) is the one ERROR that blocks.
"""

# No `from __future__ import annotations` here: Dagster reads the annotations of the check functions.

from typing import Any

import dagster as dg

from ml.pipelines.spec import Step
from ml_dagster.assets import Graph
from ml_dagster.io_manager import VALIDATION_ERROR_KEY, find_step_output, load_step_output
from ml_dagster.metadata import step_metadata
from ml_dagster.runner import run_step


def checked_output(context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey) -> dict[str, Any]:
    """The step output of `asset_key` from this run, else (a check-only run) its latest one."""
    found = find_step_output(context.instance, asset_key, context.run.run_id)
    return found if found is not None else load_step_output(context.instance, asset_key, None)


def validation_result(out: dict[str, Any]) -> dg.AssetCheckResult:
    """ml's data verdict: the load step's one-line rejection, or valid."""
    if VALIDATION_ERROR_KEY in out:
        return dg.AssetCheckResult(passed=False, description=out[VALIDATION_ERROR_KEY], metadata={"valid": False})
    rows = out.get("rows", {})
    counts = rows if isinstance(rows, dict) else {"input": rows}
    return dg.AssetCheckResult(
        passed=True, description="valid", metadata={"valid": True, **{f"rows_{k}": v for k, v in counts.items()}}
    )


def gate_result(out: dict[str, Any]) -> dg.AssetCheckResult:
    """ml's quality gate verdict in the step output (`gate`): passed or not, the figure and the minimum."""
    gate = out.get("gate")
    if gate is None:  # a materialization from before the gate was part of evaluate's result
        return dg.AssetCheckResult(passed=False, description="no quality gate verdict; materialize the asset again")
    return dg.AssetCheckResult(
        passed=bool(gate["passed"]),
        description=gate["reason"],
        metadata={gate["metric"]: gate["value"] if gate["value"] is not None else float("nan"), "minimum": gate["minimum"]},
    )


def verdict_result(verdict: dict[str, Any], blocked: bool) -> dg.AssetCheckResult:
    """A step's verdict as a check: passed when `ok`; a failure is WARN, or ERROR when the step blocked."""
    return dg.AssetCheckResult(
        passed=verdict["status"] == "ok",
        severity=dg.AssetCheckSeverity.ERROR if blocked else dg.AssetCheckSeverity.WARN,
        description=verdict["summary"],
        metadata=step_metadata(verdict),
    )


_VERDICTS = {"validation": validation_result, "gate": gate_result}


def verdict_check(graph: Graph, step: Step, name: str) -> dg.AssetChecksDefinition:
    """The check `name` that shows a verdict of `step`'s output (the spec's `dagster_checks`)."""
    key, show = graph.key(step), _VERDICTS[step.dagster_checks[name]]

    @dg.asset_check(asset=key, blocking=True, name=name, description=f"ml's {step.dagster_checks[name]} verdict "
                    f"of {step.name}.")
    def check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return show(checked_output(context, key))

    return check


def step_check(graph: Graph, step: Step) -> dg.AssetChecksDefinition:
    """The check that runs `step` itself (check-drift), on the asset of the step it checks.

    Blocking, so that publishing waits for it as Airflow's task order does; only the step's own
    blocking verdict (DriftDetected, ML_DRIFT_BLOCKING=true) fails it with ERROR.
    """
    spec = graph.spec

    @dg.asset_check(asset=graph.key(step.checks), blocking=True, name=step.dagster_check, description=step.doc)
    def check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        from ml.core.errors import DriftDetected

        kwargs = {}
        for keyword, ref in step.inputs.items():
            value = checked_output(context, graph.key(spec.step(ref.step))).get(ref.output)
            if value is not None or not ref.optional:
                kwargs[keyword] = value
        try:
            return verdict_result(run_step(context.op_execution_context, step, **kwargs), blocked=False)
        except DriftDetected as exc:  # a blocking verdict: logged by ml, reported here as the failed check
            return verdict_result(exc.verdict, blocked=True)

    return check


def graph_checks(graph: Graph) -> list[dg.AssetChecksDefinition]:
    """Every check of `graph`: the verdicts the spec shows, then the steps that run as checks."""
    checks = [verdict_check(graph, step, name) for step in graph.spec.steps for name in step.dagster_checks]
    return checks + [step_check(graph, step) for step in graph.spec.steps if step.dagster_check]
