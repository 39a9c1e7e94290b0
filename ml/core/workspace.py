"""Per-run workspaces: every path a step writes derives from the orchestrator's run id.

Why: five runs triggered at once must never touch each other's files, and run ids such as
`manual__2026-11-25T06:34:22.842943+00:00` contain characters that are awkward in object keys.
"""

from __future__ import annotations

import hashlib
import re
import tempfile

from ml.core import storage
from ml.core.config import Settings
from ml.core.errors import BadInputError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_run_name(run_id: str) -> str:
    """A readable, key-safe name, unique per run id (a hash suffix keeps distinct ids distinct)."""
    if not run_id or not run_id.strip():
        raise BadInputError("empty --run-id; pass the orchestrator's run id")
    readable = _UNSAFE.sub("_", run_id.strip()).strip("._")[:80] or "run"
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    return f"{readable}-{digest}"


def mlflow_run_name(orchestrator: str, run_id: str) -> str:
    """`<orchestrator>-<run>` for the MLflow UI, without doubling a prefix the run id already has (`cli-training-...`)."""
    name = safe_run_name(run_id)
    return name if name.startswith(f"{orchestrator}-") else f"{orchestrator}-{name}"


def run_uri(settings: Settings, run_id: str, *parts: str) -> str:
    return storage.join(settings.work_uri, "runs", safe_run_name(run_id), *parts)


def results_uri(settings: Settings, run_id: str) -> str:
    return storage.join(settings.results_uri, safe_run_name(run_id), "predictions.parquet")


def scratch() -> tempfile.TemporaryDirectory[str]:
    """A step's local scratch folder, removed when the step ends: only published URIs outlive it."""
    return tempfile.TemporaryDirectory(prefix="ml-step-")
