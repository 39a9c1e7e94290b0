"""Asset checks. The two data-validation checks and the evaluation threshold are blocking: when
one fails, the assets downstream of the checked asset do not run in that run.

The validation itself is ml's (`load_*_data` reject bad input with a one-line reason, recorded
by the asset as `validation_error`); the checks only turn the step output into a verdict.
"""

# No `from __future__ import annotations` here: Dagster reads the config and resource
# annotations of these functions when they are decorated.

from typing import Any

import dagster as dg

from ml_dagster.config import EvaluationThresholdConfig
from ml_dagster.inference import inference_data
from ml_dagster.io_manager import VALIDATION_ERROR_KEY, find_step_output, load_step_output
from ml_dagster.training import model_evaluation, training_data


def checked_output(context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey) -> dict[str, Any]:
    """The checked asset's step output from this run, else (a check-only run) its latest one."""
    found = find_step_output(context.instance, asset_key, context.run.run_id)
    return found if found is not None else load_step_output(context.instance, asset_key, None)


def _validation_result(out: dict[str, Any], rows: dict[str, int]) -> dg.AssetCheckResult:
    if VALIDATION_ERROR_KEY in out:
        return dg.AssetCheckResult(passed=False, description=out[VALIDATION_ERROR_KEY], metadata={"valid": False})
    empty = sorted(name for name, count in rows.items() if count < 1)
    return dg.AssetCheckResult(
        passed=not empty,
        description=f"no rows in {', '.join(empty)}" if empty else "valid",
        metadata={"valid": not empty, **{f"rows_{name}": count for name, count in rows.items()}},
    )


@dg.asset_check(asset=training_data, blocking=True)
def training_data_is_valid(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """The dataset passed ml's validation and every split has rows."""
    out = checked_output(context, training_data.key)
    return _validation_result(out, out.get("rows", {}))


@dg.asset_check(asset=inference_data, blocking=True)
def inference_data_is_valid(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """The texts passed ml's validation and there is at least one to label."""
    out = checked_output(context, inference_data.key)
    return _validation_result(out, {"input": out.get("rows", 0)})


@dg.asset_check(asset=model_evaluation, blocking=True)
def test_macro_f1_above_minimum(
    context: dg.AssetCheckExecutionContext, config: EvaluationThresholdConfig
) -> dg.AssetCheckResult:
    """Test macro-F1 at least the minimum (config, else the ml settings' ML_MIN_TEST_MACRO_F1)."""
    from ml.config import get_settings

    minimum = config.min_test_macro_f1
    if minimum is None:
        minimum = get_settings().min_test_macro_f1
    score = float(checked_output(context, model_evaluation.key)["metrics"]["test_macro_f1"])
    return dg.AssetCheckResult(
        passed=score >= minimum,
        description=f"test_macro_f1 {score:.4f} {'>=' if score >= minimum else '<'} minimum {minimum:.4f}",
        metadata={"test_macro_f1": score, "minimum": minimum},
    )


CHECKS = [training_data_is_valid, inference_data_is_valid, test_macro_f1_above_minimum]
