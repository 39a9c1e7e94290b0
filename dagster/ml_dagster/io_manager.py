"""IO manager for the small JSON dict each asset returns (URIs, ids, counts, metrics).

Why not the default filesystem IO manager: under `DockerRunLauncher` every run is a fresh
container, so pickles on its disk vanish with it, and re-executing a run from a failed step
(a new container) could not read the earlier steps' outputs; two local runs at once would also
overwrite each other's pickles, which are keyed by asset only. Instead the dict is stored in the
asset's materialization event, as the `step_output` JSON metadata entry (also shown in the UI),
in the instance's event log (Postgres in compose, memory or SQLite locally). A downstream step
reads it back from the run that produced it: this run, the parent run for a re-execution, or the
latest materialization when the upstream asset is not part of the run.
"""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.execution.context.output import RUN_ID_PLACEHOLDER

STEP_OUTPUT_KEY = "step_output"
VALIDATION_ERROR_KEY = "validation_error"
MAX_BYTES = 256 * 1024  # a step output is a handful of URIs and numbers, never data


def _metadata_of(entry: Any) -> dict[str, Any] | None:
    materialization = entry.asset_materialization if entry is not None else None
    if materialization is None or STEP_OUTPUT_KEY not in materialization.metadata:
        return None
    return dict(materialization.metadata[STEP_OUTPUT_KEY].value)


def find_step_output(instance: dg.DagsterInstance, asset_key: dg.AssetKey, run_id: str | None) -> dict[str, Any] | None:
    """The step output stored for `asset_key` by run `run_id` (None: its latest materialization)."""
    if run_id is None:
        return _metadata_of(instance.get_latest_materialization_event(asset_key))
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    for record in reversed(records):
        entry = record.event_log_entry
        if entry.dagster_event is not None and entry.dagster_event.asset_key == asset_key:
            found = _metadata_of(entry)
            if found is not None:
                return found
    return None


def load_step_output(instance: dg.DagsterInstance, asset_key: dg.AssetKey, run_id: str | None) -> dict[str, Any]:
    """Like `find_step_output`, but a missing output is a one-line, non-retried failure."""
    found = find_step_output(instance, asset_key, run_id)
    if found is None:
        where = f"run {run_id}" if run_id else "any run"
        raise dg.Failure(
            description=f"no {STEP_OUTPUT_KEY} for asset {asset_key.to_user_string()} in {where}; "
            "materialize that asset first",
            allow_retries=False,
        )
    return found


def _source_run_id(context: dg.InputContext) -> str | None:
    """The run whose output feeds this input; None when the upstream asset is not in the run."""
    upstream = context.upstream_output
    if upstream is None:
        return None
    try:
        run_id = upstream.run_id
    except DagsterInvariantViolationError:
        return None
    # an upstream asset outside the run gets a stand-in output context with a placeholder id
    return None if run_id == RUN_ID_PLACEHOLDER else run_id


class StepOutputIOManager(dg.ConfigurableIOManager):
    """Stores each asset's step dict as materialization metadata; loads it back by run."""

    def handle_output(self, context: dg.OutputContext, obj: dict[str, Any]) -> None:
        if not isinstance(obj, dict):
            raise TypeError(f"asset {context.asset_key.to_user_string()} returned {type(obj).__name__}; "
                            "assets here return the ml step's small JSON dict")
        size = len(json.dumps(obj))
        if size > MAX_BYTES:
            raise ValueError(f"asset {context.asset_key.to_user_string()} returned {size} bytes of JSON; "
                             f"pass URIs, not data (limit {MAX_BYTES})")
        context.add_output_metadata({STEP_OUTPUT_KEY: dg.MetadataValue.json(obj)})

    def load_input(self, context: dg.InputContext) -> dict[str, Any]:
        value = load_step_output(context.instance, context.asset_key, _source_run_id(context))
        if VALIDATION_ERROR_KEY in value:
            raise dg.Failure(
                description=f"asset {context.asset_key.to_user_string()} failed validation: "
                f"{value[VALIDATION_ERROR_KEY]}",
                allow_retries=False,
            )
        return value
