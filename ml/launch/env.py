"""Which environment a step receives, and which of it is secret: one answer for every launcher.

A step reads its settings from the environment (`ml.config`). The launcher (Airflow's scheduler,
Dagster's daemon) forwards the variables of its own environment whose names start with
`FORWARDED_PREFIXES`, minus its own settings (`LaunchSettings`, `ML_K8S_*`), which mean nothing
inside a step.

What is secret, one rule (never a guess from a substring such as `TOKEN`), a variable that is:
1. a `SecretStr` setting of `ml.config` (`ML_S3_SECRET_KEY`, ...);
2. named in the explicit list: the credentials of the libraries the steps use (`NAMED_SECRETS`)
   plus your own names in `ML_SECRET_NAMES` (comma-separated, in the launcher's environment);
3. a well-known credential variable of the clouds and the Hub (`WELL_KNOWN_SECRETS`);
4. or whose value is a URL with credentials or a query string (`http://user:pw@...`, a presigned
   URL): the value itself carries the secret, whatever the name (`ml.redact`).
A secret goes where the launcher keeps secrets (Docker: `private_environment`; Kubernetes: only
the Secret via `envFrom`), and its value is masked in logs (`ml.logs`), except identifiers listed
in `UNMASKED_SECRETS`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from pydantic import SecretStr

from ml.config import Settings
from ml.launch.settings import LaunchSettings

FORWARDED_PREFIXES = ("ML_", "MLFLOW_", "AWS_", "HF_", "TRANSFORMERS_", "TOKENIZERS_")

#: Credentials the steps' libraries read (boto3/MLflow artifacts, the MLflow client, Hugging Face).
NAMED_SECRETS = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_TOKEN",
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
    }
)
#: Credential variables of the clouds and model hubs: tokens, passwords and keys, never forwarded
#: as plain values whatever launcher runs the step.
WELL_KNOWN_SECRETS = frozenset(
    {
        "AWS_SECURITY_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_BEARER_TOKEN_BEDROCK",
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PASSWORD",
        "AZURE_PASSWORD",
        "AZURE_STORAGE_KEY",
        "AZURE_STORAGE_ACCESS_KEY",
        "AZURE_STORAGE_CONNECTION_STRING",
        "AZURE_STORAGE_SAS_TOKEN",
        "GOOGLE_API_KEY",
        "GOOGLE_OAUTH_ACCESS_TOKEN",
        "GCS_OAUTH_TOKEN",
        "CLOUDSDK_AUTH_ACCESS_TOKEN",
        "HF_HUB_TOKEN",
        "HF_API_TOKEN",
        "HUGGINGFACE_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "DATABRICKS_TOKEN",
        "DATABRICKS_CLIENT_SECRET",
        "DATABRICKS_PASSWORD",
        "MLFLOW_TRACKING_CLIENT_CERT_PASSWORD",
        "WANDB_API_KEY",
        "GITHUB_TOKEN",
        "GH_TOKEN",
    }
)
#: Secrets that are identifiers, often plain words (a project name): private, but masking them
#: would turn every log line with that word into `***`.
UNMASKED_SECRETS = frozenset({"ML_S3_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "MLFLOW_TRACKING_USERNAME"})


def _env_name(settings: type[Settings] | type[LaunchSettings], field: str) -> str:
    prefix = settings.model_config.get("env_prefix", "")
    return f"{prefix}{field}".upper()


@cache
def secret_names() -> frozenset[str]:
    """The names that are secret whatever their value: SecretStr settings, `NAMED_SECRETS`, `WELL_KNOWN_SECRETS`."""
    derived = {_env_name(Settings, name) for name, info in Settings.model_fields.items() if info.annotation is SecretStr}
    return frozenset(derived | NAMED_SECRETS | WELL_KNOWN_SECRETS)


def extra_secret_names(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """Your own secret names, `ML_SECRET_NAMES` (comma-separated) in `environ` (default: this process's)."""
    raw = (os.environ if environ is None else environ).get("ML_SECRET_NAMES", "")
    return frozenset(name.strip().upper() for name in raw.split(",") if name.strip())


@cache
def launcher_only_names() -> frozenset[str]:
    """The launcher's own settings (`ML_LAUNCHER`, `ML_GPUS`, ...): never forwarded into a step.

    `ML_IMAGE` is forwarded: the step records the image it runs in as a lineage tag.
    """
    return frozenset(_env_name(LaunchSettings, name) for name in LaunchSettings.model_fields if name != "image")


def is_secret(name: str, value: str | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """The rule of the module docstring: by name (1-3), or by a `value` holding URL credentials (4)."""
    from ml import redact

    upper = name.upper()
    if upper in secret_names() or upper in extra_secret_names(environ):
        return True
    return value is not None and redact.has_credentials(value)


def masks_in_logs(name: str, value: str | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Secrets whose values are masked in task logs (all but the identifiers)."""
    return is_secret(name, value, environ) and name.upper() not in UNMASKED_SECRETS


def secret_values(environ: Mapping[str, str] | None = None, shortest: int = 4) -> list[str]:
    """The values of `environ`'s secrets to mask in logs, longest first (a value inside another is masked after it)."""
    environ = os.environ if environ is None else environ
    values = {value for name, value in environ.items()
              if len(value) >= shortest and masks_in_logs(name, value, environ) and not redact_only(value)}
    return sorted(values, key=len, reverse=True)


def redact_only(value: str) -> bool:
    """A URL whose only secret part `ml.redact` cuts anyway (its userinfo or query): masking it whole would hide
    the server's address in every line that names it."""
    from ml import redact

    return "://" in value and redact.has_credentials(value)


def is_forwarded(name: str) -> bool:
    """A variable of the launcher's environment that the step receives."""
    upper = name.upper()
    return (
        upper.startswith(FORWARDED_PREFIXES)
        and upper not in launcher_only_names()
        and not upper.startswith("ML_K8S_")
        and upper not in ("ML_ORCHESTRATOR", "ML_RESULT_PATH")  # set per launch, below
    )


@dataclass(frozen=True)
class StepEnvironment:
    """The variables a step receives: `plain` (may be shown) and `secret` (kept private)."""

    plain: dict[str, str]
    secret: dict[str, str]

    def names(self) -> list[str]:
        """Every forwarded name (a launcher that passes values by name, e.g. Dagster's env_vars)."""
        return sorted({*self.plain, *self.secret})


def step_environment(orchestrator: str, environ: Mapping[str, str] | None = None) -> StepEnvironment:
    """Split the launcher's forwarded environment into plain and secret, plus `ML_ORCHESTRATOR`."""
    environ = os.environ if environ is None else environ
    plain: dict[str, str] = {}
    secret: dict[str, str] = {}
    for name, value in sorted(environ.items()):
        if is_forwarded(name):
            (secret if is_secret(name, value, environ) else plain)[name] = value
    plain["ML_ORCHESTRATOR"] = orchestrator
    return StepEnvironment(plain=plain, secret=secret)
