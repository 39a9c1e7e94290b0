"""Small helpers that turn step outputs into Dagster metadata entries."""

from __future__ import annotations

from typing import Any

import dagster as dg


def numbers(values: dict[str, Any]) -> dict[str, float]:
    """The numeric entries of a step's `metrics` dict, as floats."""
    return {name: float(value) for name, value in values.items() if isinstance(value, (int, float))}


#: The metadata entry that holds the step's JSON result as is (`make train` reads it, as it reads
#: an Airflow task's XCom), next to the friendlier entries the UI shows.
RESULT_KEY = "ml_result"


def result(out: dict[str, Any]) -> dict[str, Any]:
    """The step's JSON result as one metadata entry."""
    return {RESULT_KEY: dg.MetadataValue.json(out)}


def link(name: str, url: str | None) -> dict[str, Any]:
    """A URL metadata entry, or nothing when there is no server to link to (embedded mode)."""
    return {name: dg.MetadataValue.url(url)} if url else {}
