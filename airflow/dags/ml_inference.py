"""### ml_inference: label one partition of texts with a registered model and publish the result

Load Data for Inference ‖ Load Trained Model → Run Inference → Check Drift → Save Inference Results.

Scheduled `@daily` with data intervals (no catchup): the run at 00:00 UTC on day D+1 labels
the partition of day D, `ML_INFERENCE_INPUT_TEMPLATE` with `{ds}` replaced by that date
(default `s3://datasets/inference/{ds}.csv`); a manual run labels the UTC day before it was
triggered. The rule is ml's (`ml/partitions.py`), the same on Dagster. A run may also name a
`partition_date`, any `input_uri`, a model `model_version` (default: the version that alias
`model_alias`, `champion`, points to when the run starts) and an `output_uri`. A run that labelled
day D publishes to D's one stable location, `$ML_RESULTS_URI/daily/D/predictions.parquet` (a
later run of D replaces it atomically); a run with an explicit `input_uri` publishes under its run id.

Backfill: each day D from FROM to TO is the run of logical date D (data interval D → D+1, so
AS_OF below is D+1 00:00 and ml labels D): `make backfill FROM=... TO=...` (`POST /api/v2/backfills`),
or the UI's *Backfill* form. A day whose input is missing fails alone, in its own run.

`load-model` resolves the alias to one concrete version once; `predict` and `save-predictions`
take that version, so a promotion during the run cannot mix two models.

`check-drift` compares the run's texts and predictions with that version's training profile
and logs a monitoring run to MLflow (ml/monitoring.py). It warns (the task succeeds, the
verdict is its XCom) unless `ML_DRIFT_BLOCKING=true`, when drift fails it without retries and
nothing is published; the same setting makes Dagster's drift check block.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import DAG, CronDataIntervalTimetable
from ml_launch import dag_params, ml_task, step_params, xcom

from ml.data.partitions import FIRST_DAY

# ml decides which day a run labels (ml/partitions.py); the DAG only says when the run was due: the
# end of its data interval (scheduled, backfill, or manual with a logical date), else the trigger
# time (a manual run without one has no data interval). The step labels the UTC day before it.
AS_OF = "{{ (dag_run.data_interval_end or dag_run.run_after).isoformat() }}"
# The day the run labelled, as load_inference_data returned it (null for an explicit input: then ''
# and the option is left out); save-predictions publishes to that day's location (ml's rule).
LABELLED_DAY = "{{ ti.xcom_pull(task_ids='load_inference_data').get('partition_date') or '' }}"

with DAG(
    dag_id="ml_inference",
    description="Label a partition of texts with the champion (or a chosen) model version.",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=UTC),
    catchup=False,
    max_active_runs=8,
    tags=["ml", "inference"],
    doc_md=__doc__,
    params=dag_params("infer"),
) as dag:
    load_inference_data = ml_task(
        "load-inference-data",
        task_id="load_inference_data",
        options={**step_params("infer", "load_inference_data"), "as-of": AS_OF},
        doc_md="Validate the texts and stage them in the run workspace.",
    )
    load_trained_model = ml_task(
        "load-model",
        task_id="load_trained_model",
        options=step_params("infer", "load_model"),
        doc_md="Resolve the model version once (alias → version) and check it loads.",
    )
    run_inference = ml_task(
        "predict",
        task_id="run_inference",
        options={
            "data-uri": xcom("load_inference_data", "data_uri"),
            "model-name": xcom("load_trained_model", "model_name"),
            "version": xcom("load_trained_model", "version"),
        },
        doc_md="Label every row with that one model version (GPU when the launcher grants one).",
    )
    check_drift = ml_task(
        "check-drift",
        task_id="check_drift",
        options={
            "data-uri": xcom("load_inference_data", "data_uri"),
            "predictions-uri": xcom("run_inference", "predictions_uri"),
            "model-name": xcom("load_trained_model", "model_name"),
            "version": xcom("load_trained_model", "version"),
        },
        doc_md="Compare inputs and predictions with the version's training profile (PSI); verdict ok, warn or drift.",
    )
    save_inference_results = ml_task(
        "save-predictions",
        task_id="save_inference_results",
        options={"predictions-uri": xcom("run_inference", "predictions_uri"), "partition-date": LABELLED_DAY,
                 **step_params("infer", "save_predictions")},
        doc_md="Publish the predictions atomically, with the model name and version in every row.",
    )

    [load_inference_data, load_trained_model] >> run_inference >> check_drift >> save_inference_results
