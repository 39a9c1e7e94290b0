"""`LaunchSettings`: which launcher, which image, GPUs and limits: read once, for both orchestrators.

One grammar for `ML_GPUS`:
- `auto` (default, also when empty): every GPU when the Docker daemon has the NVIDIA runtime, else none;
- `all`: every GPU, always (the launch fails where there is none);
- `none`: CPU only;
- device ids: `0`, `0,1`, `GPU-<uuid>` or `MIG-<uuid>`: those GPUs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ml.core.config import one_line
from ml.core.errors import BadInputError

DEFAULT_IMAGE = "mlpipes/ml:local"  # compose's tag of the ml image (ML_IMAGE)
GPU_HELP = "use auto, all, none, or device ids such as 0,1"
_UNITS = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
#: A step container's memory limit unless ML_MEM_LIMIT says otherwise: a runaway step is stopped
#: by the kernel's OOM killer inside its container, not by the host's.
DEFAULT_MEM_LIMIT = "8g"
#: What every step container runs with (Docker and Dagster's DockerRunLauncher alike): no process
#: may gain privileges, and no Linux capability (a step runs as the image's unprivileged user and
#: needs none).
HARDENING: dict[str, Any] = {"security_opt": ["no-new-privileges:true"], "cap_drop": ["ALL"]}


class LaunchSettings(BaseSettings):
    """How step containers start; `ML_<FIELD>` in the launcher's environment (scheduler, daemon)."""

    # An empty variable (`ML_GPUS=` in .env) means unset: the default applies.
    model_config = SettingsConfigDict(env_prefix="ML_", extra="ignore", validate_default=True, env_ignore_empty=True)

    launcher: Literal["docker", "local", "kubernetes"] = Field(
        "docker", description="docker: a container of the ml image; local: a subprocess; kubernetes: a pod."
    )
    image: str = Field(DEFAULT_IMAGE, min_length=1, description="The ml image every step runs in.")
    gpus: str = Field("auto", description=f"GPUs of a step container: {GPU_HELP}.")
    cpus: float = Field(1.0, gt=0, description="CPU weight of a step container under contention (x1024 shares).")
    mem_limit: str = Field(DEFAULT_MEM_LIMIT, description=f"Memory limit of a step container (e.g. 16g); unset or empty "
                           f"= {DEFAULT_MEM_LIMIT}, none = no limit.")
    shm_size: str = Field("2g", description="/dev/shm of a step container (torch shares tensors there).")
    docker_network: str = Field("", description="Docker network of the step containers (compose's network).")
    docker_url: str = Field("", description="Docker daemon URL; empty = the local socket.")
    local_python: str = Field("", description="launcher=local: interpreter that runs `-m ml` (default: the current one).")
    step_timeouts: str = Field("", description="Step time limits overriding the defaults, e.g. train=12h,predict=30m "
                                               "(ml/launch/timeouts.py).")

    @field_validator("launcher", mode="before")
    @classmethod
    def _launcher_lower(cls, value: Any) -> Any:
        return (value.strip().lower() or "docker") if isinstance(value, str) else value

    @field_validator("gpus", mode="before")
    @classmethod
    def _gpu_grammar(cls, value: Any) -> str:
        text = str(value or "").strip() or "auto"  # unset or empty: the default
        if text.lower() in ("auto", "all", "none"):
            return text.lower()
        ids = [part.strip() for part in text.split(",")]  # ids keep their case (GPU-/MIG- UUIDs)
        if not all(part.isdigit() or (part.lower().startswith(("gpu-", "mig-")) and len(part) > 4) for part in ids):
            raise ValueError(GPU_HELP)
        return ",".join(ids)

    @field_validator("step_timeouts")
    @classmethod
    def _timeouts(cls, value: str) -> str:
        from ml.launch.timeouts import parse_overrides

        try:
            parse_overrides(value)
        except BadInputError as exc:
            raise ValueError(str(exc)) from None
        return value.strip()

    def step_limit_s(self, step: str) -> int:
        """Seconds one try of `step` may run (ml/launch/timeouts.py)."""
        from ml.launch.timeouts import step_limit_s

        return step_limit_s(step, self.step_timeouts)

    def run_limit_s(self, pipeline: str) -> int:
        """Seconds a whole run of `pipeline` may take, retries included (ml/launch/timeouts.py)."""
        from ml.launch.timeouts import run_limit_s

        return run_limit_s(pipeline, self.step_timeouts)

    @field_validator("mem_limit", "shm_size")
    @classmethod
    def _size(cls, value: str) -> str:
        if value.strip().lower() == "none":
            return "none"
        parse_size(value)
        return value.strip().lower()

    def gpu_device_requests(self, nvidia_runtime: bool | None) -> list[dict[str, Any]]:
        """Docker `device_requests` (docker SDK keyword names) for `gpus`; `auto` needs the probe's answer."""
        if self.gpus == "none" or (self.gpus == "auto" and not nvidia_runtime):
            return []
        if self.gpus in ("all", "auto"):
            return [{"count": -1, "capabilities": [["gpu"]]}]
        return [{"device_ids": self.gpus.split(","), "capabilities": [["gpu"]]}]

    def needs_runtime_probe(self) -> bool:
        """Only `auto` asks the Docker daemon (`nvidia_runtime`)."""
        return self.gpus == "auto"

    def container_limits(self) -> dict[str, Any]:
        """CPU weight, memory limit and /dev/shm as docker SDK `create_container` host-config values."""
        limits: dict[str, Any] = {"cpu_shares": round(self.cpus * 1024)}
        if self.mem_limit and self.mem_limit != "none":
            limits["mem_limit"] = self.mem_limit
        if self.shm_size and self.shm_size != "none":
            limits["shm_size"] = self.shm_size
        return limits

    def container_hardening(self) -> dict[str, Any]:
        """`HARDENING` as docker SDK host-config values (a copy: callers may merge into it)."""
        return {key: list(value) for key, value in HARDENING.items()}


def parse_size(value: str) -> int | None:
    """`2g`, `512m`, `1073741824` -> bytes (Docker's units, powers of 1024); empty -> None."""
    text = str(value or "").strip().lower()
    if not text:
        return None
    if len(text) > 1 and text.endswith("b") and text[-2] in "kmg":
        text = text[:-1]  # 2gb = 2g
    unit = text[-1] if text[-1] in _UNITS else "b"
    number = text[:-1] if text[-1] in _UNITS else text
    try:
        size = float(number)
    except ValueError:
        raise ValueError(f"size {value!r} is not valid; use bytes or a number with k, m or g") from None
    if size < 0:
        raise ValueError(f"size {value!r} is negative")
    return int(size * _UNITS[unit])


def nvidia_runtime(docker_client: Any) -> bool:
    """Whether the Docker daemon behind `docker_client` (a docker SDK client) can run NVIDIA GPU containers."""
    info = docker_client.info() or {}
    return "nvidia" in (info.get("Runtimes") or {})


def image_id(docker_api: Any, image: str) -> str:
    """The immutable identity of `image` on this Docker daemon, recorded with every model version.

    Why: a tag like `mlpipes/ml:local` moves with each build. A pushed image's registry digest
    (`name@sha256:...`) is preferred, else the local image id (`sha256:...`, the hash of its
    config). '' when the daemon does not hold the image yet (it is pulled at start): the step
    then records `unresolved`. `docker_api` is a low-level docker SDK `APIClient`.
    """
    from docker.errors import ImageNotFound

    try:
        info = docker_api.inspect_image(image)
    except ImageNotFound:
        return ""
    digests = info.get("RepoDigests") or []
    return str(digests[0] if digests else info["Id"])


def load_launch_settings() -> LaunchSettings:
    """`LaunchSettings` from the environment now; an invalid value is one `BadInputError` line."""
    try:
        return LaunchSettings()
    except ValidationError as exc:
        raise BadInputError(one_line(exc, "env")) from exc
