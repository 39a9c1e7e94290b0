"""The new-data sensors: a new or changed training file under a model's new-data prefix starts one
training run of that model.

What counts as new, the run key and which model a file belongs to are ml's (`ml.data.new_data`:
one watch per model of the catalog, the longest prefix owning a file); this module only turns each
training file into a `RunRequest` of the model's training job with `dataset_uri` set to that file.
Dagster skips a run key it has already launched for a sensor, so the same object (key + ETag) never
trains twice, and several files landing at once become several runs. A model's sensor runs when
its `train_on_new_data` (ML_TRAIN_ON_NEW_DATA) is true when the code location loads, and can be
started or stopped in the UI; the daemon evaluates it every `new_data_poll_s` seconds. The default
model's sensor is `new_training_data_sensor`, another model's `new_training_data_sensor__<model>`.
"""

from __future__ import annotations

import dagster as dg

from ml.data.new_data import Watch
from ml.pipelines.models import is_default, model_pipeline, scoped
from ml_dagster.config import run_config


def training_requests(watch: Watch) -> list[dg.RunRequest]:
    """One run request per training file of the watch's model now (Dagster drops run keys it launched)."""
    from ml.data.new_data import training_objects

    return [
        dg.RunRequest(
            run_key=obj.run_key,
            run_config=run_config("training", {"dataset_uri": obj.uri}, watch.model),
            tags=obj.tags(),
        )
        for obj in training_objects(watch.prefix, watch.exclude)
    ]


def new_data_sensor(watch: Watch) -> dg.SensorDefinition:
    """The sensor of one model's new-data prefix."""
    default = is_default(watch.model)

    @dg.sensor(
        name=scoped("new_training_data_sensor", watch.model, default, dagster=True),
        job_name=model_pipeline("training", watch.model).dagster_job,
        minimum_interval_seconds=watch.poll_s,
        default_status=dg.DefaultSensorStatus.RUNNING if watch.enabled else dg.DefaultSensorStatus.STOPPED,
        description=f"Start one training run of {watch.model!r} per new or changed training file under {watch.prefix}.",
    )
    def sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        """List the model's prefix as the catalog and settings say now; ask for a run per object (key + ETag)."""
        from ml.core.config import load_settings, model_catalog
        from ml.data.new_data import watch_of

        current = watch_of(model_catalog(load_settings()).default if default else watch.model)
        requests = training_requests(current)
        if not requests:
            return dg.SensorResult(skip_reason=f"no training files under {current.prefix}")
        return dg.SensorResult(run_requests=requests)

    return sensor
