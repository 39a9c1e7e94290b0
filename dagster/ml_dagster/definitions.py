"""The code location: `dagster dev -m ml_dagster.definitions` locally, or the gRPC server in compose.

Everything is built from ml's pipeline spec (`ml/pipelines/spec.py`, `python -m ml pipelines`):
the training graph, the inference graph and its day-partitioned twin (assets.py), their checks
(checks.py), one job per graph (jobs.py), the review job (review.py), the daily schedule and
the new-data sensor.

Steps of a run execute in separate processes (the multiprocess executor, each step forked from
a server that imported the heavy libraries once: see jobs.py): each step starts clean (GPU
memory is freed between train and evaluate) and the small step outputs travel through the
instance's event log (see io_manager.py), which all processes share. On Kubernetes
(`ML_LAUNCHER=kubernetes`) the jobs carry their pod settings, or run one pod per step
(`ML_K8S_STEP_PODS=true`): see k8s.py.
"""

from __future__ import annotations

import dagster as dg

from ml.data.partitions import FIRST_DAY
from ml.pipelines.spec import pipeline
from ml_dagster.assets import Graph, graph_assets
from ml_dagster.checks import graph_checks
from ml_dagster.io_manager import StepOutputIOManager
from ml_dagster.jobs import pipeline_job
from ml_dagster.resources import StorageResource
from ml_dagster.review import review_job
from ml_dagster.schedules import daily_schedule
from ml_dagster.sensors import new_training_data_sensor

RESOURCES = {
    "io_manager": StepOutputIOManager(),
    "storage": StorageResource(),
}

TRAINING, INFERENCE, REVIEW = pipeline("training"), pipeline("inference"), pipeline("review")
assert INFERENCE.daily is not None  # the spec's inference pipeline has its daily variant
#: One partition per UTC day; the newest is the last complete day (ml.data.partitions.last_complete_day).
DAILY_PARTITIONS = dg.DailyPartitionsDefinition(start_date=FIRST_DAY.isoformat(), timezone="UTC", end_offset=0)

GRAPHS = [
    Graph(TRAINING, TRAINING.dagster_group),
    Graph(INFERENCE, INFERENCE.dagster_group),
    Graph(INFERENCE, INFERENCE.daily.dagster_group, INFERENCE.daily.dagster_prefix, DAILY_PARTITIONS),
]
JOBS = [
    pipeline_job(TRAINING, TRAINING.dagster_job, TRAINING.dagster_group, TRAINING.title + " (champion/challenger)."),
    pipeline_job(INFERENCE, INFERENCE.dagster_job, INFERENCE.dagster_group,
                 "Resolve the model version once, label the input texts, publish the predictions."),
    pipeline_job(INFERENCE, INFERENCE.daily.dagster_job, INFERENCE.daily.dagster_group,
                 "Label one UTC day's partition (ML_INFERENCE_INPUT_TEMPLATE) and publish it at the day's "
                 "stable location."),
]

defs = dg.Definitions(
    assets=[asset for graph in GRAPHS for asset in graph_assets(graph)],
    asset_checks=[check for graph in GRAPHS for check in graph_checks(graph)],
    jobs=[*JOBS, review_job(REVIEW)],
    schedules=[daily_schedule(JOBS[2], INFERENCE.daily.dagster_group)],
    sensors=[new_training_data_sensor],
    resources=RESOURCES,
)
