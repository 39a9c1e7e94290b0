"""The headline facts of a finished run, for people (stderr) and for scripts (the JSON line)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ml_trigger.outcome import Outcome, log


def summarize(outcome: Outcome) -> dict[str, Any]:
    """The run's summary: the spec's headline facts from the steps' results (ml's names on both)."""
    from ml.pipelines.spec import pipeline
    from ml.pipelines.spec import summarize as spec_summary

    summary = spec_summary(pipeline(outcome.pipeline), outcome.results)
    link = summary.pop("mlflow_model_url", None)
    if link:
        outcome.links["mlflow"] = str(link)
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
