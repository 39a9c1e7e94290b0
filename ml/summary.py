"""The end of a pipeline run for people: the same facts whoever ran it.

Why in `ml`: `make train`/`make infer` (their trigger client imports this module), the embedded
`python -m ml run-training`/`run-inference` (`make demo`) and the local orchestrator runs
(`make local-airflow`, `make local-dagster`) all end with this summary, so a user who moves
from one to the other reads the same lines. Pure Python: the trigger's image has no torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: summary key -> the step result keys it is read from (first found wins), per pipeline.
KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "train": {
        "model_name": ("model_name",),
        "model_version": ("version", "model_version"),
        "alias": ("alias",),
        "promoted": ("promoted",),
        "champion_version": ("champion_version",),
        "decision": ("decision",),
    },
    "infer": {
        "predictions_uri": ("output_uri",),
        "model_name": ("model_name",),
        "model_version": ("model_version", "version"),
        "rows": ("rows",),
        "input_uri": ("input_uri",),
        "partition_date": ("partition_date",),
    },
}


def find_value(results: Mapping[str, Any], *keys: str) -> Any:
    """The first value under any of `keys` in the steps' results (the last step wins ties)."""
    for result in reversed(list(results.values())):
        if isinstance(result, Mapping):
            for key in keys:
                if result.get(key) not in (None, ""):
                    return result[key]
    return None


def summarize(pipeline: str, results: Mapping[str, Any]) -> dict[str, Any]:
    """The summary of a run (`pipeline`: train or infer) from its steps' results, by step name."""
    return {name: find_value(results, *keys) for name, keys in KEYS[pipeline].items()}


def lines(title: str, steps: Mapping[str, Mapping[str, Any]], summary: Mapping[str, Any], *,
          error: str | None = None, links: Mapping[str, str] | None = None) -> Iterable[str]:
    """The summary as lines: the run's title, one line per step (state, seconds), the facts, the links."""
    yield title
    for step, info in steps.items():
        seconds = info.get("duration_s")
        yield f"  {step:<44} {info.get('state')!s:<16} {'' if seconds is None else f'{seconds:.1f}s'}"
    if error:
        yield f"  reason: {error}"
    for key, value in summary.items():
        if value is not None:
            yield f"  {key}: {value}"
    for name, link in (links or {}).items():
        yield f"  {name} UI: {link}"


def title(runner: str, pipeline: str, run_id: str, succeeded: bool, state: str, wall_s: float | None) -> str:
    """`airflow train run <id>: SUCCEEDED (success) in 41.0s`."""
    mark = "SUCCEEDED" if succeeded else "FAILED"
    took = "" if wall_s is None else f" in {wall_s:.1f}s"
    return f"{runner} {pipeline} run {run_id}: {mark} ({state}){took}"
