"""The daily inference schedule, built from the daily inference graph's partitions.

The tick at 00:00 UTC on day D+1 launches the run of partition D, the newest complete day (the
partitions' end offset 0), which labels day D: ml's rule (`ml/partitions.py`), the same Airflow's
`@daily` runs follow. Dagster keys each tick's run by its partition, so a day is launched once
per tick even if the daemon evaluates the tick again.

Running from the start, as Airflow's `ml_inference` (`@daily`, unpaused at creation in the
stack): both orchestrators label yesterday at 00:00 UTC unless a user stops it (Dagster UI:
*Automation*; Airflow: pause the DAG). A day without an input file fails that day's run visibly.
"""

from __future__ import annotations

import dagster as dg


def daily_schedule(job: dg.UnresolvedAssetJobDefinition, group: str, at: tuple[int, int] = (0, 0)) -> dg.ScheduleDefinition:
    """The schedule (`<group>_schedule`) of the day-partitioned `job`: daily at `at` (hour, minute UTC,
    the model's `inference_schedule`), the day that ended before it."""
    return dg.build_schedule_from_partitioned_job(
        job,
        name=f"{group}_schedule",
        hour_of_day=at[0],
        minute_of_hour=at[1],
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Daily at {at[0]:02d}:{at[1]:02d} UTC: label the previous day's partition "
                    "(the model's inference_schedule and input template).",
    )
