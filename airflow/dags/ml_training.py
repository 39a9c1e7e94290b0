"""### ml_training: fine-tune a text classifier, register it, promote it if it beats the champion

Load Training Data → Train Model → Evaluate Model → Save Trained Model (register as
`challenger`) → Promote (the champion rule of `ml.lifecycle.champion`: task signature, pin,
promotion mode). With `ML_PROMOTION_MODE=approval` three more tasks follow: Awaiting Approval →
Review Challenger (a person approves or rejects in the UI) → Apply Review (`ml_airflow/review.py`).

The steps, their order, the XComs that feed each and the task ids are ml's pipeline spec
(`python -m ml pipelines`); each task is one `python -m ml <step>` call (docs/steps.md), launched
by `ML_LAUNCHER` (`docker` by default). Manual trigger only; a param left empty is not passed,
and the step applies its own default (`ML_DATASET_URI`, `ML_BASE_MODEL`, `ML_EPOCHS`, ... in
`ml/core/config.py`). Every path a step writes is derived from the run id, so several runs at
once never share files.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ml_airflow.pipelines import pipeline_dag, step_tasks

from ml.core.config import load_settings
from ml.pipelines.spec import pipeline

TRAINING = pipeline("training")

with pipeline_dag(TRAINING, schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC), doc_md=__doc__,
                  description=f"{TRAINING.title} a text classifier (ml image steps).") as dag:
    tasks = step_tasks(TRAINING)

    if load_settings().promotion_mode == "approval":  # ML_PROMOTION_MODE, the same the promote step reads
        from ml_airflow.review import review_tasks

        review_tasks(TRAINING, tasks[TRAINING.steps[-1].name])
