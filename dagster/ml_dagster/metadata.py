"""Small helpers that turn step outputs into Dagster metadata entries."""

from __future__ import annotations

from typing import Any

import dagster as dg


def numbers(values: dict[str, Any]) -> dict[str, float]:
    """The numeric entries of a step's `metrics` dict, as floats."""
    return {name: float(value) for name, value in values.items() if isinstance(value, (int, float))}


def link(name: str, url: str | None) -> dict[str, Any]:
    """A URL metadata entry, or nothing when there is no server to link to (embedded mode)."""
    return {name: dg.MetadataValue.url(url)} if url else {}
