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


def confined_output(settings: Settings, output_uri: str) -> str:
    """`output_uri` if it lies under `ML_RESULTS_URI`, else bad input: a run may publish only where results go.

    Why: `output_uri` is a run parameter anyone who may start a run can set; without this one run
    could overwrite the work area, the datasets or MLflow's artifacts (the object store's policy
    denies it too, where the store enforces one: docs/compose.md).
    """
    from pathlib import PurePosixPath

    base = settings.results_uri.rstrip("/")
    hint = f"publish under ML_RESULTS_URI ({base}), e.g. {base}/my-run/predictions.parquet, or leave output_uri empty"
    if storage.is_s3(base) != storage.is_s3(output_uri) or storage.is_http(output_uri):
        raise BadInputError(f"output_uri {output_uri!r} is outside the results location; {hint}")
    if storage.is_s3(base):
        bucket, key = storage.split_s3(output_uri)
        base_bucket, base_key = storage.split_s3(base)
        parts = PurePosixPath(key).parts
        inside = bucket == base_bucket and ".." not in parts and key.startswith(f"{base_key}/" if base_key else "")
    else:
        target = storage.local_path(output_uri).resolve()
        inside = target.is_relative_to(storage.local_path(base).resolve())
    if not inside or output_uri.rstrip("/") == base:
        raise BadInputError(f"output_uri {output_uri!r} is outside the results location; {hint}")
    return output_uri
