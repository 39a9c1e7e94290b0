"""### ml_training: fine-tune a text classifier, register it, promote it if it beats the champion

Load Training Data → Train Model → Evaluate Model → Save Trained Model (register as
`challenger`) → Promote (the champion rule of `ml.lifecycle.champion`: task signature, pin,
promotion mode). With `ML_PROMOTION_MODE=approval` three more tasks follow: Awaiting Approval →
Review Challenger (a person approves or rejects in the UI) → Apply Review (`ml_airflow/review.py`).

One DAG per model of the model catalog (`ML_MODEL_CATALOG`, `python -m ml models`): the default
model's is `ml_training`, another model's `ml_training__<model>` (the rule of
`ml/pipelines/models.py`); every task runs with `--model-name <model>`, so it reads that model's
dataset, columns, training parameters, gate and promotion mode. The catalog is read at every parse
of this file: a model added to it appears as new DAGs at the next parse, without a restart.

The steps, their order, the XComs that feed each and the task ids are ml's pipeline spec
(`python -m ml pipelines`); each task is one `python -m ml <step>` call (docs/steps.md), launched
by `ML_LAUNCHER` (`docker` by default). Manual trigger only; a param left empty is not passed,
and the step applies its own default (the model's catalog entry, else `ML_DATASET_URI`,
`ML_BASE_MODEL`, `ML_EPOCHS`, ... in `ml/core/config.py`). Every path a step writes is derived from
the model and the run id, so several runs at once, of one model or several, never share files.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ml_airflow.pipelines import pipeline_dag, step_tasks

from ml.core.config import model_settings
from ml.pipelines.models import model_pipelines

for TRAINING in model_pipelines("training"):
    with pipeline_dag(TRAINING, schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC), doc_md=__doc__,
                      description=f"{TRAINING.title} the text classifier {TRAINING.model!r} (ml image steps).") as dag:
        tasks = step_tasks(TRAINING)

        # the model's ML_PROMOTION_MODE, the same the promote step reads
        if model_settings(TRAINING.model).promotion_mode == "approval":
            from ml_airflow.review import review_tasks

            review_tasks(TRAINING, tasks[TRAINING.steps[-1].name])
