"""### ml_training: fine-tune a text classifier, register it, promote it if it beats the champion

Load Training Data → Train Model → Evaluate Model → Save Trained Model (register as
`challenger`) → Promote (the champion rule of `ml.lifecycle.champion`: task signature, pin, promotion mode).
With `ML_PROMOTION_MODE=approval` three more tasks follow: Awaiting Approval → Review Challenger
(a person approves or rejects in the UI) → Apply Review (see `ml_review.py`).

Each task is one `python -m ml <step>` call (see `docs/steps.md`), launched by `ML_LAUNCHER`
(`docker` by default). Manual trigger only; a param left empty is not passed, and the step
applies its own default (`ML_DATASET_URI`, `ML_BASE_MODEL`, `ML_EPOCHS`, ... in `ml/config.py`). Every path a step writes is
derived from the run id, so several runs at once never share files.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import DAG
from ml_launch import dag_params, ml_task, step_params, xcom

from ml.core.config import load_settings

with DAG(
    dag_id="ml_training",
    description="Fine-tune, evaluate, register and promote a text classifier (ml image steps).",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=8,
    tags=["ml", "training"],
    doc_md=__doc__,
    params=dag_params("train"),
) as dag:
    load_training_data = ml_task(
        "load-training-data",
        task_id="load_training_data",
        options=step_params("train", "load_training_data"),
        doc_md="Validate the dataset, drop bad rows, split train/validation/test into the run workspace.",
    )
    train_model = ml_task(
        "train",
        task_id="train_model",
        options={"data-uri": xcom("load_training_data", "data_uri"), **step_params("train", "train")},
        doc_md="Fine-tune the base model (GPU when the launcher grants one), tracked in MLflow.",
    )
    evaluate_model = ml_task(
        "evaluate",
        task_id="evaluate_model",
        options={
            "data-uri": xcom("load_training_data", "data_uri"),
            "model-uri": xcom("train_model", "model_uri"),
            "mlflow-run-id": xcom("train_model", "mlflow_run_id"),
        },
        doc_md="Score the held-out test split; metrics and plots go to the MLflow run.",
    )
    save_trained_model = ml_task(
        "register",
        task_id="save_trained_model",
        options={
            "model-uri": xcom("train_model", "model_uri"),
            "mlflow-run-id": xcom("train_model", "mlflow_run_id"),
        },
        doc_md="Register the model as a new version with alias `challenger`.",
    )
    promote_model = ml_task(
        "promote",
        task_id="promote_model",
        options={
            "model-name": xcom("save_trained_model", "model_name"),
            "version": xcom("save_trained_model", "version"),
        },
        doc_md="Apply the champion rule: promote, keep, or (approval mode) wait for a decision.",
    )

    load_training_data >> train_model >> evaluate_model >> save_trained_model >> promote_model

    if load_settings().promotion_mode == "approval":  # ML_PROMOTION_MODE, the same the promote step reads
        from ml_review import review_tasks

        promote_model >> review_tasks("promote_model")[0]
