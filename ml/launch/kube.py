"""How a step runs as a Kubernetes pod: one description for both orchestrators.

Part of the launch policy (`ml.launch`). Airflow (`KubernetesPodOperator`, airflow/dags/ml_airflow/launch_k8s.py)
and Dagster (`dagster-k8s`, dagster/ml_dagster/k8s.py) must launch the same `ml` image with the same namespace, service
account, Secret, resources and GPU placement. Both read `PodSettings` (env prefix `ML_K8S_`) and
turn its plain dicts (Kubernetes API field names) into their own objects; nothing here imports a
Kubernetes client, Airflow or Dagster.

Secrets never travel in a pod spec: a step pod gets them through `envFrom` of the Secret named by
`ML_K8S_SECRET` (created from .env by `make k8s-secrets`), and its plain settings through `envFrom`
of the ConfigMap `ML_K8S_CONFIG_MAP`. The names below are the defaults the manifests in
`docker/k8s/` use; tests check that both agree.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ml.core.config import one_line
from ml.core.errors import BadInputError

#: Names shared with docker/k8s/ (tests/k8s checks the manifests use exactly these).
DEFAULT_NAMESPACE = "ml-pipelines"
DEFAULT_SERVICE_ACCOUNT = "ml-steps"
DEFAULT_SECRET = "ml-pipeline-secrets"
DEFAULT_CONFIG_MAP = "ml-pipeline-config"
GPU_RESOURCE = "nvidia.com/gpu"
SHM_VOLUME = "dshm"


class PodSettings(BaseSettings):
    """Where and how step pods run; `ML_K8S_<FIELD>` in the launcher's environment."""

    model_config = SettingsConfigDict(env_prefix="ML_K8S_", extra="ignore", validate_default=True)

    namespace: str = Field(DEFAULT_NAMESPACE, min_length=1, description="Namespace of the step pods.")
    service_account: str = Field(DEFAULT_SERVICE_ACCOUNT, min_length=1, description="Service account of the step pods.")
    secret: str = Field(DEFAULT_SECRET, min_length=1, description="Secret whose keys become the step's secret env.")
    config_map: str = Field(DEFAULT_CONFIG_MAP, description="ConfigMap of plain ML_* settings; empty = none.")
    image_pull_policy: Literal["IfNotPresent", "Always", "Never"] = "IfNotPresent"
    cpu_request: str = Field("1", description="CPU request of a step pod (Kubernetes quantity).")
    cpu_limit: str = Field("", description="CPU limit; empty = none (no throttling of torch threads).")
    memory_request: str = Field("4Gi", description="Memory request of a step pod.")
    memory_limit: str = Field("8Gi", description="Memory limit; the step is OOM-killed above it.")
    gpus: int = Field(0, ge=0, le=16, description="GPUs per step pod (nvidia.com/gpu); 0 = CPU.")
    gpu_node_selector: dict[str, str] = Field(
        default_factory=lambda: {"nvidia.com/gpu.present": "true"},
        description="Node labels a GPU pod needs (JSON); the NVIDIA GPU operator sets this one.",
    )
    gpu_tolerations: list[dict[str, Any]] = Field(
        default_factory=lambda: [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
        description="Tolerations of a GPU pod (JSON list), for tainted GPU node pools.",
    )
    startup_timeout_seconds: int = Field(900, ge=30, description="Scheduling + image pull (the ml image is GBs).")
    shm_size: str = Field("2Gi", description="Size of /dev/shm (torch DataLoader workers); empty = node default.")
    step_pods: bool = Field(False, description="Dagster only: one pod per step (k8s_job_executor), not per run.")

    @field_validator("step_pods", mode="before")
    @classmethod
    def _unset_is_false(cls, value: Any) -> Any:
        return False if isinstance(value, str) and not value.strip() else value

    @field_validator("gpu_tolerations")
    @classmethod
    def _known_toleration_keys(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        allowed = {"key", "operator", "value", "effect", "tolerationSeconds"}
        for item in value:
            unknown = set(item) - allowed
            if unknown:
                raise ValueError(f"toleration keys {sorted(unknown)} are not valid; use {sorted(allowed)}")
        return value

    # --- the pieces of a pod, as Kubernetes API dicts ------------------------------------------

    def resources(self) -> dict[str, dict[str, str]]:
        """Requests and limits of the step container; GPU limits only when GPUs are requested."""
        requests = {"cpu": self.cpu_request, "memory": self.memory_request}
        limits = {"memory": self.memory_limit} if self.memory_limit else {}
        if self.cpu_limit:
            limits["cpu"] = self.cpu_limit
        if self.gpus:
            limits[GPU_RESOURCE] = str(self.gpus)  # extended resources: limit only (request = limit)
        return {"requests": requests, "limits": limits}

    def node_selector(self) -> dict[str, str]:
        """Node labels: the GPU ones when GPUs are requested, none otherwise."""
        return dict(self.gpu_node_selector) if self.gpus else {}

    def tolerations(self) -> list[dict[str, Any]]:
        """Tolerations of GPU node taints when GPUs are requested, none otherwise."""
        return [dict(t) for t in self.gpu_tolerations] if self.gpus else []

    def shm(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The in-memory `/dev/shm` volume and its mount (torch shares tensors there; the container
        default is 64 MiB), or None when `shm_size` is empty."""
        if not self.shm_size:
            return None
        volume = {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": self.shm_size}}
        return volume, {"name": SHM_VOLUME, "mountPath": "/dev/shm"}

    def env_from(self) -> list[dict[str, Any]]:
        """`envFrom`: the Secret (required) and the ConfigMap (optional) of the step's settings."""
        sources: list[dict[str, Any]] = [{"secretRef": {"name": self.secret}}]
        if self.config_map:
            sources.append({"configMapRef": {"name": self.config_map, "optional": True}})
        return sources

    def check_image(self, image: str) -> str:
        """`image`, refused when `IfNotPresent` would run a stale copy of a moving tag."""
        name = image.strip()
        if not name:
            raise BadInputError("ML_IMAGE is empty; set it to the ml image tag the cluster can pull")
        last = name.rsplit("/", 1)[-1]
        tag = last.split(":", 1)[1] if ":" in last and "@" not in last else ""
        if self.image_pull_policy == "IfNotPresent" and "@" not in name and tag in ("", "latest", "local"):
            raise BadInputError(
                f"ML_IMAGE={name!r} has a moving tag; with ML_K8S_IMAGE_PULL_POLICY=IfNotPresent nodes would keep "
                "a stale copy: use an immutable tag (a version or git sha) or a digest"
            )
        return name


def load_pod_settings() -> PodSettings:
    """`PodSettings` from the environment now; an invalid value is one `BadInputError` line."""
    try:
        return PodSettings()
    except ValidationError as exc:
        raise BadInputError(one_line(exc, "env", prefix="ML_K8S_")) from exc
