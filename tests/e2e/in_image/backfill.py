"""The backfill phase's checks, inside the ml image (tests/e2e/backfill.py passes the result on stdin).

    python -m tests.e2e.in_image.backfill < payload.json

Per backfilled day: Airflow's and Dagster's own staged predictions carry identical labels (by id);
the day's stable file is whole and is the staged file of one of the two runs (the last writer);
Dagster's UI data shows the days labelled (partitions of daily/published_predictions) and not the
missing day. Prints {"checks": [...]} as the last stdout line. Two checks per day, one for Dagster.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ..checklist import check, emit, guarded
from .common import dagster, read_predictions

COLUMNS = ["id", "predicted_label", "score", "model_version", "pipeline_run_id"]
MATERIALIZED_PARTITIONS = """
query Partitions($assetKey: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $assetKey) {
    __typename
    ... on Asset { assetMaterializations(partitions: $partitions) { partition runId } }
    ... on Error { message }
  }
}
"""


def table(uri: str) -> dict[str, list[Any]]:
    """A predictions file's COLUMNS, rows sorted (by id first), as lists."""
    data = read_predictions(uri, COLUMNS)
    rows = sorted(zip(*(data[c].to_pylist() for c in COLUMNS), strict=True))
    return {c: [r[i] for r in rows] for i, c in enumerate(COLUMNS)}


def compare_day(day: str, airflow: dict[str, Any], dagster: dict[str, Any]) -> None:
    staged_a, staged_b = table(airflow["predictions_uri"]), table(dagster["predictions_uri"])
    same = staged_a["id"] == staged_b["id"] and staged_a["predicted_label"] == staged_b["predicted_label"]
    check(f"backfill {day}: identical labels from Airflow and Dagster", same,
          f"{len(staged_a['id'])} vs {len(staged_b['id'])} rows")
    stable = table(airflow["output_uri"])
    writers = set(stable["pipeline_run_id"])
    by_run = {airflow["run_id"]: staged_a, dagster["run_id"]: staged_b}
    writer = next(iter(writers)) if len(writers) == 1 else None
    check(f"backfill {day}: the stable file is the staged file of the run that wrote it last",
          airflow["output_uri"] == dagster["output_uri"] and writer in by_run and stable == by_run[writer],
          f"{airflow['output_uri']} written by {sorted(writers)}")


def dagster_partitions(days: list[str], missing: str) -> None:
    data = dagster().query(MATERIALIZED_PARTITIONS, {"assetKey": {"path": ["daily", "published_predictions"]},
                                                  "partitions": [*days, missing]})["assetOrError"]
    labelled = sorted({m["partition"] for m in data.get("assetMaterializations") or []})
    check("backfill: Dagster shows the seeded days labelled, not the missing one", labelled == sorted(days),
          f"materialized partitions {labelled}")


def main() -> int:
    payload = json.loads(sys.stdin.read())
    backfills = payload["result"]["backfills"]
    days, missing = payload["days"], payload["missing"]
    by_day = {o: {d["day"]: d for d in backfills[o]["days"]} for o in ("airflow", "dagster")}
    for day in days:
        airflow, dagster_run = by_day["airflow"].get(day), by_day["dagster"].get(day)
        if not (airflow and dagster_run and airflow["succeeded"] and dagster_run["succeeded"]):
            check(f"backfill {day}: both orchestrators labelled the day, to compare", False,
                  f"airflow {(airflow or {}).get('state')}, dagster {(dagster_run or {}).get('state')}")
            continue
        guarded(f"backfill {day}: predictions readable", lambda d=day, a=airflow, b=dagster_run: compare_day(d, a, b))
    guarded("backfill: Dagster partitions readable", lambda: dagster_partitions(days, missing))
    return emit()


if __name__ == "__main__":
    raise SystemExit(main())
