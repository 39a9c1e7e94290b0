"""The jobs: each is one asset group plus its checks (checks follow their assets).

daily_inference_job is the daily (partitioned) inference graph: its runs are days, launched by
daily_inference_schedule, by a backfill (`make backfill`, the UI), or for one day from the UI.

How their runs and steps launch (Docker, or Kubernetes pods with `ML_LAUNCHER=kubernetes`)
comes from the environment of the code location: see k8s.py.
"""

from __future__ import annotations

import dagster as dg

from ml.launch.settings import load_launch_settings
from ml_dagster.k8s import job_launch

#: Imported once by the forkserver, before it forks each step's process.
PRELOAD_MODULES = ["ml_dagster.definitions", "ml.steps", "torch", "transformers", "mlflow", "pyarrow.parquet"]


def step_processes_executor() -> dg.ExecutorDefinition:
    """A process per step (a crash, an OOM kill or GPU memory stays with its step), started fast.

    Dagster's default starts each step process by `spawn`: a fresh interpreter that imports
    Dagster, the code location, torch, transformers and MLflow again, seconds per step. With
    `forkserver`, a server process imports them once per run and forks every step from it, so a
    step starts in a fraction of a second with the same isolation. The server imports but never
    initialises CUDA, so forked steps can still use the GPU.
    """
    return dg.multiprocess_executor.configured(
        {"start_method": {"forkserver": {"preload_modules": PRELOAD_MODULES}}}
    )


def time_limit(pipeline: str) -> dict[str, str]:
    """The run's time limit (`dagster/max_runtime`, enforced by the daemon's run monitoring).

    ml's step limits (ml/launch/timeouts.py) summed over the pipeline's steps and their tries:
    a Docker run's steps share one container, so the run is what can be stopped from outside.
    """
    return {"dagster/max_runtime": str(load_launch_settings().run_limit_s(pipeline))}


LAUNCH = job_launch()
EXECUTOR = LAUNCH.executor_def or step_processes_executor()

training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.groups("training"),
    description="Load and validate data, train, evaluate, register and promote (champion/challenger).",
    tags={"ml/pipeline": "training", **time_limit("train"), **LAUNCH.tags},
    executor_def=EXECUTOR,
)

inference_job = dg.define_asset_job(
    "inference_job",
    selection=dg.AssetSelection.groups("inference"),
    description="Resolve the production model once, label the input texts, publish the predictions.",
    tags={"ml/pipeline": "inference", **time_limit("infer"), **LAUNCH.tags},
    executor_def=EXECUTOR,
)

daily_inference_job = dg.define_asset_job(
    "daily_inference_job",
    selection=dg.AssetSelection.groups("daily_inference"),
    description="Label one UTC day's partition (ML_INFERENCE_INPUT_TEMPLATE) and publish it at the day's stable location.",
    tags={"ml/pipeline": "inference", **time_limit("infer"), **LAUNCH.tags},
    executor_def=EXECUTOR,
)
