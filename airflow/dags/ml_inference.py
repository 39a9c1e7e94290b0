"""### ml_inference: label one partition of texts with a registered model and publish the result

Load Data for Inference ‖ Load Trained Model → Run Inference → Check Drift → Save Inference Results.

Scheduled `@daily` with data intervals (no catchup): the run at 00:00 UTC on day D+1 labels
the partition of day D, `ML_INFERENCE_INPUT_TEMPLATE` with `{ds}` replaced by that date
(default `s3://datasets/inference/{ds}.csv`); a manual run labels the UTC day before it was
triggered. The rule is ml's (`ml/data/partitions.py`), the same on Dagster. A run may also name a
`partition_date`, any `input_uri`, a model `model_version` (default: the version that alias
`model_alias`, `champion`, points to when the run starts) and an `output_uri`. A run that labelled
day D publishes to D's one stable location, `$ML_RESULTS_URI/daily/D/predictions.parquet` (a
later run of D replaces it atomically); a run with an explicit `input_uri` publishes under its run id.

One DAG per model of the model catalog (`ML_MODEL_CATALOG`): the default model's is
`ml_inference`, another model's `ml_inference__<model>` (`ml/pipelines/models.py`), each on its
model's `inference_schedule` (`@daily`, a daily cron `M H * * *` in UTC, or `none`), input
template, results location and drift policy; every task runs with `--model-name <model>`, so a run
can only resolve a version of its own model.

Backfill: each day D from FROM to TO is the run of logical date D (data interval D → D+1, so
its `as_of` is D+1 00:00 and ml labels D): `make backfill FROM=... TO=...` (`POST /api/v2/backfills`),
or the UI's *Backfill* form. A day whose input is missing fails alone, in its own run.

The steps, their order, the XComs that feed each and the task ids are ml's pipeline spec
(`python -m ml pipelines`). `load-model` resolves the alias to one concrete version once;
`predict` and `save-predictions` take that version, so a promotion during the run cannot mix two
models.

`check-drift` compares the run's texts and predictions with that version's training profile
and logs a monitoring run to MLflow (ml/monitoring/monitor.py). It warns (the task succeeds, the
verdict is its XCom) unless `ML_DRIFT_BLOCKING=true`, when drift fails it without retries and
nothing is published; the same setting makes Dagster's drift check block.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import CronDataIntervalTimetable
from ml_airflow.pipelines import pipeline_dag, step_tasks

from ml.core.catalog import schedule_time
from ml.core.config import model_settings
from ml.data.partitions import FIRST_DAY
from ml.pipelines.models import model_pipelines

for INFERENCE in model_pipelines("inference"):
    when = schedule_time(model_settings(INFERENCE.model).inference_schedule)
    with pipeline_dag(INFERENCE, start_date=datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=UTC),
                      schedule=None if when is None else CronDataIntervalTimetable(f"{when[1]} {when[0]} * * *",
                                                                                   timezone="UTC"),
                      description=f"{INFERENCE.title} ({INFERENCE.model!r}): the champion or a chosen one, on a "
                                  "day's partition or any input.", doc_md=__doc__) as dag:
        step_tasks(INFERENCE)
