"""ml_inference's days: a backfill run of logical date D labels D, and the day the run labelled
reaches save-predictions, so it publishes to that day's stable location (ml's rule)."""

from __future__ import annotations

from datetime import UTC, datetime

import dag_render
from dag_render import RunInfo, ml_args, render

from ml.data.partitions import FIRST_DAY, partition_date
from ml.launch.exits import drop_empty_options

ENV = {"ML_LAUNCHER": "docker", "ML_IMAGE": "registry.example/ml:1.2.3"}


def test_a_backfill_run_of_day_d_labels_d(load_dags) -> None:
    """Airflow's backfill makes the run of logical date D with the interval D -> D+1; its as-of
    (the interval's end) is D+1 00:00, and ml labels the day before: D."""
    dag = load_dags(**ENV).dags["ml_inference"]
    assert dag.start_date == datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=UTC)  # ml's first day
    backfill = RunInfo(run_id="backfill__2026-11-20T00:00:00+00:00", run_after=datetime(2026, 12, 2, 0, 5, tzinfo=UTC),
                       data_interval_start=datetime(2026, 11, 20, tzinfo=UTC),
                       data_interval_end=datetime(2026, 11, 21, tzinfo=UTC))
    task = render(dag.get_task("load_inference_data"), dag_run=backfill)
    as_of = drop_empty_options(task.command)[-1]
    assert partition_date(as_of).isoformat() == "2026-11-20"


def test_the_labelled_day_reaches_save_predictions(load_dags, monkeypatch) -> None:
    dag = load_dags(**ENV).dags["ml_inference"]
    task = dag.get_task("save_inference_results")
    monkeypatch.setitem(dag_render.UPSTREAM, "load_inference_data",
                        {**dag_render.UPSTREAM["load_inference_data"], "partition_date": "2026-11-20"})
    assert drop_empty_options(render(task).command) == ml_args(
        "save-predictions", predictions_uri="s3://ml-work/r2/predictions.parquet", partition_date="2026-11-20")
    # an explicit input: load-inference-data returns no day, so the option is left out (run-scoped location)
    monkeypatch.setitem(dag_render.UPSTREAM, "load_inference_data",
                        {**dag_render.UPSTREAM["load_inference_data"], "partition_date": None})
    assert drop_empty_options(render(task).command) == ml_args(
        "save-predictions", predictions_uri="s3://ml-work/r2/predictions.parquet")
