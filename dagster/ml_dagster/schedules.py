"""The daily inference schedule.

The tick at 00:00 UTC on day D+1 labels the partition of day D (as Airflow's `@daily` data
interval does): `ML_INFERENCE_INPUT_TEMPLATE` with `{ds}` replaced by D as YYYY-MM-DD
(default `s3://datasets/inference/{ds}.csv`). The run key is that date, so a day is labelled
once per tick even if the daemon evaluates the tick again.
"""

from datetime import date, datetime, timedelta

import dagster as dg

from ml_dagster.config import input_uri_for
from ml_dagster.jobs import inference_job


def partition_date(scheduled: datetime) -> date:
    """The day a tick labels: the day before the tick."""
    return (scheduled - timedelta(days=1)).date()


@dg.schedule(
    job=inference_job,
    cron_schedule="0 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Daily at 00:00 UTC: label the previous day's partition (ML_INFERENCE_INPUT_TEMPLATE).",
)
def daily_inference_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """One inference run per day, on that day's input partition."""
    day = partition_date(context.scheduled_execution_time)
    return dg.RunRequest(
        run_key=day.isoformat(),
        run_config={"ops": {"inference_data": {"config": {"input_uri": input_uri_for(day)}}}},
        tags={"ml/partition_date": day.isoformat()},
    )
