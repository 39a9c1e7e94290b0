"""Which day of input an inference run labels: the one rule for scheduled, manual and backfill runs.

A run labels the partition of one UTC day D, the file `ML_INFERENCE_INPUT_TEMPLATE` with `{ds}`
replaced by D (YYYY-MM-DD). D is, in order:
1. the `partition_date` the user (or a backfill) named;
2. else the last complete UTC day before `as_of`, the moment the run was triggered or scheduled
   (a daily run at 00:00 on day D+1 labels day D; a manual run labels yesterday);
3. `as_of` defaults to now when the orchestrator passes none (a run from the CLI).
An explicit `input_uri` bypasses the rule.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ml.errors import BadInputError


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
