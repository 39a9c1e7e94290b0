"""`python -m ml versions` / `make versions`: every version of a model with what a person decides on.

Why a command of its own: `history` lists the moves of `champion`; choosing a version to roll
back to, approve or reject needs all of them, each with its score, its aliases, its review
state and the task it answers (a version of another task is never promoted automatically).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ml.lifecycle import champion, registry

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from ml.core.config import Settings


def describe(version: ModelVersion, settings: Settings, state: champion.State, task: str | None,
             aliases: list[str]) -> dict[str, Any]:
    """One version as a JSON-able row; score and task come from its run (what promotion trusts), not its tags."""
    tags = version.tags or {}
    signature = state.signature(version)
    labels = json.loads(signature)["labels"] if signature else None
    created = datetime.fromtimestamp((version.creation_timestamp or 0) / 1000, UTC)
    return {
        "version": str(version.version),
        "created": created.isoformat(timespec="seconds"),
        "metric": settings.promotion_metric,
        "score": state.score(version),
        "aliases": sorted(aliases),
        "review": tags.get(champion.REVIEW_TAG, ""),
        "labels": labels,
        "same_task": signature == task if task else None,
        "base_model": tags.get("base_model", ""),
        "dataset_uri": tags.get("dataset_uri", ""),
        "run": f"{tags.get('orchestrator', '?')}:{tags.get('pipeline_run_id', '?')}",
        "decision": tags.get("promotion_decision", ""),
        "status": str(version.status),
    }


def list_versions(settings: Settings) -> dict[str, Any]:
    """The model's versions, newest first, the champion and the model's task."""
    state = champion.read_state(settings)
    task = state.task(settings.promotion_metric)
    aliases = registry.aliases(settings)
    rows = [describe(v, settings, state, task, [a for a, n in aliases.items() if n == str(v.version)])
            for v in sorted(state.versions, key=lambda v: -int(v.version))]
    return {"model_name": settings.model_name, "champion_version": state.champion,
            "pinned": state.pin.__dict__ if state.pin else None, "promotion_mode": settings.promotion_mode,
            "task": champion.describe_signature(task) if task else None, "versions": rows}
