"""The code location: `dagster dev -m ml_dagster.definitions` locally, or the gRPC server in compose.

Steps of a run execute in separate processes (the multiprocess executor, each step forked from
a server that imported the heavy libraries once: see jobs.py): each step starts clean (GPU
memory is freed between train and evaluate) and the small step outputs travel through the
instance's event log (see io_manager.py), which all processes share. On
Kubernetes (`ML_LAUNCHER=kubernetes`) the jobs carry their pod settings, or run one pod per
step (`ML_K8S_STEP_PODS=true`): see k8s.py.
"""

from __future__ import annotations

import dagster as dg

from ml_dagster.checks import CHECKS, DAILY_CHECKS
from ml_dagster.inference import INFERENCE_ASSETS
from ml_dagster.io_manager import StepOutputIOManager
from ml_dagster.jobs import daily_inference_job, inference_job, training_job
from ml_dagster.resources import StorageResource
from ml_dagster.review import review_job
from ml_dagster.schedules import daily_inference_schedule
from ml_dagster.sensors import new_training_data_sensor
from ml_dagster.training import TRAINING_ASSETS

RESOURCES = {
    "io_manager": StepOutputIOManager(),
    "storage": StorageResource(),
}

defs = dg.Definitions(
    assets=[*TRAINING_ASSETS, *INFERENCE_ASSETS],
    asset_checks=[*CHECKS, *DAILY_CHECKS],
    jobs=[training_job, inference_job, daily_inference_job, review_job],
    schedules=[daily_inference_schedule],
    sensors=[new_training_data_sensor],
    resources=RESOURCES,
)
