"""The headline facts of a finished run, for people (stderr) and for scripts (the JSON line)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ml_trigger.outcome import Outcome, log


def find_value(results: Mapping[str, Any], *keys: str) -> Any:
    """The first value under any of `keys` in the steps' results (the last step wins ties)."""
    for result in reversed(list(results.values())):
        if isinstance(result, Mapping):
            for key in keys:
                if result.get(key) not in (None, ""):
                    return result[key]
    return None


def summarize(outcome: Outcome) -> dict[str, Any]:
    """The summary of a run; the steps' own `mlflow_model_url` becomes the MLflow link."""
    results = outcome.results
    summary: dict[str, Any] = {}
    if outcome.pipeline == "train":
        summary["model_name"] = find_value(results, "model_name")
        summary["model_version"] = find_value(results, "version", "model_version")
        summary["alias"] = find_value(results, "alias")
        summary["promoted"] = find_value(results, "promoted")
        summary["champion_version"] = find_value(results, "champion_version")
        summary["decision"] = find_value(results, "decision")
    else:
        summary["predictions_uri"] = find_value(results, "output_uri")
        summary["model_name"] = find_value(results, "model_name")
        summary["model_version"] = find_value(results, "model_version", "version")
        summary["rows"] = find_value(results, "rows")
        summary["input_uri"] = find_value(results, "input_uri")
        summary["partition_date"] = find_value(results, "partition_date")
    mlflow = find_value(results, "mlflow_model_url")
    if mlflow:
        outcome.links["mlflow"] = str(mlflow)
    return summary


def print_summary(outcome: Outcome, summary: Mapping[str, Any]) -> None:
    """Human-readable end of the run (stderr); the JSON goes to stdout separately."""
    mark = "SUCCEEDED" if outcome.succeeded else "FAILED"
    log(f"\n{outcome.orchestrator} {outcome.pipeline} run {outcome.run_id}: {mark} ({outcome.state}) "
        f"in {outcome.wall_s:.1f}s")
    for step, info in outcome.steps.items():
        seconds = info.get("duration_s")
        log(f"  {step:<44} {info.get('state')!s:<16} {'' if seconds is None else f'{seconds:.1f}s'}")
    if outcome.error:
        log(f"  reason: {outcome.error}")
    for key, value in summary.items():
        if value is not None:
            log(f"  {key}: {value}")
    for name, link in outcome.links.items():
        log(f"  {name} UI: {link}")
