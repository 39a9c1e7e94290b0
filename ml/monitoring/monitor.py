"""Drift monitoring in MLflow: the reference profile of each version, and the `check-drift` step.

- `register` calls `log_reference_profile`: the profile of the training split (`ml.monitoring.drift`) is
  logged as the artifact `drift/reference_profile.json` of the training run, and the version
  gets the tag `drift_reference` naming it. Why the training run: it already holds the data's
  lineage (params `data_uri`, `dataset_uri`, tag `data_fingerprint`) and the version's model,
  so the profile lives and is deleted with them.
- `check_drift` (after `predict`, before publishing) compares one inference run's staged inputs
  and predictions with the profile of the version that labelled them, logs one monitoring run
  per inference run in the experiment `monitoring/<model name>` (figures, the plot, the verdict
  JSON; tags naming the model version), and returns the verdict. With `ML_DRIFT_BLOCKING` a
  `drift` verdict raises `DriftDetected` (exit 2) after everything is logged.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml.core import storage
from ml.core.config import Settings, settings_for
from ml.core.errors import BadInputError, DriftDetected, TransientError
from ml.lifecycle import links, tracking
from ml.monitoring import drift

if TYPE_CHECKING:
    from ml.monitoring.drift import PartitionCounter

log = logging.getLogger(__name__)

REFERENCE_ARTIFACT = "drift/reference_profile.json"
REFERENCE_TAG = "drift_reference"


def experiment_name(settings: Settings) -> str:
    return f"monitoring/{settings.model_name}"


# --- at register time ---------------------------------------------------------------------------


def log_reference_profile(settings: Settings, mlflow_run_id: str, data_uri: str | None) -> dict[str, str]:
    """Profile the split at `data_uri` (the training run's param), log it to the run; the version's tags.

    Idempotent: a retried register logs the same profile to the same artifact path again.
    """
    import pyarrow.parquet as pq
    from mlflow.tracking import MlflowClient

    if not data_uri:
        raise BadInputError(f"MLflow run {mlflow_run_id} has no param data_uri; it was not trained by `ml train`")
    with tempfile.TemporaryDirectory(prefix="ml-drift-") as tmp:
        tables = {}
        for split in ("train", "validation"):
            local = storage.fetch(storage.join(data_uri, f"{split}.parquet"), Path(tmp) / f"{split}.parquet")
            tables[split] = pq.read_table(local, columns=["text", "label"])
    profile = drift.build_profile(tables["train"]["text"].to_pylist(), tables["train"]["label"].to_pylist(),
                                  tables["validation"]["text"].to_pylist())
    client = MlflowClient()
    tracking.call("log drift reference", lambda: client.log_dict(mlflow_run_id, profile, REFERENCE_ARTIFACT), settings)
    log.info("drift reference of %d training rows logged to run %s as %s", profile["rows"], mlflow_run_id,
             REFERENCE_ARTIFACT)
    return {REFERENCE_TAG: REFERENCE_ARTIFACT}


def reference_profile(settings: Settings, version: str) -> tuple[dict[str, Any], str] | None:
    """The version's reference profile and its `runs:/` URI; None for a version registered without one.

    Why None and not an error: versions registered before drift checks existed have no profile,
    and their inference must keep publishing; the check then says `unchecked` and why.
    """
    import mlflow

    from ml.lifecycle import registry

    found = registry.resolve(settings, version=str(version))
    path = (found.tags or {}).get(REFERENCE_TAG)
    if not path:
        return None
    uri = f"runs:/{found.run_id}/{path}"
    try:
        profile = tracking.call("load drift reference", lambda: mlflow.artifacts.load_dict(uri), settings)
    except BadInputError as exc:
        # MLflow reports any failed artifact download as "does not exist" (it hides the cause); this
        # file was recorded at registration, so the artifact store was unavailable: a retry can help.
        raise TransientError(f"the reference profile of version {version} ({uri}) could not be read ({exc}); "
                             "MLflow's artifact store was probably unavailable") from exc
    return dict(drift.check_profile(profile, uri)), uri


# --- after predict ------------------------------------------------------------------------------


def _count_texts(local: Path, profile: dict[str, Any], chunk_rows: int) -> PartitionCounter:
    import pyarrow.parquet as pq

    counter = drift.counter_for(profile)
    for batch in pq.ParquetFile(local).iter_batches(batch_size=chunk_rows, columns=["text"]):
        counter.add(batch.column(0).to_pylist())
    return counter


def _count_predictions(local: Path, uri: str, version: str, chunk_rows: int) -> Counter[str]:
    """Predicted label counts; predictions of another version are bad input (the wrong reference)."""
    import pyarrow.parquet as pq

    file = pq.ParquetFile(local)
    missing = {"predicted_label", "model_version"} - set(file.schema_arrow.names)
    if missing:
        raise BadInputError(f"{uri} is not a predict output (missing {sorted(missing)}); run predict first")
    counts: Counter[str] = Counter()
    versions: set[str] = set()
    for batch in file.iter_batches(batch_size=chunk_rows, columns=["predicted_label", "model_version"]):
        counts.update(str(v) for v in batch.column(0).to_pylist())
        versions.update(str(v) for v in batch.column(1).to_pylist())
    if versions - {str(version)}:
        raise BadInputError(f"{uri} holds predictions of version(s) {sorted(versions)}, not {version}; pass --version "
                            "of the model that made them")
    return counts


def _monitoring_run(settings: Settings, experiment: str, run_id: str, tags: dict[str, str]) -> str:
    """The monitoring run of this inference run: the one a failed earlier attempt created, else a new one."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    quoted = run_id.replace("\\", "\\\\").replace("'", "\\'")
    found = tracking.call("find monitoring run", lambda: client.search_runs(
        [experiment], filter_string=f"tags.pipeline_run_id = '{quoted}'", max_results=1), settings)
    if found:
        return found[0].info.run_id
    name = f"drift v{tags['model_version']} {tags['orchestrator']}-{run_id}"[:250]
    return tracking.call("create monitoring run", lambda: client.create_run(experiment, tags=tags, run_name=name),
                         settings).info.run_id


def _log(settings: Settings, monitoring_run: str, verdict: dict[str, Any], edges: list[float]) -> None:
    """Figures as metrics, thresholds as params, the plot and the verdict as artifacts; then finish the run."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from ml.monitoring import plots

    client = MlflowClient()
    figures = verdict["statistics"]
    values = {f"psi_{name}": f["psi"] for name, f in figures.items()}
    values.update({"rows": verdict["rows"], "unknown_word_share": figures["unknown_words"]["share"],
                   "reference_unknown_word_share": figures["unknown_words"]["reference_share"],
                   "mean_words": figures["text_length"]["mean_words"],
                   "reference_mean_words": figures["text_length"]["reference_mean_words"]})
    now = int(time.time() * 1000)
    metrics = [Metric(key, float(value), now, 0) for key, value in values.items()]
    params = [Param("warn_psi", str(verdict["thresholds"]["warn"])), Param("drift_psi", str(verdict["thresholds"]["drift"])),
              Param("blocking", str(verdict["blocking"]).lower())]
    tags = [RunTag("drift_status", verdict["status"]), RunTag("mlflow.note.content", verdict["summary"])]
    title = f"{verdict['model_name']} v{verdict['version']}: {verdict['status']} ({verdict['rows']} rows)"
    figure = plots.drift_comparison(edges, figures, title)

    def write() -> None:
        client.log_batch(monitoring_run, metrics=metrics, params=params, tags=tags)
        client.log_figure(monitoring_run, figure, "plots/drift.png")
        client.log_dict(monitoring_run, verdict, "drift/verdict.json")
        client.set_terminated(monitoring_run, "FINISHED")

    tracking.call("log drift check", write, settings)


def check_drift(*, run_id: str, data_uri: str, predictions_uri: str, version: str, model_name: str | None = None,
                orchestrator: str | None = None) -> dict[str, Any]:
    """Compare the run's inputs and predictions with the version's training profile (PSI); log a monitoring run.

    Verdict: `ok`, `warn` or `drift` (thresholds ML_DRIFT_WARN_PSI, ML_DRIFT_ALERT_PSI), or
    `unchecked` for a version registered without a reference profile. With
    ML_DRIFT_BLOCKING=true a drift verdict fails the step (exit 2, not retried) after logging.
    """
    from ml.lifecycle import registry

    s = settings_for(orchestrator, model_name=model_name)
    tracking.configure(s)
    version = str(version)
    reference = reference_profile(s, version)
    if reference is None:
        return _unchecked(s, version)
    profile, reference_uri = reference
    with tempfile.TemporaryDirectory(prefix="ml-drift-") as tmp:
        texts = _count_texts(storage.fetch(data_uri, Path(tmp) / "input.parquet"), profile, s.chunk_rows)
        predicted = _count_predictions(storage.fetch(predictions_uri, Path(tmp) / "predictions.parquet"),
                                       predictions_uri, version, s.chunk_rows)
    thresholds = drift.Thresholds(warn=s.drift_warn_psi, alert=s.drift_alert_psi)
    comparison = drift.compare(profile, texts, predicted, thresholds)
    experiment = tracking.named_experiment(s, experiment_name(s), tags={"ml.kind": "monitoring"})
    model_url = links.model_version_url(s, s.model_name, version)
    monitoring_run = _monitoring_run(s, experiment, run_id, {
        "pipeline_run_id": run_id, "orchestrator": s.orchestrator, "model_name": s.model_name,
        "model_version": version, "model_uri": f"models:/{s.model_name}/{version}", "model_version_url": model_url,
        "drift_reference": reference_uri, "data_uri": data_uri, "predictions_uri": predictions_uri,
    })
    verdict = {
        "status": comparison["status"], "blocking": s.drift_blocking, "summary": comparison["summary"],
        "model_name": s.model_name, "version": version, "rows": comparison["rows"],
        "statistics": comparison["statistics"],
        "thresholds": {"warn": thresholds.warn, "drift": thresholds.alert}, "reference": reference_uri,
        "mlflow_run_id": monitoring_run, "mlflow_run_url": links.run_url(s, experiment, monitoring_run),
        "mlflow_model_url": model_url,
    }
    _log(s, monitoring_run, verdict, list(profile["text_length"]["edges"]))
    registry.set_version_tag(s, version, "drift_last_status", verdict["status"])
    registry.set_version_tag(s, version, "drift_last_check", monitoring_run)
    level = logging.WARNING if verdict["status"] == "drift" else logging.INFO
    log.log(level, "drift check of %s version %s on %d rows: %s", s.model_name, version, verdict["rows"], verdict["summary"])
    if verdict["status"] == "drift" and s.drift_blocking:
        where = verdict["mlflow_run_url"] or f"MLflow run {monitoring_run}"
        raise DriftDetected(f"input drift and ML_DRIFT_BLOCKING=true: {verdict['summary']}; figures: {where}", verdict)
    return verdict


def _unchecked(settings: Settings, version: str) -> dict[str, Any]:
    """The verdict for a version without a reference profile: not checked, and how to get one."""
    summary = (f"{settings.model_name} version {version} has no drift reference (tag {REFERENCE_TAG}: registered "
               "before drift checks existed): inputs not checked; train and register a new version to get one")
    log.warning(summary)
    return {"status": "unchecked", "blocking": settings.drift_blocking, "summary": summary,
            "model_name": settings.model_name, "version": version, "rows": 0, "statistics": {},
            "thresholds": {"warn": settings.drift_warn_psi, "drift": settings.drift_alert_psi}, "reference": None,
            "mlflow_run_id": None, "mlflow_run_url": "", "mlflow_model_url": links.model_version_url(
                settings, settings.model_name, version)}


