"""Asset checks that show ml's verdicts in the Dagster UI. All four are blocking: when one fails
with severity ERROR, the assets downstream of the checked asset do not run in that run.

They hold no rule of their own: the data rules (`load_*_data` reject bad input, including an empty
split, with a one-line reason, recorded by the asset as `validation_error`), the quality gate
(`evaluate` returns `gate`, the verdict `register` enforces) and the drift verdict (`check_drift`,
thresholds and `ML_DRIFT_BLOCKING` in `ml/monitoring.py`) are ml's.
"""

# No `from __future__ import annotations` here: Dagster reads the config and resource
# annotations of these functions when they are decorated.

from typing import Any

import dagster as dg

from ml_dagster.inference import DAILY, MANUAL, InferenceGraph
from ml_dagster.io_manager import VALIDATION_ERROR_KEY, find_step_output, load_step_output
from ml_dagster.metadata import link, result
from ml_dagster.runner import run_step
from ml_dagster.training import model_evaluation, training_data


def checked_output(context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey) -> dict[str, Any]:
    """The checked asset's step output from this run, else (a check-only run) its latest one."""
    found = find_step_output(context.instance, asset_key, context.run.run_id)
    return found if found is not None else load_step_output(context.instance, asset_key, None)


def _validation_result(out: dict[str, Any]) -> dg.AssetCheckResult:
    """ml's data verdict: the load step's one-line rejection, or valid."""
    if VALIDATION_ERROR_KEY in out:
        return dg.AssetCheckResult(passed=False, description=out[VALIDATION_ERROR_KEY], metadata={"valid": False})
    rows = out.get("rows", {})
    counts = rows if isinstance(rows, dict) else {"input": rows}
    return dg.AssetCheckResult(
        passed=True, description="valid", metadata={"valid": True, **{f"rows_{k}": v for k, v in counts.items()}}
    )


@dg.asset_check(asset=training_data, blocking=True)
def training_data_is_valid(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """The dataset passed ml's validation (readable, labelled, every split has rows)."""
    return _validation_result(checked_output(context, training_data.key))


@dg.asset_check(asset=model_evaluation, blocking=True)
def quality_gate(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """ml's quality gate (ML_MIN_TEST_MACRO_F1) on the test metrics: the verdict `register` enforces."""
    gate = checked_output(context, model_evaluation.key).get("gate")
    if gate is None:  # a materialization from before the gate was part of evaluate's result
        return dg.AssetCheckResult(passed=False, description="no quality gate verdict; re-run model_evaluation")
    return dg.AssetCheckResult(
        passed=bool(gate["passed"]),
        description=gate["reason"],
        metadata={gate["metric"]: gate["value"] if gate["value"] is not None else float("nan"), "minimum": gate["minimum"]},
    )


def _drift_result(verdict: dict[str, Any]) -> dg.AssetCheckResult:
    """ml's drift verdict: passed when `ok`; a failure is WARN, or ERROR (blocking) for drift under ML_DRIFT_BLOCKING."""
    blocks = verdict["status"] == "drift" and bool(verdict["blocking"])
    figures = verdict["statistics"]
    return dg.AssetCheckResult(
        passed=verdict["status"] == "ok",
        severity=dg.AssetCheckSeverity.ERROR if blocks else dg.AssetCheckSeverity.WARN,
        description=verdict["summary"],
        metadata={
            **result(verdict),
            "status": verdict["status"],
            "blocking": bool(verdict["blocking"]),
            "rows": verdict["rows"],
            **{f"psi_{name}": float(figure["psi"]) for name, figure in figures.items()},
            **({"unknown_word_share": float(figures["unknown_words"]["share"])} if "unknown_words" in figures else {}),
            **link("mlflow_monitoring_run", verdict.get("mlflow_run_url")),
        },
    )


def inference_checks(graph: InferenceGraph) -> list[dg.AssetChecksDefinition]:
    """The checks of one inference graph (the manual one, the daily one): ml's data and drift verdicts."""

    @dg.asset_check(asset=graph.inference_data, blocking=True, name="inference_data_is_valid")
    def inference_data_is_valid(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        """The texts passed ml's validation (readable, at least one text to label)."""
        return _validation_result(checked_output(context, graph.inference_data.key))

    @dg.asset_check(asset=graph.predictions, blocking=True, name="input_drift")
    def input_drift(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        """ml's drift check: this run's texts and predictions against the model version's training profile.

        Blocking so that publishing waits for it, as Airflow's check_drift task does; only drift with
        ML_DRIFT_BLOCKING=true fails it with severity ERROR and stops publication (ok passes; warn and
        non-blocking drift fail with severity WARN). The monitoring run in MLflow holds the figures.
        """
        from ml.core.errors import DriftDetected

        staged = checked_output(context, graph.inference_data.key)
        predicted = checked_output(context, graph.predictions.key)
        try:
            verdict = run_step(context.op_execution_context, "check_drift", data_uri=staged["data_uri"],
                               predictions_uri=predicted["predictions_uri"], model_name=predicted["model_name"],
                               version=predicted["model_version"])
        except DriftDetected as exc:  # blocking drift: logged by ml, reported here as the failed check
            verdict = exc.verdict
        return _drift_result(verdict)

    return [inference_data_is_valid, input_drift]


inference_data_is_valid, input_drift = inference_checks(MANUAL)
CHECKS = [training_data_is_valid, inference_data_is_valid, quality_gate, input_drift]
#: The same checks on the daily (partitioned) inference graph.
DAILY_CHECKS = inference_checks(DAILY)
