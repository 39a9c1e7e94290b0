"""### ml_inference: label one partition of texts with a registered model and publish the result

Load Data for Inference ‖ Load Trained Model → Run Inference → Save Inference Results.

Scheduled `@daily` with data intervals (no catchup): the run at 00:00 UTC on day D+1 labels
the partition of day D, `ML_INFERENCE_INPUT_TEMPLATE` with `{ds}` replaced by that date
(default `s3://datasets/inference/{ds}.csv`); a manual run labels the last complete day before its
logical date (or before the trigger time). A manual run may also name any `input_uri`, a model
`model_version` (default: the version that alias `model_alias`, `champion`, points to when the
run starts) and an `output_uri` (default: derived from the run id by `ml`).

`load-model` resolves the alias to one concrete version once; `predict` and `save-predictions`
take that version, so a promotion during the run cannot mix two models.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, CronDataIntervalTimetable, Param
from ml_launch import URI_PATTERN, ml_task, optional_param, xcom

from ml.config import load_settings

INPUT_TEMPLATE = load_settings().inference_input_template  # ML_INFERENCE_INPUT_TEMPLATE, ml's default

# The day the partition covers: the data interval's start (for a scheduled run and a manual run
# with a logical date); a manual run without a logical date has no data interval and takes the
# last complete day before it was triggered, as a scheduled run at that time would.
PARTITION_DATE = (
    "{{ dag_run.data_interval_start | ds if dag_run.data_interval_start"
    " else macros.ds_add(dag_run.run_after | ds, -1) }}"
)
INPUT_URI = (
    "{% if params.input_uri %}{{ params.input_uri }}{% else %}"
    + INPUT_TEMPLATE.replace("{ds}", PARTITION_DATE)
    + "{% endif %}"
)

with DAG(
    dag_id="ml_inference",
    description="Label a partition of texts with the champion (or a chosen) model version.",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=8,
    tags=["ml", "inference"],
    doc_md=__doc__,
    params={
        "input_uri": Param(
            None,
            type=["null", "string"],
            pattern=URI_PATTERN,
            title="Input URI",
            description="Texts to label (CSV, JSONL or Parquet). Empty: the data interval's partition.",
        ),
        "model_version": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            title="Model version",
            description="Registered version to use. Empty: the version behind the alias below.",
        ),
        "model_alias": Param(
            "champion",
            type="string",
            pattern=r"^[A-Za-z0-9_-]+$",
            title="Model alias",
            description="Alias resolved when no version is given.",
        ),
        "output_uri": Param(
            None,
            type=["null", "string"],
            pattern=URI_PATTERN,
            title="Output URI",
            description="Where to publish the predictions. Empty: derived from the run id.",
        ),
    },
) as dag:
    load_inference_data = ml_task(
        "load-inference-data",
        task_id="load_inference_data",
        options={"input-uri": INPUT_URI},
        timeout=timedelta(minutes=30),
        doc_md="Validate the texts and stage them in the run workspace.",
    )
    load_trained_model = ml_task(
        "load-model",
        task_id="load_trained_model",
        options={
            "version": optional_param("model_version"),
            "alias": "{{ params.model_alias }}",
        },
        timeout=timedelta(minutes=30),
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
        timeout=timedelta(hours=4),
        doc_md="Label every row with that one model version (GPU when the launcher grants one).",
    )
    save_inference_results = ml_task(
        "save-predictions",
        task_id="save_inference_results",
        options={
            "predictions-uri": xcom("run_inference", "predictions_uri"),
            "output-uri": optional_param("output_uri"),
        },
        timeout=timedelta(minutes=30),
        doc_md="Publish the predictions atomically, with the model name and version in every row.",
    )

    [load_inference_data, load_trained_model] >> run_inference >> save_inference_results
