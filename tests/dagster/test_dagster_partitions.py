"""Dagster's daily partitions mapped to ml's days: a run of partition D (the daily graph) reads day
D's input, a run of the manual graph keeps ml's manual rule, and a missing day fails alone with
ml's one line.

Real ml steps on embedded (local) storage; only the `inference_data` asset and its check run.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest

DAILY_OP = "daily__inference_data"  # the op of the daily graph's inference_data asset


@pytest.fixture
def days_env(local_env: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """ML_INFERENCE_INPUT_TEMPLATE in a local folder, with inputs for 2026-11-20 and 2026-11-21 only."""
    from ml.core.config import reset_settings

    template = str(local_env / "inference" / "{ds}.csv")
    monkeypatch.setenv("ML_INFERENCE_INPUT_TEMPLATE", template)
    reset_settings()
    for day, rows in (("2026-11-20", 4), ("2026-11-21", 6)):
        path = Path(template.replace("{ds}", day))
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "text"])
            writer.writerows([[f"{day}-{i}", f"a text of {day} number {i}"] for i in range(rows)])
    return template


def _materialize(partition_key: str | None = None, config: dict | None = None) -> dg.ExecuteInProcessResult:
    """inference_data and its check: of the daily graph for a partition, else of the manual graph."""
    from ml_dagster.assets import graph_assets
    from ml_dagster.checks import graph_checks
    from ml_dagster.definitions import GRAPHS, RESOURCES

    graph = GRAPHS[2] if partition_key else GRAPHS[1]  # the daily or the manual inference graph
    asset = next(a for a in graph_assets(graph) if a.key == graph.key("load-inference-data"))
    picked = [c for c in graph_checks(graph) if any(k.asset_key == asset.key for k in c.check_keys)]
    return dg.materialize(
        [asset, *picked], partition_key=partition_key, raise_on_error=False,
        resources=RESOURCES,  # the deployed IO manager: step outputs in the event log
        run_config={"ops": {asset.op.name: {"config": config}}} if config else None,
    )


def test_a_partition_run_reads_that_days_input(days_env: str) -> None:
    for day, rows in (("2026-11-20", 4), ("2026-11-21", 6)):
        result = _materialize(day)
        assert result.success
        out = result.output_for_node(DAILY_OP)
        assert (out["partition_date"], out["input_uri"], out["rows"]) == (day, days_env.replace("{ds}", day), rows)
        [event] = result.get_asset_materialization_events()
        assert event.partition == day  # the UI shows the day as materialized


def test_a_missing_day_fails_its_run_with_mls_one_line(days_env: str) -> None:
    result = _materialize("2026-11-22")
    assert not result.success
    evaluations = [e.asset_check_evaluation_data for e in result.all_events
                   if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
    assert [e.passed for e in evaluations] == [False]
    reason = evaluations[0].description
    assert days_env.replace("{ds}", "2026-11-22") in reason and "\n" not in reason


def test_a_partition_run_refuses_a_contradicting_input(days_env: str) -> None:
    result = _materialize("2026-11-20", {"input_uri": days_env.replace("{ds}", "2026-11-21")})
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "contradicts it: drop input_uri" in failure.event_specific_data.error.message
    same_day = _materialize("2026-11-20", {"partition_date": "2026-11-20"})  # naming the same day is fine
    assert same_day.success and same_day.output_for_node(DAILY_OP)["partition_date"] == "2026-11-20"


def test_a_run_without_a_partition_keeps_the_manual_rule(days_env: str) -> None:
    """The manual graph (no partition key): an explicit input, or the day ml picks, as before."""
    explicit = _materialize(None, {"input_uri": days_env.replace("{ds}", "2026-11-21")})
    assert explicit.success and explicit.output_for_node("inference_data")["partition_date"] is None
    [event] = explicit.get_asset_materialization_events()
    assert event.partition is None
    named = _materialize(None, {"partition_date": "2026-11-20"})
    assert named.success and named.output_for_node("inference_data")["rows"] == 4
    tick = _materialize(None, {"as_of": datetime(2026, 11, 21, 0, 0, tzinfo=UTC).isoformat()})
    assert tick.success and tick.output_for_node("inference_data")["partition_date"] == date(2026, 11, 20).isoformat()
