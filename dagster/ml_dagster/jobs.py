"""The jobs: each is one asset group of a pipeline plus its checks (checks follow their assets).

Names, groups and steps are ml's pipeline spec (`python -m ml pipelines`). The daily inference
job is the day-partitioned graph: its runs are days, launched by the daily schedule, by a backfill
(`make backfill`, the UI), or for one day from the UI.

How their runs and steps launch (Docker, or Kubernetes pods with `ML_LAUNCHER=kubernetes`)
comes from the environment of the code location: see k8s.py.
"""

from __future__ import annotations

import dagster as dg

from ml.launch.settings import load_launch_settings
from ml.pipelines.spec import Pipeline
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


def time_limit(name: str) -> dict[str, str]:
    """The run's time limit (`dagster/max_runtime`, enforced by the daemon's run monitoring).

    ml's step limits (ml/launch/timeouts.py) summed over the pipeline's steps and their tries:
    a Docker run's steps share one container, so the run is what can be stopped from outside.
    """
    return {"dagster/max_runtime": str(load_launch_settings().run_limit_s(name))}


LAUNCH = job_launch()
EXECUTOR = LAUNCH.executor_def or step_processes_executor()


def pipeline_job(spec: Pipeline, name: str, group: str, description: str) -> dg.UnresolvedAssetJobDefinition:
    """The job of one asset group (its checks follow their assets), tagged with the pipeline and its limit."""
    return dg.define_asset_job(
        name,
        selection=dg.AssetSelection.groups(group),
        description=description,
        tags={"ml/pipeline": spec.name, **time_limit(spec.name), **LAUNCH.tags},
        executor_def=EXECUTOR,
    )
