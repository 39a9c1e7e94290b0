"""The training steps: load-training-data -> train -> evaluate -> register -> promote.

Every step takes keyword arguments (URIs, ids, small scalars), returns a small JSON-able dict,
and writes only under its run's workspace (derived from `run_id`). The order and wiring of the
steps is the pipeline spec's (`ml/pipelines/spec.py`); contract and outputs: docs/steps.md.
"""


from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ml.core import storage, workspace
from ml.core.config import settings_for
from ml.core.errors import BadInputError
from ml.data import demo
from ml.lifecycle import lineage, links
from ml.training import gates

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")


def load_training_data(*, run_id: str, dataset_uri: str | None = None, model_name: str | None = None,
                       text_column: str | None = None, label_column: str | None = None, id_column: str | None = None,
                       new_task: bool = False, orchestrator: str | None = None) -> dict[str, Any]:
    """Validate a labelled dataset (default: ML_DATASET_URI) and publish its train/validation/test split.

    A dataset of another task (labels, columns) than the model's is refused before anything is
    published, unless `new_task` says the model's task changes on purpose (ml.lifecycle.champion).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ml.core import redact
    from ml.data import tables
    from ml.lifecycle import tasks, tracking

    s = settings_for(orchestrator, model_name=model_name, text_column=text_column, label_column=label_column,
                     id_column=id_column)
    source = dataset_uri or demo.default_dataset(s)
    dataset_uri = redact.uri(source)  # what is shown, logged and tagged from here on
    with workspace.scratch() as tmp:
        table, digest = tables.read_labelled(source, s)
        cleaned = tables.clean_text_rows(table, s.text_column, dataset_uri, s.label_column)
        label_values = tables.label_strings(cleaned.table[s.label_column])
        classes = tables.sorted_labels(label_values)
        if len(classes) < 2:
            raise BadInputError(
                f"{dataset_uri}: every row has the label {classes[0]!r} in {s.label_column!r}; "
                "a classifier needs at least two classes"
            )
        tracking.configure(s)
        tasks.check_task(s, classes, dataset_uri, new_task=new_task)  # before anything is published
        table = tables.ensure_ids(cleaned.table, s.id_column)
        table = pa.table({
            "id": table[s.id_column],
            "text": table[s.text_column],
            "label": pa.array(label_values, pa.string()),
        })
        splits = tables.stratified_split(label_values, s.validation_fraction, s.test_fraction, s.seed)
        gates.require_rows({name: len(splits[name]) for name in SPLITS}, dataset_uri,
                           "every class needs at least 3 rows for a validation and a test row; add rows")
        data_uri = workspace.run_uri(s, run_id, "data")
        for name in SPLITS:  # every split written before any is published
            pq.write_table(tables.take_rows(table, splits[name]), Path(tmp) / f"{name}.parquet")
        for name in SPLITS:
            storage.publish(Path(tmp) / f"{name}.parquet", storage.join(data_uri, f"{name}.parquet"))
    manifest = {
        "dataset_uri": dataset_uri,
        "fingerprint": digest,
        "labels": classes,
        "rows": {name: len(splits[name]) for name in SPLITS},
        "dropped_rows": cleaned.dropped_empty_text + cleaned.dropped_missing_label,
        "seed": s.seed,
        "text_column": s.text_column,
        "label_column": s.label_column,
        "model_name": s.model_name,
        "new_task": bool(new_task),
    }
    storage.write_json(storage.join(data_uri, "manifest.json"), manifest)  # written last: marks the split complete
    log.info("split %s into %s", dataset_uri, manifest["rows"])
    return {"data_uri": data_uri, **{k: manifest[k] for k in ("dataset_uri", "fingerprint", "labels", "rows", "dropped_rows",
                                                                "model_name", "new_task")}}


def training_inputs(*, dataset_uri: str | None = None, model_name: str | None = None, orchestrator: str | None = None,
                    **_: object) -> dict[str, Any]:
    """What load-training-data will read (the cache key addresses it): the dataset given, else the default one."""
    return {"dataset_uri": dataset_uri or demo.default_dataset(settings_for(orchestrator, model_name=model_name))}


def recheck_task(*, result: dict[str, Any], model_name: str | None = None, text_column: str | None = None,
                 label_column: str | None = None, new_task: bool = False, orchestrator: str | None = None,
                 **_: object) -> None:
    """On a cache hit of load-training-data, its task check again: the champion's task may have moved since the
    split was made, and a dataset of another task must be refused then as it would be by the step."""
    from ml.lifecycle import tasks, tracking

    s = settings_for(orchestrator, model_name=model_name, text_column=text_column, label_column=label_column)
    tracking.configure(s)
    tasks.check_task(s, result["labels"], result["dataset_uri"], new_task=bool(new_task))


def base_model_input(*, base_model: str | None = None, model_name: str | None = None, orchestrator: str | None = None,
                     **_: object) -> dict[str, Any]:
    """The base model train will start from (the cache key addresses a folder's content, a preset or Hub id by name)."""
    return {"base_model": settings_for(orchestrator, model_name=model_name, base_model=base_model).base_model}


def _read_split(data_uri: str, name: str, tmp: str, limit: int | None = None, seed: int = 0) -> tuple[list[str], list[str]]:
    import pyarrow.parquet as pq

    path = storage.fetch(storage.join(data_uri, f"{name}.parquet"), Path(tmp) / f"{name}.parquet")
    table = pq.read_table(path)
    if limit is not None and table.num_rows > limit:
        import numpy as np

        keep = np.sort(np.random.default_rng(seed).choice(table.num_rows, size=limit, replace=False))
        table = table.take(keep)
    return table["text"].to_pylist(), table["label"].to_pylist()


def _manifest(data_uri: str, model_name: str) -> dict[str, Any]:
    """The split's manifest; a split loaded for another model is bad input (its settings and task differ)."""
    uri = storage.join(data_uri, "manifest.json")
    if not storage.exists(uri):
        raise BadInputError(f"{data_uri} has no manifest.json: it is not a finished load-training-data output")
    manifest = storage.read_json(uri)
    loaded_for = manifest.get("model_name", model_name)
    if loaded_for != model_name:
        raise BadInputError(f"{data_uri} was loaded for model {loaded_for!r}, not {model_name!r}; "
                            f"pass --model-name {loaded_for}")
    return manifest


def train(
    *,
    run_id: str,
    data_uri: str,
    base_model: str | None = None,
    epochs: int | None = None,
    learning_rate: float | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    max_train_samples: int | None = None,
    model_name: str | None = None,
    orchestrator: str | None = None,
) -> dict[str, Any]:
    """Fine-tune the base model on the split; log params and per-epoch metrics to a new MLflow run."""
    import mlflow

    from ml.lifecycle import once, tracking
    from ml.model import modeling
    from ml.model.precision import resolve_precision
    from ml.training.train import TrainParams, fit

    s = settings_for(orchestrator, model_name=model_name, base_model=base_model, epochs=epochs,
                     learning_rate=learning_rate, batch_size=batch_size, seed=seed, max_train_samples=max_train_samples)
    manifest = _manifest(data_uri, s.model_name)
    labels: list[str] = manifest["labels"]
    index = {label: i for i, label in enumerate(labels)}
    lr = s.learning_rate or modeling.default_learning_rate(s.base_model)
    device = modeling.resolve_device(s.device)
    precision = resolve_precision(s.precision, device)
    modeling.check_available(s.base_model, s.retry_attempts)
    if s.num_threads:
        import torch

        torch.set_num_threads(s.num_threads)
    tracking.configure(s)
    experiment = tracking.experiment_id(s)
    with workspace.scratch() as tmp:
        train_texts, train_labels = _read_split(data_uri, "train", tmp, s.max_train_samples, s.seed)
        val_texts, val_labels = _read_split(data_uri, "validation", tmp, s.max_eval_samples, s.seed)
        log.info("training %s on %d rows (%d validation) on %s in %s", s.base_model, len(train_texts), len(val_texts),
                 device, precision)
        model, tokenizer = modeling.build(s.base_model, train_texts, labels, s.max_length, s.seed)
        params = TrainParams(epochs=s.epochs, learning_rate=lr, batch_size=s.batch_size, max_length=s.max_length,
                             warmup_ratio=s.warmup_ratio, weight_decay=s.weight_decay, max_grad_norm=s.max_grad_norm,
                             patience=s.early_stopping_patience, seed=s.seed,
                             min_steps=s.min_train_steps if _default_epochs(epochs, s.model_name) else 0)
        created = once.create_run(s, experiment, run_name=workspace.mlflow_run_name(s.orchestrator, run_id),
                                  tags=lineage.training_tags(s, run_id, manifest))  # one run, however retried
        run = tracking.call("start run", lambda: mlflow.start_run(run_id=created.info.run_id), s)
        try:
            mlflow.log_params({
                "base_model": s.base_model, "epochs": s.epochs, "learning_rate": lr, "batch_size": s.batch_size,
                "max_length": s.max_length, "warmup_ratio": s.warmup_ratio, "weight_decay": s.weight_decay,
                "seed": s.seed, "min_train_steps": s.min_train_steps, "device": device.type, "precision": precision,
                "precision_setting": s.precision, "train_rows": len(train_texts),
                "validation_rows": len(val_texts), "labels": ",".join(labels), "data_uri": data_uri,
                "dataset_uri": manifest["dataset_uri"], "num_parameters": sum(p.numel() for p in model.parameters()),
            })
            result = fit(model, tokenizer, (train_texts, [index[y] for y in train_labels]),
                         (val_texts, [index[y] for y in val_labels]), labels, params, device, precision,
                         on_epoch=lambda epoch, metrics: mlflow.log_metrics(metrics, step=epoch))
            mlflow.log_metrics({f"best_{k}": v for k, v in result.best_metrics.items() if k.startswith("val_")})
            mlflow.log_metrics({"train_seconds": result.train_seconds, "train_samples_per_second": result.samples_per_second,
                                "best_epoch": result.best_epoch})
            model_uri = workspace.run_uri(s, run_id, "model")
            storage.publish_dir(modeling.save(model, tokenizer, Path(tmp) / "model"), model_uri)
            mlflow.end_run()
        except BaseException:
            mlflow.end_run(status="FAILED")
            raise
    return {
        "model_uri": model_uri,
        "mlflow_run_id": run.info.run_id,
        "mlflow_run_url": links.run_url(s, experiment, run.info.run_id),
        "device": device.type,
        "precision": precision,
        "epochs_run": result.epochs_run,
        "epochs_planned": result.epochs_planned,
        "best_epoch": result.best_epoch,
        "metrics": {k: round(v, 6) for k, v in result.best_metrics.items()},
    }


def _default_epochs(epochs: int | None, model_name: str | None = None) -> bool:
    """True when nobody chose the epoch count (no --epochs, no ML_EPOCHS, none in the model's catalog
    entry): only then may ML_MIN_TRAIN_STEPS raise it. An explicit count is what the user asked for, and is kept."""
    from ml.core.config import get_settings, model_catalog

    return (epochs is None and "epochs" not in get_settings().model_fields_set
            and "epochs" not in model_catalog().entry(model_name).values)


def evaluate(*, run_id: str, data_uri: str, model_uri: str, mlflow_run_id: str, model_name: str | None = None,
             orchestrator: str | None = None) -> dict[str, Any]:
    """Test-split metrics plus confusion-matrix and training-curve plots, logged to the training run."""
    import mlflow
    import numpy as np
    from mlflow.tracking import MlflowClient

    from ml.inference.predict import predict_probs
    from ml.lifecycle import tracking
    from ml.model import modeling
    from ml.model.precision import resolve_precision
    from ml.training import plots
    from ml.training.metrics import classification_metrics, confusion

    s = settings_for(orchestrator, model_name=model_name)
    tracking.configure(s)
    manifest = _manifest(data_uri, s.model_name)
    labels = manifest["labels"]
    device = modeling.resolve_device(s.device)
    precision = resolve_precision(s.precision, device)
    with workspace.scratch() as tmp:
        folder = storage.fetch_dir(model_uri, Path(tmp) / "model")
        model, tokenizer = modeling.load(folder, device, precision)
        texts, truth = _read_split(data_uri, "test", tmp, s.max_eval_samples, s.seed)
    probs = predict_probs(model, tokenizer, texts, tokenizer.model_max_length, s.predict_batch_tokens, s.predict_max_batch_size)
    index = {label: i for i, label in enumerate(labels)}
    y_true, y_pred = np.asarray([index[y] for y in truth]), probs.argmax(axis=1)
    metrics = classification_metrics(y_true, y_pred, labels, prefix="test_")
    gate = gates.quality_gate(metrics, s)
    matrix = confusion(y_true, y_pred, len(labels))
    client = MlflowClient()
    history = {key: [(m.step, m.value) for m in tracking.call("metric history", lambda k=key: client.get_metric_history(mlflow_run_id, k), s)]
               for key in ("train_loss", "val_accuracy", "val_macro_f1")}

    def log_evaluation() -> None:
        with mlflow.start_run(run_id=mlflow_run_id):
            mlflow.log_metrics(metrics)
            mlflow.set_tags({"quality_gate": "passed" if gate.passed else "rejected", "quality_gate_reason": gate.reason,
                             "eval_precision": precision})
            mlflow.log_figure(plots.confusion_matrix(matrix, labels, f"test split ({len(texts)} rows)"), "plots/confusion_matrix.png")
            mlflow.log_figure(plots.training_curves(history), "plots/training_curves.png")
            mlflow.log_dict({"labels": labels, "matrix": matrix.tolist()}, "eval/confusion_matrix.json")

    tracking.call("log evaluation", log_evaluation, s)
    log.info("test accuracy=%.4f macro_f1=%.4f on %d rows (%s)", metrics["test_accuracy"], metrics["test_macro_f1"],
             len(texts), precision)
    return {"mlflow_run_id": mlflow_run_id, "test_rows": len(texts), "precision": precision, "metrics": {k: round(v, 6) for k, v in metrics.items()},
            "plots": ["plots/confusion_matrix.png", "plots/training_curves.png"], "gate": gate.as_dict()}


def register(*, run_id: str, model_uri: str, mlflow_run_id: str, model_name: str | None = None,
             orchestrator: str | None = None) -> dict[str, Any]:
    """Log the model to MLflow (pyfunc, servable as is), register a version, tag it, alias `challenger`.

    The training split's drift reference profile is logged with the run and named by the version
    tag `drift_reference` (ml/monitor.py).

    Idempotent per MLflow run: run again (a retry), it reuses the version that run registered.
    """
    from mlflow.tracking import MlflowClient

    from ml.lifecycle import registry, tracking
    from ml.monitoring import monitor

    s = settings_for(orchestrator, model_name=model_name)
    tracking.configure(s)
    run = tracking.call("get run", lambda: MlflowClient().get_run(mlflow_run_id), s)
    trained_for = run.data.tags.get(lineage.MODEL_TAG, s.model_name)
    if trained_for != s.model_name:
        raise BadInputError(f"MLflow run {mlflow_run_id} trained model {trained_for!r}, not {s.model_name!r}; "
                            f"register it with --model-name {trained_for}")
    metric = run.data.metrics.get(s.promotion_metric)
    if metric is None:
        raise BadInputError(f"MLflow run {mlflow_run_id} has no {s.promotion_metric}; run evaluate before register")
    gate = gates.quality_gate(run.data.metrics, s)
    if not gate.passed:
        raise BadInputError(f"MLflow run {mlflow_run_id}: {gate.reason}")
    tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
    tags.update({"mlflow_run_id": mlflow_run_id, "registered_by": s.orchestrator,
                 registry.METRIC_TAG_PREFIX + s.promotion_metric: repr(metric)})
    # The drift reference of the training split (ml.monitoring.monitor), before the version exists.
    tags.update(monitor.log_reference_profile(s, mlflow_run_id, run.data.params.get("data_uri")))
    # Idempotent per training run: a retry after a fault past registration reuses that version.
    version = registry.version_of_run(s, mlflow_run_id)
    if version is not None:
        log.info("MLflow run %s already registered %s version %s; reusing it", mlflow_run_id, s.model_name, version)
        registry.tag_version(version, tags, s)
    else:
        with workspace.scratch() as tmp:
            folder = storage.fetch_dir(model_uri, Path(tmp) / "model")
            logged_uri = registry.log_model(folder, mlflow_run_id, s)
        version = registry.register(logged_uri, tags, s, mlflow_run_id)
    log.info("registered %s version %s (%s=%.4f)", s.model_name, version, s.promotion_metric, metric)
    return {"model_name": s.model_name, "version": version, "alias": registry.CHALLENGER,
            "model_uri": f"models:/{s.model_name}/{version}", "metric": {s.promotion_metric: metric},
            "mlflow_model_url": links.model_version_url(s, s.model_name, version)}


def promote(*, run_id: str, version: str, model_name: str | None = None, orchestrator: str | None = None) -> dict[str, Any]:
    """Apply the champion rule to the new version (ml.lifecycle.champion: task, pin, ML_PROMOTION_MODE; race-safe)."""
    from ml.lifecycle import champion, tracking

    s = settings_for(orchestrator, model_name=model_name)
    tracking.configure(s)
    outcome = champion.promote(str(version), s, actor=f"{s.orchestrator}:{run_id}")
    return {"model_name": s.model_name, "version": str(version), "promoted": outcome.promoted,
            "champion_version": outcome.champion_version, "decision": outcome.decision,
            "awaiting_approval": outcome.awaiting_approval,
            "mlflow_model_url": links.model_version_url(s, s.model_name, version)}


