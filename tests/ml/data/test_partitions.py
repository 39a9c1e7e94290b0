"""The daily partitions: which days a backfill labels, a partition key as a day, and where each day's
result lands (one stable file per day, replaced atomically; run-scoped for explicit inputs)."""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ml.core.errors import BadInputError
from ml.data.partitions import (
    FIRST_DAY,
    MAX_BACKFILL_DAYS,
    backfill_days,
    daily_results_uri,
    day_of_partition_key,
    last_complete_day,
    partition_date,
)

NOW = datetime(2026, 12, 2, 0, 30, tzinfo=UTC)


def test_a_backfill_labels_every_day_of_its_range_both_ends_included() -> None:
    assert backfill_days("2026-11-29", "2026-12-01", NOW) == [date(2026, 11, 29), date(2026, 11, 30), date(2026, 12, 1)]
    assert backfill_days(date(2026, 11, 30), date(2026, 11, 30), NOW) == [date(2026, 11, 30)]
    assert backfill_days(FIRST_DAY, FIRST_DAY, NOW) == [FIRST_DAY]


@pytest.mark.parametrize(("start", "end", "message"), [
    ("2026-11-30", "2026-11-29", "is after TO=2026-11-29; swap them"),
    ("2025-12-31", "2026-01-02", f"before the first daily partition {FIRST_DAY}"),
    ("2026-11-30", "2026-12-02", "TO=2026-12-02 is not over yet (UTC); the last complete day is 2026-12-01"),
    ("2026-01-01", "2027-01-01", "not over yet"),
    ("yesterday", "2026-11-30", "is not a date; use YYYY-MM-DD"),
])
def test_a_bad_range_is_one_line_naming_the_fix(start: str, end: str, message: str) -> None:
    with pytest.raises(BadInputError) as caught:
        backfill_days(start, end, NOW)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_backfill_is_bounded() -> None:
    late = datetime(2028, 1, 10, tzinfo=UTC)
    assert len(backfill_days("2026-01-01", "2026-12-31", late)) == 365
    with pytest.raises(BadInputError, match=f"at most {MAX_BACKFILL_DAYS} at once"):
        backfill_days("2026-01-01", "2027-12-31", late)


def test_the_newest_partition_is_the_day_the_daily_run_labels() -> None:
    """At 00:00 on D+1 the last complete day is D, the day ml's rule labels for a run due then."""
    tick = datetime(2026, 12, 1, tzinfo=UTC)
    assert last_complete_day(tick) == partition_date(tick) == date(2026, 11, 30)
    assert last_complete_day(datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)) == date(2026, 11, 29)


def test_a_partition_key_is_the_day_its_run_labels() -> None:
    assert day_of_partition_key("2026-11-30") == date(2026, 11, 30)
    assert day_of_partition_key("2026-11-30", explicit="2026-11-30") == date(2026, 11, 30)  # the same day: fine
    with pytest.raises(BadInputError, match="partition_date=2026-11-29 contradicts the run's partition 2026-11-30"):
        day_of_partition_key("2026-11-30", explicit="2026-11-29")
    with pytest.raises(BadInputError, match=re.escape("input_uri='s3://d/x.csv' contradicts it")):
        day_of_partition_key("2026-11-30", input_uri="s3://d/x.csv")


def test_each_day_has_one_stable_location_apart_from_the_run_folders() -> None:
    from ml.core.workspace import safe_run_name

    assert daily_results_uri("s3://predictions", date(2026, 11, 30)) == \
        "s3://predictions/daily/2026-11-30/predictions.parquet"
    assert daily_results_uri("/data/predictions/", date(2026, 1, 1)) == "/data/predictions/daily/2026-01-01/predictions.parquet"
    assert safe_run_name("daily") != "daily"  # a run folder is never `daily/`


# --- save-predictions: where a run publishes --------------------------------------------------


def _staged(path: Path, run_id: str, rows: int) -> str:
    """A predict output of `rows` rows made by `run_id` (the columns save-predictions requires)."""
    table = pa.table({"id": [str(i) for i in range(rows)], "predicted_label": ["1"] * rows, "score": [0.9] * rows,
                      "model_name": ["text-classifier"] * rows, "model_version": ["3"] * rows,
                      "pipeline_run_id": [run_id] * rows})
    pq.write_table(table, path)
    return str(path)


def test_a_day_is_published_at_its_stable_location_and_replaced_by_a_later_run(local_env: Path, tmp_path: Path) -> None:
    from ml.core.config import get_settings
    from ml.steps import save_predictions

    results = get_settings().results_uri
    first = save_predictions(run_id="backfill__2026-11-30", partition_date="2026-11-30",
                             predictions_uri=_staged(tmp_path / "a.parquet", "backfill__2026-11-30", 5))
    target = daily_results_uri(results, date(2026, 11, 30))
    assert first["output_uri"] == target and first["partition_date"] == "2026-11-30" and first["rows"] == 5
    assert pq.read_table(target)["pipeline_run_id"].to_pylist() == ["backfill__2026-11-30"] * 5

    second = save_predictions(run_id="dagster-run-2", partition_date="2026-11-30",
                              predictions_uri=_staged(tmp_path / "b.parquet", "dagster-run-2", 3))
    assert second["output_uri"] == target  # the same day, the same file: replaced whole
    assert pq.read_table(target)["pipeline_run_id"].to_pylist() == ["dagster-run-2"] * 3
    folder = Path(target).parent
    assert sorted(os.listdir(folder)) == ["predictions.parquet"]  # no temporary file left beside it


def test_explicit_inputs_and_outputs_keep_their_locations(local_env: Path, tmp_path: Path) -> None:
    from ml.core.config import get_settings
    from ml.core.workspace import results_uri
    from ml.steps import save_predictions

    staged = _staged(tmp_path / "p.parquet", "manual-1", 2)
    run_scoped = save_predictions(run_id="manual-1", predictions_uri=staged)  # an explicit input: no day
    assert run_scoped["output_uri"] == results_uri(get_settings(), "manual-1") and run_scoped["partition_date"] is None
    chosen = str(Path(get_settings().results_uri) / "mine" / "out.parquet")
    named = save_predictions(run_id="manual-2", predictions_uri=staged, output_uri=chosen, partition_date="2026-11-30")
    assert named["output_uri"] == chosen  # output_uri wins over the day's location
    assert not Path(daily_results_uri(get_settings().results_uri, date(2026, 11, 30))).exists()


@pytest.mark.parametrize("where", ["{tmp}/elsewhere/out.parquet", "{results}/../work/runs/x.parquet", "{results}",
                                   "s3://predictions/x.parquet", "https://example.org/x.parquet"])
def test_an_output_outside_the_results_location_is_bad_input(local_env: Path, tmp_path: Path, capsys, where) -> None:
    from ml.core.config import get_settings
    from tests.ml.cli_helpers import error_line, run_cli

    staged = _staged(tmp_path / "p.parquet", "manual-1", 2)
    target = where.format(tmp=tmp_path, results=get_settings().results_uri)
    code, out, err = run_cli(capsys, "save-predictions", "--run-id", "r", "--predictions-uri", staged, "--output-uri", target)
    assert code == 2 and out == "" and "outside the results location" in error_line(err)
    assert not (tmp_path / "elsewhere").exists()


def test_an_s3_output_must_stay_in_the_results_prefix() -> None:
    from ml.core.config import Settings
    from ml.core.errors import BadInputError
    from ml.core.workspace import confined_output

    s = Settings(s3_endpoint="http://s3:9000", results_uri="s3://predictions/team-a")
    assert confined_output(s, "s3://predictions/team-a/run/p.parquet") == "s3://predictions/team-a/run/p.parquet"
    for bad in ("s3://mlflow/artifacts/1/x", "s3://predictions/team-ab/x", "s3://predictions/team-a/../b/x",
                "s3://ml-work/runs/x", "/tmp/x.parquet"):
        with pytest.raises(BadInputError, match="outside the results location"):
            confined_output(s, bad)


def test_a_bad_day_publishes_nothing(local_env: Path, tmp_path: Path) -> None:
    from ml.core.config import get_settings
    from ml.steps import save_predictions

    with pytest.raises(BadInputError, match="is not a date"):
        save_predictions(run_id="r", predictions_uri=_staged(tmp_path / "p.parquet", "r", 1), partition_date="30/11")
    assert not (Path(get_settings().results_uri) / "daily").exists()
