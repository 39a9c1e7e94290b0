"""The headline facts of a finished run, for people (stderr) and for scripts (the JSON line).

The facts are the pipeline spec's (`summary`), their layout `ml.pipelines.outcome`'s, so `make
train` ends like the embedded and the local orchestrator runs (`make demo`, `make local-airflow`,
`make local-dagster`).
"""

from __future__ import annotations

from typing import Any

from ml_trigger.outcome import Outcome


def summarize(outcome: Outcome) -> dict[str, Any]:
    """The run's summary: the spec's headline facts from the steps' results (ml's names on both)."""
    from ml.pipelines.spec import pipeline
    from ml.pipelines.spec import summarize as spec_summary

    summary = spec_summary(pipeline(outcome.pipeline), outcome.results)
    link = summary.pop("mlflow_model_url", None)
    if link:
        outcome.links["mlflow"] = str(link)
    return summary
