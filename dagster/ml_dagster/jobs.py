"""The two jobs: each is one asset group plus its checks (checks follow their assets)."""

from __future__ import annotations

import dagster as dg

training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.groups("training"),
    description="Load and validate data, train, evaluate, register and promote (champion/challenger).",
    tags={"ml/pipeline": "training"},
)

inference_job = dg.define_asset_job(
    "inference_job",
    selection=dg.AssetSelection.groups("inference"),
    description="Resolve the production model once, label the input texts, publish the predictions.",
    tags={"ml/pipeline": "inference"},
)
