"""Which day of input an inference run labels: the one rule for scheduled, manual and backfill runs.

A run labels the partition of one UTC day D, the file `ML_INFERENCE_INPUT_TEMPLATE` with `{ds}`
replaced by D (YYYY-MM-DD). D is, in order:
1. the `partition_date` the user (or a backfill) named;
2. else the last complete UTC day before `as_of`, the moment the run was triggered or scheduled
   (a daily run at 00:00 on day D+1 labels day D; a manual run labels yesterday);
3. `as_of` defaults to now when the orchestrator passes none (a run from the CLI).
An explicit `input_uri` bypasses the rule.

Where a day's result lands is decided here too: a run that labelled day D by this rule publishes
`<ML_RESULTS_URI>/daily/D/predictions.parquet` (one stable location per day, replaced atomically
when the day is labelled again); a run with an explicit input keeps its run-scoped location.
Backfills label complete days only, from FIRST_DAY (the first day of the daily schedules) to
yesterday: the days both orchestrators can run (Airflow's data intervals, Dagster's partitions).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ml.core import redact
from ml.core.errors import BadInputError

#: The first day the daily inference runs label: Airflow's start_date, Dagster's first partition.
FIRST_DAY = date(2026, 1, 1)
#: The most days one backfill may label (a typo in a year should not start thousands of runs).
MAX_BACKFILL_DAYS = 366


def parse_date(value: str | date) -> date:
    """`YYYY-MM-DD` (or a date) -> date; bad input is one line."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise BadInputError(f"partition date {value!r} is not a date; use YYYY-MM-DD") from None


def parse_moment(value: str | datetime | None) -> datetime:
    """An ISO timestamp (naive = UTC) or None (now) -> an aware UTC datetime."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return datetime.now(UTC)
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise BadInputError(f"as-of time {value!r} is not an ISO timestamp (e.g. 2026-12-01T06:00:00+00:00)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def partition_date(as_of: str | datetime | None = None, explicit: str | date | None = None) -> date:
    """The day a run labels: `explicit` when given, else the UTC day before `as_of` (default now)."""
    if explicit not in (None, ""):
        return parse_date(explicit)  # type: ignore[arg-type]
    return (parse_moment(as_of) - timedelta(days=1)).date()


def input_uri_for(template: str, day: date) -> str:
    """The input file of `day` under `template` (`{ds}` becomes YYYY-MM-DD)."""
    if "{ds}" not in template:
        raise BadInputError(
            f"ML_INFERENCE_INPUT_TEMPLATE={template!r} has no {{ds}}; put {{ds}} where the date goes, "
            "e.g. s3://datasets/inference/{ds}.csv"
        )
    return template.replace("{ds}", day.isoformat())


def daily_results_uri(results_base: str, day: date) -> str:
    """The one stable location of day `day`'s predictions, under `results_base` (ML_RESULTS_URI).

    `daily/` cannot clash with a run-scoped folder: those always end in `-<8 hex>`.
    """
    return f"{results_base.rstrip('/')}/daily/{day.isoformat()}/predictions.parquet"


def last_complete_day(now: str | datetime | None = None) -> date:
    """The latest day that is over (UTC): the last one a daily run or a backfill may label."""
    return partition_date(now)


def backfill_days(start: str | date, end: str | date, now: str | datetime | None = None) -> list[date]:
    """Every day from `start` to `end` (both included) that a backfill labels; bad ranges are one line."""
    first, last = parse_date(start), parse_date(end)
    newest = last_complete_day(now)
    if first > last:
        raise BadInputError(f"backfill FROM={first} is after TO={last}; swap them")
    if first < FIRST_DAY:
        raise BadInputError(f"backfill FROM={first} is before the first daily partition {FIRST_DAY}; "
                            f"use FROM={FIRST_DAY} or later")
    if last > newest:
        raise BadInputError(f"backfill TO={last} is not over yet (UTC); the last complete day is {newest}")
    count = (last - first).days + 1
    if count > MAX_BACKFILL_DAYS:
        raise BadInputError(f"backfill of {count} days ({first}..{last}); at most {MAX_BACKFILL_DAYS} at once, "
                            "split the range")
    return [first + timedelta(days=i) for i in range(count)]


def day_of_partition_key(key: str, explicit: str | date | None = None, input_uri: str | None = None) -> date:
    """The day a run that an orchestrator launched for partition `key` labels (the key, as a date).

    A run of day D reads day D's input: an explicit `input_uri`, or a `partition_date` naming
    another day, contradicts its partition and is bad input.
    """
    day = parse_date(key)
    if input_uri:
        raise BadInputError(f"the run of partition {day} labels {day}'s input; input_uri={redact.uri(input_uri)!r} "
                            "contradicts it: drop input_uri, or launch the run without a partition")
    if explicit not in (None, "") and parse_date(explicit) != day:  # type: ignore[arg-type]
        raise BadInputError(f"partition_date={explicit} contradicts the run's partition {day}; drop partition_date")
    return day
