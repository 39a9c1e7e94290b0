"""Kubernetes wiring of the jobs (dagster-k8s), chosen by the environment of the code location.

Why here: in the Helm deployment (docker/k8s/dagster/values.yaml) `K8sRunLauncher` starts each
run as a Kubernetes Job of the ml image. What a pod that runs steps needs (resources, GPUs and
their placement, service account, /dev/shm) comes from `ml.launch.kube.PodSettings` (`ML_K8S_*`), the
description the Airflow `KubernetesPodOperator` launcher reads too, so both orchestrators
produce the same pods from the same environment. Secrets only travel by name (`envFrom`).

- `ML_LAUNCHER=kubernetes`: each job carries the `dagster-k8s/config` tag, which K8sRunLauncher
  applies to the run pod; that pod runs the steps (a process per step, see jobs.py), so it gets
  the step resources.
- and `ML_K8S_STEP_PODS=true`: the jobs use `k8s_job_executor`, one Kubernetes Job per step
  with those settings. The run pod then only launches and watches the step Jobs, so it gets
  no tag: no GPU held for the whole run, and it keeps the chart's service account (which may
  create Jobs; `ml-steps` need not).
- otherwise (`docker`, `local`): no tags, a process per step in the run container.

This module imports no Kubernetes client: dagster_k8s is imported only for step pods.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from ml.launch.kube import PodSettings, load_pod_settings
from ml.launch.settings import load_launch_settings

K8S_CONFIG_TAG = "dagster-k8s/config"  # dagster_k8s.job.USER_DEFINED_K8S_CONFIG_KEY


@dataclass(frozen=True)
class JobLaunch:
    """How the jobs launch: extra run tags, and an executor (None: step processes, see jobs.py)."""

    tags: dict[str, str] = field(default_factory=dict)
    executor_def: dg.ExecutorDefinition | None = None


def k8s_config(settings: PodSettings) -> dict[str, Any]:
    """The dagster-k8s config of a pod that runs steps (Kubernetes API field names inside)."""
    container: dict[str, Any] = {"resources": settings.resources(), "imagePullPolicy": settings.image_pull_policy}
    pod: dict[str, Any] = {"serviceAccountName": settings.service_account}
    if settings.node_selector():
        pod["nodeSelector"] = settings.node_selector()
    if settings.tolerations():
        pod["tolerations"] = settings.tolerations()
    if shm := settings.shm():
        pod["volumes"], container["volumeMounts"] = [shm[0]], [shm[1]]
    return {"container_config": container, "pod_spec_config": pod}


def step_pod_executor(settings: PodSettings) -> dg.ExecutorDefinition:
    """`k8s_job_executor` that starts every step as a Job with the step pod settings."""
    from dagster_k8s import k8s_job_executor

    return k8s_job_executor.configured(
        {
            "job_namespace": settings.namespace,
            "env_secrets": [settings.secret],
            "env_config_maps": [settings.config_map] if settings.config_map else [],
            "step_k8s_config": k8s_config(settings),
        }
    )


def job_launch() -> JobLaunch:
    """The launch options `ML_LAUNCHER` / `ML_K8S_*` select; invalid values fail the code location load."""
    settings = load_pod_settings()  # a typo in ML_K8S_* fails now, not when someone switches to Kubernetes
    if load_launch_settings().launcher != "kubernetes":
        return JobLaunch()
    image = os.environ.get("DAGSTER_CURRENT_IMAGE")  # the chart sets it to the code location's image
    if image:
        settings.check_image(image)
    if settings.step_pods:
        return JobLaunch(executor_def=step_pod_executor(settings))
    return JobLaunch(tags={K8S_CONFIG_TAG: json.dumps(k8s_config(settings))})
