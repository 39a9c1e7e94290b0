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

from ml.data.partitions import FIRST_DAY
from ml.pipelines.spec import pipeline

INFERENCE = pipeline("inference")

with pipeline_dag(INFERENCE, schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
                  start_date=datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=UTC), doc_md=__doc__,
                  description=f"{INFERENCE.title}: the champion or a chosen one, on a day's partition or any input.") as dag:
    step_tasks(INFERENCE)
