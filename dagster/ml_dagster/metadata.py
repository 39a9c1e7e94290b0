"""A step's JSON result as Dagster metadata: the result as is, plus the entries the UI shows well.

Generic on purpose: which keys a step returns is the step's business (docs/steps.md); here a
`*_uri` becomes a path, a `*_url` a link, `metrics` numbers, `rows` the row count, every other
scalar or list of scalars an entry of its own, and the numbers of nested figures (a drift
verdict's statistics) entries named `<figure>_<number>`. The rest stays in the JSON entry.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

#: The metadata entry that holds the step's JSON result as is (`make train` reads it, as it reads
#: an Airflow task's XCom), next to the friendlier entries the UI shows.
RESULT_KEY = "ml_result"
ROW_COUNT = "dagster/row_count"


def numbers(values: dict[str, Any]) -> dict[str, float]:
    """The numeric entries of a step's `metrics` dict, as floats."""
    return {name: float(value) for name, value in values.items() if isinstance(value, (int, float))}


def result(out: dict[str, Any]) -> dict[str, Any]:
    """The step's JSON result as one metadata entry."""
    return {RESULT_KEY: dg.MetadataValue.json(out)}


def _entry(key: str, value: Any) -> dict[str, Any]:
    if key.endswith("_url"):
        return {key: dg.MetadataValue.url(value)} if value else {}  # no server to link to in embedded mode
    if key.endswith("_uri") and isinstance(value, str):
        return {key: dg.MetadataValue.path(value)}
    if key == "metrics" and isinstance(value, dict):
        return numbers(value)
    if key == "rows" and isinstance(value, dict):
        return {ROW_COUNT: sum(value.values()), **{f"rows_{name}": count for name, count in value.items()}}
    if key == "rows" and isinstance(value, int):
        return {ROW_COUNT: value}
    if isinstance(value, (str, int, float, bool)):
        return {key: value}
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return {key: ", ".join(map(str, value))}
    if isinstance(value, dict):
        return _figures(value)
    return {}


def _figures(nested: dict[str, Any]) -> dict[str, float]:
    """The numbers of a verdict's nested figures, one level down: `{"unknown_words": {"psi": ..}}`
    becomes `unknown_words_psi` (numbers only: the labels and shares stay in the JSON entry)."""
    return {f"{name}_{key}": float(value) for name, inner in nested.items() if isinstance(inner, dict)
            for key, value in inner.items() if isinstance(value, (int, float)) and not isinstance(value, bool)}


def step_metadata(out: dict[str, Any]) -> dict[str, Any]:
    """Metadata of a step result: the JSON entry, then one entry per key that reads well on its own."""
    metadata = result(out)
    for key, value in out.items():
        metadata.update(_entry(key, value))
    return metadata
