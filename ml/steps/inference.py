"""The inference steps: load-inference-data + load-model -> predict -> save-predictions.

(check-drift, between predict and save-predictions, is `ml.monitoring.monitor.check_drift`.)
Every step takes keyword arguments (URIs, ids, small scalars), returns a small JSON-able dict,
writes only under its run's workspace (derived from `run_id`) and publishes the final output
atomically. The wiring is the pipeline spec's (`ml/pipelines/spec.py`); contract: docs/steps.md.
"""


from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ml.core import storage, workspace
from ml.core.config import settings_for
from ml.core.errors import BadInputError
from ml.data import partitions
from ml.lifecycle import links

log = logging.getLogger(__name__)


def load_inference_data(*, run_id: str, input_uri: str | None = None, partition_date: str | None = None,
                        as_of: str | None = None, model_name: str | None = None, text_column: str | None = None,
                        id_column: str | None = None, orchestrator: str | None = None) -> dict[str, Any]:
    """Validate texts to label and stage them (id, text) in the run workspace, streaming.

    Without `input_uri` the run labels one day's partition (ml.data.partitions): `partition_date`, else
    the UTC day before `as_of` (when the run was triggered or scheduled; default now). The input's id
    column name is returned (`id_column`): the predictions keep the ids under that name.
    """
    from ml.core import redact
    from ml.data import staging

    s = settings_for(orchestrator, model_name=model_name, text_column=text_column, id_column=id_column)
    day = None
    if not input_uri:
        day = partitions.partition_date(as_of, partition_date)
        input_uri = partitions.input_uri_for(s.inference_input_template, day)
    with workspace.scratch() as tmp:
        staged = Path(tmp) / "input.parquet"
        stats = staging.stage(input_uri, staged, s)
        data_uri = workspace.run_uri(s, run_id, "inference", "input.parquet")
        storage.publish(staged, data_uri)
    log.info("staged %d rows from %s (%d dropped)", stats.rows, redact.uri(input_uri), stats.dropped)
    return {"data_uri": data_uri, "input_uri": redact.uri(input_uri), "partition_date": day.isoformat() if day else None,
            "rows": stats.rows, "dropped_rows": stats.dropped, "fingerprint": stats.fingerprint,
            "model_name": s.model_name, "id_column": s.id_column}


def inference_inputs(*, input_uri: str | None = None, partition_date: str | None = None, as_of: str | None = None,
                     model_name: str | None = None, orchestrator: str | None = None, **_: object) -> dict[str, Any]:
    """What load-inference-data will read (the cache key addresses it): the input given, else the day's file."""
    if input_uri:
        return {"input_uri": input_uri, "partition_date": None}
    day = partitions.partition_date(as_of, partition_date)
    template = settings_for(orchestrator, model_name=model_name).inference_input_template
    return {"input_uri": partitions.input_uri_for(template, day),
            "partition_date": day.isoformat()}


def load_model(*, run_id: str, version: str | None = None, alias: str = "champion", model_name: str | None = None,
               orchestrator: str | None = None) -> dict[str, Any]:
    """Resolve an alias (or check an explicit version) to ONE concrete version for the whole run."""
    from ml.lifecycle import registry, tracking

    s = settings_for(orchestrator, model_name=model_name)
    registry.require_registry(s)  # before configure, which would create an empty SQLite registry
    tracking.configure(s)
    found = registry.resolve(s, version=str(version) if version else None, alias=alias)
    log.info("run %s uses %s version %s", run_id, s.model_name, found.version)
    return {"model_name": s.model_name, "version": str(found.version), "model_uri": f"models:/{s.model_name}/{found.version}",
            "alias": None if version else alias, "mlflow_run_id": found.run_id,
            "mlflow_model_url": links.model_version_url(s, s.model_name, found.version)}


#: Columns predict writes besides the id and one `prob_<label>` per class (an id column may not take their names).
PREDICTION_COLUMNS = ("predicted_label", "score", "model_name", "model_version", "pipeline_run_id")


def predict(*, run_id: str, data_uri: str, version: str, model_name: str | None = None, id_column: str | None = None,
            orchestrator: str | None = None) -> dict[str, Any]:
    """Score the staged input with that exact version; stage predictions in the run workspace.

    The ids keep the input's column name (`id_column`, what load-inference-data found; default ML_ID_COLUMN).
    """
    from ml.inference.predict import predict_parquet
    from ml.lifecycle import registry, tracking
    from ml.model import modeling
    from ml.model.precision import resolve_precision

    s = settings_for(orchestrator, model_name=model_name)
    tracking.configure(s)
    device = modeling.resolve_device(s.device)
    precision = resolve_precision(s.precision, device)
    if s.num_threads:
        import torch

        torch.set_num_threads(s.num_threads)
    with workspace.scratch() as tmp:
        folder = registry.download(s.model_name, str(version), Path(tmp) / "registry", s)
        model, tokenizer = modeling.load(folder, device, precision)
        log.info("predicting with %s version %s on %s in %s (ML_PRECISION=%s)", s.model_name, version, device.type,
                 precision, s.precision)
        ids = id_column or s.id_column
        if ids in PREDICTION_COLUMNS or ids.startswith("prob_"):
            raise BadInputError(f"the id column {ids!r} has the name of a prediction column; rename it in the input "
                                f"or name another with --id-column (ML_ID_COLUMN)")
        source = storage.fetch(data_uri, Path(tmp) / "input.parquet")
        staged = Path(tmp) / "predictions.parquet"
        rows = predict_parquet(
            model, tokenizer, source, staged, text_column="text", id_column="id",
            extra_columns={"model_name": s.model_name, "model_version": str(version), "pipeline_run_id": run_id},
            max_length=tokenizer.model_max_length, max_tokens=s.predict_batch_tokens,
            max_batch_size=s.predict_max_batch_size, chunk_rows=s.chunk_rows, output_id_column=ids,
        )
        predictions_uri = workspace.run_uri(s, run_id, "inference", "predictions.parquet")
        storage.publish(staged, predictions_uri)
    return {"predictions_uri": predictions_uri, "rows": rows, "model_name": s.model_name, "model_version": str(version),
            "device": device.type, "precision": precision}


def save_predictions(*, run_id: str, predictions_uri: str, output_uri: str | None = None,
                     partition_date: str | None = None, model_name: str | None = None,
                     orchestrator: str | None = None) -> dict[str, Any]:
    """Publish the staged predictions where readers look, atomically (all rows or nothing).

    Where: `output_uri` when given; else, for a run that labelled a day's partition (the
    `partition_date` load-inference-data returned), that day's stable location
    (ml.data.partitions.daily_results_uri: a later run of the day replaces the file in one PUT or
    rename); else a location of this run (an explicit input).
    """
    import pyarrow.parquet as pq

    s = settings_for(orchestrator, model_name=model_name)
    day = partitions.parse_date(partition_date) if partition_date else None
    if output_uri:
        target = workspace.confined_output(s, output_uri)  # exit 2 outside ML_RESULTS_URI
    elif day is not None:
        target = partitions.daily_results_uri(s.results_uri, day)
    else:
        target = workspace.results_uri(s, run_id)
    with workspace.scratch() as tmp:
        local = storage.fetch(predictions_uri, Path(tmp) / "predictions.parquet")
        meta = pq.ParquetFile(local)
        required = {"predicted_label", "score", "model_name", "model_version", "pipeline_run_id"}
        missing = required - set(meta.schema_arrow.names)
        if missing:
            raise BadInputError(f"{predictions_uri} is not a predict output (missing {sorted(missing)}); run predict first")
        first = meta.read_row_group(0, columns=["model_name", "model_version"]) if meta.num_row_groups else None
        made_by = first["model_name"][0].as_py() if first is not None and first.num_rows else s.model_name
        if made_by != s.model_name:  # another model's predictions never land in this model's location
            raise BadInputError(f"{predictions_uri} holds predictions of model {made_by!r}, not {s.model_name!r}; "
                                f"publish them with --model-name {made_by}")
        storage.publish(local, target)
    model_version = first["model_version"][0].as_py() if first is not None and first.num_rows else None
    log.info("published %d predictions to %s", meta.metadata.num_rows, target)
    return {"output_uri": target, "rows": meta.metadata.num_rows, "model_name": made_by, "model_version": model_version,
            "partition_date": day.isoformat() if day else None}
