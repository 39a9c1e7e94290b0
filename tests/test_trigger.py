"""`ml.trigger` against real HTTP servers that answer with the shapes of each orchestrator's API.

Why a server and not mocks: the client's requests (paths, methods, auth header, JSON bodies,
GraphQL variables) really travel over HTTP and are checked by the server, and its answers have
the shapes recorded from Airflow 3.3's REST API v2 and Dagster 1.13's GraphQL API.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from ml import trigger

Handler = Callable[[str, str, dict[str, list[str]], dict[str, str], Any], tuple[int, Any]]


class ApiServer:
    """A loopback HTTP server; `handle(method, path, query, headers, body)` -> (status, json)."""

    def __init__(self, handle: Handler) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                path = unquote(parts.path)
                outer.requests.append((self.command, path, body))
                status, payload = handle(self.command, path, parse_qs(parts.query), dict(self.headers), body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _serve

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- Airflow REST API v2 ----------------------------------------------------------------------

TOKEN = "jwt-token-for-tests"
RUN_ID = "manual__2026-11-26T06:34:22.842943+00:00"
TRAIN_TASKS = ["load_training_data", "train_model", "evaluate_model", "save_trained_model", "promote_model"]
TRAIN_XCOMS = {
    "load_training_data": {"data_uri": "s3://ml-work/r/data", "rows": {"train": 80, "validation": 10, "test": 10}},
    "train_model": {"model_uri": "s3://ml-work/r/model", "mlflow_run_id": "abc", "device": "cpu"},
    "evaluate_model": {"metrics": {"test_macro_f1": 0.91}, "mlflow_run_id": "abc"},
    "save_trained_model": {"model_name": "text-classifier", "version": "7", "alias": "challenger",
                           "model_uri": "models:/text-classifier/7"},
    "promote_model": {"model_name": "text-classifier", "version": "7", "promoted": True,
                      "champion_version": "7", "decision": "first version: promoted"},
}


class FakeAirflow:
    """State machine of one DAG run, answering like Airflow 3.3's API server."""

    def __init__(self, *, fail_task: str | None = None, password: str = "pw") -> None:
        self.fail_task = fail_task
        self.password = password
        self.dag_polls = 0
        self.run_polls = 0
        self.paused = True
        self.triggered: dict[str, Any] | None = None

    def ti_states(self) -> dict[str, str]:
        done = min(self.run_polls, len(TRAIN_TASKS))
        states: dict[str, str] = {}
        for i, task in enumerate(TRAIN_TASKS):
            if self.fail_task and TRAIN_TASKS.index(self.fail_task) < i and i < done:
                states[task] = "upstream_failed"
            elif i < done:
                states[task] = "failed" if task == self.fail_task else "success"
            elif i == done:
                states[task] = "running"
            else:
                states[task] = "scheduled"
        return states

    def __call__(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                 body: Any) -> tuple[int, Any]:
        if path == "/auth/token" and method == "POST":
            if body == {"username": "admin", "password": self.password}:
                return 201, {"access_token": TOKEN, "token_type": "bearer"}
            return 401, {"detail": "Invalid credentials"}
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {"detail": "Not authenticated"}
        if path == "/api/v2/dags/ml_training":
            if method == "PATCH":
                assert body == {"is_paused": False}
                self.paused = False
                return 200, {"dag_id": "ml_training", "is_paused": False}
            self.dag_polls += 1
            if self.dag_polls == 1:  # not parsed yet
                return 404, {"detail": "The DAG with dag_id: `ml_training` was not found"}
            return 200, {"dag_id": "ml_training", "is_paused": self.paused}
        if path == "/api/v2/dags/ml_training/dagRuns" and method == "POST":
            assert "logical_date" in body and body["logical_date"] is None
            self.triggered = body
            return 200, {"dag_run_id": RUN_ID, "dag_id": "ml_training", "state": "queued", "conf": body["conf"]}
        prefix = f"/api/v2/dags/ml_training/dagRuns/{RUN_ID}"
        if path == prefix:
            self.run_polls += 1
            states = self.ti_states()
            if any(s == "failed" for s in states.values()):
                state = "failed"
            elif all(s == "success" for s in states.values()):
                state = "success"
            else:
                state = "running"
            end = "2026-11-26T06:35:00+00:00" if state in ("success", "failed") else None
            return 200, {"dag_run_id": RUN_ID, "state": state,
                         "start_date": "2026-11-26T06:34:23+00:00", "end_date": end}
        if path == f"{prefix}/taskInstances":
            tis = [
                {"task_id": task, "state": state, "try_number": 1, "duration": 4.5 if state == "success" else None,
                 "start_date": f"2026-11-26T06:34:{30 + i}+00:00", "end_date": None}
                for i, (task, state) in enumerate(self.ti_states().items())
            ]
            return 200, {"task_instances": tis, "total_entries": len(tis)}
        if path.startswith(f"{prefix}/taskInstances/") and path.endswith("/xcomEntries/return_value"):
            task = path.split("/")[-3]
            if self.ti_states().get(task) != "success":
                return 404, {"detail": "XCom entry not found"}
            assert query.get("deserialize") == ["true"]
            return 200, {"key": "return_value", "task_id": task, "value": TRAIN_XCOMS[task]}
        if path.startswith(f"{prefix}/taskInstances/") and "/logs/" in path:
            return 200, {"content": [
                {"event": "Launcher docker: CPU"},
                {"event": "error: dataset has no column 'label', s3://datasets/bad.csv, add a label column"},
                {"event": "Task failed with exception"},
            ], "continuation_token": None}
        return 404, {"detail": f"no route {method} {path}"}


@pytest.fixture()
def airflow_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AIRFLOW_ADMIN_USER", "admin")
    monkeypatch.setenv("AIRFLOW_ADMIN_PASSWORD", "pw")
    monkeypatch.setenv("AIRFLOW_PUBLIC_URL", "http://localhost:8080")
    monkeypatch.setenv("MLFLOW_PUBLIC_URL", "http://localhost:5000")
    monkeypatch.setenv("ML_TRIGGER_RETRIES", "0")
    yield


def last_json(out: str) -> dict[str, Any]:
    return json.loads(out.strip().splitlines()[-1])


def test_airflow_train_succeeds_and_reports_version(airflow_env: None, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeAirflow()
    with ApiServer(api) as server:
        monkeypatch.setenv("AIRFLOW_URL", server.url)
        code = trigger.main(["train", "--orchestrator", "airflow", "--poll", "0.01",
                             "--param", "epochs=2", "--param", "dataset_uri=s3://datasets/demo/train.csv"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert api.triggered == {"logical_date": None, "conf": {"epochs": 2, "dataset_uri": "s3://datasets/demo/train.csv"}}
    assert not api.paused, "a paused DAG must be unpaused, or the run never starts"
    result = last_json(out)
    assert result["succeeded"] and result["state"] == "success" and result["run_id"] == RUN_ID
    assert result["summary"]["model_version"] == "7"
    assert result["summary"]["alias"] == "challenger"
    assert result["summary"]["champion_version"] == "7"
    assert result["links"]["run"] == f"http://localhost:8080/dags/ml_training/runs/{RUN_ID.replace(':', '%3A').replace('+', '%2B')}"
    assert result["links"]["mlflow"] == "http://localhost:5000/#/models/text-classifier/versions/7"
    assert set(result["steps"]) == set(TRAIN_TASKS)
    # progress: every task's state changes are shown as they happen
    assert "train_model" in err and "running" in err and "SUCCEEDED" in err


def test_airflow_failed_task_gives_reason_and_exit_1(airflow_env: None, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with ApiServer(FakeAirflow(fail_task="load_training_data")) as server:
        monkeypatch.setenv("AIRFLOW_URL", server.url)
        code = trigger.main(["train", "-o", "airflow", "--poll", "0.01"])
    out, err = capsys.readouterr()
    assert code == 1
    result = last_json(out)
    assert result["state"] == "failed" and not result["succeeded"]
    assert result["error"] == ("load_training_data: error: dataset has no column 'label', "
                               "s3://datasets/bad.csv, add a label column")
    assert "FAILED" in err


def test_airflow_wrong_password_is_a_clear_error(airflow_env: None, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with ApiServer(FakeAirflow(password="other")) as server:
        monkeypatch.setenv("AIRFLOW_URL", server.url)
        code = trigger.main(["train", "-o", "airflow"])
    err = capsys.readouterr().err
    assert code == 1
    assert "POST /auth/token answered 401: Invalid credentials" in err


def test_missing_credentials_is_usage_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AIRFLOW_ADMIN_PASSWORD", raising=False)
    monkeypatch.setenv("AIRFLOW_ADMIN_USER", "admin")
    assert trigger.main(["train", "-o", "airflow"]) == 2
    assert "AIRFLOW_ADMIN_PASSWORD" in capsys.readouterr().err


def test_unreachable_api_exits_75(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    server = ApiServer(FakeAirflow())
    url = server.url
    server.server.server_close()  # nothing listens on this port any more
    monkeypatch.setenv("ML_TRIGGER_RETRIES", "0")
    monkeypatch.setenv("DAGSTER_URL", url)
    assert trigger.main(["infer", "-o", "dagster"]) == 75
    assert "Dagster API unreachable" in capsys.readouterr().err


# --- Dagster GraphQL --------------------------------------------------------------------------

DAGSTER_RUN = "3f1c2a5e-8a8e-4c55-9d4e-1a2b3c4d5e6f"
INFER_STEPS = ["inference_data", "production_model", "predictions", "published_predictions"]


class FakeDagster:
    """Answers `/graphql` like Dagster 1.13's webserver for one inference run."""

    def __init__(self, *, fail: bool = False, invalid_config: bool = False) -> None:
        self.fail = fail
        self.invalid_config = invalid_config
        self.polls = 0
        self.launched: dict[str, Any] | None = None
        self.repo_polls = 0

    def __call__(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                 body: Any) -> tuple[int, Any]:
        if path != "/graphql" or method != "POST":
            return 404, {"detail": "not found"}
        text, variables = body["query"], body.get("variables") or {}
        if "repositoriesOrError" in text:
            self.repo_polls += 1
            if self.repo_polls == 1:  # the code location is still loading
                return 200, {"data": {"repositoriesOrError": {"__typename": "PythonError",
                                                              "message": "location ml is loading"}}}
            return 200, {"data": {"repositoriesOrError": {"__typename": "RepositoryConnection", "nodes": [
                {"name": "__repository__", "location": {"name": "ml"},
                 "jobs": [{"name": "training_job"}, {"name": "inference_job"}, {"name": "__ASSET_JOB"}]},
            ]}}}
        if "launchRun" in text:
            self.launched = variables["executionParams"]
            if self.invalid_config:
                return 200, {"data": {"launchRun": {"__typename": "RunConfigValidationInvalid", "errors": [
                    {"message": 'Received unexpected config entry "bogus" at path root:ops:inference_data:config.'}
                ]}}}
            return 200, {"data": {"launchRun": {"__typename": "LaunchRunSuccess",
                                                "run": {"runId": DAGSTER_RUN, "status": "QUEUED"}}}}
        if "runOrError" in text:
            assert variables == {"runId": DAGSTER_RUN}
            self.polls += 1
            done = min(self.polls - 1, len(INFER_STEPS))
            steps = []
            for i, key in enumerate(INFER_STEPS[: done + 1]):
                status = "SUCCESS" if i < done else "IN_PROGRESS"
                if self.fail and key == "predictions" and i < done:
                    status = "FAILURE"
                steps.append({"stepKey": key, "status": status, "startTime": 1000.0 + i,
                              "endTime": 1002.5 + i if status != "IN_PROGRESS" else None})
                if status == "FAILURE":
                    break
            failed = any(s["status"] == "FAILURE" for s in steps)
            status = "FAILURE" if failed else ("SUCCESS" if done == len(INFER_STEPS) else
                                               ("QUEUED" if self.polls == 1 else "STARTED"))
            mats = []
            if status == "SUCCESS":
                mats = [
                    {"assetKey": {"path": ["production_model"]}, "stepKey": "production_model", "metadataEntries": [
                        {"__typename": "TextMetadataEntry", "label": "model_name", "text": "text-classifier"},
                        {"__typename": "IntMetadataEntry", "label": "version", "intValue": 7},
                    ]},
                    {"assetKey": {"path": ["published_predictions"]}, "stepKey": "published_predictions",
                     "metadataEntries": [
                         {"__typename": "PathMetadataEntry", "label": "output_uri",
                          "path": "s3://predictions/run-3f1c/predictions.parquet"},
                         {"__typename": "IntMetadataEntry", "label": "rows", "intValue": 500},
                         {"__typename": "TextMetadataEntry", "label": "model_name", "text": "text-classifier"},
                         {"__typename": "IntMetadataEntry", "label": "model_version", "intValue": 7},
                     ]},
                ]
            return 200, {"data": {"runOrError": {
                "__typename": "Run", "runId": DAGSTER_RUN, "status": status, "startTime": 999.0,
                "endTime": 1010.0 if status in ("SUCCESS", "FAILURE") else None,
                "stepStats": steps, "assetMaterializations": mats}}}
        if "logsForRun" in text:
            return 200, {"data": {"logsForRun": {"__typename": "EventConnection", "events": [
                {"__typename": "RunStartEvent", "message": "Started execution of run"},
                {"__typename": "ExecutionStepFailureEvent", "stepKey": "predictions", "message": "failed",
                 "error": {"message": "dagster._core.errors.Failure: ml predict failed (exit 2)\n"
                                      "error: model version 99 not found, models:/text-classifier/99, "
                                      "register it or use the champion alias\n"}},
                {"__typename": "RunFailureEvent", "message": "Execution of run failed."},
            ]}}}
        return 200, {"errors": [{"message": f"unexpected query {text[:40]}"}]}


@pytest.fixture()
def dagster_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_PUBLIC_URL", "http://localhost:3000")
    monkeypatch.setenv("MLFLOW_PUBLIC_URL", "http://localhost:5000")
    monkeypatch.setenv("ML_TRIGGER_RETRIES", "0")


def test_dagster_infer_succeeds_and_reports_predictions(dagster_env: None, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeDagster()
    with ApiServer(api) as server:
        monkeypatch.setenv("DAGSTER_URL", server.url)
        code = trigger.main(["infer", "--orchestrator", "dagster", "--poll", "0.01",
                             "--param", "input_uri=s3://datasets/demo/inference.csv", "--param", "model_version=7"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert api.launched == {
        "selector": {"repositoryLocationName": "ml", "repositoryName": "__repository__", "jobName": "inference_job"},
        "runConfigData": {"ops": {
            "inference_data": {"config": {"input_uri": "s3://datasets/demo/inference.csv"}},
            "production_model": {"config": {"model_version": 7}},
        }},
        "executionMetadata": {"tags": [{"key": "ml/triggered_by", "value": "ml.trigger"}]},
    }
    result = last_json(out)
    assert result["state"] == "SUCCESS" and result["succeeded"]
    assert result["summary"]["predictions_uri"] == "s3://predictions/run-3f1c/predictions.parquet"
    assert result["summary"]["model_version"] == 7
    assert result["summary"]["rows"] == 500
    assert result["wall_s"] == 11.0
    assert result["steps"]["predictions"] == {"state": "SUCCESS", "duration_s": 2.5}
    assert result["links"]["run"] == f"http://localhost:3000/runs/{DAGSTER_RUN}"
    assert "published_predictions" in err and "IN_PROGRESS" in err


def test_dagster_failure_gives_step_reason(dagster_env: None, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with ApiServer(FakeDagster(fail=True)) as server:
        monkeypatch.setenv("DAGSTER_URL", server.url)
        code = trigger.main(["infer", "-o", "dagster", "--poll", "0.01"])
    out, _ = capsys.readouterr()
    assert code == 1
    result = last_json(out)
    assert result["state"] == "FAILURE"
    assert result["error"] == ("predictions: error: model version 99 not found, models:/text-classifier/99, "
                               "register it or use the champion alias")


def test_dagster_rejected_config_is_usage_error(dagster_env: None, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with ApiServer(FakeDagster(invalid_config=True)) as server:
        monkeypatch.setenv("DAGSTER_URL", server.url)
        code = trigger.main(["infer", "-o", "dagster", "--param", "run_config={\"ops\": {}}"])
    assert code == 2
    assert "Dagster rejected the run config" in capsys.readouterr().err


def test_unknown_dagster_param_is_usage_error(dagster_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert trigger.main(["train", "-o", "dagster", "--param", "bogus=1"]) == 2
    assert "unknown train parameter 'bogus'" in capsys.readouterr().err


def test_parse_params_types_and_errors() -> None:
    assert trigger.parse_params(["epochs=2", "lr=0.5", "name=abc", "v=null", "flag=true"]) == {
        "epochs": 2, "lr": 0.5, "name": "abc", "v": None, "flag": True}
    with pytest.raises(trigger.TriggerError):
        trigger.parse_params(["novalue"])


def test_default_inputs_come_from_the_environment() -> None:
    env = {"ML_DATASET_URI": "s3://datasets/demo/train.csv", "ML_INFERENCE_URI": "s3://datasets/demo/inference.csv"}
    assert trigger.with_default_inputs("train", {}, env) == {"dataset_uri": "s3://datasets/demo/train.csv"}
    assert trigger.with_default_inputs("infer", {"input_uri": "s3://x/y.csv"}, env) == {"input_uri": "s3://x/y.csv"}
    assert trigger.with_default_inputs("infer", {"run_config": "{}"}, env) == {"run_config": "{}"}
    assert trigger.with_default_inputs("train", {}, {}) == {}
