"""Lineage of a training run: the tags that tie a model version to its data, code, image and task.

They go on the MLflow run at training and are copied to the registered version, so from any
prediction (`model_name`, `model_version`) one walks back to the run, its data (fingerprint,
URI), the code (`git_sha`) and the image (`image`, `image_id`) that produced it, and to the task
(`task_signature`) that the champion rule compares (`ml.lifecycle.champion`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from ml.core.config import Settings

#: The model (catalog entry) a training run trained: register refuses to file it under another.
MODEL_TAG = "model_name"


def source_revision() -> str:
    """The checkout's commit (`-dirty` with uncommitted changes) when running from source.

    Images get ML_GIT_SHA as a build argument from the same command (Makefile, `make images`).
    """
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12", "--exclude=*"],
                             capture_output=True, text=True, timeout=5, cwd=Path(__file__).resolve().parent, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def training_tags(s: Settings, run_id: str, manifest: dict[str, Any]) -> dict[str, str]:
    """The lineage tags of one training run (`manifest`: the split's, from load-training-data)."""
    from ml.lifecycle.champion import NEW_TASK_TAG, SIGNATURE_TAG, task_signature

    tags = {
        MODEL_TAG: manifest.get("model_name", s.model_name),
        "pipeline_run_id": run_id,
        "orchestrator": s.orchestrator,
        "data_fingerprint": manifest["fingerprint"],
        "dataset_uri": manifest["dataset_uri"],
        "base_model": s.base_model,
        "git_sha": s.git_sha or source_revision(),
        "image": s.image or "none",
        "image_id": s.image_id or "unresolved",
        SIGNATURE_TAG: task_signature(manifest["labels"], manifest.get("text_column", s.text_column),
                                      manifest.get("label_column", s.label_column)),
    }
    if manifest.get("new_task"):
        tags[NEW_TASK_TAG] = "true"
    return tags
