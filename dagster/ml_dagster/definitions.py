"""The code location: `dagster dev -m ml_dagster.definitions` locally, or the gRPC server in compose.

Everything is built from ml's pipeline spec (`ml/pipelines/spec.py`, `python -m ml pipelines`),
once per model of the model catalog (`ML_MODEL_CATALOG`, `python -m ml models`): the training
graph, the inference graph and its day-partitioned twin (assets.py), their checks (checks.py),
one job per graph (jobs.py), the review job (review.py), the daily schedule and the new-data
sensor. The default model's names are the spec's; another model's assets are under its key
prefix, in groups and jobs of its own (ml/pipelines/models.py). The catalog is read when the code
location loads: *Reload* in the UI (or `make models`) picks up a changed catalog.

Steps of a run execute in separate processes (the multiprocess executor, each step forked from
a server that imported the heavy libraries once: see jobs.py): each step starts clean (GPU
memory is freed between train and evaluate) and the small step outputs travel through the
instance's event log (see io_manager.py), which all processes share. On Kubernetes
(`ML_LAUNCHER=kubernetes`) the jobs carry their pod settings, or run one pod per step
(`ML_K8S_STEP_PODS=true`): see k8s.py.
"""

from __future__ import annotations

import dagster as dg

from ml.core.catalog import schedule_time
from ml.core.config import model_settings
from ml.data.new_data import watches
from ml.data.partitions import FIRST_DAY
from ml.pipelines.models import model_pipelines
from ml.pipelines.spec import Pipeline
from ml_dagster.assets import Graph, graph_assets
from ml_dagster.checks import graph_checks
from ml_dagster.io_manager import StepOutputIOManager
from ml_dagster.jobs import pipeline_job
from ml_dagster.resources import StorageResource
from ml_dagster.review import review_job
from ml_dagster.schedules import daily_schedule
from ml_dagster.sensors import new_data_sensor

RESOURCES = {
    "io_manager": StepOutputIOManager(),
    "storage": StorageResource(),
}

#: One partition per UTC day; the newest is the last complete day (ml.data.partitions.last_complete_day).
DAILY_PARTITIONS = dg.DailyPartitionsDefinition(start_date=FIRST_DAY.isoformat(), timezone="UTC", end_offset=0)


def model_graphs(training: Pipeline, inference: Pipeline) -> list[Graph]:
    """One model's asset graphs: training, inference, and inference's day-partitioned twin."""
    assert inference.daily is not None  # the spec's inference pipeline has its daily variant
    return [
        Graph(training, training.dagster_group),
        Graph(inference, inference.dagster_group),
        Graph(inference, inference.daily.dagster_group, inference.daily.dagster_prefix, DAILY_PARTITIONS),
    ]


def model_jobs(training: Pipeline, inference: Pipeline) -> list[dg.UnresolvedAssetJobDefinition]:
    """One model's jobs: training, manual inference, daily inference (the schedule's and backfills')."""
    assert inference.daily is not None
    model = f" ({training.model})"
    return [
        pipeline_job(training, training.dagster_job, training.dagster_group,
                     training.title + " (champion/challenger)" + model + "."),
        pipeline_job(inference, inference.dagster_job, inference.dagster_group,
                     "Resolve the model version once, label the input texts, publish the predictions" + model + "."),
        pipeline_job(inference, inference.daily.dagster_job, inference.daily.dagster_group,
                     "Label one UTC day's partition (the model's input template) and publish it at the day's "
                     "stable location" + model + "."),
    ]


#: Every model of the catalog (ML_MODEL_CATALOG, checked: a mistake fails the load with one line each),
#: the default model first: its pipelines bound to it, under its names (ml/pipelines/models.py).
MODELS = list(zip(model_pipelines("training"), model_pipelines("inference"), model_pipelines("review"), strict=True))
GRAPHS = [graph for training, inference, _ in MODELS for graph in model_graphs(training, inference)]
JOBS = {training.model: model_jobs(training, inference) for training, inference, _ in MODELS}
SCHEDULES = [
    daily_schedule(JOBS[inference.model][2], inference.daily.dagster_group, at)
    for _, inference, _ in MODELS
    if inference.daily and (at := schedule_time(model_settings(inference.model).inference_schedule))
]

defs = dg.Definitions(
    assets=[asset for graph in GRAPHS for asset in graph_assets(graph)],
    asset_checks=[check for graph in GRAPHS for check in graph_checks(graph)],
    jobs=[*(job for jobs in JOBS.values() for job in jobs), *(review_job(review) for _, _, review in MODELS)],
    schedules=SCHEDULES,
    sensors=[new_data_sensor(watch) for watch in watches()],
    resources=RESOURCES,
)
