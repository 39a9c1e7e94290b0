"""### ml_new_data: a new or changed training file under ML_NEW_DATA_PREFIX starts one ml_training run

One such DAG per model of the model catalog whose `train_on_new_data` is true: the default
model's `ml_new_data` watches `ML_NEW_DATA_PREFIX` and starts `ml_training`; another model's
`ml_new_data__<model>` watches its own prefix (default `<ML_NEW_DATA_PREFIX><model>/`) and starts
`ml_training__<model>`. A file belongs to the model with the longest prefix holding it
(`ml.data.new_data.watches`), so one file never trains two models.

Event-driven scheduling: the asset `ml_new_training_data` (the prefix) has an `AssetWatcher`
whose trigger (`ml_airflow/new_data_trigger.py`, in the triggerer) lists the prefix every
`ML_NEW_DATA_POLL_S` seconds and fires one asset event naming the training files it has not
fired yet (key, ETag, run key each: `ml.data.new_data`; one event per listing, see `batch_payload`). Airflow may collapse events queued
together into one run of this DAG, so this DAG does not train itself: it starts one `ml_training`
run per event it received, with run id `new_data__<run key>` and `dataset_uri` = the object.
A run id that exists already is skipped, so the same object never trains twice, even after a
triggerer restart fires it again; five files landing together give five `ml_training` runs, and
one that fails validation fails only its own run.

Defined only for the models whose `train_on_new_data` (ML_TRAIN_ON_NEW_DATA) is true when the file is parsed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, Asset, AssetWatcher, task

from ml.data.new_data import watches
from ml.pipelines.models import is_default, model_pipeline, scoped


def training_runs(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The training run of each event's object: its deterministic id and dataset (duplicates once)."""
    from ml.data.new_data import objects_of

    objects = {o.run_key: o for e in events for o in objects_of(e["payload"])}
    return [
        {"trigger_run_id": o.run_id, "conf": {"dataset_uri": o.uri},
         "note": f"new data: {o.uri} (ETag {o.etag})"}
        for o in objects.values()
    ]


for watch in (w for w in watches() if w.enabled):
    from ml_airflow.new_data_trigger import NewTrainingDataTrigger

    training = model_pipeline("training", watch.model)
    default = is_default(watch.model)  # the default model keeps the names it always had
    new_training_data = Asset(
        name=scoped("ml_new_training_data", watch.model, default),
        uri=watch.prefix,
        watchers=[
            AssetWatcher(
                name=scoped("ml_new_training_data_watcher", watch.model, default),
                trigger=NewTrainingDataTrigger(prefix=watch.prefix, poll_interval=watch.poll_s, exclude=watch.exclude),
            )
        ],
    )

    with DAG(
        dag_id=scoped("ml_new_data", watch.model, default),
        description=f"Start one {training.airflow_dag} run per new or changed training file under {watch.prefix}.",
        schedule=[new_training_data],
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        tags=["ml", "training", "new-data", f"model:{watch.model}"],
        doc_md=__doc__,
    ) as dag:

        @task
        def new_objects(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
            """The objects of the asset events that started this run."""
            events = [{"payload": e.extra["payload"]} for evs in triggering_asset_events.values() for e in evs]
            return training_runs(events)

        TriggerDagRunOperator.partial(
            task_id="start_training",
            trigger_dag_id=training.airflow_dag,
            skip_when_already_exists=True,
            wait_for_completion=False,
        ).expand_kwargs(new_objects())
