"""The backfill phase's checks, inside the ml image (tests/e2e/backfill.py passes the result on stdin).

Per backfilled day: Airflow's and Dagster's own staged predictions carry identical labels (by id);
the day's stable file is whole and is the staged file of one of the two runs (the last writer);
Dagster's UI data shows the days labelled (partitions of daily/published_predictions) and not the
missing day. Prints {"checks": [...]} as the last stdout line, like checks.py.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

CHECKS: list[dict[str, Any]] = []
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


def check(name: str, passed: bool, detail: str = "") -> bool:
    CHECKS.append({"name": name, "passed": bool(passed), "detail": detail})
    print(f"[check] {'PASS' if passed else 'FAIL'}  {name}{'  -- ' + detail if detail else ''}", file=sys.stderr)
    return passed


def table(uri: str) -> dict[str, list[Any]]:
    import pyarrow.parquet as pq

    from ml.core import storage

    with tempfile.TemporaryDirectory() as tmp:
        data = pq.read_table(storage.fetch(uri, Path(tmp) / "p.parquet"), columns=COLUMNS)
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
    import ml_trigger as trigger

    client = trigger.DagsterClient(os.environ["DAGSTER_URL"])
    data = client.query(MATERIALIZED_PARTITIONS, {"assetKey": {"path": ["daily", "published_predictions"]},
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
        airflow, dagster = by_day["airflow"].get(day), by_day["dagster"].get(day)
        if airflow and dagster and airflow["succeeded"] and dagster["succeeded"]:
            try:
                compare_day(day, airflow, dagster)
            except Exception as exc:  # a check that cannot run is a failed check, with its reason
                check(f"backfill {day}: predictions readable", False, f"{type(exc).__name__}: {exc}")
    try:
        dagster_partitions(days, missing)
    except Exception as exc:
        check("backfill: Dagster partitions readable", False, f"{type(exc).__name__}: {exc}")
    print(json.dumps({"checks": CHECKS}, default=str))
    return 0 if all(c["passed"] for c in CHECKS) else 1


if __name__ == "__main__":
    raise SystemExit(main())
