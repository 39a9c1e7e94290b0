"""The headline facts of a finished run, for people (stderr) and for scripts (the JSON line).

The facts and their layout are `ml.summary`'s, so `make train` ends like the embedded and the
local orchestrator runs (`make demo`, `make local-airflow`, `make local-dagster`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ml import summary as ml_summary
from ml_trigger.outcome import Outcome, log

find_value = ml_summary.find_value


def summarize(outcome: Outcome) -> dict[str, Any]:
    """The summary of a run; the steps' own `mlflow_model_url` becomes the MLflow link."""
    summary = ml_summary.summarize(outcome.pipeline, outcome.results)
    mlflow = find_value(outcome.results, "mlflow_model_url")
    if mlflow:
        outcome.links["mlflow"] = str(mlflow)
    return summary


def print_summary(outcome: Outcome, summary: Mapping[str, Any]) -> None:
    """Human-readable end of the run (stderr); the JSON goes to stdout separately."""
    title = ml_summary.title(outcome.orchestrator, outcome.pipeline, outcome.run_id, outcome.succeeded,
                             outcome.state, outcome.wall_s)
    for line in ml_summary.lines("\n" + title, outcome.steps, summary, error=outcome.error, links=outcome.links):
        log(line)
