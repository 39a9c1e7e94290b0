"""`make backfill` (`python -m ml_trigger backfill`) against HTTP servers shaped like Airflow 3.3's
backfill API and Dagster 1.13's GraphQL API (every GraphQL document the client sends is validated
against the installed dagster-graphql schema).

Three days, the middle one without input: it fails alone with the step's one-line reason, the
others report their stable location, the command exits 1.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from trigger_fakes import TOKEN, ApiServer, integer, ml_result

from ml_trigger import cli

DAYS = ["2026-11-20", "2026-11-21", "2026-11-22"]
MISSING = "2026-11-21"
REASON = f"error: s3://datasets/inference/{MISSING}.csv does not exist; upload it or pick another day"


def location(day: str) -> str:
    return f"s3://predictions/daily/{day}/predictions.parquet"


def staged(day: str) -> str:
    return f"s3://ml-work/runs/{day}/inference/predictions.parquet"


def saved(day: str) -> dict[str, Any]:
    return {"output_uri": location(day), "rows": 100, "model_name": "text-classifier", "model_version": "3",
            "partition_date": day}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("AIRFLOW_ADMIN_USER", "admin")
    monkeypatch.setenv("AIRFLOW_ADMIN_PASSWORD", "pw")
    monkeypatch.setenv("ML_TRIGGER_RETRIES", "0")


class FakeAirflowBackfill:
    """`POST /api/v2/backfills`, then the backfill and its runs (one per logical date) until they end."""

    def __init__(self) -> None:
        self.created: dict[str, Any] | None = None
        self.polls = 0

    def runs(self) -> list[dict[str, Any]]:
        done = self.polls >= 3
        return [{"dag_run_id": f"backfill__{day}T00:00:00+00:00", "logical_date": f"{day}T00:00:00Z",
                 "run_type": "backfill", "state": ("failed" if day == MISSING else "success") if done else "running"}
                for day in DAYS]

    def __call__(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                 body: Any) -> tuple[int, Any]:
        if path == "/auth/token":
            return 201, {"access_token": TOKEN}
        assert headers.get("Authorization") == f"Bearer {TOKEN}"
        if path == "/api/v2/dags/ml_inference":
            return 200, {"dag_id": "ml_inference", "is_paused": False}
        if path == "/api/v2/backfills" and method == "POST":
            self.created = body
            return 200, {"id": 7, "dag_id": "ml_inference", "from_date": body["from_date"], "to_date": body["to_date"]}
        if path == "/api/v2/backfills/7":
            self.polls += 1
            return 200, {"id": 7, "completed_at": "2026-12-02T00:10:00Z" if self.polls >= 3 else None}
        if path == "/api/v2/dags/ml_inference/dagRuns" and method == "GET":
            assert query["logical_date_gte"] == [f"{DAYS[0]}T00:00:00Z"]
            assert query["logical_date_lte"] == [f"{DAYS[-1]}T23:59:59Z"]
            return 200, {"dag_runs": self.runs(), "total_entries": 3}
        for run in self.runs():
            prefix = f"/api/v2/dags/ml_inference/dagRuns/{run['dag_run_id']}"
            day = run["logical_date"][:10]
            if path == f"{prefix}/taskInstances":
                failed = day == MISSING
                return 200, {"task_instances": [
                    {"task_id": "load_inference_data", "state": "failed" if failed else "success", "try_number": 1},
                    {"task_id": "run_inference", "state": "upstream_failed" if failed else "success", "try_number": 1},
                    {"task_id": "save_inference_results", "state": "upstream_failed" if failed else "success",
                     "try_number": 1}]}
            if path == f"{prefix}/taskInstances/save_inference_results/xcomEntries/return_value":
                return 200, {"key": "return_value", "value": saved(day)}
            if path == f"{prefix}/taskInstances/run_inference/xcomEntries/return_value":
                return 200, {"key": "return_value", "value": {"predictions_uri": staged(day), "rows": 100}}
            if path == f"{prefix}/taskInstances/load_inference_data/logs/1":
                return 200, {"content": [{"event": "Launcher docker: CPU"}, {"event": REASON}]}
        return 404, {"detail": f"no route {method} {path}"}


class FakeDagsterBackfill:
    """`launchPartitionBackfill` of daily_inference_job's partition set, then its runs, one per partition."""

    def __init__(self) -> None:
        from dagster_graphql.schema import create_schema

        self.schema = create_schema().graphql_schema
        self.launched: dict[str, Any] | None = None
        self.polls = 0

    def run_id(self, day: str) -> str:
        return f"run-{day}"

    def status(self, day: str) -> str:
        if self.polls < 3:
            return "STARTED"
        return "FAILURE" if day == MISSING else "SUCCESS"

    def answer(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        if "repositoriesOrError" in document:
            return {"repositoriesOrError": {"__typename": "RepositoryConnection", "nodes": [
                {"name": "__repository__", "location": {"name": "ml"}, "jobs": [{"name": "daily_inference_job"}]}]}}
        if "launchPartitionBackfill" in document:
            self.launched = variables["backfillParams"]
            return {"launchPartitionBackfill": {"__typename": "LaunchBackfillSuccess", "backfillId": "bf1"}}
        if "partitionBackfillOrError" in document:
            assert variables == {"backfillId": "bf1"}
            self.polls += 1
            runs = [{"runId": self.run_id(d), "status": self.status(d),
                     "tags": [{"key": "dagster/partition", "value": d}, {"key": "dagster/backfill", "value": "bf1"}]}
                    for d in DAYS]
            return {"partitionBackfillOrError": {"__typename": "PartitionBackfill", "id": "bf1",
                                                 "status": "COMPLETED" if self.polls >= 2 else "REQUESTED",
                                                 "partitionNames": DAYS, "runs": runs, "error": None}}
        if "runOrError" in document:
            day = variables["runId"].removeprefix("run-")
            ok = day != MISSING
            mats = [{"assetKey": {"path": ["daily", "predictions"]}, "stepKey": "daily__predictions",
                     "metadataEntries": [ml_result({"predictions_uri": staged(day), "rows": 100})]},
                    {"assetKey": {"path": ["daily", "published_predictions"]}, "stepKey": "daily__published_predictions",
                     "metadataEntries": [ml_result(saved(day)), integer("dagster/row_count", 100)]}] if ok else []
            return {"runOrError": {"__typename": "Run", "runId": variables["runId"], "status": self.status(day),
                                   "startTime": 1.0, "endTime": 9.0, "stepStats": [], "assetMaterializations": mats}}
        if "logsForRun" in document:
            return {"logsForRun": {"__typename": "EventConnection", "events": [
                {"__typename": "AssetCheckEvaluationEvent", "stepKey": "inference_data_inference_data_is_valid",
                 "evaluation": {"checkName": "inference_data_is_valid", "success": False,
                                "description": REASON.removeprefix("error: "),
                                "assetKey": {"path": ["inference_data"]}}}]}}
        raise AssertionError(f"unexpected document {document[:60]}")

    def __call__(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                 body: Any) -> tuple[int, Any]:
        from graphql import parse, validate

        errors = validate(self.schema, parse(body["query"]))
        assert not errors, errors  # the document is valid for Dagster 1.13's schema
        return 200, {"data": self.answer(body["query"], body.get("variables") or {})}


def _result(capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], str]:
    out, err = capsys.readouterr()
    return json.loads(out.strip().splitlines()[-1]), err


def _check_days(result: dict[str, Any]) -> None:
    assert not result["succeeded"]
    by_day = {d["day"]: d for d in result["days"]}
    assert list(by_day) == DAYS
    for day in (DAYS[0], DAYS[2]):
        assert by_day[day]["succeeded"] and by_day[day]["output_uri"] == location(day) and by_day[day]["rows"] == 100
        assert by_day[day]["error"] is None and by_day[day]["model_version"] == "3"
        assert by_day[day]["predictions_uri"] == staged(day)  # the run's own staged file, to compare with
    missing = by_day[MISSING]
    assert not missing["succeeded"] and missing["output_uri"] is None and REASON in missing["error"]


def test_airflow_backfill_runs_each_day_and_reports_the_missing_one(monkeypatch, capsys) -> None:
    fake = FakeAirflowBackfill()
    with ApiServer(fake) as server:
        monkeypatch.setenv("AIRFLOW_URL", server.url)
        code = cli.main(["backfill", "--from", DAYS[0], "--to", DAYS[-1], "-o", "airflow", "--poll", "0.01"])
    assert code == 1
    # one run per logical date D (data interval D -> D+1: ml labels D); days labelled before run again
    assert fake.created == {"dag_id": "ml_inference", "from_date": "2026-11-20T00:00:00Z",
                            "to_date": "2026-11-22T23:59:59Z", "reprocess_behavior": "completed",
                            "max_active_runs": 3, "dag_run_conf": {}}
    result, err = _result(capsys)
    assert result["pipeline"] == "backfill" and not result["succeeded"]
    _check_days(result["backfills"]["airflow"])
    lines = [line for line in err.splitlines() if line.startswith("  2026-")]
    assert lines[0].split() == [DAYS[0], "success", "100", "rows", location(DAYS[0])]
    assert lines[1].split()[:3] == [MISSING, "failed", "-"] and REASON in lines[1]


def test_dagster_backfill_launches_the_partition_set_and_reports_each_day(monkeypatch, capsys) -> None:
    fake = FakeDagsterBackfill()
    with ApiServer(fake) as server:
        monkeypatch.setenv("DAGSTER_URL", server.url)
        code = cli.main(["backfill", "--from", DAYS[0], "--to", DAYS[-1], "-o", "dagster", "--poll", "0.01"])
    assert code == 1
    assert fake.launched["selector"] == {"partitionSetName": "daily_inference_job_partition_set", "repositorySelector": {
        "repositoryName": "__repository__", "repositoryLocationName": "ml"}}
    assert fake.launched["partitionNames"] == DAYS
    result, _ = _result(capsys)
    _check_days(result["backfills"]["dagster"])


def test_both_orchestrators_by_default(monkeypatch, capsys) -> None:
    with ApiServer(FakeAirflowBackfill()) as airflow, ApiServer(FakeDagsterBackfill()) as dagster:
        monkeypatch.setenv("AIRFLOW_URL", airflow.url)
        monkeypatch.setenv("DAGSTER_URL", dagster.url)
        code = cli.main(["backfill", "--from", DAYS[0], "--to", DAYS[-1], "--poll", "0.01"])
    assert code == 1
    result, _ = _result(capsys)
    assert set(result["backfills"]) == {"airflow", "dagster"}
    labelled = {o: [(d["day"], d["output_uri"]) for d in r["days"]] for o, r in result["backfills"].items()}
    assert labelled["airflow"] == labelled["dagster"]  # the same days at the same locations


@pytest.mark.parametrize(("start", "end", "message"), [
    ("2026-11-22", "2026-11-20", "swap them"),
    ("2025-06-01", "2025-06-02", "before the first daily partition"),
    ("2026-11-20", "2999-01-01", "is not over yet"),
])
def test_a_bad_range_is_refused_before_any_api_call(capsys, start: str, end: str, message: str) -> None:
    assert cli.main(["backfill", "--from", start, "--to", end, "-o", "airflow"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: backfill") and message in err and "\n" not in err
