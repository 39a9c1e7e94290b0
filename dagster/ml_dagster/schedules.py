"""The daily inference schedule, built from the daily inference graph's partitions.

The tick at 00:00 UTC on day D+1 launches the run of partition D, the newest complete day (the
partitions' end offset 0), which labels day D: ml's rule (`ml/partitions.py`), the same Airflow's
`@daily` runs follow. Dagster keys each tick's run by its partition, so a day is launched once
per tick even if the daemon evaluates the tick again.

Running from the start, as Airflow's `ml_inference` (`@daily`, unpaused at creation in the
stack): both orchestrators label yesterday at 00:00 UTC unless a user stops it (Dagster UI:
*Automation*; Airflow: pause the DAG). A day without an input file fails that day's run visibly.
"""

import dagster as dg

from ml_dagster.jobs import daily_inference_job

daily_inference_schedule = dg.build_schedule_from_partitioned_job(
    daily_inference_job,
    name="daily_inference_schedule",
    hour_of_day=0,
    minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily at 00:00 UTC: label the previous day's partition (ML_INFERENCE_INPUT_TEMPLATE).",
)
