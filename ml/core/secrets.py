"""What is secret: one rule for the step environment, the logs, MLflow and the UIs.

A variable is secret (never a guess from a substring such as `TOKEN`) when it is:
1. a `SecretStr` setting of `ml.core.config` (`ML_S3_SECRET_KEY`, ...);
2. named in the explicit list: the credentials of the libraries the steps use (`NAMED_SECRETS`)
   plus your own names in `ML_SECRET_NAMES` (comma-separated, in the launcher's environment);
3. a well-known credential variable of the clouds and the Hub (`WELL_KNOWN_SECRETS`);
4. or one whose value is a URL with credentials or a query string (`http://user:pw@...`, a
   presigned URL): the value itself carries the secret, whatever the name (`ml.core.redact`).
The launch policy keeps secrets out of a step's plain environment (`ml.launch.env`); the logs mask
their values (`ml.core.logs.MaskSecrets`), except identifiers listed in `UNMASKED_SECRETS`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache

from pydantic import SecretStr

from ml.core.config import Settings

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


def _setting_env_name(field: str) -> str:
    return f"{Settings.model_config.get('env_prefix', '')}{field}".upper()


@cache
def secret_names() -> frozenset[str]:
    """The names that are secret whatever their value: SecretStr settings, `NAMED_SECRETS`, `WELL_KNOWN_SECRETS`."""
    derived = {_setting_env_name(name) for name, info in Settings.model_fields.items() if info.annotation is SecretStr}
    return frozenset(derived | NAMED_SECRETS | WELL_KNOWN_SECRETS)


def extra_secret_names(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """Your own secret names, `ML_SECRET_NAMES` (comma-separated) in `environ` (default: this process's)."""
    raw = (os.environ if environ is None else environ).get("ML_SECRET_NAMES", "")
    return frozenset(name.strip().upper() for name in raw.split(",") if name.strip())


def is_secret(name: str, value: str | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """The rule of the module docstring: by name (1-3), or by a `value` holding URL credentials (4)."""
    from ml.core import redact

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
    from ml.core import redact

    return "://" in value and redact.has_credentials(value)
