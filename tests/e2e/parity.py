"""e2e phase "parity": Airflow and Dagster mean the same thing (the comparisons: in_image/parity.py).

The first runs (`make train` and `make infer` on both) are compared pairwise; then both
orchestrators are started at the same moment on `make infer PARAMS=input_uri=` (inputs seeded for
yesterday and today, UTC) and must read the same partition, the UTC day before the trigger.
15 checks: the seeding, the two partition runs, 12 comparisons in the image.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

from . import stack

#: The rows of each seeded inference partition (kept small: the parity runs label them).
PARTITION_ROWS = 200


def partition_days(now: datetime) -> list[date]:
    """The partitions a run triggered around `now` may label: yesterday and today (UTC).

    Yesterday's is the one a run triggered today labels; today's covers midnight UTC passing before
    the trigger. (The rule itself is ml/partitions.py's; in_image/parity.py checks against it.)
    """
    today = now.astimezone(UTC).date()
    return [today - timedelta(days=1), today]


def seed_partitions(template: str, days: list[date]) -> bool:
    """Unlabelled demo texts at the partition URIs of `days`, in one `docker compose run`."""
    uris = [template.replace("{ds}", d.isoformat()) for d in days]
    proc = stack.seed_inputs(uris, PARTITION_ROWS, seed=11)
    return stack.record(f"parity: inference inputs seeded for {', '.join(d.isoformat() for d in days)} (UTC)",
                        proc.returncode == 0,
                        f"{len(uris)} x {PARTITION_ROWS} rows at {template}" if proc.returncode == 0
                        else f"exit {proc.returncode}")


def partition_runs() -> tuple[dict[str, Any], list[str]]:
    """`make infer ORCHESTRATOR=airflow|dagster PARAMS=input_uri=`, both started at the same moment.

    Returns the outcomes by orchestrator (missing: no outcome printed) and the window (ISO, UTC)
    the triggers fell in.
    """
    barrier = threading.Barrier(len(stack.ORCHESTRATORS))

    def one(orchestrator: str) -> dict[str, Any] | None:
        barrier.wait(timeout=60)
        return stack.pipeline("infer", orchestrator, "PARAMS=input_uri=", source="parity", keep_failed=True,
                              timeout=1800)

    before = datetime.now(UTC)
    outcomes = stack.on_both(one)
    after = datetime.now(UTC)
    return {o: r for o, r in outcomes.items() if r}, [before.isoformat(), after.isoformat()]


def run(first: dict[tuple[str, str], dict[str, Any] | None]) -> None:
    """Seed today's partitions, run both orchestrators on them at once, compare everything in the ml image."""
    template = stack.inference_template()
    partition: dict[str, Any] = {"template": template}
    if seed_partitions(template, partition_days(datetime.now(UTC))):
        outcomes, window = partition_runs()
        partition.update(outcomes, triggered_between=window)
    pairs: dict[str, Any] = {
        pipeline: {o: first.get((pipeline, o)) for o in stack.ORCHESTRATORS if first.get((pipeline, o))}
        for pipeline in ("train", "infer")}
    pairs["partition"] = partition
    stack.in_ml_image("parity", stdin=json.dumps(pairs, default=str), timeout=900)
