"""The daily inference schedule.

The tick at 00:00 UTC on day D+1 passes its own time as `as_of`; the step labels the UTC day
before it, day D (ml's partition rule, `ml/partitions.py`, the same Airflow's `@daily` runs get).
The run key is that date, so a day is labelled once per tick even if the daemon evaluates the
tick again.
"""

import dagster as dg

from ml.partitions import partition_date
from ml_dagster.jobs import inference_job


@dg.schedule(
    job=inference_job,
    cron_schedule="0 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Daily at 00:00 UTC: label the previous day's partition (ML_INFERENCE_INPUT_TEMPLATE).",
)
def daily_inference_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """One inference run per day, on that day's input partition."""
    as_of = context.scheduled_execution_time.isoformat()
    day = partition_date(as_of).isoformat()
    return dg.RunRequest(
        run_key=day,
        run_config={"ops": {"inference_data": {"config": {"as_of": as_of}}}},
        tags={"ml/partition_date": day},
    )
