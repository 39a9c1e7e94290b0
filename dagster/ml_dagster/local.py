"""`python -m ml_dagster.local training|inference [param=value ...]`: one run of a pipeline's job in
this process, on the Dagster instance of `DAGSTER_HOME` (`make local-dagster`).

Why not `dagster asset materialize`: the job, its assets and their run config are ml's spec's, so
this module asks the spec for them instead of naming them; and the run ends with the same summary
`make train|infer` and `python -m ml run-training` print. The run is in the instance's history:
`dagster dev -m ml_dagster.definitions` with the same DAGSTER_HOME shows it.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import dagster as dg

from ml_dagster.metadata import RESULT_KEY


def _results(spec: Any, result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    """Every step's result (its `ml_result` entry), by ml's step name: the assets', then the checks'."""
    found: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        step = spec.find(event.asset_key.to_user_string())
        found[step.name] = event.event_specific_data.materialization.metadata[RESULT_KEY].value
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.asset_check_evaluation_data
            step = spec.find(evaluation.check_name)
            if step is not None and RESULT_KEY in evaluation.metadata:
                found[step.name] = evaluation.metadata[RESULT_KEY].value
    return found


def run(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run pipeline `name`'s job in this process; the outcome in the shape `make train` prints."""
    from ml.pipelines.spec import pipeline, summarize
    from ml_dagster.config import run_config
    from ml_dagster.definitions import defs

    spec = pipeline(name)
    started = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_job_def(spec.dagster_job).execute_in_process(
            run_config=run_config(spec.name, params), instance=instance, raise_on_error=False)
    results = _results(spec, result)
    failures = [f"{e.asset_check_evaluation_data.asset_key.to_user_string()} (check "
                f"{e.asset_check_evaluation_data.check_name}): {e.asset_check_evaluation_data.description}"
                for e in result.all_events if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
                and not e.asset_check_evaluation_data.passed]
    failures += [e.message for e in result.all_events if e.is_failure]
    return {"orchestrator": "dagster", "pipeline": spec.command, "run_id": result.run_id,
            "state": "SUCCESS" if result.success else "FAILURE", "succeeded": result.success,
            "wall_s": round(time.monotonic() - started, 2), "results": results,
            "error": None if result.success else (failures[0] if failures else "the run failed"),
            "summary": summarize(spec, results)}


def _value(text: str) -> Any:
    """A parameter value: a JSON scalar (2, 0.001, true) keeps its type, anything else is text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (int, float, bool, str)) else text


def main(argv: list[str] | None = None) -> int:
    from ml.pipelines.outcome import describe

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or any("=" not in a for a in args[1:]):
        print("error: usage: python -m ml_dagster.local training|inference [param=value ...]", file=sys.stderr)
        return 2
    params = {key: _value(value) for key, _, value in (a.partition("=") for a in args[1:])}
    try:
        outcome = run(args[0], params)
    except ValueError as exc:  # an unknown pipeline or parameter
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except dg.DagsterInvalidConfigError as exc:  # a value out of the parameter's bounds
        print(f"error: invalid run parameter: {exc.errors[0].message if exc.errors else exc}", file=sys.stderr)
        return 2
    print(describe(outcome), file=sys.stderr)
    return 0 if outcome["succeeded"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
