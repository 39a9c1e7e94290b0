"""The new-data sensor: a new or changed training file under ML_NEW_DATA_PREFIX starts one training run.

What counts as new and the run key are ml's (`ml.data.new_data`); this module only turns each training
file into a `RunRequest` of the training job with `dataset_uri` set to that file. Dagster skips a run
key it has already launched for this sensor, so the same object (key + ETag) never trains twice,
and several files landing at once become several runs. The sensor runs when
`ML_TRAIN_ON_NEW_DATA=true` (read when the code location loads) and can be started or stopped in
the UI; the daemon evaluates it every `ML_NEW_DATA_POLL_S` seconds.
"""

from __future__ import annotations

import dagster as dg

from ml.core.config import load_settings
from ml.pipelines.spec import pipeline
from ml_dagster.config import run_config


def _status() -> dg.DefaultSensorStatus:
    on = load_settings().train_on_new_data
    return dg.DefaultSensorStatus.RUNNING if on else dg.DefaultSensorStatus.STOPPED


def training_requests() -> list[dg.RunRequest]:
    """One run request per training file under the prefix now (Dagster drops run keys it launched)."""
    from ml.data.new_data import training_objects

    return [
        dg.RunRequest(
            run_key=obj.run_key,
            run_config=run_config("training", {"dataset_uri": obj.uri}),
            tags=obj.tags(),
        )
        for obj in training_objects(load_settings().new_data_prefix)
    ]


@dg.sensor(
    job_name=pipeline("training").dagster_job,
    minimum_interval_seconds=load_settings().new_data_poll_s,
    default_status=_status(),
    description="Start one training run per new or changed training file under ML_NEW_DATA_PREFIX.",
)
def new_training_data_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """List the prefix; ask for a run per object (key + ETag)."""
    requests = training_requests()
    if not requests:
        return dg.SensorResult(skip_reason=f"no training files under {load_settings().new_data_prefix}")
    return dg.SensorResult(run_requests=requests)
