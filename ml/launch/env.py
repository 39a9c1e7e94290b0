"""Which environment a step receives: one answer for every launcher.

A step reads its settings from the environment (`ml.core.config`). The launcher (Airflow's scheduler,
Dagster's daemon) forwards the variables of its own environment whose names start with
`FORWARDED_PREFIXES`, minus its own settings (`LaunchSettings`, `ML_K8S_*`), which mean nothing
inside a step. What is secret is `ml.core.secrets`'s rule: a secret goes where the launcher keeps
secrets (Docker: `private_environment`; Kubernetes: only the Secret via `envFrom`), never into the
plain environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from ml.core.config import Settings
from ml.core.secrets import is_secret
from ml.launch.settings import LaunchSettings

FORWARDED_PREFIXES = ("ML_", "MLFLOW_", "AWS_", "HF_", "TRANSFORMERS_", "TOKENIZERS_")

def _env_name(settings: type[Settings] | type[LaunchSettings], field: str) -> str:
    prefix = settings.model_config.get("env_prefix", "")
    return f"{prefix}{field}".upper()


@cache
def launcher_only_names() -> frozenset[str]:
    """The launcher's own settings (`ML_LAUNCHER`, `ML_GPUS`, ...): never forwarded into a step.

    `ML_IMAGE` is forwarded: the step records the image it runs in as a lineage tag.
    """
    return frozenset(_env_name(LaunchSettings, name) for name in LaunchSettings.model_fields if name != "image")


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
    """Split the launcher's forwarded environment into plain and secret, plus `ML_ORCHESTRATOR`, plus
    the model catalog's content (`ML_MODEL_CATALOG_TEXT`).

    Why the content: the launcher (Airflow's DAG processor or scheduler, Dagster's daemon) reads the
    catalog file it mounts (`ML_MODEL_CATALOG`), a step container or pod does not mount it; with the
    content, a step resolves its model's settings as the launcher does, and a Dagster run container
    builds the same jobs as the code location.
    """
    from ml.core import catalog

    environ = os.environ if environ is None else environ
    plain: dict[str, str] = {}
    secret: dict[str, str] = {}
    for name, value in sorted(environ.items()):
        if is_forwarded(name):
            (secret if is_secret(name, value, environ) else plain)[name] = value
    plain["ML_ORCHESTRATOR"] = orchestrator
    text = environ.get(catalog.TEXT_VARIABLE) or catalog.catalog_text(environ.get(catalog.VARIABLE, ""))
    if text:
        plain[catalog.TEXT_VARIABLE] = text
    return StepEnvironment(plain=plain, secret=secret)
